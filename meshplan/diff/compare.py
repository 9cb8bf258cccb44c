"""`meshplan diff`: what a change does, as a reviewer wants to read it.

Two desired states of one program (`meshplan.diff.states`) are compared resource by
resource (by URN, on their inputs) and, for the traffic, share by share. Printing
the result is `meshplan.diff.formats`' job."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from meshplan.diff.states import State
from model.multicluster.install_changes import InstallChange
from model.names import HELM_RELEASE_TYPE
from model.traffic_changes import AspectChange, TrafficChange, aspect_changes, traffic_changes, undeployed_while_routed
from model.route_aspects import route_aspects
from model.traffic import traffic_table
from model.traffic_rows import ROUTE_KINDS

CREATE, UPDATE, DELETE, REPLACE = "create", "update", "delete", "replace"
OPS = (CREATE, UPDATE, REPLACE, DELETE)


# Changes Kubernetes (or the Helm provider) cannot apply in place: the object is
# deleted and created again. Keys are type tokens ("*" for every Kubernetes object);
# values are property paths, a change at or below one forces a replacement.
REPLACE_PATHS: Mapping[str, tuple[str, ...]] = {
    "*": ("metadata.name", "metadata.namespace"),
    "kubernetes:apps/v1:Deployment": ("spec.selector",),
    "kubernetes:apps/v1:DaemonSet": ("spec.selector",),
    "kubernetes:apps/v1:ReplicaSet": ("spec.selector",),
    "kubernetes:apps/v1:StatefulSet": ("spec.selector", "spec.serviceName", "spec.volumeClaimTemplates",
                                       "spec.podManagementPolicy"),
    "kubernetes:batch/v1:Job": ("spec.selector", "spec.template", "spec.completionMode"),
    "kubernetes:core/v1:Service": ("spec.clusterIP", "spec.clusterIPs"),
    "kubernetes:core/v1:PersistentVolumeClaim": ("spec.accessModes", "spec.storageClassName", "spec.selector",
                                                 "spec.volumeName", "spec.volumeMode"),
    HELM_RELEASE_TYPE: ("name", "namespace"),
}


# Inputs a provider records in state that a program never writes; with
# --against-state a key only the state has is no change when its value is one of
# these or false, 0 or empty.
PROVIDER_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    HELM_RELEASE_TYPE: {"timeout": 300, "compat": "true"},
}


# Lists whose items Istio tells apart by a key, not by position, per kind of
# networking.istio.io object: their items are compared by that key
# (`spec.subsets[name=v3]`), so deploying v3 in place of v1 shows as subset v3 added
# and subset v1 removed, not as subset 0 renamed.
KEYED_LISTS: Mapping[str, Mapping[str, str]] = {
    "DestinationRule": {"spec.subsets": "name"},
}


def _list_key(type_token: str, path: str) -> str | None:
    if not type_token.startswith("kubernetes:networking.istio.io/"):
        return None
    return KEYED_LISTS.get(type_token.rsplit(":", 1)[-1], {}).get(path)


def forces_replace(type_token: str, path: str) -> bool:
    prefixes = REPLACE_PATHS.get(type_token, ())
    if type_token.startswith("kubernetes:") and type_token != HELM_RELEASE_TYPE:
        prefixes = (*REPLACE_PATHS["*"], *prefixes)
    return any(path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in prefixes)


@dataclass(frozen=True)
class PropertyChange:
    path: str
    before: Any
    after: Any
    replaces: bool

    @property
    def op(self) -> str:
        if self.before is _ABSENT:
            return "add"
        if self.after is _ABSENT:
            return "remove"
        return "change"

    def as_json(self) -> dict:
        body: dict = {"path": self.path, "op": self.op}
        if self.before is not _ABSENT:
            body["before"] = self.before
        if self.after is not _ABSENT:
            body["after"] = self.after
        if self.replaces:
            body["replaces"] = True
        return body


class _Absent:
    def __repr__(self) -> str:
        return "(none)"


_ABSENT: Any = _Absent()


@dataclass(frozen=True)
class ResourceChange:
    op: str
    type: str
    name: str
    urn: str
    diff: tuple[PropertyChange, ...] = ()

    def as_json(self) -> dict:
        return {"op": self.op, "type": self.type, "name": self.name, "urn": self.urn,
                "diff": [d.as_json() for d in self.diff]}


def _is_default(type_token: str, path: str, value: Any) -> bool:
    if value in (None, False, 0, "", [], {}):
        return True
    return "." not in path and PROVIDER_DEFAULTS.get(type_token, {}).get(path, _ABSENT) == value


def property_changes(type_token: str, before: Any, after: Any, path: str = "",
                     *, lenient: bool = False) -> list[PropertyChange]:
    """Changes by path (`spec.http[0].route[1].weight`). `lenient`: a key only the
    base has whose value is a default (false, 0, empty) is no change; a deployed
    state's inputs carry the provider's defaults, which the program never wrote."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in [*before, *(k for k in after if k not in before)]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in after:
                if lenient and _is_default(type_token, sub, before[key]):
                    continue
                found.append(PropertyChange(sub, before[key], _ABSENT, forces_replace(type_token, sub)))
            elif key not in before:
                found.append(PropertyChange(sub, _ABSENT, after[key], forces_replace(type_token, sub)))
            else:
                found.extend(property_changes(type_token, before[key], after[key], sub, lenient=lenient))
        return found
    if isinstance(before, list) and isinstance(after, list):
        key = _list_key(type_token, path)
        if key is not None and _keyed(before, key) is not None and _keyed(after, key) is not None:
            return _keyed_changes(type_token, before, after, path, key, lenient=lenient)
        found = []
        for i in range(max(len(before), len(after))):
            sub = f"{path}[{i}]"
            if i >= len(after):
                found.append(PropertyChange(sub, before[i], _ABSENT, forces_replace(type_token, sub)))
            elif i >= len(before):
                found.append(PropertyChange(sub, _ABSENT, after[i], forces_replace(type_token, sub)))
            else:
                found.extend(property_changes(type_token, before[i], after[i], sub, lenient=lenient))
        return found
    if before == after:
        return []
    return [PropertyChange(path, before, after, forces_replace(type_token, path))]


