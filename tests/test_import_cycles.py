"""No import circle among meshplan's modules: read from the source with `ast`, every
import counts, at module level or inside a function (a function-level import only
hides a circle until the function runs), and importing `a.b.c` counts as importing
the packages `a` and `a.b` too, whose `__init__` runs first."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name → file, for every module of `package` under `root`."""
    files = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        files[name] = path
    return files


def _imported(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool) -> list[str]:
    """The dotted names an import statement may load, candidates first."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the importer's package, one level up per extra dot
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        anchor = package[:len(package) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    # `from a import b` loads `a`, and `a.b` when b is a module rather than a name in a
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module → the modules of the same package it imports, with the packages above them."""
    files = module_files(root, package)
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _imported(node, name, path.name == "__init__.py"):
                parts = target.split(".")
                for end in range(1, len(parts) + 1):
                    loaded = ".".join(parts[:end])
                    if loaded in files and loaded != name:
                        graph[name].add(loaded)
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


@pytest.mark.parametrize("package", ["meshplan", "components", "ci"])
def test_the_package_has_no_import_circle(package):
    circles = import_cycles(import_graph(ROOT, package))
    assert circles == [], f"import circles in {package}: " + "; ".join(" → ".join(c) for c in circles)


def test_the_graph_sees_meshplan_s_imports_at_every_level():
    graph = import_graph(ROOT, "meshplan")
    assert "meshplan.commands.shared" in graph["meshplan.commands.rbac"]  # module level
    assert "meshplan.render.engine" in graph["meshplan.commands.rbac"]  # inside a function
    assert "meshplan.render" in graph["meshplan.commands.rbac"]  # the package whose __init__ runs first
    assert "meshplan.diff.formats" in graph["meshplan.commands.rollout"]  # `from meshplan.diff import formats`


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_circle_through_a_function_level_import_is_found_and_named(tmp_path):
    root = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/cli.py": "from pkg.commands import run\n",
        "pkg/commands/__init__.py": "",
        "pkg/commands/run.py": "def run():\n    from pkg.cli import EXIT_OK\n    return EXIT_OK\n",
        "pkg/other.py": "import pkg.cli\n",
    })
    assert import_cycles(import_graph(root, "pkg")) == [["pkg.cli", "pkg.commands.run", "pkg.cli"]]


def test_a_circle_through_a_package_init_and_a_relative_import_is_found(tmp_path):
    root = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/render/__init__.py": "from .engine import render\n",
        "pkg/render/engine.py": "from ..check import check\n",
        "pkg/check.py": "from pkg.render.recording import Rendered\n",
        "pkg/render/recording.py": "",
    })
    assert import_cycles(import_graph(root, "pkg")) == [["pkg.check", "pkg.render", "pkg.render.engine", "pkg.check"]]


def test_modules_that_import_each_other_one_way_are_no_circle(tmp_path):
    root = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\nimport pkg.c\n",
        "pkg/b.py": "from pkg.c import thing\n",
        "pkg/c.py": "import os\n",
    })
    assert import_cycles(import_graph(root, "pkg")) == []
