"""What a render recorded, as the real engine would see it: each registration
(URN, type, name, parent, inputs, dependencies, protect) in a stable order, the
stack's outputs and what it read, with wire values made JSON-ready and secrets
masked."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model.names import HELM_RELEASE_TYPE, UNKNOWN_SHOWN
from model.traffic_rows import object_key
from model.settings import SECRET_NOT_SET_SHOWN, SECRET_SHOWN, SecretValue, Settings

PROVIDER_TYPE_PREFIX = "pulumi:providers:"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SECRET_KEY = "4dabf18193072939515e22adb298388d"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict
    depends_on: list[str]
    protect: bool
    custom: bool
    retain_on_delete: bool = False
    """Deleting it from the stack leaves the object on the cluster."""
    provider: str | None = None
    """An explicit provider (`<urn>::<id>`): only a multi-cluster stack gives one."""

    def as_json(self) -> dict:
        shown = {"urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent,
                 "inputs": self.inputs, "dependsOn": self.depends_on, "protect": self.protect}
        if self.retain_on_delete:
            shown["retainOnDelete"] = True
        if self.provider is not None:
            shown["provider"] = self.provider
        return shown

    @property
    def is_kubernetes_object(self) -> bool:
        return self.custom and "apiVersion" in self.inputs and "kind" in self.inputs


@dataclass
class Rendered:
    project: str
    stack: str
    source: str
    settings: Settings
    resources: list[Registration]
    outputs: dict = field(default_factory=dict)
    reads: list[dict] = field(default_factory=list)
    """Resources the program read rather than registered (a StackReference, one per
    stack read; a cluster object it judges, such as a CRD), sorted by URN:
    `{"urn", "type", "name", "id"}`."""

    def objects(self) -> list[dict]:
        """The Kubernetes objects (Helm releases excluded), as manifests."""
        return [r.inputs for r in self.resources if r.is_kubernetes_object]

    def mesh_objects(self) -> list[dict]:
        """The objects as one mesh sees them: over several clusters each object once
        (every primary holds the same traffic objects; a version's Deployment counts
        wherever it runs), so shares are not counted once per primary."""
        if self.settings.multicluster is None:
            return self.objects()
        return each_once(self.objects())

    def releases(self) -> list[Registration]:
        return [r for r in self.resources if r.type == HELM_RELEASE_TYPE]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.resources}

    def providers(self) -> list[Registration]:
        return [r for r in self.resources if r.type.startswith(PROVIDER_TYPE_PREFIX)]

    def provider_clusters(self) -> list[tuple[str, str, str | None]]:
        """(name, type, the name of its explicit provider or None) of every resource a
        provider deploys (the stack, components and providers aside)."""
        return [(r.name, r.type, provider_name(r.provider))
                for r in self.resources
                if r.custom and not r.type.startswith(PROVIDER_TYPE_PREFIX) and r.type != "pulumi:pulumi:StackReference"]

    def as_json(self) -> dict:
        shown = {"project": self.project, "stack": self.stack}
        if self.providers():
            shown["providers"] = [{"urn": p.urn, "type": p.type, "name": p.name, "inputs": p.inputs}
                                  for p in self.providers()]
        return {**shown, "resources": [r.as_json() for r in self.resources], "reads": self.reads}


def each_once(objects: list[dict]) -> list[dict]:
    """Objects by kind, namespace and name, the first of each kept: the mesh's view
    of what several clusters hold alike."""
    seen: dict[tuple, dict] = {}
    for obj in objects:
        seen.setdefault(object_key(obj), obj)
    return list(seen.values())


def provider_name(reference: str | None) -> str | None:
    """The name of the provider a resource's `provider` reference (`<urn>::<id>`)
    names: a multi-cluster stack names each cluster's provider after the cluster."""
    if not reference:
        return None
    return reference.rsplit("::", 1)[0].rsplit("::", 1)[-1]


def plain(value: Any) -> Any:
    """Wire values → JSON-ready values: integral floats back to ints, secrets masked,
    unknowns (Outputs the engine learns only while deploying) shown as such."""
    if isinstance(value, dict):
        if value.get(SECRET_KEY) == SECRET_SIG:
            return SECRET_NOT_SET_SHOWN if holds(value.get("value"), SECRET_NOT_SET_SHOWN) else SECRET_SHOWN
        return {k: plain(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, SecretValue):
        return SECRET_SHOWN
    if value == UNKNOWN:
        return UNKNOWN_SHOWN
    return value


def holds(value: Any, text: str) -> bool:
    """Whether `text` is `value` or one of the values nested in it."""
    if isinstance(value, dict):
        return any(holds(v, text) for v in value.values())
    if isinstance(value, list):
        return any(holds(v, text) for v in value)
    return value == text


def _construction_order(records: list[dict]) -> list[dict]:
    """Registrations arrive in whatever order their inputs resolve. Put them in a
    stable order instead: parents before children, dependencies before dependents,
    otherwise by type and name."""
    import heapq

    present = {r["urn"] for r in records}
    waiting_on = {r["urn"]: {d for d in [r["parent"], *r["deps"]] if d in present} for r in records}
    dependents: dict[str, list[str]] = {}
    for urn, needs in waiting_on.items():
        for need in needs:
            dependents.setdefault(need, []).append(urn)
    by_urn = {r["urn"]: r for r in records}
    ready = [(by_urn[u]["type"], by_urn[u]["name"], u) for u, needs in waiting_on.items() if not needs]
    heapq.heapify(ready)
    ordered = []
    while ready:
        *_, urn = heapq.heappop(ready)
        ordered.append(by_urn[urn])
        for dependent in dependents.get(urn, []):
            waiting_on[dependent].discard(urn)
            if not waiting_on[dependent]:
                heapq.heappush(ready, (by_urn[dependent]["type"], by_urn[dependent]["name"], dependent))
    return ordered


def registrations_of(records: list[dict]) -> list[Registration]:
    """The recording monitor's records (under the engine's URNs) as registrations, in
    construction order, with wire values made JSON-ready."""
    return [Registration(urn=record["urn"], type=record["type"], name=record["name"], parent=record["parent"],
                         inputs=plain(record["inputs"]), depends_on=sorted(set(record["deps"])),
                         protect=record["protect"], custom=record["custom"],
                         retain_on_delete=record.get("retain_on_delete", False),
                         provider=record.get("provider"))
            for record in _construction_order(records)]
