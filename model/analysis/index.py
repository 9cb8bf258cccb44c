"""What the analysed objects define, resolved the way Istio resolves names: the one
read-only view every rule works on.

- A short host resolves in the namespace of the object naming it (`reviews` in a
  VirtualService in `bookinfo` → `reviews.bookinfo.svc.cluster.local`).
- Visibility follows `exportTo`: a Service's `networking.istio.io/exportTo` annotation,
  a ServiceEntry's or VirtualService's `spec.exportTo` (`.` its own namespace, `*` all,
  `~` none; unset: all).
- Workloads are Pods and the pod templates of Deployments, StatefulSets, DaemonSets,
  ReplicaSets, Jobs and CronJobs.
- Objects in kube-system, kube-public, kube-node-lease and local-path-storage are
  ignored, as istioctl analyze ignores them.
- A Gateway API object is filed under `gateway_api(kind)`: `of("Gateway")` is Istio's
  networking.istio.io Gateway only, never a gateway.networking.k8s.io one.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from model import names
from model.bodies import TEMPLATE_PATHS, as_list  # noqa: F401 (the rules take them from here)
from model.names import fqdn  # noqa: F401 (the rules take it from here)

MESH_GATEWAY = "mesh"
ISTIO_NAMESPACE = "istio-system"
IGNORED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})
CLUSTER_SCOPED = frozenset({"Namespace", "Node", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                            "GatewayClass"})
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
EXPORT_TO_ANNOTATION = "networking.istio.io/exportTo"
SCOPE_GATEWAY_TO_NAMESPACE = "PILOT_SCOPE_GATEWAY_TO_NAMESPACE"
"""istiod setting: a Gateway selects gateway pods of its own namespace only (default: any)."""
WORKLOAD_KINDS = ("Pod", *TEMPLATE_PATHS)


def group_of(obj: Mapping) -> str:  # '' for the core group, or no apiVersion
    group, slash, _ = str(obj.get("apiVersion") or "").rpartition("/")
    return group if slash else ""


def gateway_api(kind: str) -> str:
    """The index key of a Gateway API kind: its Gateway is not Istio's Gateway."""
    return f"{kind}.{GATEWAY_API_GROUP}"


def index_key(obj: Mapping) -> str:
    return gateway_api(str(obj["kind"])) if group_of(obj) == GATEWAY_API_GROUP else str(obj["kind"])


def host_matches(pattern: str, host: str) -> bool:
    """Whether a (possibly wildcard) host pattern covers a host (`*.d` covers
    `a.d` and `*.a.d`)."""
    if pattern == "*" or pattern == host:
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return False


def hosts_overlap(one: str, other: str) -> bool:
    """Istio's `Name.Matches`: equal, or one a wildcard covering the other."""
    return host_matches(one, other) or host_matches(other, one)


def exported_to(export: Sequence[str], owner: str, namespace: str) -> bool:
    """Whether an object in `owner` with this exportTo list is visible in `namespace`."""
    for entry in export:
        if entry == "*" or (entry == "." and owner == namespace) or entry == namespace:
            return True
    return False


def selects(selector: Mapping, labels: Mapping) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def labels_text(labels: Mapping) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items()) or "(none)"


def _meta(obj: Mapping) -> Mapping:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def spec_of(obj: Mapping) -> Mapping:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


@dataclass(frozen=True)
class Workload:
    """A Pod, or the pods a workload's template makes."""

    obj: Mapping
    kind: str
    namespace: str
    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    pod_spec: Mapping
    assumed: str = ""
    """Why this workload is assumed rather than read from the objects ('' when read)."""


@dataclass(frozen=True)
class Destination:
    """A host a route may name: a Service or one ServiceEntry host."""

    obj: Mapping
    host: str
    ports: tuple[int, ...]


