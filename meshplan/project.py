"""Which checkout of bookinfo-mesh meshplan works on.

`meshplan` (and `python -m meshplan`) works on the project of the working directory:
the nearest directory at or above it whose `Pulumi.yaml` names the project
bookinfo-mesh, else the repository meshplan was installed from. That checkout's own
code runs: a checkout other than the one this code comes from (another clone or
worktree sharing the virtualenv) runs its own `python -m meshplan`, so its stack
files, its program and the meshplan reading them always come from one tree.

This runs before the command line is imported; switching checkouts forgets every
module imported from this one, so none is left behind."""
from __future__ import annotations

import importlib.util
import runpy
import sys
from pathlib import Path

import yaml

from model.names import PROJECT

REPOSITORY = Path(__file__).resolve().parent.parent
"""The checkout this code is in: where `pip install -e` installed meshplan from."""
PROJECT_PACKAGES = frozenset({"meshplan", "model", "components"})
"""The packages of a checkout (pyproject.toml installs these)."""
PROJECT_FILE_LIMIT = 1024 * 1024  # a Pulumi.yaml larger than this is not a project file meshplan reads


def find_project(start: Path) -> Path | None:
    """The nearest directory at or above `start` whose Pulumi.yaml names this project."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if _names_this_project(directory / "Pulumi.yaml"):
            return directory
    return None


def _names_this_project(path: Path) -> bool:
    """Whether a Pulumi.yaml says `name: bookinfo-mesh`. Another project's file, or
    one that is unreadable or not YAML, is not this project's: the search goes on."""
    try:
        with path.open("rb") as file:
            text = file.read(PROJECT_FILE_LIMIT + 1)
    except OSError:
        return False
    if len(text) > PROJECT_FILE_LIMIT:
        return False
    try:
        document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, RecursionError, ValueError):
        return False
    return isinstance(document, dict) and document.get("name") == PROJECT


def run_in_working_project() -> None:
    """Return when the working directory's project is this checkout (or there is
    none: then this checkout is the project); else run that project's own
    `python -m meshplan` in this process, which ends it. Exit 1 with one line when
    the project found cannot be run."""
    found = find_project(Path.cwd())
    if found is None:
        if not _names_this_project(REPOSITORY / "Pulumi.yaml"):
            _fail(f"no {PROJECT} project at or above {Path.cwd()}, and meshplan is not installed from one "
                  f"(install it with `pip install -e` from a checkout)")
        return
    if found == REPOSITORY:
        return
    if not (found / "meshplan" / "__main__.py").is_file():
        _fail(f"{found / 'Pulumi.yaml'} is project {PROJECT}, but {found} holds no meshplan to run")
    # Forget this checkout's packages, then import the project's: its directory goes
    # first on the path, as `python -m meshplan` run there would put it.
    forget_checkout_modules()
    sys.path.insert(0, str(found))
    spec = importlib.util.find_spec("meshplan")
    if spec is None or spec.origin is None or not Path(spec.origin).resolve().is_relative_to(found):
        _fail(f"cannot run the meshplan of {found}: another installation of meshplan comes first on the path")
    runpy.run_module("meshplan", run_name="__main__", alter_sys=True)
    sys.exit(0)  # its `python -m meshplan` ends the process itself; this is a backstop


def forget_checkout_modules() -> None:
    """Drop the project's own packages from the module cache, nothing else: the
    virtualenv usually sits inside the checkout too, and its libraries (yaml's C
    loader among them) must stay loaded."""
    for name in list(sys.modules):
        if name.split(".", 1)[0] in PROJECT_PACKAGES:
            del sys.modules[name]


def _fail(message: str) -> None:
    print(f"error: meshplan: {message}", file=sys.stderr)
    sys.exit(1)
