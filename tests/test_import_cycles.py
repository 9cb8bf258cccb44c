"""No import circle among the project's modules: read from the source with `ast`, every
import counts, at module level or inside a function (a function-level import only
hides a circle until the function runs), and importing `a.b.c` counts as importing
the packages `a` and `a.b` too, whose `__init__` runs first.

One exception, the way Python's import system works: a module's own enclosing
packages are already loading before its first line runs, so importing a sibling
(`from a.b.c import x` inside `a.b.d`) adds no dependency on `a.b`. Reading a name
from the enclosing package's `__init__` (`from a.b import x`, `import a.b`) does:
while `a.b`'s `__init__` imports `a.b.d`, that name does not exist yet."""
from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.conftest import ROOT, write_package


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name → file, for every module of `package` under `root`."""
    files = {}
    for path in sorted((root / package.replace(".", "/")).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if "venv" in parts:  # the policy pack's virtualenv sits beside its code
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        files[name] = path
    return files


def _imported(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool,
              files: Mapping[str, Path]) -> list[str]:
    """The modules of `files` an import statement loads or reads names from."""
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    if isinstance(node, ast.Import):
        targets, read = [alias.name for alias in node.names], {alias.name for alias in node.names}
    else:
        base = node.module or ""
        if node.level:  # relative: from the importer's package, one level up per extra dot
            anchor = package[:len(package) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        # `from a import b` loads `a.b` when b is a module, else reads the name b from `a`
        submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in files]
        targets = [base, *submodules]
        read = {base} if len(submodules) < len(node.names) else set()
    enclosing = {".".join(package[:end]) for end in range(1, len(package) + 1)}
    loaded = []
    for target in targets:
        parts = target.split(".")
        for end in range(1, len(parts) + 1):
            name = ".".join(parts[:end])
            if name in files and name != importer and (name not in enclosing or name in read):
                loaded.append(name)
    return loaded


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module → the modules of the same package it imports, with the packages above them."""
    files = module_files(root, package)
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[name].update(_imported(node, name, path.name == "__init__.py", files))
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per group of modules that import each other (Tarjan's strongly
    connected components), each as a path that ends where it starts."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_circle_through(group, graph) for group in groups]


def _circle_through(group: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest import path from the group's first module back to itself."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & members):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no circle through {group}")  # a strongly connected group always has one


PACKAGES = ["model", "model.settings", "model.apps", "model.analysis", "model.multicluster", "policy", "meshplan", "components", "ci",
            "upstream"]
"""Every package of the project; model's subpackages also on their own, so a circle
inside one is reported under its name."""


def test_every_package_of_the_project_is_checked():
    code = [p for pattern in ("*/**/__init__.py", "*/__main__.py") for p in ROOT.glob(pattern)
            if not {"venv", "node_modules", "tests"} & set(p.relative_to(ROOT).parts)]
    packages = {".".join(p.parent.relative_to(ROOT).parts) for p in code}
    assert {p for p in packages if "." not in p or p.startswith("model.")} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_the_package_has_no_import_circle(package):
    circles = import_cycles(import_graph(ROOT, package))
    assert circles == [], f"import circles in {package}: " + "; ".join(" → ".join(c) for c in circles)


def test_the_graph_sees_meshplan_s_imports_at_every_level():
    graph = import_graph(ROOT, "meshplan")
    assert "meshplan.commands.shared" in graph["meshplan.commands.rbac"]  # module level
    assert "meshplan.render.engine" in graph["meshplan.commands.rbac"]  # inside a function
    assert "meshplan.render" in graph["meshplan.commands.rbac"]  # the package whose __init__ runs first
    assert "meshplan.diff.formats" in graph["meshplan.commands.rollout"]  # `from meshplan.diff import formats`



def test_a_circle_through_a_function_level_import_is_found_and_named(tmp_path):
    root = write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/cli.py": "from pkg.commands import run\n",
        "pkg/commands/__init__.py": "",
        "pkg/commands/run.py": "def run():\n    from pkg.cli import EXIT_OK\n    return EXIT_OK\n",
        "pkg/other.py": "import pkg.cli\n",
    })
    assert import_cycles(import_graph(root, "pkg")) == [["pkg.cli", "pkg.commands.run", "pkg.cli"]]


def test_a_circle_through_a_package_init_and_a_relative_import_is_found(tmp_path):
    root = write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/render/__init__.py": "from .engine import render\n",
        "pkg/render/engine.py": "from ..check import check\n",
        "pkg/check.py": "from pkg.render.recording import Rendered\n",
        "pkg/render/recording.py": "",
    })
    assert import_cycles(import_graph(root, "pkg")) == [["pkg.check", "pkg.render", "pkg.render.engine", "pkg.check"]]


def test_modules_that_import_each_other_one_way_are_no_circle(tmp_path):
    root = write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\nimport pkg.c\n",
        "pkg/b.py": "from pkg.c import thing\n",
        "pkg/c.py": "import os\n",
    })
    assert import_cycles(import_graph(root, "pkg")) == []


def test_a_module_reading_a_name_from_its_own_package_s_init_is_a_circle(tmp_path):
    """`pkg.apps.__init__` imports `pkg.apps.bms`, which reads `Service` from the
    package before its `__init__` has defined it."""
    root = write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/apps/__init__.py": "from pkg.apps.types import Service\nfrom pkg.apps.bms import bms\n",
        "pkg/apps/types.py": "class Service: pass\n",
        "pkg/apps/bms.py": "from pkg.apps import Service\n",
    })
    assert import_cycles(import_graph(root, "pkg")) == [["pkg.apps", "pkg.apps.bms", "pkg.apps"]]


def test_a_package_init_re_exporting_submodules_that_import_siblings_directly_is_no_circle(tmp_path):
    """A module's own packages are loading before its first line runs: importing a
    sibling through its full name or a relative one reads nothing from them."""
    root = write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/apps/__init__.py": "from pkg.apps.bms import bms\nfrom pkg.apps import bookinfo\n",
        "pkg/apps/types.py": "class Service: pass\n",
        "pkg/apps/bms.py": "from pkg.apps.types import Service\n",
        "pkg/apps/bookinfo.py": "from . import types\nfrom .types import Service\nimport pkg.apps.types\n",
    })
    assert import_cycles(import_graph(root, "pkg")) == []