@dataclass
class Index:
    default_namespace: str
    objects: list[Mapping] = field(default_factory=list)
    gateways_known: bool = False
    """Whether the gateway workloads outside the objects are known (a stack's own
    install, or `--gateway`) rather than assumed."""
    assumed: list[tuple[Mapping, str]] = field(default_factory=list)
    """Objects outside the analysed ones, assumed to exist (gateway Pods and
    Services), each with why: they count for lookups, never get findings."""
    by_kind: dict[str, list[Mapping]] = field(default_factory=dict)
    schemas: object = None
    """Istio's CRD schemas when schema validation is asked for (`--crds`)."""

    # ------------------------------------------------------------------ identity

    def ns(self, obj: Mapping) -> str:
        if obj.get("kind") in CLUSTER_SCOPED:
            return ""
        return str(_meta(obj).get("namespace") or self.default_namespace)

    def identity(self, obj: Mapping) -> tuple[str, str, str]:
        return str(obj.get("kind")), self.ns(obj), str(_meta(obj).get("name") or "?")

    def ref(self, obj: Mapping) -> str:
        _, namespace, name = self.identity(obj)
        return f"{namespace}/{name}"

    def of(self, kind: str, *, with_assumed: bool = False) -> list[Mapping]:
        own = self.by_kind.get(kind, [])
        if not with_assumed:
            return own
        return [*own, *(o for o, _ in self.assumed if index_key(o) == kind)]

    def why_assumed(self, obj: Mapping) -> str:
        return next((why for o, why in self.assumed if o is obj), "")

    # ------------------------------------------------------------------ hosts

    def export_of(self, obj: Mapping) -> list[str]:
        if obj.get("kind") == "Service":
            text = str((_meta(obj).get("annotations") or {}).get(EXPORT_TO_ANNOTATION) or "")
            export = [e.strip() for e in text.split(",") if e.strip()]
        else:
            export = [str(e) for e in as_list(spec_of(obj).get("exportTo"))]
        return export or ["*"]

    def visible(self, obj: Mapping, namespace: str) -> bool:
        return exported_to(self.export_of(obj), self.ns(obj), namespace)

    @cached_property
    def destinations(self) -> list[Destination]:
        out = []
        for service in self.of("Service", with_assumed=True):
            ports = tuple(int(p["port"]) for p in as_list(spec_of(service).get("ports"))
                          if isinstance(p, Mapping) and isinstance(p.get("port"), (int, float)))
            out.append(Destination(service, names.service_fqdn(str(_meta(service).get('name')), self.ns(service)), ports))
        for entry in self.of("ServiceEntry"):
            spec = spec_of(entry)
            ports = tuple(int(p["number"]) for p in as_list(spec.get("ports"))
                          if isinstance(p, Mapping) and isinstance(p.get("number"), (int, float)))
            for host in as_list(spec.get("hosts")):
                out.append(Destination(entry, fqdn(str(host), self.ns(entry)), ports))
        return out

    @cached_property
    def _destinations_by_host(self) -> dict[str, list[Destination]]:
        """Destinations by exact host, in `destinations` order: a lookup per route
        must not scan every Service (a stack of 1,000 services has thousands of routes)."""
        by_host: dict[str, list[Destination]] = {}
        for destination in self.destinations:
            by_host.setdefault(destination.host, []).append(destination)
        return by_host

    @cached_property
    def _entry_destinations(self) -> list[Destination]:
        return [d for d in self.destinations if d.obj.get("kind") == "ServiceEntry"]

    def lookup(self, host: str, namespace: str) -> list[Destination]:
        """Services and ServiceEntry hosts named by `host` (an FQDN) and visible from
        `namespace`: an exact name first, else ServiceEntry wildcards covering it."""
        if not host:
            return []
        exact = [d for d in self._destinations_by_host.get(host, ()) if self.visible(d.obj, namespace)]
        return exact or [d for d in self._entry_destinations
                         if host_matches(d.host, host) and self.visible(d.obj, namespace)]

    def known_anywhere(self, host: str) -> bool:
        return host in self._destinations_by_host or any(host_matches(d.host, host) for d in self.destinations)

    # ------------------------------------------------------------------ workloads

    @cached_property
    def workloads(self) -> list[Workload]:
        out = []
        for obj in [*self.objects, *(o for o, _ in self.assumed)]:
            kind = str(obj.get("kind"))
            if kind not in WORKLOAD_KINDS:
                continue
            meta = _meta(obj)
            if kind == "Pod":
                pod_meta, pod_spec = meta, spec_of(obj)
            else:
                node = obj
                for key in TEMPLATE_PATHS[kind]:
                    node = node.get(key) if isinstance(node, Mapping) else None
                node = node if isinstance(node, Mapping) else {}
                pod_meta, pod_spec = _meta(node), spec_of(node)
            out.append(Workload(obj=obj, kind=kind, namespace=self.ns(obj), name=str(meta.get("name") or "?"),
                                labels=dict(pod_meta.get("labels") or {}),
                                annotations=dict(pod_meta.get("annotations") or {}), pod_spec=pod_spec,
                                assumed=self.why_assumed(obj)))
        return out

    @cached_property
    def _workloads_by_label(self) -> dict[tuple, list[int]]:
        """Positions in `workloads` by pod label (key, value): selecting pods is a
        lookup, not a scan of every workload (renders of 1,000 services)."""
        by_label: dict[tuple, list[int]] = {}
        for position, workload in enumerate(self.workloads):
            for label in workload.labels.items():
                try:
                    by_label.setdefault(label, []).append(position)
                except TypeError:
                    continue  # an unhashable value: no selector value equals it via the index
        return by_label

    def selected(self, selector: Mapping, namespace: str | None = None) -> list[Workload]:
        """Workloads whose pod labels carry `selector` (in `namespace` when given)."""
        candidates = self.workloads
        for label in selector.items():
            try:
                candidates = [self.workloads[i] for i in self._workloads_by_label.get(label, ())]
            except TypeError:
                continue
            break
        return [w for w in candidates if (namespace is None or w.namespace == namespace)
                and selects(selector, w.labels)]

    @cached_property
    def istiod_env(self) -> dict[str, str] | None:
        """Environment of istiod's containers when its Deployment (`app: istiod` in
        istio-system) is among the objects; None when istiod is outside them."""
        for deployment in self.of("Deployment"):
            template = (deployment.get("spec") or {}).get("template") or {}
            # The Deployment's own labels, or its pods' (istiod's chart sets both; a
            # hand-written one may label only the pods).
            labelled = [_meta(deployment).get("labels") or {}, _meta(template).get("labels") or {}]
            if self.ns(deployment) != ISTIO_NAMESPACE or not any(labels.get("app") == "istiod" for labels in labelled):
                continue
            pod_spec = spec_of(template)
            return {str(e.get("name")): str(e.get("value") or "") for c in as_list(pod_spec.get("containers"))
                    if isinstance(c, Mapping) for e in as_list(c.get("env")) if isinstance(e, Mapping)}
        return None

    def gateway_workloads(self, gateway: Mapping) -> list[Workload]:
        """The gateway pods a Gateway's selector picks: in any namespace, or in its own
        when istiod scopes Gateways to their namespace."""
        selector = spec_of(gateway).get("selector")
        if not isinstance(selector, Mapping) or not selector:
            return []
        return self.selected(dict(selector), self.ns(gateway) if self.gateways_scoped else None)

    @property
    def gateways_scoped(self) -> bool:
        return (self.istiod_env or {}).get(SCOPE_GATEWAY_TO_NAMESPACE, "").lower() == "true"

    @cached_property
    def _services(self) -> list[Mapping]:
        return self.of("Service", with_assumed=True)

    @cached_property
    def _services_by_selector_label(self) -> tuple[dict[tuple, list[int]], list[int]]:
        """Positions in `_services` by one (key, value) of each Service's selector, and
        those that cannot be indexed: a workload's Services are a lookup, not a scan."""
        by_label: dict[tuple, list[int]] = {}
        unindexed: list[int] = []
        for position, service in enumerate(self._services):
            selector = spec_of(service).get("selector")
            if not selector:
                continue
            try:
                by_label.setdefault(next(iter(selector.items())), []).append(position)
            except (AttributeError, TypeError):
                unindexed.append(position)
        return by_label, unindexed

    def services_selecting(self, workload: Workload) -> list[Mapping]:
        by_label, unindexed = self._services_by_selector_label
        positions = set(unindexed)
        for label in workload.labels.items():
            try:
                positions.update(by_label.get(label, ()))
            except TypeError:
                continue
        out = []
        for position in sorted(positions):
            service = self._services[position]
            selector = spec_of(service).get("selector")
            if selector and self.ns(service) == workload.namespace and selects(selector, workload.labels):
                out.append(service)
        return out

    # ------------------------------------------------------------------ routing

    @cached_property
    def destination_rules_by_host(self) -> dict[str, list[Mapping]]:
        out: dict[str, list[Mapping]] = {}
        for rule in self.of("DestinationRule"):
            host = spec_of(rule).get("host")
            if host:
                out.setdefault(fqdn(str(host), self.ns(rule)), []).append(rule)
        return out

    def destination_rules_for(self, host: str, namespace: str) -> list[Mapping]:
        return [r for r in self.destination_rules_by_host.get(host, []) if self.visible(r, namespace)]

    @cached_property
    def gateways(self) -> dict[tuple[str, str], Mapping]:
        return {(self.ns(g), str(_meta(g).get("name"))): g for g in self.of("Gateway")}

    @cached_property
    def routed_subsets(self) -> dict[tuple[str, str], list[str]]:
        """(host FQDN, subset) → the VirtualServices routing or mirroring to it."""
        out: dict[tuple[str, str], list[str]] = {}
        for vs in self.of("VirtualService"):
            for _, target in route_destinations(vs):
                if target.get("subset") and target.get("host"):
                    key = (fqdn(str(target["host"]), self.ns(vs)), str(target["subset"]))
                    out.setdefault(key, []).append(self.ref(vs))
        return out


