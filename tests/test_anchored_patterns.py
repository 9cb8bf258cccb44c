r"""Every pattern a stack setting or an object's field is matched against ends at the
end of the value: `$` also matches before a final newline, so `re.match(r"^...$")`
accepts "value\n"; the project's patterns end in `\Z` (or are used with fullmatch)."""
from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

SETTINGS_SOURCES = sorted(path for folder in ("model", "components", "meshplan", "policy", "ci")
                          for path in (ROOT / folder).rglob("*.py") if "venv" not in path.parts)
PATTERN_CALLS = {"compile", "match", "search"}
"""`re.` calls whose pattern must not end in `$` (fullmatch needs no anchor)."""


def patterns_ending_in_dollar(path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in PATTERN_CALLS \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re" and node.args:
            pattern = node.args[0]
            text = pattern.value if isinstance(pattern, ast.Constant) else \
                "".join(v.value for v in pattern.values if isinstance(v, ast.Constant)) \
                if isinstance(pattern, ast.JoinedStr) else ""
            if isinstance(text, str) and text.endswith("$") and not text.endswith("\\$"):
                found.append(f"{path.name}:{node.lineno}: {text}")
    return found


@pytest.mark.parametrize("path", SETTINGS_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_settings_pattern_ends_in_dollar(path):
    assert patterns_ending_in_dollar(path) == []


def test_the_check_finds_a_dollar_anchor(tmp_path):
    source = tmp_path / "x.py"
    source.write_text('import re\nA = re.compile(r"^a$")\nB = re.compile(rf"^{A}b$")\nC = re.compile(r"^c\\Z")\n')
    assert patterns_ending_in_dollar(source) == ["x.py:2: ^a$", "x.py:3: ^b$"]
