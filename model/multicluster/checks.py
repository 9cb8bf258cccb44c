"""The install-side multi-cluster checks (MC101–MC110), pure functions over the
cluster plans the program builds: each reads the values and object bodies a cluster
gets, never the settings they came from, so a builder that drifts from what istiod
reads is caught. Traffic-side checks are in `check_traffic`."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import yaml

from model.multicluster.graph import node
from model.multicluster.objects import (CONTROL_PLANE_ANNOTATION, CROSS_NETWORK_GATEWAY, ISTIOD_GATEWAY,
                                        NETWORK_GATEWAY_PORT, NETWORK_LABEL)
from model.multicluster.plan import ClusterPlan
from model.multicluster.secrets import (CLUSTER_ANNOTATION, MULTICLUSTER_LABEL, untrusted_kubeconfig_problem)
from model.settings.parse_clusters import CACERTS_KEYS as CACERTS_FILES
from model.multicluster.values import injection_path, remote_pilot_address
from model.mesh import ISTIO_NAMESPACE
from model.names import CLUSTER_DOMAIN, gateway_label
from model.vocabulary import DNS_LABEL_RE

DEFAULT_CLUSTER_ID = "Kubernetes"
"""istiod's cluster ID when `global.multiCluster.clusterName` is empty."""
GATEWAY_PORT_LABEL = "networking.istio.io/gatewayPort"
REMOTE_SECRET_PREFIX = "istio-remote-secret-"
CACERTS_TLS_FILES = ("tls.crt", "tls.key", "ca.crt")
"""The cert-manager spelling istiod also accepts."""


@dataclass(frozen=True)
class ClusterFinding:
    code: str
    cluster: str
    what: str
    message: str

    def __str__(self) -> str:
        return f"[{self.code}] {self.cluster}: {self.what}: {self.message}"


def _global(plan: ClusterPlan) -> Mapping:
    release = plan.release("istiod")
    return (release.values.get("global") or {}) if release else {}


def cluster_id(plan: ClusterPlan) -> str:
    return (_global(plan).get("multiCluster") or {}).get("clusterName") or DEFAULT_CLUSTER_ID


def network(plan: ClusterPlan) -> str:
    return _global(plan).get("network") or ""


def _secret_keys(secret: Mapping) -> list[str]:
    return list(secret.get("stringData") or secret.get("data") or {})


def _read_by_istiod(secret: Mapping) -> bool:
    """istiod watches only labelled Secrets in its own namespace."""
    meta = secret.get("metadata") or {}
    return (meta.get("labels") or {}).get(MULTICLUSTER_LABEL) == "true" and meta.get("namespace") == ISTIO_NAMESPACE


def mc101_cluster_names(names: Iterable[str]) -> list[ClusterFinding]:
    found, seen = [], set()
    for name in names:
        if not DNS_LABEL_RE.match(name):
            found.append(ClusterFinding("MC101", name, "cluster", "not a DNS-1123 label: istioctl and the remote-secret "
                                                                  "key need one"))
        elif name in seen:
            found.append(ClusterFinding("MC101", name, "cluster", "named twice"))
        seen.add(name)
    return found


def mc102_remote_secret_names(plans: Sequence[ClusterPlan]) -> list[ClusterFinding]:
    ids = {cluster_id(p) for p in plans}
    found = []
    for plan in plans:
        for secret in plan.remote_secrets:
            name = secret["metadata"]["name"]
            keys = _secret_keys(secret)
            annotation = (secret["metadata"].get("annotations") or {}).get(CLUSTER_ANNOTATION)
            suffix = name.removeprefix(REMOTE_SECRET_PREFIX)
            what = f"Secret {ISTIO_NAMESPACE}/{name}"
            if len(keys) != 1 or not keys[0] == annotation == suffix:
                found.append(ClusterFinding("MC102", plan.name, what, f"data key {', '.join(keys) or 'none'}, annotation "
                                            f"{annotation}, name suffix {suffix}: must be one cluster ID"))
            elif keys[0] not in ids:
                found.append(ClusterFinding("MC102", plan.name, what, f"no cluster has clusterName {keys[0]}: istiod "
                                            f"registers it under the data key ({', '.join(sorted(ids))})"))
    return found


def mc103_remote_secrets_complete(plans: Sequence[ClusterPlan]) -> list[ClusterFinding]:
    found = []
    for plan in plans:
        if plan.release("istiod") is None or plan.cluster.control_plane:
            continue
        own = cluster_id(plan)
        read = {key for s in plan.remote_secrets if _read_by_istiod(s) for key in _secret_keys(s)}
        for other in plans:
            if other is not plan and cluster_id(other) not in read:
                found.append(ClusterFinding("MC103", plan.name, "istiod", f"no remote Secret for cluster "
                                            f"{cluster_id(other)} (labelled {MULTICLUSTER_LABEL}=true in "
                                            f"{ISTIO_NAMESPACE}): its endpoints stay unknown here"))
        if own in read:
            found.append(ClusterFinding("MC103", plan.name, "istiod", f"a remote Secret for itself ({own}): istiod "
                                        "ignores it"))
    return found