def _keyed(items: list, key: str) -> dict[str, Any] | None:
    """The items by their key, when every item has a distinct one."""
    found = {item[key]: item for item in items if isinstance(item, dict) and isinstance(item.get(key), str)}
    return found if len(found) == len(items) else None


def _keyed_changes(type_token: str, before: list, after: list, path: str, key: str,
                   *, lenient: bool) -> list[PropertyChange]:
    old, new = _keyed(before, key), _keyed(after, key)
    found = []
    for name in [*old, *(n for n in new if n not in old)]:
        sub = f"{path}[{key}={name}]"
        if name not in new:
            found.append(PropertyChange(sub, old[name], _ABSENT, forces_replace(type_token, sub)))
        elif name not in old:
            found.append(PropertyChange(sub, _ABSENT, new[name], forces_replace(type_token, sub)))
        else:
            found.extend(property_changes(type_token, old[name], new[name], sub, lenient=lenient))
    kept_before, kept_after = [n for n in old if n in new], [n for n in new if n in old]
    if kept_before != kept_after:  # no meaning to Istio, but still an update of the object
        sub = f"{path}[*].{key}"
        found.append(PropertyChange(sub, kept_before, kept_after, forces_replace(type_token, sub)))
    return found


def resource_changes(base: State, proposed: State, *, lenient: bool = False) -> list[ResourceChange]:
    changes = []
    for key, new in proposed.resources.items():
        old = base.resources.get(key)
        if old is None:
            changes.append(ResourceChange(CREATE, new.type, new.name, new.urn))
            continue
        diff = property_changes(new.type, old.inputs, new.inputs, lenient=lenient)
        if diff:
            op = REPLACE if any(d.replaces for d in diff) else UPDATE
            changes.append(ResourceChange(op, new.type, new.name, new.urn, tuple(diff)))
    for key, old in base.resources.items():
        if key not in proposed.resources:
            changes.append(ResourceChange(DELETE, old.type, old.name, old.urn))
    return changes


