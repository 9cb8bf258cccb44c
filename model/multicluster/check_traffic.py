"""The traffic-side multi-cluster checks (MC111, MC112, MC114–MC116), pure functions
over the objects each cluster gets. MC113 (failover without outlier detection) needs
no cluster and runs with the one-cluster rules (`model.analysis.locality`)."""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from model.apps import Application
from model.bodies import json_text
from model.multicluster.checks import ClusterFinding, network
from model.names import service_of
from model.multicluster.objects import CROSS_NETWORK_GATEWAY
from model.multicluster.plan import ClusterPlan
from model.settings.cluster_types import MultiClusterSettings
from model.traffic_rows import object_key

INCONSISTENT_SERVICE = "IST0170"


def _shown(identity: tuple[str, str, str]) -> str:
    kind, namespace, name = identity
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def mc111_traffic_drift(plans: Sequence[ClusterPlan], traffic: Mapping[str, Sequence[Mapping]]) -> list[ClusterFinding]:
    """`traffic`: cluster → the traffic objects it gets. Every primary reads only its
    own API server, so each must hold the same; a remote's are never read."""
    return traffic_drift([p.name for p in plans if not p.cluster.control_plane],
                         {p.name: p.cluster.control_plane for p in plans if p.cluster.control_plane}, traffic)


def traffic_drift(primaries: Sequence[str], remotes: Mapping[str, str],
                  traffic: Mapping[str, Sequence[Mapping]]) -> list[ClusterFinding]:
    """MC111 over cluster names: `primaries` compared with the first, `remotes` (remote →
    its primary) holding none. Bodies compare as canonical JSON, read through whatever
    Mapping holds them (the policy host's proxies included)."""
    found = []
    for remote, primary in remotes.items():
        found += [ClusterFinding("MC111", remote, _shown(object_key(obj)), "traffic object on a remote: istiod "
                                 f"reads config from {primary}'s API server only")
                  for obj in traffic.get(remote, ())]
    return found + drift_between_primaries(primaries, traffic)


def drift_between_primaries(primaries: Sequence[str], traffic: Mapping[str, Sequence[Mapping]], *,
                            where: str = "") -> list[ClusterFinding]:
    """MC111's comparison: each primary's traffic objects against the first's.
    `where` names the side judged when it is not the proposed config (` in the base`)."""
    found: list[ClusterFinding] = []
    canonical = {name: {object_key(o): json_text(o) for o in traffic.get(name, ())} for name in primaries}
    if not primaries:
        return found
    first = primaries[0]
    for name in primaries[1:]:
        for identity in sorted(set(canonical[first]) | set(canonical[name])):
            if canonical[first].get(identity) != canonical[name].get(identity):
                state = "missing" if identity not in canonical[name] else \
                    "only here" if identity not in canonical[first] else "differs"
                found.append(ClusterFinding("MC111", name, _shown(identity) + where,
                                            f"{state} compared with primary {first}: "
                                            "primaries must carry the same traffic config"))
    return found


def consumed_services(mc: MultiClusterSettings, application: Application) -> dict[str, set[str]]:
    """Cluster → the services called from it (a caller version runs there) and the
    stores connected to from it (by the name of the store's Service)."""
    consumed: dict[str, set[str]] = {c.name: set() for c in mc.clusters}
    for service, callers in application.callers.items():
        for caller in callers:
            if caller == "*" or caller not in application.service_names:
                continue
            for version in application.service(caller).version_names:
                for cluster in mc.clusters_running(caller, version):
                    consumed[cluster].add(service)
    for service in application.services:
        for version in service.versions:
            for cluster in mc.clusters_running(service.name, version.name):
                consumed[cluster].update(version.stores)
    return consumed


