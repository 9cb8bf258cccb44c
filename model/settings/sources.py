"""Where stack config comes from: a `Pulumi.<stack>.yaml` file (offline) or the
config the Pulumi engine hands the program."""
from __future__ import annotations

import json
from typing import Any, Collection, Mapping

import yaml

from model.errors import ConfigError
from model.settings.types import SECRET_SHOWN, SecretValue, Settings
from model.names import PROJECT

from model.settings.parse import SECRET_KEYS, parse_settings


def read_stack_file(path: str) -> dict[str, Any]:
    """The project keys of a `Pulumi.<stack>.yaml` file, prefix stripped.

    Raises ConfigError (one line) for unreadable or malformed files."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(file=path, path="", message="no such stack file") from None
    except OSError as error:
        raise ConfigError(file=path, path="", message=f"cannot read ({error.strerror})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(file=path, path=where, message=f"invalid YAML ({problem})") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(file=path, path="", value=document, message="expected a mapping with a config: key")
    unknown = [k for k in document if k not in ("config", "encryptionsalt", "secretsprovider",
                                                 "encryptedkey", "environment")]
    if unknown:
        raise ConfigError(file=path, path=str(unknown[0]),
                          message="unknown top-level key; a stack file holds config:")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(file=path, path="config", value=config, message="expected a mapping")
    project: dict[str, Any] = {}
    for key, value in config.items():
        key = str(key)
        namespace, _, name = key.rpartition(":")
        if not namespace:
            namespace, name = PROJECT, key
        if namespace != PROJECT:
            continue  # provider settings such as kubernetes:context belong to the provider
        project[name] = _reveal_placeholders(value)
    return project


def _reveal_placeholders(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SecretValue(SECRET_SHOWN)
        return {k: _reveal_placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal_placeholders(v) for v in value]
    return value


def from_engine_config(config: Mapping[str, str], secret_keys: Collection[str] = ()) -> dict[str, Any]:
    """Project keys from the config the Pulumi engine hands the program: every value
    is a string, structured ones JSON-encoded. `secret_keys`: the full keys the engine
    marks secret; a secret key's plaintext never enters the result (the program reads
    it as a secret Output), only the mark that it is set as a secret."""
    project: dict[str, Any] = {}
    for key, text in config.items():
        namespace, _, name = key.rpartition(":")
        if namespace != PROJECT:
            continue
        if name in SECRET_KEYS and key in secret_keys:
            project[name] = SecretValue(SECRET_SHOWN)
            continue
        try:
            project[name] = json.loads(text)
        except (TypeError, ValueError):
            project[name] = text
    return project


def load_stack_file(path: str, *, stack: str) -> Settings:
    return parse_settings(read_stack_file(path), stack=stack, source=path)
