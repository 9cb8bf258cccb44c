"""What the Pulumi CLI checks before a program runs, written after its sources
(sdk/go/common/workspace/project.go and pkg/workspace/config.go; the rules are
summarised in ../shared/upstream/pulumi/SOURCES.md), so tests can hold every
`Pulumi.yaml` and stack file of this repository to them: mocks never see these
checks, and a stack that fails them fails `pulumi preview` before the program starts.

Messages are the CLI's own wording, so a failing test reads like the CLI would."""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

NEWEST = "project.json"
"""The CLI's embedded schema on main (after 3.259.0)."""
OLDEST_SUPPORTED = "project-v3.186.0.json"
"""3.186.0 is the first CLI whose config types include `object`."""
BEFORE_OBJECT = "project-v3.185.0.json"


def schema_errors(project: dict, schema_file: Path) -> list[str]:
    """`Pulumi.yaml` against one CLI's JSON schema, as `ValidateProject` does."""
    validator = Draft202012Validator(json.loads(schema_file.read_text()))
    return [f"#/{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(project)]


def _is_project_key(project_name: str, key: str) -> bool:
    return ":" not in key or key.startswith(project_name + ":")


def _full_key(project_name: str, key: str) -> str:
    return key if ":" in key else f"{project_name}:{key}"


def _content(value):
    """A stack value as the CLI holds it: scalars as their text, mappings and lists as
    JSON objects."""
    if isinstance(value, (dict, list)):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def value_has_type(type_name: str, items: dict | None, value) -> bool:
    """ValidateConfigValue: string, integer (whole numbers and integer text), boolean
    (bools and "true"/"false"), object (a mapping), array (a list of `items`)."""
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return True
        if isinstance(value, str):
            try:
                int(value)
                return True
            except ValueError:
                return False
        return False
    if type_name == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if type_name == "object":
        return isinstance(value, dict)
    if not isinstance(value, list) or items is None:
        return False
    return all(value_has_type(items.get("type", ""), items.get("items"), item) for item in value)


def project_errors(project: dict) -> list[str]:
    """Project.Validate: declarations that are wrong before any stack is looked at."""
    errors = []
    name = project["name"]
    for key, declared in (project.get("config") or {}).items():
        if not isinstance(declared, dict):
            continue  # shorthand: a plain default
        if "default" in declared and "value" in declared:
            errors.append(f"project config '{key}' cannot have both a 'default' and 'value' attribute")
        if not _is_project_key(name, key):
            continue
        if declared.get("type") == "array" and "items" not in declared:
            errors.append(f"The configuration key '{key}' declares an array but does not specify the "
                          "underlying type via the 'items' attribute")
        if "type" in declared and "default" in declared and \
                not value_has_type(declared["type"], declared.get("items"), declared["default"]):
            errors.append(f"The default value specified for configuration key '{key}' is not of the "
                          f"expected type '{declared['type']}'")
    return errors


def stack_errors(project: dict, stack: str, stack_document: dict) -> list[str]:
    """ValidateStackConfigAndApplyProjectConfig, as CLIs from 3.202.0 on run it for
    every preview/up: a declared key must be set or have a default; defaults are
    applied as plaintext and then validated like values the stack file sets; a
    `secret: true` key must hold a `secure:` value; every value has its declared type."""
    name = project["name"]
    config = {_full_key(name, str(k)): v for k, v in ((stack_document or {}).get("config") or {}).items()}
    errors, missing = [], []
    for key, declared in sorted((project.get("config") or {}).items()):
        if not isinstance(declared, dict) or not _is_project_key(name, key):
            continue
        full = _full_key(name, key)
        short = key.split(":", 1)[1] if ":" in key else key
        if full in config:
            value = config[full]
        elif "default" in declared or "value" in declared:
            value = declared.get("default", declared.get("value"))
        else:
            missing.append(key)
            continue
        secure = isinstance(value, dict) and set(value) == {"secure"}
        if declared.get("secret") and not secure:
            errors.append(f"Stack '{stack}' with configuration key '{short}' must be encrypted as it's secret")
            continue
        if "type" in declared and not secure and \
                not value_has_type(declared["type"], declared.get("items"), _content(value)):
            errors.append(f"Stack '{stack}' with configuration key '{short}' must be of type '{declared['type']}'")
    if missing:
        errors.append(f"Stack '{stack}' is missing configuration value{'s' if len(missing) > 1 else ''} "
                      + ", ".join(f"'{k}'" for k in missing))
    return errors


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}