@dataclass
class Diff:
    base: State
    proposed: State
    changes: list[ResourceChange]
    traffic: list[TrafficChange]
    """Every destination on either side; `changed_traffic` holds the moved ones."""
    aspects: list[AspectChange] = field(default_factory=list)
    """Faults, mirrors, timeouts and retries of HTTP routes added, removed or changed."""
    secrets: list[dict] = field(default_factory=list)
    """Secret config values added, removed or changed (`{"key", "change"}`), where
    both stack files' secrets could be opened (meshplan/diff/passphrase.py); never values."""
    refused: list[str] = field(default_factory=list)
    """Why the change must not be applied as it is, one line each: make before break
    (always judged here) and the step guard (added by the caller, which knows the limit)."""
    primaries: list[str] = field(default_factory=list)
    """A multi-cluster stack's primaries (each holds the traffic objects); empty for one cluster."""
    install: list[InstallChange] = field(default_factory=list)
    """Changes of the mesh and clusters settings (added by the caller, which reads them)."""
    install_not_compared: str = ""
    """Why the install was not compared (the base's settings are not known), if so."""

    @property
    def changed_traffic(self) -> list[TrafficChange]:
        return [t for t in self.traffic if t.changed]

    @property
    def has_changes(self) -> bool:
        return bool(self.changes or self.changed_traffic or self.aspects or self.secrets or self.install)

    def counts(self) -> dict[str, int]:
        return {op: sum(1 for c in self.changes if c.op == op) for op in OPS}

    def as_json(self) -> dict:
        shown = {"primaries": self.primaries} if self.primaries else {}
        shown.update({"changes": [c.as_json() for c in self.changes],
                      "traffic": [t.as_json() for t in self.changed_traffic]})
        if self.install:
            shown["install"] = [i.as_json() for i in self.install]
        if self.install_not_compared:
            shown["installNotCompared"] = self.install_not_compared
        if self.aspects:
            shown["routeAspects"] = [a.as_json() for a in self.aspects]
        if self.secrets:
            shown["secrets"] = self.secrets
        if self.refused:
            shown["refused"] = self.refused
        return shown


def diff_states(base: State, proposed: State, *, lenient: bool = False) -> Diff:
    traffic = primary_traffic(base, proposed)
    if traffic is None:
        traffic = traffic_changes(traffic_table(base.objects), traffic_table(proposed.objects))
    return Diff(base=base, proposed=proposed, changes=resource_changes(base, proposed, lenient=lenient),
                traffic=traffic,
                aspects=aspect_changes(route_aspects(base.objects), route_aspects(proposed.objects)),
                refused=undeployed_while_routed(base.objects, proposed.objects))


def primary_traffic(base: State, proposed: State) -> list[TrafficChange] | None:
    """Over several clusters, the traffic changes of every primary (a cluster holding
    route objects on either side), each distinct change once with the primaries it
    applies to: a change all primaries make alike is one change, not one per primary,
    and a primary that drifted shows its own. None for one cluster."""
    def routes_in(objects: list[dict]) -> bool:
        return any(o.get("kind") in ROUTE_KINDS for o in objects)

    def side(state: State, cluster: str) -> list[dict]:
        # A cluster holding no route objects on a side (a remote, a cluster not there
        # yet, a stack of one cluster) followed the mesh's config: its primary's.
        own = state.clusters.get(cluster, [])
        return own if routes_in(own) else state.objects

    names = [name for name in dict.fromkeys([*proposed.clusters, *base.clusters])
             if routes_in(proposed.clusters.get(name, [])) or routes_in(base.clusters.get(name, []))]
    if not names:
        return None
    merged: dict[TrafficChange, list[str]] = {}
    for name in names:
        for change in traffic_changes(traffic_table(side(base, name)), traffic_table(side(proposed, name))):
            merged.setdefault(change, []).append(name)
    return [dataclasses.replace(change, primaries=tuple(primaries)) for change, primaries in merged.items()]


def base_drift(state: State) -> list:
    """MC111 on a side read back (a deployed state, a render at a git ref): primaries
    whose traffic objects differ, as findings naming the base. The proposed config is
    judged by the analysis; a base that drifted is what this change lands on."""
    if not state.clusters:
        return []
    from model.multicluster.analysis import as_finding, is_traffic_object
    from model.multicluster.check_traffic import drift_between_primaries
    from model.multicluster.objects import is_expose_object

    # The expose objects differ between primaries by design (a primary with remotes has istiod's).
    traffic = {name: [o for o in objects if is_traffic_object(o) and not is_expose_object(o)]
               for name, objects in state.clusters.items()}
    primaries = [name for name, objects in traffic.items() if any(o.get("kind") in ROUTE_KINDS for o in objects)]
    return [as_finding(f) for f in drift_between_primaries(primaries, traffic, where=" in the base")]


def shown(value: Any) -> str:
    """A property value on one line, secrets already masked upstream."""
    if value is _ABSENT:
        return "(none)"
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return text if len(text) <= 100 else text[:97] + "..."


def describe(changes: Iterable[TrafficChange]) -> str:
    """`reviews v1 100% → 50%, v3 0% → 50%` for a summary line."""
    from model.traffic import format_percent

    parts, last_host = [], None
    for c in changes:
        name = c.subset if c.host == last_host and c.subset else c.destination
        parts.append(f"{name} {format_percent(c.before)} → {format_percent(c.after)}")
        last_host = c.host
    return ", ".join(parts)