def mc104_mesh_id(plans: Sequence[ClusterPlan]) -> list[ClusterFinding]:
    if len(plans) < 2:
        return []
    ids = {p.name: _global(p).get("meshID") or "" for p in plans}
    first = next(iter(ids.values()))
    found = []
    for name, mesh_id in ids.items():
        if not mesh_id:
            found.append(ClusterFinding("MC104", name, "istiod", "global.meshID unset with several clusters"))
        elif mesh_id != first and first:
            found.append(ClusterFinding("MC104", name, "istiod", f"global.meshID {mesh_id} ≠ {first}"))
    return found


def root_fingerprint(bundle: Mapping[str, str]) -> str:
    root = bundle.get("root-cert.pem") or bundle.get("ca.crt") or ""
    return hashlib.sha256("".join(root.split()).encode()).hexdigest()


def mc105_trust(plans: Sequence[ClusterPlan], edges: Iterable[tuple[str, str]],
                bundles: Mapping[str, Mapping[str, str]] | None = None) -> list[ClusterFinding]:
    """`bundles`: the plaintext cacerts per cluster when the program holds them
    (in an apply), else None: completeness and roots are checked only then."""
    primaries = [p for p in plans if p.release("istiod") and not p.cluster.control_plane]
    edges = set(edges)
    found = []
    for plan in primaries:
        if len(primaries) > 1 and not plan.cacerts:
            found.append(ClusterFinding("MC105", plan.name, "Secret cacerts", "missing with several primaries: each "
                                        "istiod makes its own root and cross-cluster mTLS fails"))
        if plan.cacerts and (node(plan.name, "cacerts"), node(plan.name, "istiod")) not in edges:
            found.append(ClusterFinding("MC105", plan.name, "Secret cacerts", "not ordered before istiod, which reads "
                                        "it only at start"))
    for name, bundle in (bundles or {}).items():
        if not (all(bundle.get(k) for k in CACERTS_FILES) or all(bundle.get(k) for k in CACERTS_TLS_FILES)):
            found.append(ClusterFinding("MC105", name, "Secret cacerts", f"incomplete: needs {', '.join(CACERTS_FILES)}"
                                        " (istiod fails on a partial bundle)"))
    roots = {name: root_fingerprint(bundle) for name, bundle in (bundles or {}).items()}
    if len(set(roots.values())) > 1:
        first = next(iter(roots))
        for name, fingerprint in roots.items():
            if fingerprint != roots[first]:
                found.append(ClusterFinding("MC105", name, "Secret cacerts", f"root-cert.pem sha256 "
                                            f"{fingerprint[:12]}… ≠ {first}'s {roots[first][:12]}…"))
    domains = {p.name: ((p.release("istiod").values.get("meshConfig") or {}).get("trustDomain") or CLUSTER_DOMAIN)
               for p in primaries}
    if len(set(domains.values())) > 1:
        found += [ClusterFinding("MC105", name, "istiod", f"meshConfig.trustDomain {domain}: differs between "
                                 f"primaries ({', '.join(sorted(set(domains.values())))})")
                  for name, domain in domains.items()]
    return found


def _eastwest(plan: ClusterPlan):
    return plan.release("eastwest")


def mc106_networks(plans: Sequence[ClusterPlan]) -> list[ClusterFinding]:
    if len({network(p) for p in plans}) < 2:
        return []
    found = []
    for plan in plans:
        label = ((plan.namespace.get("metadata") or {}).get("labels") or {}).get(NETWORK_LABEL)
        if label != network(plan) or not label:
            found.append(ClusterFinding("MC106", plan.name, f"Namespace {ISTIO_NAMESPACE}", f"label {NETWORK_LABEL}="
                                        f"{label} ≠ global.network {network(plan) or '(unset)'}"))
        gateway = _eastwest(plan)
        if gateway and gateway.values.get("networkGateway") != network(plan):
            found.append(ClusterFinding("MC106", plan.name, f"Release {gateway.name}", f"networkGateway "
                                        f"{gateway.values.get('networkGateway')} ≠ global.network {network(plan)}"))
    return found


def _tls_port(values: Mapping) -> int:
    return ((values.get("networkGatewayPorts") or {}).get("tls") or {}).get("port", NETWORK_GATEWAY_PORT)


