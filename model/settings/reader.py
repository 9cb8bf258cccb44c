"""Reading raw config with the key path at hand, so every refusal names it.

A `Cursor` stands at one key path of one file: a key is spelled once and its path
follows (`cursor["istio"]["istiod"].get("replicas", 1, lambda c: c.integer(minimum=1))`
refuses `bookinfo-mesh:istio.istiod.replicas`). Every parser reads through it.

`Keys` is the table of keys one mapping may hold. Each table registers itself in
`CONFIG_KEYS` as it is declared, and `Cursor.mapping` checks keys against nothing
else, so `CONFIG_KEYS` is every key the parser accepts: the reference `Pulumi.yaml`'s
descriptions are tested against."""
from __future__ import annotations

import difflib
import math
import re
from typing import Any, Callable, Iterator, Mapping

from model.errors import ConfigError
from model.settings.types import ResourceRequirements

CONFIG_KEYS: dict[str, tuple[str, ...]] = {}
"""Key path → the keys the parser accepts in the mapping there, for every mapping with
fixed keys. Paths leave out the `bookinfo-mesh:` prefix; `<service>` and `<store>` stand
for a name the stack chooses among the application's, `[]` for any item of a list. A table read
at several paths (a traffic policy, resources) is listed at the one it is described under."""


class Keys:
    """The keys one mapping of stack config may hold, registered in `CONFIG_KEYS`."""

    def __init__(self, at: str, *names: str):
        if at in CONFIG_KEYS:
            raise ValueError(f"keys at {at!r} declared twice")
        self.at, self.names = at, names
        CONFIG_KEYS[at] = names

    def __contains__(self, key: object) -> bool:
        return key in self.names

    def with_names(self, *names: str) -> Keys:
        """This table plus keys the stack names itself (a cluster's secret keys); not
        registered, as the table stays what is declared."""
        extended = object.__new__(Keys)
        extended.at, extended.names = self.at, (*self.names, *names)
        return extended

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __repr__(self) -> str:
        return f"Keys({self.at!r}, {', '.join(map(repr, self.names))})"


