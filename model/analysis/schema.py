"""Schema validation of Istio objects against Istio's own CRDs (IST0106), opt-in with
`meshplan check --crds crd-all.gen.yaml`: unknown fields, wrong types and enum values
through jsonschema, and the CRDs' `x-kubernetes-validations` rules through cel-python.

Why these libraries: jsonschema is the maintained reference validator for JSON Schema,
which a CRD's structural schema is once Kubernetes' extensions are spelled out;
cel-python (cloud-custodian) is the maintained pure-Python implementation of Google's
Common Expression Language, the language of those rules, with no native build step.
Rules that use Kubernetes-only CEL functions (e.g. `url()`) or transition rules
(`oldSelf`) cannot be evaluated offline: they are skipped, not guessed.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


from model.analysis.findings import ERROR
from model.analysis.index import Index
from model.analysis.registry import rule
from model.bodies import is_list, plain_data
from model.errors import ConfigError
from model.safe_files import MANIFEST, load_large_yaml_file


@dataclass
class CrdSchemas:
    """Spec schemas by (apiVersion, kind), and compiled CEL programs by rule text."""

    specs: dict[tuple[str, str], dict] = field(default_factory=dict)
    programs: dict[str, Any] = field(default_factory=dict)
    skipped_rules: set[str] = field(default_factory=set)


def load_crds(path: str) -> CrdSchemas:
    """Every served version's spec schema of the CRDs in a file."""
    # With the limits every reader has (aliases, keys given twice), through libyaml:
    # the CRD file is large (seconds with pure Python).
    documents = load_large_yaml_file(path, MANIFEST, missing="no such file (--crds)")
    schemas = CrdSchemas()
    for doc in documents:
        if not isinstance(doc, Mapping) or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc.get("spec") or {}
        for version in spec.get("versions") or []:
            root = ((version.get("schema") or {}).get("openAPIV3Schema") or {})
            spec_schema = (root.get("properties") or {}).get("spec")
            if version.get("served") and spec_schema:
                schemas.specs[(f"{spec.get('group')}/{version.get('name')}", (spec.get("names") or {}).get("kind"))] = \
                    spec_schema
    if not schemas.specs:
        raise ConfigError(file=path, path="", message="no CustomResourceDefinition with a spec schema (--crds)")
    return schemas


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


def _structural_problems(schema: Mapping, spec: Any) -> list[str]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(_strict(schema))
    return [f"{_path(e.absolute_path)}: {e.message}" for e in sorted(validator.iter_errors(spec), key=lambda e: list(map(str, e.absolute_path)))]


def _cel_nodes(schema: Mapping, value: Any, parts: tuple = ()) -> Iterable[tuple[tuple, Mapping, Any]]:
    """(path, rule, value) of every x-kubernetes-validations rule that applies to a value."""
    if not isinstance(schema, Mapping):
        return
    for validation in schema.get("x-kubernetes-validations") or []:
        yield parts, validation, value
    if isinstance(value, Mapping):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), Mapping) else None
        for key, item in value.items():
            child = properties.get(key, extra)
            if child is not None:
                yield from _cel_nodes(child, item, (*parts, key))
    elif is_list(value) and isinstance(schema.get("items"), Mapping):
        for position, item in enumerate(value):
            yield from _cel_nodes(schema["items"], item, (*parts, position))


def _cel_problems(schemas: CrdSchemas, schema: Mapping, spec: Any) -> list[str]:
    import celpy

    problems = []
    for parts, validation, value in _cel_nodes(schema, spec):
        text = str(validation.get("rule") or "")
        if not text or "oldSelf" in text or text in schemas.skipped_rules:
            continue
        program = schemas.programs.get(text)
        try:
            if program is None:
                environment = celpy.Environment()
                program = schemas.programs[text] = environment.program(environment.compile(text))
            result = program.evaluate({"self": celpy.json_to_cel(value)})
        except Exception:  # a Kubernetes-only function, or a rule cel-python cannot run: skip it
            schemas.skipped_rules.add(text)
            continue
        if isinstance(result, celpy.CELEvalError):
            schemas.skipped_rules.add(text)
        elif not bool(result):
            problems.append(f"{_path(parts)}: {validation.get('message') or 'fails rule ' + text}")
    return problems


@rule("BM135", ERROR, "Istio object not valid against its CRD schema (fields, types, enums, CEL rules; --crds)",
      istio="IST0106", analyzer="schema.ValidationAnalyzer")
def schema_invalid(index: Index) -> Iterable:
    schemas = index.schemas
    if not isinstance(schemas, CrdSchemas):
        return
    for obj in index.objects:
        schema = schemas.specs.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
        if schema is None:
            continue
        # jsonschema and cel-python read dicts and lists only.
        spec = plain_data(obj.get("spec")) if obj.get("spec") is not None else {}
        for problem in _structural_problems(schema, spec) + _cel_problems(schemas, schema, spec):
            yield obj, problem
