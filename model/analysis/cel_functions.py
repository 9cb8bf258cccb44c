"""The Kubernetes side of CEL that cel-python lacks, so CRD rules evaluate offline as the
API server evaluates them:

- the Kubernetes CEL library functions the Gateway API and Istio CRD rules call and
  cel-python has not: `split` and `substring` (cel-go's strings extension, which
  Kubernetes enables) and `isIP` (k8s.io/apiserver `library/ip.go`);
- which functions a compiled rule calls, so a rule calling one that neither
  cel-python nor this module has is reported as not evaluated, by name, rather than
  run into an evaluation error;
- `self` as the API server binds it: property names escaped as Kubernetes escapes
  them (`namespace` → `__namespace__`, `x-y` → `x__dash__y`), map keys kept.

Imported only when a rule is evaluated (`meshplan check --crds`): it imports celpy.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

import celpy
import lark
from celpy import celtypes


class KubernetesRuleError(celpy.CELEvalError):
    """An error the Kubernetes library itself returns (e.g. `substring` out of range):
    the API server refuses the object with it, so it is a failed rule, not a gap."""


def _rule_error(message: str) -> KubernetesRuleError:
    return KubernetesRuleError(message, ValueError, (message,))


def split(text: celtypes.StringType, separator: celtypes.StringType,
          limit: celtypes.IntType | None = None) -> celtypes.ListType:
    """`s.split(sep[, n])`: Go's strings.Split / SplitN (n < 0 all parts, 0 none,
    n > 0 at most n; an empty separator splits into code points)."""
    if not isinstance(text, str) or not isinstance(separator, str):
        raise TypeError("split(string, string)")
    if limit is not None and int(limit) == 0:
        return celtypes.ListType([])
    if separator == "":
        parts = list(text)
        if limit is not None and 0 < int(limit) < len(parts):
            parts = parts[:int(limit) - 1] + ["".join(parts[int(limit) - 1:])]
    else:
        parts = text.split(separator) if limit is None or int(limit) < 0 else text.split(separator, int(limit) - 1)
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def substring(text: celtypes.StringType, start: celtypes.IntType,
              end: celtypes.IntType | None = None) -> Any:
    """`s.substring(start[, end])` on code points; out of range is an error."""
    if not isinstance(text, str):
        raise TypeError("substring(string, int[, int])")
    length, first = len(text), int(start)
    last = length if end is None else int(end)
    if end is not None and first > last:
        return _rule_error(f"invalid substring range. start: {first}, end: {last}")
    for index in (first, last):
        if not 0 <= index <= length:
            return _rule_error(f"index out of range: {index}")
    return celtypes.StringType(text[first:last])


def is_ip(text: celtypes.StringType) -> celtypes.BoolType:
    """`isIP(s)`: an IPv4 or IPv6 address, without a zone, not IPv4-mapped IPv6, no
    leading zeros in IPv4 octets."""
    if not isinstance(text, str):
        raise TypeError("isIP(string)")
    try:
        address = ipaddress.ip_address(str(text))
    except ValueError:
        return celtypes.BoolType(False)
    if isinstance(address, ipaddress.IPv6Address) and (address.scope_id or address.ipv4_mapped):
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


KUBERNETES_FUNCTIONS = {"split": split, "substring": substring, "isIP": is_ip}
"""The Kubernetes CEL library functions added to cel-python's."""

MACROS = frozenset({"has", "dyn", "all", "exists", "exists_one", "map", "filter"})
"""What cel-python evaluates as macros rather than through its function table."""

AVAILABLE = frozenset(celpy.evaluation.base_functions) | frozenset(KUBERNETES_FUNCTIONS) | MACROS


def called_functions(tree: lark.Tree) -> set[str]:
    """The names of the functions, methods and macros a compiled rule calls."""
    names = set()
    for node in tree.iter_subtrees():
        if node.data in ("member_dot_arg", "ident_arg", "dot_ident_arg"):
            names.update(str(c) for c in node.children if isinstance(c, lark.Token) and c.type == "IDENT")
    return names


def missing_functions(tree: lark.Tree) -> list[str]:
    """The functions a rule calls that cannot be evaluated offline, sorted."""
    return sorted(called_functions(tree) - AVAILABLE)


_RESERVED = frozenset({"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
                       "function", "if", "import", "let", "loop", "package", "namespace", "return", "var",
                       "void", "while"})
_ESCAPED = re.compile(r"__|[-./]")
_ESCAPES = {"__": "__underscores__", ".": "__dot__", "-": "__dash__", "/": "__slash__"}


def escape(name: str) -> str:
    """A schema property name as CEL reads it (k8s.io/apiserver `cel/escaping.go`)."""
    if name in _RESERVED:
        return f"__{name}__"
    return _ESCAPED.sub(lambda m: _ESCAPES[m.group()], name)


def to_cel(schema: Any, value: Any) -> Any:
    """A plain value as the API server binds it to `self` under `schema`."""
    if isinstance(value, Mapping):
        properties = schema.get("properties") if isinstance(schema, Mapping) else None
        extra = schema.get("additionalProperties") if isinstance(schema, Mapping) else None
        out = {}
        for key, item in value.items():
            if properties and key in properties:
                out[celtypes.StringType(escape(key))] = to_cel(properties[key], item)
            else:
                out[celtypes.StringType(key)] = to_cel(extra if isinstance(extra, Mapping) else None, item)
        return celtypes.MapType(out)
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema, Mapping) else None
        return celtypes.ListType([to_cel(items, item) for item in value])
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):  # an integer in a `type: number` field is a double to CEL
        number = isinstance(schema, Mapping) and schema.get("type") == "number"
        return celtypes.DoubleType(value) if number else celtypes.IntType(value)
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    return value
