"""Reading the files meshplan and the program are given — stack files, manifests,
exported states, render JSON — with limits, so that no input can hang a command,
exhaust memory or end in a traceback: every refusal is one `ConfigError` line
naming the file and where in it.

The limits (per file):

    kind          size     nesting   alias expansion
    stack file    1 MiB    64        10,000 nodes
    manifest      32 MiB   64        10,000 nodes
    state         256 MiB  64        (JSON has none)

and everywhere: a scalar at most 1 MiB, an integer at most 100 digits, no mapping
key given twice (YAML and JSON: the last one would silently win). Large YAML files
(Istio's CRD file, `meshplan check --crds`) are parsed by libyaml under the same limits.

Why no library: PyYAML (already the project's YAML library) builds an alias once
and shares it, so the danger of a "billion laughs" is not the load but every walk
after it; counting the nodes an alias brings in while composing stops it at the
source. Refusing duplicate keys is one override of `construct_mapping`. The
maintained alternatives (ruamel.yaml refuses duplicates but has no alias budget;
strictyaml refuses anchors altogether and is not a Kubernetes YAML reader) would
each still need this code."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
import yaml.reader
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from model.errors import ConfigError

MiB = 1024 * 1024
MAX_SCALAR_CHARS = MiB
MAX_INTEGER_DIGITS = 100


@dataclass(frozen=True)
class Limits:
    """What one kind of input file may hold."""

    kind: str
    max_bytes: int
    max_depth: int = 64
    max_alias_nodes: int = 10_000


STACK_FILE = Limits("stack file", MiB)
MANIFEST = Limits("manifest", 32 * MiB)
STATE = Limits("state", 256 * MiB)


def _size(limit: int) -> str:
    return f"{limit // MiB} MiB" if limit >= MiB else f"{limit} bytes"


def read_text(path: str, limits: Limits, *, missing: str = "no such file") -> str:
    """The file's text: at most `limits.max_bytes`, UTF-8 (a UTF-8 BOM is allowed),
    no NUL bytes. Refusals name the file and the rule broken."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise ConfigError(file=path, path="", message=missing) from None
    except IsADirectoryError:
        raise ConfigError(file=path, path="", message="is a directory, not a file") from None
    except PermissionError:
        raise ConfigError(file=path, path="", message="cannot read: permission denied") from None
    except OSError as error:
        raise ConfigError(file=path, path="", message=f"cannot read ({error.strerror or 'error'})") from None
    return decode(data, file=path, limits=limits)