def mc107_exposure(plans: Sequence[ClusterPlan], with_workloads: Iterable[str]) -> list[ClusterFinding]:
    """`with_workloads`: the clusters some version of the application runs in."""
    if len({network(p) for p in plans}) < 2:
        return []
    found = []
    busy = set(with_workloads)
    for net in dict.fromkeys(network(p) for p in plans if p.name in busy):
        if not any(_eastwest(p) for p in plans if network(p) == net):
            found.append(ClusterFinding("MC107", net, "network", "workloads but no east-west gateway: no other network "
                                        "reaches them"))
    for plan in plans:
        gateway = _eastwest(plan)
        if not gateway or plan.cluster.control_plane:
            continue
        exposed = [o for o in plan.expose if o["metadata"]["name"] == CROSS_NETWORK_GATEWAY]
        if not exposed:
            found.append(ClusterFinding("MC107", plan.name, f"Release {gateway.name}", "no cross-network-gateway: the "
                                        "gateway has an address but passes nothing through"))
        pods = {**gateway_label(gateway.values.get("name") or gateway.name), **{
            k: v for k, v in (gateway.values.get("labels") or {}).items() if k == "istio"}}
        for obj in exposed:
            spec = obj["spec"]
            if spec.get("selector") != pods:
                found.append(ClusterFinding("MC107", plan.name, f"Gateway {CROSS_NETWORK_GATEWAY}", f"selector "
                                            f"{spec.get('selector')} ≠ the east-west pods' {pods}"))
            ports = [s["port"]["number"] for s in spec.get("servers") or []]
            if _tls_port(gateway.values) not in ports:
                found.append(ClusterFinding("MC107", plan.name, f"Gateway {CROSS_NETWORK_GATEWAY}", f"ports {ports} ≠ "
                                            f"networkGatewayPorts.tls.port {_tls_port(gateway.values)}"))
    return found


def mc108_gateway_port(plans: Sequence[ClusterPlan]) -> list[ClusterFinding]:
    found = []
    for plan in plans:
        gateway = _eastwest(plan)
        if not gateway or _tls_port(gateway.values) == NETWORK_GATEWAY_PORT:
            continue
        labelled = (gateway.values.get("labels") or {}).get(GATEWAY_PORT_LABEL)
        if str(labelled) != str(_tls_port(gateway.values)):
            found.append(ClusterFinding("MC108", plan.name, f"Release {gateway.name}", f"networkGatewayPorts.tls.port "
                                        f"{_tls_port(gateway.values)} without label {GATEWAY_PORT_LABEL}: istiod "
                                        f"ignores the gateway"))
    return found


def mc109_remotes(plans: Sequence[ClusterPlan]) -> list[ClusterFinding]:
    by_name = {p.name: p for p in plans}
    found = []
    for plan in plans:
        primary = by_name.get(plan.cluster.control_plane or "")
        if not plan.cluster.control_plane:
            continue
        values = plan.release("istiod").values
        address = _global(plan).get("remotePilotAddress")
        expected = remote_pilot_address(primary.cluster) if primary else None
        if not address or address != expected:
            found.append(ClusterFinding("MC109", plan.name, "istiod", f"global.remotePilotAddress {address or '(unset)'}"
                                        f" ≠ {plan.cluster.control_plane}'s east-west address {expected or '(unknown)'}"))
        path = (values.get("istiodRemote") or {}).get("injectionPath")
        own = injection_path(cluster_id(plan), network(plan))
        if path != own:
            found.append(ClusterFinding("MC109", plan.name, "istiod", f"istiodRemote.injectionPath {path} ≠ {own}"))
        leaders = ((plan.namespace.get("metadata") or {}).get("annotations") or {}).get(CONTROL_PLANE_ANNOTATION, "")
        named = {s.strip() for s in leaders.split(",") if s.strip()}
        if not primary or not ({cluster_id(primary), "*"} & named):
            found.append(ClusterFinding("MC109", plan.name, f"Namespace {ISTIO_NAMESPACE}", f"annotation "
                                        f"{CONTROL_PLANE_ANNOTATION}={leaders or '(unset)'} does not name "
                                        f"{plan.cluster.control_plane}: its istiod will not lead this cluster"))
        if primary and _global(primary).get("externalIstiod") is not True:
            found.append(ClusterFinding("MC109", primary.name, "istiod", f"global.externalIstiod unset: remote "
                                        f"{plan.name} is not served"))
        if primary and not any(o["metadata"]["name"] == ISTIOD_GATEWAY for o in primary.expose):
            found.append(ClusterFinding("MC109", primary.name, "istiod", f"no {ISTIOD_GATEWAY}: remote {plan.name}'s "
                                        "proxies and webhook cannot reach istiod"))
    return found


def mc110_remote_kubeconfigs(plans: Sequence[ClusterPlan]) -> list[ClusterFinding]:
    found = []
    for plan in plans:
        for secret in plan.remote_secrets:
            for key, text in (secret.get("stringData") or {}).items():
                problem = untrusted_kubeconfig_problem(yaml.safe_load(text))
                if problem:
                    found.append(ClusterFinding("MC110", plan.name, f"Secret {ISTIO_NAMESPACE}/"
                                                f"{secret['metadata']['name']}", problem))
    return found
