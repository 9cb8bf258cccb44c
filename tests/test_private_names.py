"""A leading underscore means "this module's business": no module of the project
imports such a name from another module of the project, or reads it off an imported
module (`engine._helper`). A name two modules share is public, with one
implementation. Read from the source with `ast`, tests and tools included; dunder
names (`__main__`, `__version__`) and `from __future__` are not private."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT, write_package

SKIPPED = {"venv", "node_modules", ".git"}


def project_files(root: Path) -> dict[str, Path]:
    """Dotted module name → file, for every Python file of the project."""
    files = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if SKIPPED & set(parts):
            continue
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    anchor = package[:len(package) - (node.level - 1)]
    return ".".join([*anchor, node.module] if node.module else anchor)


def private_imports(root: Path) -> list[str]:
    """`path:line: what` for every private name one project module takes from another."""
    files = project_files(root)
    found = []
    for importer, path in files.items():
        relative = path.relative_to(root)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        modules: dict[str, str] = {}  # local name → the project module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in {name.split(".")[0] for name in files}:
                        if any(_private(part) for part in alias.name.split(".")):
                            found.append(f"{relative}:{node.lineno}: imports {alias.name}")
                        if alias.name in files:
                            modules[alias.asname or alias.name] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                source = _absolute(node, importer, path.name == "__init__.py")
                if source not in files:
                    continue  # another project's module
                for alias in node.names:
                    if _private(alias.name):
                        found.append(f"{relative}:{node.lineno}: imports {alias.name} from {source}")
                    elif f"{source}.{alias.name}" in files:
                        modules[alias.asname or alias.name] = f"{source}.{alias.name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                owner = ast.unparse(node.value)
                if owner in modules and modules[owner] != importer:
                    found.append(f"{relative}:{node.lineno}: reads {node.attr} of {modules[owner]}")
    return sorted(found)


def test_no_module_takes_a_private_name_from_another_module():
    assert private_imports(ROOT) == []



def test_every_way_of_taking_a_private_name_is_found(tmp_path):
    root = write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/rules.py": "_helper = 1\nshared = 2\n",
        "pkg/direct.py": "from pkg.rules import _helper, shared\n",
        "pkg/relative.py": "from .rules import _helper as helper\n",
        "pkg/attribute.py": "from pkg import rules\nimport pkg.rules as r\nx = rules._helper + r._helper\n",
        "pkg/_internal.py": "",
        "pkg/module.py": "import pkg._internal\n",
    })
    assert private_imports(root) == [
        "pkg/attribute.py:3: reads _helper of pkg.rules",
        "pkg/attribute.py:3: reads _helper of pkg.rules",
        "pkg/direct.py:1: imports _helper from pkg.rules",
        "pkg/module.py:1: imports pkg._internal",
        "pkg/relative.py:1: imports _helper from pkg.rules",
    ]


def test_public_dunder_future_and_other_projects_names_are_allowed(tmp_path):
    root = write_package(tmp_path, {
        "pkg/__init__.py": "__version__ = '1'\n",
        "pkg/__main__.py": "",
        "pkg/rules.py": "from __future__ import annotations\nfrom os import _exit\nimport pkg.__main__\n"
                        "from pkg import __version__\n_own = 1\n\n\ndef use():\n    return _own\n",
        "pkg/user.py": "import os\nfrom pkg import rules\nx = rules.use() + os._exit.__name__.count('x')\n",
    })
    assert private_imports(root) == []