class Cursor:
    """Raw config at one key path of one file. Indexing walks down (a missing key
    reads as None, which `mapping()` turns into an empty mapping); every check
    names the cursor's own path in its refusal."""

    def __init__(self, raw: Any, *, source: str, path: str):
        self.raw, self.source, self.path = raw, source, path

    @classmethod
    def root(cls, raw: Any, *, source: str, path: str) -> Cursor:
        return cls(raw, source=source, path=path)

    def _child_path(self, key: Any) -> str:
        # The project prefix (`bookinfo-mesh:`) takes its keys without a dot.
        return f"{self.path}{key}" if self.path.endswith(":") else f"{self.path}.{key}"

    def __getitem__(self, key: str) -> Cursor:
        value = self.raw.get(key) if isinstance(self.raw, Mapping) else None
        return Cursor(value, source=self.source, path=self._child_path(key))

    def __contains__(self, key: str) -> bool:
        return isinstance(self.raw, Mapping) and key in self.raw

    def holding(self, value: Any) -> Cursor:
        """Another value at this same path: a mapping's key checked as a name, or a
        value read in another form."""
        return Cursor(value, source=self.source, path=self.path)

    def get(self, key: str, default: Any, read: Callable[[Cursor], Any]) -> Any:
        """`read(cursor at key)` if the key is set, else `default`."""
        return read(self[key]) if key in self else default

    def fail(self, message: str, *value: Any) -> ConfigError:
        """The refusal at this path; `value`, when given, is shown after the path."""
        if value:
            return ConfigError(file=self.source, path=self.path, value=value[0], message=message)
        return ConfigError(file=self.source, path=self.path, message=message)

    def unknown_key(self, key: str, allowed: Keys) -> ConfigError:
        """A typo must never fall back to a default: refuse it, and name the key
        that was probably meant."""
        close = difflib.get_close_matches(key, allowed.names, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        return self[key].fail(f"unknown key; {hint}allowed: {', '.join(allowed)}")

    def mapping(self, allowed: Keys | None = None) -> Cursor:
        """This value as a mapping (None reads as empty), its keys checked against
        `allowed`; None for keys the stack names itself (services, versions, headers)."""
        if self.raw is None:
            return self.holding({})
        if not isinstance(self.raw, dict):
            raise self.fail("expected a mapping", self.raw)
        for key in self.raw:
            if not isinstance(key, str):
                raise Cursor(key, source=self.source, path=self._child_path(key)).fail("keys must be strings", key)
            if allowed is not None and key not in allowed:
                raise self.unknown_key(key, allowed)
        return self

    def keys(self) -> list[str]:
        return list(self.raw)

    def elements(self, *, what: str, at_least_one: bool = False) -> list[Cursor]:
        """This value as a list: a cursor at each item (`path[i]`). Anything else, or
        an empty list where `at_least_one`, is refused as `expected <what>`."""
        if not isinstance(self.raw, list) or (at_least_one and not self.raw):
            raise self.fail(f"expected {what}", self.raw)
        return [Cursor(item, source=self.source, path=f"{self.path}[{i}]") for i, item in enumerate(self.raw)]

    def boolean(self) -> bool:
        if not isinstance(self.raw, bool):
            raise self.fail("expected true or false", self.raw)
        return self.raw

    def integer(self, *, minimum: int = 0, maximum: int | None = None) -> int:
        """A whole number; 2.0 reads as 2 (JSON and YAML writers may spell it so)."""
        value = self.raw
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise self.fail("expected a whole number", value)
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise self.fail(f"expected a whole number of at least {minimum}{upper}", value)
        return value

    def number(self, *, minimum: float = -math.inf, maximum: float | None = None) -> float:
        value = self.raw
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum \
                or (maximum is not None and value > maximum):
            upper = f" and at most {maximum:g}" if maximum is not None else ""
            raise self.fail(f"expected a number of at least {minimum:g}{upper}", value)
        return float(value)

    def string(self, *, choices: tuple[str, ...] | None = None, pattern: re.Pattern | None = None,
               what: str = "a string") -> str:
        value = self.raw
        if not isinstance(value, str) or (not value and choices is None and pattern is None):
            expected = f"one of {', '.join(choices)}" if choices is not None else what
            raise self.fail(f"expected {expected}", value)
        if choices is not None and value not in choices:
            raise self.fail(f"allowed: {', '.join(choices)}", value)
        if pattern is not None and not pattern.match(value):
            raise self.fail(f"expected {what}", value)
        return value

    def strings(self, *, choices: tuple[str, ...] | None = None, pattern: re.Pattern | None = None,
                what: str = "a string") -> tuple[str, ...]:
        """A non-empty list of strings, none listed twice."""
        items = self.elements(what="a non-empty list", at_least_one=True)
        values = tuple(item.string(choices=choices, pattern=pattern, what=what) for item in items)
        for i, value in enumerate(values):
            if value in values[:i]:
                raise items[i].fail("listed twice", value)
        return values

    def text(self, *, pattern: re.Pattern, what: str) -> str:
        """A string YAML must not read as a number: an unquoted image tag `1.20` is the
        number 1.2 and `010` is 8, so converting it back would silently change it."""
        if isinstance(self.raw, (int, float)) and not isinstance(self.raw, bool):
            raise self.fail(f"YAML reads this as a number, which changes it (1.20 becomes 1.2, 010 becomes 8); "
                            f"quote it: '...'", self.raw)
        return self.string(pattern=pattern, what=what)

    def resources(self) -> ResourceRequirements:
        """Container requests/limits; a number such as `cpu: 1` reads as the quantity "1"."""
        resources = self.mapping(RESOURCE_KEYS)
        parts = {}
        for part in RESOURCE_KEYS:
            amounts = resources[part].mapping(AMOUNT_KEYS)
            parts[part] = {key: amounts[key].holding(_numbers_as_text(amounts[key].raw)).string(
                               pattern=QUANTITY_RE, what="a quantity like 500m or 2Gi")
                           for key in amounts.keys()}
        return ResourceRequirements(**parts)


RESOURCE_KEYS = Keys("app.resources", "requests", "limits")
AMOUNT_KEYS = Keys("app.resources.requests", "cpu", "memory")

QUANTITY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?\Z")


def _numbers_as_text(value: Any) -> Any:
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
