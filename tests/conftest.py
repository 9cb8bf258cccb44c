"""Shared test helpers: the project root on sys.path and a cached renderer that runs
the real Pulumi program under the SDK's mock monitor (meshplan's engine)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from meshplan.render.engine import Rendered, run_program  # noqa: E402
from model.settings import SECRET_KEYS, SECRET_SHOWN, SecretValue, parse_settings, read_stack_file  # noqa: E402

EXAMPLES = ROOT / "examples"
DOC_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def docs_text(page: str | None = None) -> str:
    """One page of the docs (`"README.md"`, `"diff.md"` for docs/diff.md), or the
    README and every page of docs/ together."""
    if page is None:
        return "\n".join(p.read_text(encoding="utf-8") for p in DOC_PAGES)
    path = ROOT / page if page == "README.md" else ROOT / "docs" / page
    return path.read_text(encoding="utf-8")
STACKS = sorted(p.stem.removeprefix("Pulumi.") for p in ROOT.glob("Pulumi.*.yaml"))

_cache: dict[tuple[str, str | None], Rendered] = {}


def pytest_collection_modifyitems(items):
    """The clean-checkout test judges what the whole session left behind: it runs last."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/test_clean_checkout.py::"))


def with_secrets_set(raw: dict) -> dict:
    """A stack's config as it is once its user has run `pulumi config set --secret`
    for every secret key: the repository's stack files hold no secret values."""
    from model.settings.parse_clusters import cluster_secret_keys
    keys = (*SECRET_KEYS, *cluster_secret_keys(raw))
    return {**{key: SecretValue(SECRET_SHOWN) for key in keys}, **raw}


def render_file(path: str | Path, stack: str | None = None) -> Rendered:
    """Render a stack file once per test session (renders are pure functions of it),
    with its secrets set."""
    path = Path(path)
    stack = stack or path.stem.removeprefix("Pulumi.")
    key = (str(path.resolve()), stack)
    if key not in _cache:
        raw = with_secrets_set(read_stack_file(str(path)))
        settings = parse_settings(raw, stack=stack, source=str(path))
        _cache[key] = run_program(raw, settings=settings, stack=stack, source=str(path))
    return _cache[key]


def render_stack(stack: str) -> Rendered:
    return render_file(ROOT / f"Pulumi.{stack}.yaml", stack)


def objects_of(rendered: Rendered, kind: str) -> dict[str, dict]:
    """Kubernetes objects of one kind, by metadata.name."""
    return {o["metadata"]["name"]: o for o in rendered.objects() if o["kind"] == kind}


def settings_from(config: dict, stack: str = "test"):
    """Parse a config mapping (keys without the project prefix) as a stack would."""
    return parse_settings(config, stack=stack, source=f"Pulumi.{stack}.yaml")


@pytest.fixture
def tmp_stack(tmp_path):
    """Write a stack file from YAML text and return its path."""
    def write(text: str, name: str = "Pulumi.test.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return write


def write_package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A small package tree for the source-reading tests: relative path → text."""
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path
