"""Reading raw config with the key path at hand, so every refusal names it."""
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


_QUANTITY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")


def _resources(r: _Reader, value: Any, path: str) -> ResourceRequirements:
    raw = r.mapping(value, path, ("requests", "limits"))
    parts = {}
    for part in ("requests", "limits"):
        amounts = r.mapping(raw.get(part), f"{path}.{part}", ("cpu", "memory"))
        parts[part] = {
            k: r.string(str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v,
                        f"{path}.{part}.{k}", pattern=_QUANTITY_RE, what="a quantity like 500m or 2Gi")
            for k, v in amounts.items()
        }
    return ResourceRequirements(**parts)
