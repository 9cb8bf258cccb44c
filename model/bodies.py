"""Object bodies as the rules read them: a Kubernetes object is any `Mapping` and a
list field any `Sequence` but text.

The program and meshplan hand the rules dicts and lists, but the policy host hands a
policy each resource as `unknown_checking_proxy(deserialize_properties(...))`
(pulumi_policy): a read-only `Mapping` whose lists are `Sequence`s, which raises
`UnknownValueError` when a rule reads a value not known during preview. Rules read
through that proxy rather than copying it, so a value unknown in a field no rule
reads never stops a policy. Dicts and lists take the fast path."""
from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

TEXT = (str, bytes, bytearray)
NEVER_LISTS = frozenset({type(None), str, bytes, bytearray, bool, int, float, dict})
"""Types answered without an abstract-class check, which costs several times more
(most list fields the rules ask about are lists or absent)."""
TEMPLATE_PATHS: Mapping[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"), "StatefulSet": ("spec", "template"), "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"), "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
"""Where each workload kind keeps its pod template."""


def is_list(value: Any) -> bool:
    """A list field: a list, or any Sequence but text."""
    kind = type(value)
    if kind is list:
        return True
    return kind not in NEVER_LISTS and isinstance(value, Sequence) and not isinstance(value, TEXT)


def as_list(value: Any) -> list:
    """A list field's entries (a list is returned as is: do not change it); a value
    that is not a list field has none."""
    kind = type(value)
    if kind is list:
        return value
    if kind in NEVER_LISTS:
        return []
    return list(value) if isinstance(value, Sequence) and not isinstance(value, TEXT) else []


def _plain_container(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if is_list(value):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")


def json_text(value: Any) -> str:
    """`value` as canonical JSON (sorted keys), Mappings and Sequences as objects and
    arrays: a key to compare bodies by."""
    return json.dumps(value, sort_keys=True, default=_plain_container)


def plain_data(value: Any) -> Any:
    """A copy of `value` as dicts and lists, for libraries that accept only those
    (jsonschema, cel-python)."""
    if isinstance(value, Mapping):
        return {key: plain_data(item) for key, item in value.items()}
    if is_list(value):
        return [plain_data(item) for item in value]
    return value


def merged(base: Mapping, over: Mapping) -> dict:
    """`over` merged into a copy of `base`, maps key by key, everything else replaced:
    how Helm merges values over a chart's defaults and a profile (mustMergeOverwrite)."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