def headless_without_pods(objects: Iterable[Mapping]) -> set[str]:
    """The headless Services among one cluster's objects that select none of its
    pods: kube-dns answers a headless name with that cluster's pods only, and so does
    Istio's DNS proxy for another cluster's (never another network's)."""
    objects = list(objects)
    templates = [((o.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
                 for o in objects if o.get("kind") in ("Deployment", "StatefulSet")]
    found = set()
    for service in (o for o in objects if o.get("kind") == "Service"):
        spec = service.get("spec") or {}
        selector = spec.get("selector") or {}
        if spec.get("clusterIP") == "None" and selector and not any(
                selector.items() <= labels.items() for labels in templates):
            found.add(service["metadata"]["name"])
    return found


def mc112_services_defined(defined: Mapping[str, Iterable[str]], consumed: Mapping[str, Iterable[str]], *,
                           dns_capture: bool, headless_elsewhere: Mapping[str, Iterable[str]] | None = None
                           ) -> list[ClusterFinding]:
    """A client resolves a Service's name through its own cluster's DNS unless the
    sidecar captures DNS: the Service must exist there even with no pods there, and
    not be headless (`headless_elsewhere`: cluster → its headless Services whose
    pods run elsewhere: the name resolves to no address there)."""
    if dns_capture:
        return []
    found = []
    for cluster, services in consumed.items():
        for service in sorted(set(services) - set(defined.get(cluster, ()))):
            found.append(ClusterFinding("MC112", cluster, f"Service {service}", "called here but not defined here and "
                                        "DNS capture is off: the name does not resolve"))
        for service in sorted(set(services) & set((headless_elsewhere or {}).get(cluster, ()))):
            found.append(ClusterFinding("MC112", cluster, f"Service {service}", "called here but headless and its "
                                        "pods run in another cluster: the name resolves to no address here; connect "
                                        "through a ClusterIP Service"))
    return found


def _subset_versions(destination_rules: Iterable[Mapping]) -> dict[tuple[str, str], str]:
    versions = {}
    for dr in destination_rules:
        host = service_of(str((dr.get("spec") or {}).get("host", "")))
        for subset in (dr.get("spec") or {}).get("subsets") or []:
            version = (subset.get("labels") or {}).get("version")
            if version:
                versions[(host, subset.get("name"))] = version
    return versions


def mc114_unreachable_versions(mc: MultiClusterSettings, plans: Sequence[ClusterPlan],
                               traffic: Mapping[str, Sequence[Mapping]]) -> list[ClusterFinding]:
    """A route share whose version runs only on other networks whose gateway passes
    nothing through (no east-west gateway, or no cross-network-gateway where its
    config is read): those requests fail."""
    by_name = {p.name: p for p in plans}

    def exposed(cluster: str) -> bool:
        plan = by_name[cluster]
        config = by_name[plan.cluster.control_plane or cluster]
        return plan.release("eastwest") is not None and any(
            o["metadata"]["name"] == CROSS_NETWORK_GATEWAY for o in config.expose)

    found = []
    for plan in plans:
        if plan.cluster.control_plane:
            continue
        objects = traffic.get(plan.name, ())
        versions = _subset_versions(o for o in objects if o.get("kind") == "DestinationRule")
        for vs in (o for o in objects if o.get("kind") == "VirtualService"):
            for route in (vs.get("spec") or {}).get("http") or []:
                for destination in (d.get("destination") or {} for d in route.get("route") or []):
                    service = service_of(str(destination.get("host", "")))
                    version = versions.get((service, destination.get("subset")))
                    if not version:
                        continue
                    where = mc.clusters_running(service, version)
                    local = [c for c in where if network(by_name[c]) == network(plan)]
                    if where and not local and not any(exposed(c) for c in where):
                        found.append(ClusterFinding("MC114", plan.name, _shown(object_key(vs)), f"{service} {version} "
                                                    f"runs only in {', '.join(where)} on another network whose gateway "
                                                    "is not exposed: its share cannot be served"))
    return found


def _ports(spec: Mapping) -> list[str]:
    return sorted((json_text(p) for p in spec.get("ports") or []),
                  key=lambda text: json.loads(text).get("name", ""))


def mc115_inconsistent_services(services: Mapping[str, Sequence[Mapping]]) -> list[ClusterFinding]:
    """istioctl's IST0170 (`MultiClusterInconsistentService`): one Service name and
    namespace headless in one cluster and not in another, of another type, or with
    other ports (compared whole, by name)."""
    by_name: dict[tuple[str, str], dict[str, Mapping]] = {}
    for cluster, objects in services.items():
        for obj in objects:
            if obj.get("kind") == "Service":
                _, namespace, name = object_key(obj)
                by_name.setdefault((namespace, name), {})[cluster] = obj.get("spec") or {}
    found = []
    for (namespace, name), specs in sorted(by_name.items()):
        if len(specs) < 2:
            continue
        first_cluster, first = next(iter(specs.items()))
        clusters, reasons = set(), set()
        for cluster, spec in specs.items():
            if (first.get("clusterIP") == "None") != (spec.get("clusterIP") == "None"):
                clusters |= set(specs)
                reasons.add("service has mixed mode like headless and clusterIP")
            if first.get("type", "") != spec.get("type", ""):
                clusters.add(cluster)
                reasons.add("service type is inconsistent")
            if _ports(first) != _ports(spec):
                clusters.add(cluster)
                reasons.add("service ports are inconsistent")
        if clusters:
            clusters.add(first_cluster)
            found.append(ClusterFinding("MC115", ",".join(sorted(clusters)), f"Service {namespace}/{name}",
                                        f"inconsistent across clusters {sorted(clusters)}, which can lead to undefined "
                                        f"behaviors ({INCONSISTENT_SERVICE}): {'; '.join(sorted(reasons))}"))
    return found


def mc116_providers(registrations: Iterable[tuple[str, str, str | None]]) -> list[ClusterFinding]:
    """`registrations`: (Pulumi name, type, the cluster of its provider or None). A
    resource on the default provider lands on whatever cluster the ambient
    kubeconfig names; two of one type and name share a URN."""
    found, seen = [], set()
    for name, type_, cluster in registrations:
        if cluster is None:
            found.append(ClusterFinding("MC116", "-", f"{type_} {name}", "no explicit provider: it would deploy to "
                                        "the ambient kubeconfig's cluster"))
        if (type_, name) in seen:
            found.append(ClusterFinding("MC116", cluster or "-", f"{type_} {name}", "name used twice: one URN for two "
                                        "clusters' resources; put the cluster in the name"))
        seen.add((type_, name))
    return found
