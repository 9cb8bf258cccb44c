"""Where stack config comes from: a `Pulumi.<stack>.yaml` file (offline) or the
config the Pulumi engine hands the program."""
from __future__ import annotations

import difflib
import json
from typing import Any, Collection, Mapping

from model.errors import ConfigError
from model.safe_files import STACK_FILE, load_yaml_file
from model.settings.types import SECRET_SHOWN, SecretValue, Settings
from model.names import PROJECT

from model.settings.parse import SECRET_KEYS, TOP_LEVEL_KEYS, parse_settings
from model.settings.parse_provider import PROVIDER_NAMESPACE


def read_stack_file(path: str) -> dict[str, Any]:
    """The project keys of a `Pulumi.<stack>.yaml` file, prefix stripped.

    Raises ConfigError (one line) for unreadable or malformed files."""
    return read_stack_config(path)[0]


def read_stack_config(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the project keys, the Kubernetes provider's keys) of a `Pulumi.<stack>.yaml`
    file, each without its namespace: what the engine would hand the program."""
    documents = load_yaml_file(path, STACK_FILE, missing="no such stack file")
    if len(documents) > 1:
        raise ConfigError(file=path, path="document 2", message="a stack file holds one YAML document")
    document = documents[0] if documents else None
    if document is None:
        return {}, {}
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
    provider: dict[str, Any] = {}
    for key, value in config.items():
        key = str(key)
        split = config_key(key)
        if split is None:
            raise ConfigError(file=path, path=f"config.{key}", message=f"could not parse {key} as a configuration key "
                              "(configuration keys should be of the form `<namespace>:<name>`)")
        namespace, name = split
        if namespace == PROVIDER_NAMESPACE:
            provider[name] = value
        if namespace != PROJECT:
            _refuse_near_miss(path, key, namespace)
            continue  # provider settings such as kubernetes:context belong to the provider
        if name in project:  # `ns:name` and the legacy `ns:config:name` are one key
            raise ConfigError(file=path, path=f"config.{key}",
                              message=f"the same key as {PROJECT}:{name}; give it once (the last would silently win)")
        project[name] = _reveal_placeholders(value, path, f"{PROJECT}:{name}")
    return project, provider


def config_key(key: str) -> tuple[str, str] | None:
    """(namespace, name) of a stack file's config key as the Pulumi CLI reads it
    (`ParseKey`): `<namespace>:<name>`, or the legacy `<namespace>:config:<name>`;
    None for any other shape, which the CLI refuses with the whole file."""
    parts = key.split(":")
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 3 and parts[1] == "config" and parts[0]:
        return parts[0], parts[2]
    return None


def _refuse_near_miss(path: str, key: str, namespace: str) -> None:
    """A key under a namespace that is almost the project's (`bookinfo_mesh:`,
    `Bookinfo-Mesh:`) would be skipped as another project's and the stack would
    render with defaults: refuse it."""
    folded = namespace.lower().replace("_", "-").replace(".", "-").replace(" ", "")
    if folded == PROJECT or difflib.SequenceMatcher(None, folded, PROJECT).ratio() >= 0.8:
        raise ConfigError(file=path, path=f"config.{key}",
                          message=f"unknown namespace {namespace!r}; did you mean {PROJECT}:? "
                                  f"(keys of other namespaces are ignored)")


def is_secure_value(value: Any) -> bool:
    """A stack file's `{secure: <ciphertext>}`: a value set with `pulumi config set --secret`."""
    return isinstance(value, Mapping) and set(value) == {"secure"}


def _reveal_placeholders(value: Any, file: str, path: str) -> Any:
    if isinstance(value, dict):
        if is_secure_value(value):
            if not isinstance(value["secure"], str) or not value["secure"]:
                raise ConfigError(file=file, path=f"{path}.secure", message="expected the ciphertext Pulumi wrote "
                                  "(a string); set the value with `pulumi config set --secret`")
            return SecretValue(SECRET_SHOWN)
        return {k: _reveal_placeholders(v, file, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal_placeholders(v, file, f"{path}[{i}]") for i, v in enumerate(value)]
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
        # A secret key the project does not declare (the application's passwords, a
        # cluster's kubeconfig-<cluster> and cacerts-<cluster>) is one secret value:
        # the program reads it as a secret Output, the parser sees only the mark.
        if key in secret_keys and (name in SECRET_KEYS or name not in TOP_LEVEL_KEYS):
            project[name] = SecretValue(SECRET_SHOWN)
            continue
        try:
            project[name] = json.loads(text)
        except (TypeError, ValueError):
            project[name] = text
        if key in secret_keys:
            project[name] = _mark_secret_paths(project[name], SECRET_PATHS.get(name, ()))
    return project


# Values inside structured keys that are Pulumi secrets. The engine decrypts a key
# set with `--secret --path` and marks the whole key secret; the parser then sees
# only the mark (SecretValue holding SECRET_SHOWN), as it does for a `secure:` entry
# in a stack file, and the program reads the value itself as a secret Output
# (components/config.py).
SECRET_PATHS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "ingress": (("tls", "certificate"), ("tls", "privateKey"))}


def _mark_secret_paths(value: Any, paths: tuple[tuple[str, ...], ...]) -> Any:
    for path in paths:
        parent = value
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        # An empty value stays as it is: the parser refuses it as no PEM text.
        if isinstance(parent, dict) and isinstance(parent.get(path[-1]), str) and parent[path[-1]]:
            parent[path[-1]] = SecretValue(SECRET_SHOWN)
    return value


def load_stack_file(path: str, *, stack: str) -> Settings:
    project, provider = read_stack_config(path)
    return parse_settings(project, stack=stack, source=path, provider_config=provider)
