"""Reading raw config with the key path at hand, so every refusal names it.

`Cursor` is the reader parsers use: it stands at one key path of one file, so a key
is spelled once and its path follows (`cursor["istio"]["istiod"].get("replicas", 1,
lambda c: c.integer(minimum=1))` refuses `bookinfo-mesh:istio.istiod.replicas`).
`_Reader` holds the checks themselves, by value and path; parsers not yet moved to
the cursor still call it directly (`cursor.reader`, `cursor.raw`, `cursor.path`)."""
from __future__ import annotations

import difflib
import re
from typing import Any, Callable, Mapping


from model.errors import ConfigError
from model.settings.types import ResourceRequirements


class _Reader:
    """Walks raw config with the key path at hand, so every refusal can name it."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, message: str, *value: Any) -> ConfigError:
        if value:
            return ConfigError(file=self.source, path=path, value=value[0], message=message)
        return ConfigError(file=self.source, path=path, message=message)

    def unknown_key(self, path: str, key: str, allowed: tuple[str, ...]) -> ConfigError:
        """A typo must never fall back to a default: refuse it, and name the key
        that was probably meant."""
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        return self.fail(path, f"unknown key; {hint}allowed: {', '.join(allowed)}")

    def mapping(self, value: Any, path: str, allowed: tuple[str, ...] | None = None) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, "expected a mapping", value)
        for key in value:
            if not isinstance(key, str):
                raise self.fail(f"{path}.{key}", "keys must be strings", key)
            if allowed is not None and key not in allowed:
                raise self.unknown_key(f"{path}.{key}", key, allowed)
        return value

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, "expected true or false", value)
        return value

    def integer(self, value: Any, path: str, *, minimum: int = 0, maximum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise self.fail(path, "expected a whole number", value)
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise self.fail(path, f"expected a whole number of at least {minimum}{upper}", value)
        return value

    def string(
        self,
        value: Any,
        path: str,
        *,
        choices: tuple[str, ...] | None = None,
        pattern: re.Pattern | None = None,
        what: str = "a string",
    ) -> str:
        if not isinstance(value, str) or (not value and choices is None and pattern is None):
            expected = f"one of {', '.join(choices)}" if choices is not None else what
            raise self.fail(path, f"expected {expected}", value)
        if choices is not None and value not in choices:
            raise self.fail(path, f"allowed: {', '.join(choices)}", value)
        if pattern is not None and not pattern.match(value):
            raise self.fail(path, f"expected {what}", value)
        return value

    def strings(self, value: Any, path: str, **kwargs) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(path, "expected a non-empty list", value)
        items = tuple(self.string(v, f"{path}[{i}]", **kwargs) for i, v in enumerate(value))
        for i, item in enumerate(items):
            if item in items[:i]:
                raise self.fail(f"{path}[{i}]", "listed twice", item)
        return items


def _get(raw: Mapping, key: str, default: Any, convert: Callable[[Any], Any]) -> Any:
    return convert(raw[key]) if key in raw else default


class Cursor:
    """Raw config at one key path of one file. Indexing walks down (a missing key
    reads as None, which `mapping()` turns into an empty mapping); every check
    names the cursor's own path in its refusal."""

    def __init__(self, reader: _Reader, raw: Any, path: str):
        self.reader, self.raw, self.path = reader, raw, path

    @classmethod
    def root(cls, raw: Any, *, source: str, path: str) -> Cursor:
        return cls(_Reader(source), raw, path)

    def _child_path(self, key: str) -> str:
        # The project prefix (`bookinfo-mesh:`) takes its keys without a dot.
        return f"{self.path}{key}" if self.path.endswith(":") else f"{self.path}.{key}"

    def __getitem__(self, key: str) -> Cursor:
        value = self.raw.get(key) if isinstance(self.raw, Mapping) else None
        return Cursor(self.reader, value, self._child_path(key))

    def __contains__(self, key: str) -> bool:
        return isinstance(self.raw, Mapping) and key in self.raw

    def get(self, key: str, default: Any, read: Callable[[Cursor], Any]) -> Any:
        """`read(cursor at key)` if the key is set, else `default`."""
        return read(self[key]) if key in self else default

    def fail(self, message: str, *value: Any) -> ConfigError:
        return self.reader.fail(self.path, message, *value)

    def mapping(self, allowed: tuple[str, ...] | None = None) -> Cursor:
        """This value as a mapping (None reads as empty), keys checked against `allowed`."""
        return Cursor(self.reader, self.reader.mapping(self.raw, self.path, allowed), self.path)

    def keys(self) -> list[str]:
        return list(self.raw)

    def boolean(self) -> bool:
        return self.reader.boolean(self.raw, self.path)

    def integer(self, *, minimum: int = 0, maximum: int | None = None) -> int:
        return self.reader.integer(self.raw, self.path, minimum=minimum, maximum=maximum)

    def string(self, *, choices: tuple[str, ...] | None = None, pattern: re.Pattern | None = None,
               what: str = "a string") -> str:
        return self.reader.string(self.raw, self.path, choices=choices, pattern=pattern, what=what)

    def strings(self, *, choices: tuple[str, ...] | None = None, pattern: re.Pattern | None = None,
                what: str = "a string") -> tuple[str, ...]:
        return self.reader.strings(self.raw, self.path, choices=choices, pattern=pattern, what=what)

    def text(self, *, pattern: re.Pattern, what: str) -> str:
        """A string YAML must not read as a number: an unquoted image tag `1.20` is the
        number 1.2 and `010` is 8, so converting it back would silently change it."""
        if isinstance(self.raw, (int, float)) and not isinstance(self.raw, bool):
            raise self.fail(f"YAML reads this as a number, which changes it (1.20 becomes 1.2, 010 becomes 8); "
                            f"quote it: '...'", self.raw)
        return self.reader.string(self.raw, self.path, pattern=pattern, what=what)

    def resources(self) -> ResourceRequirements:
        return _resources(self.reader, self.raw, self.path)


def _numbers_as_text(value: Any) -> Any:
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


_QUANTITY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")


def _resources(r: _Reader, value: Any, path: str) -> ResourceRequirements:
    raw = r.mapping(value, path, ("requests", "limits"))
    parts = {}
    for part in ("requests", "limits"):
        amounts = r.mapping(raw.get(part), f"{path}.{part}", ("cpu", "memory"))
        parts[part] = {
            k: r.string(_numbers_as_text(v), f"{path}.{part}.{k}", pattern=_QUANTITY_RE, what="a quantity like 500m or 2Gi")
            for k, v in amounts.items()
        }
    return ResourceRequirements(**parts)
