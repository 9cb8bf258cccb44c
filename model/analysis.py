"""Offline analysis of rendered Kubernetes and Istio objects: the reference, conflict
and weight rules that `istioctl analyze` and Kiali apply to a live mesh, as pure
functions over object dicts.

The same `analyze` runs in the Pulumi program (errors fail the preview), in
`meshplan check/render/diff` and in the policy pack. It knows nothing of Bookinfo:
everything it needs is in the objects and in the gateway workloads the mesh runs.

Codes (project code → istioctl / Kiali equivalent):

| Code  | Level          | Rule                                                    | istioctl / Kiali   |
|-------|----------------|---------------------------------------------------------|--------------------|
| BM101 | error          | route destination host not found (no Service/ServiceEntry) | IST0101 / KIA1101 |
| BM102 | error          | route subset not defined by a DestinationRule           | IST0101 / KIA1107  |
| BM103 | error/warning  | DestinationRule subset selects no pods (error when a route uses it) | IST0173 / KIA0203 |
| BM104 | error          | VirtualService names a Gateway that is not defined      | IST0101 / KIA1102  |
| BM105 | warning        | VirtualService host not among its Gateway's hosts       | IST0132            |
| BM106 | error          | Gateway selector matches no gateway workload            | KIA0302            |
| BM107 | error          | several mesh VirtualServices for one host               | IST0109 / KIA1106  |
| BM108 | warning        | same host+subset twice in one route                     | KIA1105            |
| BM109 | warning        | lone destination with 0 < weight < 100 (it gets 100%)   | KIA1104            |
| BM110 | error          | a negative weight, or all weights of a route zero       | Istio webhook      |
| BM111 | warning        | rule after a catch-all rule can never match             | IST0130            |
| BM112 | error          | AuthorizationPolicy principal names a missing service account | KIA0106 |
| BM113 | warning        | DestinationRule host not found                          | IST0174            |
| BM114 | warning        | Gateway server port not a port of the gateway's Service | IST0162            |

Gateway workloads: a Gateway selects pods by labels. The pods of a Helm-installed
gateway are not among the rendered objects (a Helm release is opaque), so callers pass
the gateways the stack installs (`installed_gateways` reads them off the Helm releases:
the chart labels its pods `istio=<release name without "istio-">` and its Service
maps 80→80 and 443→443). For plain manifests, `DEFAULT_GATEWAYS` assumes the
conventional istioctl-installed `istio-ingressgateway` and `istio-egressgateway` in
`istio-system` (Service 80→8080, 443→8443). Pod templates among the objects always count
as well, so a gateway Deployment shipped in the files is found by its labels.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from model.mesh import gateway_label

ERROR = "error"
WARNING = "warning"

CODES: Mapping[str, tuple[str, str]] = {
    "BM101": ("destination host not found", "IST0101 / KIA1101"),
    "BM102": ("subset not defined by a DestinationRule", "IST0101 / KIA1107"),
    "BM103": ("subset selects no pods", "IST0173 / KIA0203"),
    "BM104": ("gateway referenced but not defined", "IST0101 / KIA1102"),
    "BM105": ("VirtualService host not among its Gateway's hosts", "IST0132"),
    "BM106": ("Gateway selector matches no gateway workload", "KIA0302"),
    "BM107": ("several VirtualServices for one host in the mesh", "IST0109 / KIA1106"),
    "BM108": ("duplicate host+subset in one route", "KIA1105"),
    "BM109": ("lone destination with 0 < weight < 100", "KIA1104"),
    "BM110": ("negative weight or all weights zero", "Istio validation webhook"),
    "BM111": ("rule after a catch-all rule never matches", "IST0130"),
    "BM112": ("AuthorizationPolicy principal names a missing service account", "KIA0106"),
    "BM113": ("DestinationRule host not found", "IST0174"),
    "BM114": ("Gateway server port not a port of the gateway's Service", "IST0162"),
}
"""Every code: what it means and its istioctl / Kiali equivalent."""

CLUSTER_DOMAIN = "svc.cluster.local"
MESH_GATEWAY = "mesh"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")
_PRINCIPAL_RE = re.compile(r"^(?P<td>[^/]+)/ns/(?P<ns>[^/]+)/sa/(?P<sa>[^/]+)$")


@dataclass(frozen=True)
class Finding:
    level: str
    code: str
    kind: str
    namespace: str
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.level} [{self.code}] {self.kind} {self.namespace}/{self.name}: {self.message}"

    def as_json(self) -> dict:
        return {"level": self.level, "code": self.code, "kind": self.kind,
                "namespace": self.namespace, "name": self.name, "message": self.message}


@dataclass(frozen=True, kw_only=True)
class GatewayWorkload:
    """A gateway deployment the mesh runs: its pod labels and its Service."""

    labels: Mapping[str, str]
    namespace: str
    service: str
    ports: tuple[int, ...] = ()
    """Ports a Gateway server may name: the Service's ports and their target ports;
    empty when unknown (then not judged)."""

    @property
    def host(self) -> str:
        return f"{self.service}.{self.namespace}.{CLUSTER_DOMAIN}"


# istioctl's gateways: Service 80→8080 and 443→8443 (and status 15021); the gateway
# Helm chart's: 80→80 and 443→443 unless its values say otherwise.
ISTIOCTL_GATEWAY_PORTS = (80, 443, 8080, 8443, 15021)
HELM_GATEWAY_PORTS = (80, 443, 15021)

DEFAULT_GATEWAYS: tuple[GatewayWorkload, ...] = (
    GatewayWorkload(labels={"istio": "ingressgateway"}, namespace="istio-system", service="istio-ingressgateway",
                    ports=ISTIOCTL_GATEWAY_PORTS),
    GatewayWorkload(labels={"istio": "egressgateway"}, namespace="istio-system", service="istio-egressgateway",
                    ports=ISTIOCTL_GATEWAY_PORTS),
)
"""Assumed when the gateway workloads are outside the analysed objects."""

GATEWAY_CHART = "gateway"


def installed_gateways(releases: Iterable[Mapping]) -> tuple[GatewayWorkload, ...] | None:
    """The gateways a stack installs, from its Helm release inputs (`name`, `chart`,
    `namespace`): the gateway chart's Service is named after the release. None when
    it installs none (Istio already runs): the gateways are then unknown, not absent."""
    found = tuple(
        GatewayWorkload(labels=gateway_label(str(r["name"])), namespace=str(r.get("namespace") or "default"),
                        service=str(r["name"]), ports=_chart_ports(r.get("values") or {}))
        for r in releases if r.get("chart") == GATEWAY_CHART and r.get("name")
    )
    return found or None


def _chart_ports(values: Mapping) -> tuple[int, ...]:
    """Service ports (and target ports) of a gateway chart release from its values."""
    ports = ((values.get("service") or {}).get("ports")) if isinstance(values, Mapping) else None
    if not ports:
        return HELM_GATEWAY_PORTS
    found = []
    for port in ports:
        for key in ("port", "targetPort"):
            if isinstance(port.get(key), (int, float)):
                found.append(int(port[key]))
    return tuple(dict.fromkeys(found))


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == ERROR]


# --------------------------------------------------------------------------- index


def fqdn(host: str, namespace: str) -> str:
    """Istio's short-name rule: a host without a dot lives in the namespace of the
    object naming it (`reviews` → `reviews.<ns>.svc.cluster.local`)."""
    if "." in host or "*" in host:
        return host
    return f"{host}.{namespace}.{CLUSTER_DOMAIN}"


def host_matches(pattern: str, host: str) -> bool:
    """Whether a (possibly wildcard) host pattern covers a host."""
    if pattern == "*" or pattern == host:
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and not host.startswith("*")
    return False


def _meta(obj: Mapping) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "?")


def _pod_labels(obj: Mapping) -> Mapping[str, str] | None:
    kind = obj.get("kind")
    if kind == "Pod":
        return (obj.get("metadata") or {}).get("labels") or {}
    if kind in WORKLOAD_KINDS:
        template = ((obj.get("spec") or {}).get("template") or {})
        return (template.get("metadata") or {}).get("labels") or {}
    return None


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@dataclass
class _Index:
    """What the objects define, resolved the way Istio resolves names."""

    default_namespace: str
    gateways: Sequence[GatewayWorkload]
    services: dict[str, dict] = field(default_factory=dict)
    """Kubernetes Services by FQDN."""
    entry_hosts: list[str] = field(default_factory=list)
    """ServiceEntry hosts (may be wildcards)."""
    destination_rules: dict[str, list[dict]] = field(default_factory=dict)
    istio_gateways: dict[tuple[str, str], dict] = field(default_factory=dict)
    virtual_services: list[dict] = field(default_factory=list)
    pods: list[tuple[str, Mapping[str, str]]] = field(default_factory=list)
    """(namespace, labels) of every pod template."""
    accounts: set[tuple[str, str]] = field(default_factory=set)
    namespaces: set[str] = field(default_factory=set)
    authorization_policies: list[dict] = field(default_factory=list)

    def ns(self, obj: Mapping) -> str:
        return _meta(obj)[0] or self.default_namespace

    def known_host(self, host: str) -> bool:
        if host in self.services or any(g.host == host for g in self.gateways):
            return True
        return any(host_matches(pattern, host) for pattern in self.entry_hosts)

    def subsets_for(self, host: str) -> list[tuple[dict, dict]]:
        """(DestinationRule, subset) pairs defined for a host."""
        return [(dr, subset) for dr in self.destination_rules.get(host, [])
                for subset in (dr.get("spec") or {}).get("subsets") or []]


def _index(objects: Iterable[Mapping], gateways: Sequence[GatewayWorkload], default_namespace: str) -> _Index:
    index = _Index(default_namespace=default_namespace, gateways=gateways)
    for obj in objects:
        kind = obj.get("kind")
        ns = index.ns(obj)
        _, name = _meta(obj)
        spec = obj.get("spec") or {}
        if kind == "Namespace":
            index.namespaces.add(name)
            continue
        index.namespaces.add(ns)
        if kind == "Service":
            index.services[f"{name}.{ns}.{CLUSTER_DOMAIN}"] = obj
        elif kind == "ServiceAccount":
            index.accounts.add((ns, name))
        elif kind == "ServiceEntry":
            index.entry_hosts.extend(fqdn(str(h), ns) for h in spec.get("hosts") or [])
        elif kind == "DestinationRule" and spec.get("host"):
            index.destination_rules.setdefault(fqdn(str(spec["host"]), ns), []).append(obj)
        elif kind == "Gateway":
            index.istio_gateways[(ns, name)] = obj
        elif kind == "VirtualService":
            index.virtual_services.append(obj)
        elif kind == "AuthorizationPolicy":
            index.authorization_policies.append(obj)
        labels = _pod_labels(obj)
        if labels is not None:
            index.pods.append((ns, labels))
    return index


# --------------------------------------------------------------------------- rules


def analyze(objects: Iterable[Mapping], *, gateways: Sequence[GatewayWorkload] | None = None,
            default_namespace: str = "default") -> list[Finding]:
    """Every finding about `objects`, errors first, then by code and object.

    `gateways`: the gateway workloads the mesh runs (None: `DEFAULT_GATEWAYS`).
    `default_namespace`: where objects without `metadata.namespace` live."""
    index = _index(list(objects), DEFAULT_GATEWAYS if gateways is None else tuple(gateways), default_namespace)
    found: list[Finding] = []
    used_subsets: dict[tuple[str, str], list[str]] = {}
    for vs in index.virtual_services:
        found.extend(_virtual_service(index, vs, used_subsets))
    found.extend(_mesh_host_conflicts(index))
    found.extend(_destination_rules(index, used_subsets))
    found.extend(_gateways(index))
    found.extend(_authorization_policies(index))
    order = {ERROR: 0, WARNING: 1}
    return sorted(dict.fromkeys(found), key=lambda f: (order.get(f.level, 2), f.code, f.namespace, f.name, f.message))


def _finding(level: str, code: str, obj: Mapping, index: _Index, message: str) -> Finding:
    return Finding(level, code, str(obj.get("kind")), index.ns(obj), _meta(obj)[1], message)


def _route_kinds(spec: Mapping) -> Iterable[tuple[str, int, Mapping]]:
    for kind in ("http", "tls", "tcp"):
        for position, rule in enumerate(spec.get(kind) or []):
            yield kind, position, rule


def _virtual_service(index: _Index, vs: Mapping, used_subsets: dict) -> list[Finding]:
    ns = index.ns(vs)
    spec = vs.get("spec") or {}
    found: list[Finding] = []

    def add(level: str, code: str, message: str) -> None:
        found.append(_finding(level, code, vs, index, message))

    bound_gateways = []
    for ref in spec.get("gateways") or []:
        if ref == MESH_GATEWAY:
            continue
        gw_ns, _, gw_name = ref.rpartition("/") if "/" in ref else (ns, "", ref)
        gateway = index.istio_gateways.get((gw_ns, gw_name))
        if gateway is None:
            add(ERROR, "BM104", f"gateway {gw_ns}/{gw_name} is not defined (no Gateway {gw_name} in namespace {gw_ns})")
        else:
            bound_gateways.append(gateway)
    for gateway in bound_gateways:
        gw_hosts = [str(h).split("/", 1)[-1] for server in (gateway.get("spec") or {}).get("servers") or []
                    for h in server.get("hosts") or []]
        for host in spec.get("hosts") or []:
            if not any(host_matches(p, host) for p in gw_hosts):
                add(WARNING, "BM105", f"host {host} is not among the hosts of Gateway "
                                      f"{index.ns(gateway)}/{_meta(gateway)[1]} ({', '.join(gw_hosts) or 'none'})")

    for kind, position, rule in _route_kinds(spec):
        label = f"{kind}[{position}]" + (f" ({rule['name']})" if rule.get("name") else "")
        destinations = rule.get("route") or []
        weights = [d.get("weight") for d in destinations]
        if any(w is not None and w < 0 for w in weights):
            add(ERROR, "BM110", f"{label}: weight below 0 ({', '.join(str(w) for w in weights if w is not None and w < 0)})")
        elif len(destinations) > 1 and sum(w or 0 for w in weights) == 0:
            add(ERROR, "BM110", f"{label}: weights of {len(destinations)} destinations are all zero")
        if len(destinations) == 1 and weights[0] is not None and 0 < weights[0] < 100:
            add(WARNING, "BM109", f"{label}: lone destination has weight {weights[0]}; Istio sends it 100%")
        seen: set[tuple[str, str]] = set()
        for dest in destinations:
            target = dest.get("destination") or {}
            raw_host = str(target.get("host") or "")
            host = fqdn(raw_host, ns)
            subset = str(target.get("subset") or "")
            if (host, subset) in seen:
                shown = f"{raw_host} subset {subset}" if subset else raw_host
                add(WARNING, "BM108", f"{label}: destination {shown} appears twice")
            seen.add((host, subset))
            if not index.known_host(host):
                add(ERROR, "BM101", f"{label}: destination host {raw_host} ({host}) not found: "
                                    "no Service or ServiceEntry defines it")
                continue
            if not subset:
                continue
            used_subsets.setdefault((host, subset), []).append(f"{ns}/{_meta(vs)[1]}")
            subsets = index.subsets_for(host)
            if not any(s.get("name") == subset for _, s in subsets):
                if not index.destination_rules.get(host):
                    add(ERROR, "BM102", f"{label}: subset {subset} of {raw_host} is not defined: "
                                        f"no DestinationRule for host {host}")
                else:
                    names = sorted({str(s.get('name')) for _, s in subsets})
                    rules = ", ".join(f"{index.ns(d)}/{_meta(d)[1]}" for d in index.destination_rules[host])
                    add(ERROR, "BM102", f"{label}: subset {subset} of {raw_host} is not defined by "
                                        f"DestinationRule {rules} (subsets: {', '.join(names) or 'none'})")
        found.extend(_unreachable(index, vs, kind, position, rule, spec.get(kind) or []))
    return found


def _catch_all(rule: Mapping) -> bool:
    """A rule every request matches: no match, or a match with no conditions (or
    only `uri: {prefix: /}`)."""
    matches = rule.get("match")
    if not matches:
        return True
    for match in matches:
        conditions = {k: v for k, v in match.items() if k != "name"}
        if not conditions or conditions == {"uri": {"prefix": "/"}}:
            return True
    return False


def _unreachable(index: _Index, vs: Mapping, kind: str, position: int, rule: Mapping,
                 rules: Sequence[Mapping]) -> list[Finding]:
    if kind != "http":
        return []
    for earlier_position, earlier in enumerate(rules[:position]):
        if _catch_all(earlier):
            return [_finding(WARNING, "BM111", vs, index,
                             f"http[{position}] can never match: http[{earlier_position}] before it matches every request")]
    return []


def _mesh_host_conflicts(index: _Index) -> list[Finding]:
    by_host: dict[str, list[Mapping]] = {}
    for vs in index.virtual_services:
        spec = vs.get("spec") or {}
        gateways = spec.get("gateways") or [MESH_GATEWAY]
        if MESH_GATEWAY not in gateways:
            continue
        for host in spec.get("hosts") or []:
            by_host.setdefault(fqdn(str(host), index.ns(vs)), []).append(vs)
    found = []
    for host, services in by_host.items():
        if len(services) < 2:
            continue
        for vs in services:
            others = ", ".join(f"{index.ns(o)}/{_meta(o)[1]}" for o in services if o is not vs)
            found.append(_finding(ERROR, "BM107", vs, index,
                                  f"host {host} is also routed in the mesh by VirtualService {others}"))
    return found


def _destination_rules(index: _Index, used_subsets: Mapping[tuple[str, str], list[str]]) -> list[Finding]:
    found = []
    for host, rules in index.destination_rules.items():
        for dr in rules:
            if not index.known_host(host):
                found.append(_finding(WARNING, "BM113", dr, index,
                                      f"host {host} not found: no Service or ServiceEntry defines it"))
                continue
            service = index.services.get(host)
            selector = ((service or {}).get("spec") or {}).get("selector")
            if not selector:
                continue  # ServiceEntry, gateway or selector-less Service: pods unknown here
            service_ns = index.ns(service)
            for subset in (dr.get("spec") or {}).get("subsets") or []:
                wanted = {**selector, **(subset.get("labels") or {})}
                if any(ns == service_ns and _selects(wanted, labels) for ns, labels in index.pods):
                    continue
                users = used_subsets.get((host, str(subset.get("name"))))
                shown = ",".join(f"{k}={v}" for k, v in wanted.items())
                if users:
                    found.append(_finding(ERROR, "BM103", dr, index,
                                          f"subset {subset.get('name')} selects no pods ({shown} in namespace "
                                          f"{service_ns}) but VirtualService {', '.join(sorted(set(users)))} routes to it"))
                else:
                    found.append(_finding(WARNING, "BM103", dr, index,
                                          f"subset {subset.get('name')} selects no pods ({shown} in namespace {service_ns})"))
    return found


def _gateways(index: _Index) -> list[Finding]:
    found = []
    workloads = [g.labels for g in index.gateways] + [labels for _, labels in index.pods]
    for (ns, name), gateway in index.istio_gateways.items():
        selector = (gateway.get("spec") or {}).get("selector") or {}
        selected = [g for g in index.gateways if _selects(selector, g.labels)] if selector else []
        found.extend(_gateway_ports(index, gateway, selected))
        if not selector or any(_selects(selector, labels) for labels in workloads):
            continue
        shown = ",".join(f"{k}={v}" for k, v in selector.items())
        installed = "; ".join(",".join(f"{k}={v}" for k, v in g.labels.items()) for g in index.gateways) or "none"
        found.append(_finding(ERROR, "BM106", gateway, index,
                              f"selector {shown} matches no gateway workload (gateways: {installed})"))
    return found


def _gateway_ports(index: _Index, gateway: Mapping, selected: Sequence[GatewayWorkload]) -> list[Finding]:
    """Server ports the selected gateways' Services do not expose (only judged when
    every selected gateway's ports are known)."""
    if not selected or any(not g.ports for g in selected):
        return []
    exposed = sorted({p for g in selected for p in g.ports})
    found = []
    for server in (gateway.get("spec") or {}).get("servers") or []:
        number = (server.get("port") or {}).get("number")
        if isinstance(number, (int, float)) and int(number) not in exposed:
            services = ", ".join(f"{g.namespace}/{g.service}" for g in selected)
            found.append(_finding(WARNING, "BM114", gateway, index,
                                  f"server port {int(number)} is not a port of gateway Service {services} "
                                  f"(ports: {', '.join(map(str, exposed))})"))
    return found


def _authorization_policies(index: _Index) -> list[Finding]:
    found = []
    for policy in index.authorization_policies:
        for rule in (policy.get("spec") or {}).get("rules") or []:
            for source_block in rule.get("from") or []:
                source = source_block.get("source") or {}
                for principal in [*(source.get("principals") or []), *(source.get("notPrincipals") or [])]:
                    match = _PRINCIPAL_RE.match(str(principal))
                    if match is None or "*" in principal:
                        continue
                    ns, account = match["ns"], match["sa"]
                    # Only namespaces the objects describe can be judged; every
                    # namespace has the `default` account.
                    if ns not in index.namespaces or account == "default" or (ns, account) in index.accounts:
                        continue
                    found.append(_finding(ERROR, "BM112", policy, index,
                                          f"principal {principal} names service account {ns}/{account}, "
                                          "which does not exist"))
    return found
