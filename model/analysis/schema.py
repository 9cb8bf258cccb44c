"""Schema validation of custom objects against their CRDs (IST0106), opt-in with
`meshplan check --crds FILE [--crds FILE ...]`: Istio's `crd-all.gen.yaml`, Gateway
API's `standard-install.yaml` or `experimental-install.yaml`, or any CRD file.

Each object is judged as the API server judges a create: the schema's `default`s are
applied first (`crd_defaults`), then unknown fields, wrong types, enum values and
limits through jsonschema, duplicate entries of `x-kubernetes-list-type` set and map
lists, and the CRDs' `x-kubernetes-validations` rules through cel-python, with the
Kubernetes CEL functions it lacks added (`cel_functions`).

Why these libraries: jsonschema is the maintained reference validator for JSON Schema,
which a CRD's structural schema is once Kubernetes' extensions are spelled out;
cel-python (cloud-custodian) is the maintained pure-Python implementation of Google's
Common Expression Language, the language of those rules, with no native build step.
A rule calling a function neither has (e.g. `url()`, `isURL`) is not guessed: it is
reported as not evaluated, naming the function. Transition rules (`oldSelf`) apply
only to updates, so a create does not run them either.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from model.analysis.findings import ERROR, WARNING
from model.analysis.index import Index
from model.analysis.registry import rule
from model.bodies import is_list, plain_data
from model.errors import ConfigError
from model.safe_files import MANIFEST, load_large_yaml_file


@dataclass
class CrdSchemas:
    """Spec schemas by (apiVersion, kind), and what is built from them once."""

    specs: dict[tuple[str, str], dict] = field(default_factory=dict)
    sources: dict[tuple[str, str], str] = field(default_factory=dict)
    """The file defining each (group, kind)."""
    programs: dict[str, tuple[Any, list[str]]] = field(default_factory=dict)
    """Rule text → (cel-python program, functions it calls that cannot be evaluated offline)."""
    validators: dict[tuple[str, str], Any] = field(default_factory=dict)
    evaluated: int = 0
    """Rule evaluations run (passed or failed), for tests and measurements."""


def load_crds(paths: str | Sequence[str]) -> CrdSchemas:
    """Every served version's spec schema of the CRDs in the files; documents that are
    not CRDs (a ValidatingAdmissionPolicy in an install file) are ignored. A kind
    defined twice (both Gateway API channels given) is refused."""
    schemas = CrdSchemas()
    for path in [paths] if isinstance(paths, str) else paths:
        # With the limits every reader has (aliases, keys given twice), through libyaml:
        # CRD files are large (seconds with pure Python).
        documents = load_large_yaml_file(path, MANIFEST, missing="no such file (--crds)")
        found = 0
        for number, doc in enumerate(documents, 1):
            if not isinstance(doc, Mapping) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = _mapping(doc.get("spec"))
            group, kind = spec.get("group"), _mapping(spec.get("names")).get("kind")
            if not isinstance(group, str) or not isinstance(kind, str):
                continue  # names no kind: defines nothing to check against
            if (group, kind) in schemas.sources:
                raise ConfigError(file=path, path=f"document {number}: spec.names.kind", value=kind,
                                  message=f"{kind}.{group} is already defined by {schemas.sources[group, kind]}: "
                                          "give each CRD once (one Gateway API channel)")
            schemas.sources[group, kind] = path
            for version in map(_mapping, spec.get("versions") if is_list(spec.get("versions")) else []):
                root = _mapping(_mapping(version.get("schema")).get("openAPIV3Schema"))
                spec_schema = _mapping(root.get("properties")).get("spec")
                if version.get("served") and isinstance(spec_schema, Mapping):
                    schemas.specs[(f"{group}/{version.get('name')}", kind)] = spec_schema
                    found += 1
        if not found:
            raise ConfigError(file=path, path="", message="no CustomResourceDefinition with a spec schema (--crds)")
    return schemas


def _mapping(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _strict(schema: Any) -> Any:
    """A CRD structural schema as plain JSON Schema: objects with properties reject
    unknown fields unless they preserve them, int-or-string accepts both."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {k: _strict(v) for k, v in schema.items() if k != "x-kubernetes-validations"}
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out \
            and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _path(parts: Iterable) -> str:
    out = "spec"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _structural_problems(schemas: CrdSchemas, key: tuple[str, str], spec: Any) -> list[str]:
    validator = schemas.validators.get(key)
    if validator is None:
        from jsonschema import Draft202012Validator

        validator = schemas.validators[key] = Draft202012Validator(_strict(schemas.specs[key]))
    errors = sorted(validator.iter_errors(spec), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{_path(e.absolute_path)}: {_message(e)}" for e in errors]


def _message(error: Any) -> str:
    """jsonschema's message, without a long value repeated in it (a list of 17 rules)."""
    if error.validator in ("maxItems", "minItems", "maxProperties", "minProperties") \
            and isinstance(error.instance, (list, dict)):
        many = "at most" if error.validator.startswith("max") else "at least"
        what = "items" if error.validator.endswith("Items") else "properties"
        return f"{len(error.instance)} {what}, {many} {error.validator_value} allowed"
    shown = repr(error.instance)
    return error.message.replace(shown, "the value") if len(shown) > 80 else error.message


def _nodes(schema: Mapping, value: Any, parts: tuple = ()) -> Iterable[tuple[tuple, Mapping, Any]]:
    """(path, schema, value) of every value that has a schema, the value itself first."""
    if not isinstance(schema, Mapping):
        return
    yield parts, schema, value
    if isinstance(value, Mapping):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), Mapping) else None
        for key, item in value.items():
            child = properties.get(key, extra)
            if child is not None:
                yield from _nodes(child, item, (*parts, key))
    elif is_list(value) and isinstance(schema.get("items"), Mapping):
        for position, item in enumerate(value):
            yield from _nodes(schema["items"], item, (*parts, position))