def route_destinations(vs: Mapping) -> Iterable[tuple[str, Mapping]]:
    """(where, destination) of every route destination, `mirror` and `mirrors` entry of
    a VirtualService: `where` names the place for messages (`http[0]`, `http[0].mirror`)."""
    spec = spec_of(vs)
    for kind in ("http", "tls", "tcp"):
        for position, rule in enumerate(as_list(spec.get(kind))):
            if not isinstance(rule, Mapping):
                continue
            label = f"{kind}[{position}]" + (f" ({rule['name']})" if rule.get("name") else "")
            for route in as_list(rule.get("route")):
                if isinstance(route, Mapping):
                    target = route.get("destination")
                    yield label, target if isinstance(target, Mapping) else {}
            if kind != "http":
                continue
            if isinstance(rule.get("mirror"), Mapping):
                yield f"{label} mirror", rule["mirror"]
            for mirror in as_list(rule.get("mirrors")):
                if isinstance(mirror, Mapping) and isinstance(mirror.get("destination"), Mapping):
                    yield f"{label} mirrors", mirror["destination"]


def vs_gateways(vs: Mapping) -> list[str]:
    """The gateways a VirtualService binds to (none named: the mesh)."""
    return [str(g) for g in as_list(spec_of(vs).get("gateways"))] or [MESH_GATEWAY]


def build_index(objects: Iterable[Mapping], *, default_namespace: str,
                assumed: Sequence[tuple[Mapping, str]] = (), gateways_known: bool = False) -> Index:
    index = Index(default_namespace=default_namespace, gateways_known=gateways_known, assumed=list(assumed))
    for obj in objects:
        if not isinstance(obj, Mapping) or not obj.get("kind"):
            continue
        if index.ns(obj) in IGNORED_NAMESPACES:
            continue
        index.objects.append(obj)
        index.by_kind.setdefault(index_key(obj), []).append(obj)
    return index