def decode(data: bytes, *, file: str, limits: Limits) -> str:
    if len(data) > limits.max_bytes:
        raise ConfigError(file=file, path="", message=f"larger than the {_size(limits.max_bytes)} "
                                                       f"limit for a {limits.kind}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(file=file, path="", message="UTF-16 text (byte order mark); save it as UTF-8")
    if b"\x00" in data:
        raise ConfigError(file=file, path="", message="binary content (NUL bytes), not UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(file=file, path="", message=f"not UTF-8 text (invalid byte at offset {error.start})") from None
    return text.removeprefix("\ufeff")


class _ValueChecks:
    """What a loader refuses while it constructs: keys given twice, long integers."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, ScalarNode):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise _refuse_at(key_node, f"key {key!r} given twice in one mapping (the last would silently win)")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: ScalarNode) -> int:
        if sum(ch.isdigit() for ch in node.value) > MAX_INTEGER_DIGITS:
            raise _refuse_at(node, f"a number of more than {MAX_INTEGER_DIGITS} digits")
        return super().construct_yaml_int(node)


class _LimitedLoader(_ValueChecks, yaml.SafeLoader):
    """SafeLoader that counts nesting and the nodes aliases bring in while it
    composes, refuses keys given twice, and refuses oversized scalars and integers."""

    limits: Limits = STACK_FILE

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._alias_nodes = 0
        self._sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, height)

    def _refuse(self, node_or_mark: Any, message: str) -> _LoadRefused:
        return _refuse_at(node_or_mark, message)

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:
                raise self._refuse(mark, "an alias inside the node it refers to (a recursive structure)")
            nodes, height = self._sizes[id(node)]
            self._alias_nodes += nodes
            if self._alias_nodes > self.limits.max_alias_nodes:
                raise self._refuse(mark, f"aliases expand to more than {self.limits.max_alias_nodes:,} nodes, "
                                         f"the limit for a {self.limits.kind}")
            if self._depth + height > self.limits.max_depth:
                raise self._refuse(mark, f"nested deeper than {self.limits.max_depth} levels, "
                                         f"the limit for a {self.limits.kind}")
            return node
        self._depth += 1
        if self._depth > self.limits.max_depth:
            raise self._refuse(self.peek_event().start_mark,
                               f"nested deeper than {self.limits.max_depth} levels, the limit for a {self.limits.kind}")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._sizes[id(node)] = self._measure(node)
        return node

    def _measure(self, node: Node) -> tuple[int, int]:
        if isinstance(node, ScalarNode):
            if len(node.value) > MAX_SCALAR_CHARS:
                raise self._refuse(node, f"a value longer than {_size(MAX_SCALAR_CHARS)}")
            return 1, 1
        children = node.value if isinstance(node, SequenceNode) else \
            [part for pair in node.value for part in pair] if isinstance(node, MappingNode) else []
        measured = [self._sizes.get(id(child), (1, 1)) for child in children]
        return 1 + sum(m[0] for m in measured), 1 + max((m[1] for m in measured), default=0)


_LimitedLoader.add_constructor("tag:yaml.org,2002:int", _LimitedLoader.construct_yaml_int)


class _LoadRefused(Exception):
    def __init__(self, where: str, message: str):
        super().__init__(message)
        self.where, self.message = where, message


def _refuse_at(node_or_mark: Any, message: str) -> _LoadRefused:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return _LoadRefused(f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "", message)


def load_yaml_documents(text: str, *, file: str, limits: Limits,
                        kind_lines: list[KindLines] | None = None) -> list[Any]:
    """Every YAML document of `text`, or one ConfigError line. With `kind_lines`, also
    where each document's objects start, read from the nodes the documents are built
    from (no second parse)."""
    def after_each(node: Node) -> None:
        if kind_lines is not None:
            kind_lines.append(_kind_lines(node))

    return _documents(_LimitedLoader, text, file=file, limits=limits, after_each=after_each)


def _documents(loader_base: type, text: str, *, file: str, limits: Limits,
               before_each: Callable[[Node], None] = lambda node: None,
               after_each: Callable[[Node], None] = lambda node: None) -> list[Any]:
    """Every document a loader of `loader_base` builds from `text`, each node graph
    passed to `before_each` before it is built and to `after_each` after; any refusal
    or YAML error as one ConfigError line naming the document."""
    documents: list[Any] = []
    loader = None
    try:
        loader = type("Loader", (loader_base,), {"limits": limits})(text)
        while loader.check_node():
            node = loader.get_node()
            before_each(node)
            documents.append(loader.construct_document(node))
            after_each(node)
    except _LoadRefused as refused:
        number = f"document {len(documents) + 1}, " if documents else ""
        raise ConfigError(file=file, path=f"{number}{refused.where}", message=refused.message) from None
    except yaml.YAMLError as error:
        raise _yaml_error(error, file) from None
    except RecursionError:
        raise ConfigError(file=file, path="", message=f"nested too deeply for a {limits.kind}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return documents


@dataclass(frozen=True)
class KindLines:
    """1-based lines of the `kind:` key of a document and, for a `kind: List`, of
    each of its `items` (None where there is none), as istioctl points at objects."""

    document: int | None
    items: tuple[int | None, ...] = ()


def _kind_lines(node: Node | None) -> KindLines:
    def key_line(mapping: Node | None, key: str) -> tuple[int | None, Node | None]:
        if isinstance(mapping, MappingNode):
            for key_node, value_node in mapping.value:
                if isinstance(key_node, ScalarNode) and key_node.value == key:
                    return key_node.start_mark.line + 1, value_node
        return None, None

    line, _ = key_line(node, "kind")
    _, items = key_line(node, "items")
    return KindLines(line, tuple(key_line(item, "kind")[0] for item in items.value)
                     if isinstance(items, SequenceNode) else ())


def _yaml_error(error: yaml.YAMLError, file: str) -> ConfigError:
    mark = getattr(error, "problem_mark", None)
    if isinstance(error, yaml.reader.ReaderError):
        return ConfigError(file=file, path=f"character {error.position + 1}",
                           message=f"invalid YAML (character #x{error.character:04x} is not allowed in YAML text)")
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    if isinstance(error, (ComposerError, ConstructorError)) and getattr(error, "context", None):
        problem = f"{error.context}: {problem}"
    return ConfigError(file=file, path=where, message=f"invalid YAML ({problem})")


def load_yaml_file(path: str, limits: Limits, *, missing: str = "no such file",
                   kind_lines: list[KindLines] | None = None) -> list[Any]:
    return load_yaml_documents(read_text(path, limits, missing=missing), file=path, limits=limits,
                               kind_lines=kind_lines)


# ---------------------------------------------------------------- large files, through libyaml
# Istio's CRD file is close to 1 MiB: the pure-Python parser above takes seconds over
# it, libyaml a fraction. libyaml composes a document in C, where no counting can
# hook in; the same limits are checked on each composed node graph before anything
# is constructed (the graph shares aliased nodes, so checking it costs no expansion).


class _LibyamlLimitedLoader(_ValueChecks, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    limits: Limits = MANIFEST


_LibyamlLimitedLoader.add_constructor("tag:yaml.org,2002:int", _LibyamlLimitedLoader.construct_yaml_int)


def _check_node_graph(root: Node, limits: Limits) -> None:
    """The limits `_LimitedLoader` counts while composing, on a composed graph: a node
    met again is an alias, and brings in its whole expansion."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, height), once measured
    open_nodes: set[int] = set()
    alias_nodes = 0

    def measure(node: Node, depth: int) -> tuple[int, int]:
        nonlocal alias_nodes
        if id(node) in open_nodes:
            raise _refuse_at(node, "an alias inside the node it refers to (a recursive structure)")
        if id(node) in sizes:
            nodes, height = sizes[id(node)]
            alias_nodes += nodes
            if alias_nodes > limits.max_alias_nodes:
                raise _refuse_at(node, f"aliases expand to more than {limits.max_alias_nodes:,} nodes, "
                                   f"the limit for a {limits.kind}")
            if depth - 1 + height > limits.max_depth:
                raise _refuse_at(node, f"nested deeper than {limits.max_depth} levels, the limit for a {limits.kind}")
            return nodes, height
        if depth > limits.max_depth:
            raise _refuse_at(node, f"nested deeper than {limits.max_depth} levels, the limit for a {limits.kind}")
        if isinstance(node, ScalarNode):
            if len(node.value) > MAX_SCALAR_CHARS:
                raise _refuse_at(node, f"a value longer than {_size(MAX_SCALAR_CHARS)}")
            sizes[id(node)] = (1, 1)
            return 1, 1
        children = node.value if isinstance(node, SequenceNode) else \
            [part for pair in node.value for part in pair] if isinstance(node, MappingNode) else []
        open_nodes.add(id(node))
        measured = [measure(child, depth + 1) for child in children]
        open_nodes.discard(id(node))
        sizes[id(node)] = (1 + sum(m[0] for m in measured), 1 + max((m[1] for m in measured), default=0))
        return sizes[id(node)]

    measure(root, 1)


def load_large_yaml_file(path: str, limits: Limits, *, missing: str = "no such file") -> list[Any]:
    """`load_yaml_file`'s documents and refusals, parsed by libyaml when PyYAML has it."""
    text = read_text(path, limits, missing=missing)
    if not hasattr(yaml, "CSafeLoader"):
        return load_yaml_documents(text, file=path, limits=limits)
    return _documents(_LibyamlLimitedLoader, text, file=path, limits=limits,
                      before_each=lambda node: _check_node_graph(node, limits))


def load_json_text(text: str, *, file: str, limits: Limits, what: str = "JSON") -> Any:
    """One JSON document with the same limits: nesting, key given twice, long numbers."""
    def pairs(items: list[tuple[str, Any]]) -> dict:
        found: dict = {}
        for key, value in items:
            if key in found:
                raise _LoadRefused("", f"key {key!r} given twice in one object (the last would silently win)")
            found[key] = value
        return found

    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
            raise _LoadRefused("", f"a number of more than {MAX_INTEGER_DIGITS} digits")
        return int(digits)

    if len(text) > limits.max_bytes:
        raise ConfigError(file=file, path="", message=f"larger than the {_size(limits.max_bytes)} limit for a {limits.kind}")
    try:
        document = json.loads(text, object_pairs_hook=pairs, parse_int=integer)
    except _LoadRefused as refused:
        raise ConfigError(file=file, path="", message=refused.message) from None
    except RecursionError:
        raise ConfigError(file=file, path="", message=f"nested deeper than {limits.max_depth} levels, "
                                                       f"the limit for a {limits.kind}") from None
    except ValueError as error:
        first = str(error).splitlines()[0] if str(error) else "malformed"
        raise ConfigError(file=file, path="", message=f"not {what} ({first})") from None
    if depth(document, limits.max_depth + 1) > limits.max_depth:
        raise ConfigError(file=file, path="", message=f"nested deeper than {limits.max_depth} levels, "
                                                       f"the limit for a {limits.kind}")
    return document


def load_json_file(path: str, limits: Limits, *, what: str = "JSON", missing: str = "no such file") -> Any:
    return load_json_text(read_text(path, limits, missing=missing), file=path, limits=limits, what=what)


def depth(value: Any, stop: int) -> int:
    """How deeply `value` nests (a scalar is 0), counted without recursion and
    only up to `stop`."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            level += 1
            deepest = max(deepest, level)
            if deepest >= stop:
                return deepest
            stack.extend((child, level) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