def _duplicate_entries(schema: Mapping, value: Any, parts: tuple) -> list[str]:
    """The API server's check of `x-kubernetes-list-type: set` and `map` lists: no two
    items (set) or no two items with the same map keys (map)."""
    list_type = schema.get("x-kubernetes-list-type")
    if list_type not in ("set", "map") or not is_list(value):
        return []
    keys = schema.get("x-kubernetes-list-map-keys") or []
    seen, problems = set(), []
    for position, item in enumerate(value):
        if list_type == "map" and isinstance(item, Mapping):
            identity = repr([(k, item.get(k)) for k in keys])
            shown = ", ".join(f"{k}={item.get(k)!r}" for k in keys)
        else:
            identity, shown = repr(item), repr(item)
        if identity in seen:
            problems.append(f"{_path((*parts, position))}: duplicate entry ({shown}) in a list of type {list_type}")
        seen.add(identity)
    return problems


def _shortened(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _reason(error: Any) -> str:
    """The first evaluation error behind an error (cel-python nests them as text)."""
    inner = re.search(r"""CELEvalError\(\*\((["'])(.+?)\1, <class""", str(error.args))
    text = inner.group(2).replace("\\'", "'") if inner else str(error.args[0] if error.args else error)
    return re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", text)


def _compiled(schemas: CrdSchemas, text: str) -> tuple[Any, list[str]]:
    compiled = schemas.programs.get(text)
    if compiled is None:
        import celpy

        from model.analysis.cel_functions import KUBERNETES_FUNCTIONS, missing_functions

        environment = celpy.Environment()
        tree = environment.compile(text)
        compiled = schemas.programs[text] = (environment.program(tree, functions=KUBERNETES_FUNCTIONS),
                                             missing_functions(tree))
    return compiled


def _rule_problems(schemas: CrdSchemas, schema: Mapping, value: Any, parts: tuple,
                   reported: set[str]) -> list[tuple[str, str]]:
    """(level, message) for each of a value's `x-kubernetes-validations` rules that
    fails (error) or cannot be evaluated offline (warning, once per rule and object)."""
    import celpy

    from model.analysis.cel_functions import KubernetesRuleError, to_cel

    problems = []
    for validation in schema.get("x-kubernetes-validations") or []:
        text = str(validation.get("rule") or "")
        if not text or "oldSelf" in text:  # transition rules: updates only
            continue
        message = str(validation.get("message") or f"fails rule {text}")
        try:
            program, missing = _compiled(schemas, text)
        except Exception as error:  # cel-python cannot parse it: say so rather than guess
            if text not in reported:
                reported.add(text)
                problems.append((WARNING, f"{_path(parts)}: rule not evaluated offline (cannot compile: "
                                          f"{str(error).splitlines()[0]}): {_shortened(text)}"))
            continue
        if missing:
            if text not in reported:
                reported.add(text)
                names = ", ".join(f"{name}()" for name in missing)
                problems.append((WARNING, f"{_path(parts)}: rule not evaluated offline (CEL function {names} "
                                          f"not available): {_shortened(text)}"))
            continue
        try:
            result = program.evaluate({"self": to_cel(schema, value)})
        except Exception as error:  # cel-python raises some evaluation errors instead of returning them
            result = error if isinstance(error, celpy.CELEvalError) else celpy.CELEvalError(repr(error))
        if isinstance(result, KubernetesRuleError):
            schemas.evaluated += 1
            problems.append((ERROR, f"{_path(parts)}: {message} ({result.args[0]})"))
        elif isinstance(result, celpy.CELEvalError):
            if text not in reported:
                reported.add(text)
                problems.append((WARNING, f"{_path(parts)}: rule not evaluated offline ({_reason(result)}): "
                                      f"{_shortened(text)}"))
        else:
            schemas.evaluated += 1
            if not bool(result):
                problems.append((ERROR, f"{_path(parts)}: {message}"))
    return problems


def spec_problems(schemas: CrdSchemas, api_version: str, kind: str, spec: Any) -> list[tuple[str, str]]:
    """(level, message) of everything wrong with a spec of this apiVersion and kind
    ([] when no CRD given defines it): errors, and warnings for rules not evaluated."""
    from model.analysis.crd_defaults import with_defaults

    key = (api_version, kind)
    schema = schemas.specs.get(key)
    if schema is None:
        return []
    spec = with_defaults(schema, spec)
    problems = [(ERROR, p) for p in _structural_problems(schemas, key, spec)]
    reported: set[str] = set()
    for parts, node_schema, value in _nodes(schema, spec):
        problems += [(ERROR, p) for p in _duplicate_entries(node_schema, value, parts)]
        problems += _rule_problems(schemas, node_schema, value, parts, reported)
    return problems


@rule("BM135", ERROR, "custom object (Istio, Gateway API) not valid against its CRD schema (fields, types, enums, "
      "CEL rules; --crds)", istio="IST0106", analyzer="schema.ValidationAnalyzer",
      level_doc="error; warning for a CEL rule that cannot be evaluated offline")
def schema_invalid(index: Index) -> Iterable:
    schemas = index.schemas
    if not isinstance(schemas, CrdSchemas):
        return
    for obj in index.objects:
        # jsonschema and cel-python read dicts and lists only.
        spec = plain_data(obj.get("spec")) if obj.get("spec") is not None else {}
        for level, problem in spec_problems(schemas, str(obj.get("apiVersion")), str(obj.get("kind")), spec):
            yield obj, problem, level
