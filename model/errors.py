"""The one error a user sees for bad stack config: a single line that names the
file, the key path, the offending value and what is allowed."""
from __future__ import annotations

import json
from typing import Any

_MISSING = object()


def show_value(value: Any) -> str:
    """A short, unambiguous rendering of a config value for an error line."""
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def printable(text: Any) -> str:
    """Text for one terminal line: control characters (escape sequences, carriage
    returns, newlines) shown escaped, so a value cannot recolour the terminal, move
    the cursor or fake another line."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in str(text))


class ConfigError(ValueError):
    """Bad stack configuration. `str(error)` is the whole, one-line message."""

    def __init__(self, *, file: str, path: str, message: str, value: Any = _MISSING):
        self.file = file
        self.path = path
        self.value = None if value is _MISSING else value
        self.message = message
        where = f"{file}: {path}" if path else file
        shown = "" if value is _MISSING else f" = {show_value(value)}"
        super().__init__(printable(f"{where}{shown}: {message}".replace("\n", " ")))
