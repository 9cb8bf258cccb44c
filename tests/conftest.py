"""Shared test helpers: the project root on sys.path and a cached renderer that runs
the real Pulumi program under the SDK's mock monitor (meshplan's engine)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from meshplan.engine import Rendered, render  # noqa: E402
from model.settings import parse_settings  # noqa: E402

EXAMPLES = ROOT / "examples"
STACKS = sorted(p.stem.removeprefix("Pulumi.") for p in ROOT.glob("Pulumi.*.yaml"))

_cache: dict[tuple[str, str | None], Rendered] = {}


def render_file(path: str | Path, stack: str | None = None) -> Rendered:
    """Render a stack file once per test session (renders are pure functions of it)."""
    key = (str(Path(path).resolve()), stack)
    if key not in _cache:
        _cache[key] = render(Path(path), stack=stack)
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
