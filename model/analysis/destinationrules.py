"""Rules about DestinationRules: their host, whether each subset selects pods, and
TLS origination that does not verify the server."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from model.analysis.findings import ERROR, WARNING
from model.analysis.index import Index, Workload, as_list, fqdn, host_matches, labels_text, selects, spec_of
from model.analysis.registry import rule

TOPOLOGY_LABELS = ("topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone",
                   "kubernetes.io/hostname")
"""Subset labels Istio matches against the labels of the pod's Node, not the pod."""


def _node_labels(index: Index, workload: Workload) -> Mapping | None:
    node_name = workload.pod_spec.get("nodeName")
    for node in index.of("Node"):
        if node_name and (node.get("metadata") or {}).get("name") == node_name:
            return (node.get("metadata") or {}).get("labels") or {}
    return None


def _subset_selects(index: Index, selector: Mapping, subset_labels: Mapping, workload: Workload) -> bool | None:
    """True/False, or None when a topology label needs a Node the objects lack."""
    pod_labels = {k: v for k, v in subset_labels.items() if k not in TOPOLOGY_LABELS}
    if not selects({**selector, **pod_labels}, workload.labels):
        return False
    topology = {k: v for k, v in subset_labels.items() if k in TOPOLOGY_LABELS}
    if not topology:
        return True
    node = _node_labels(index, workload)
    if node is None:
        return None
    return all(v != "" and node.get(k) == v for k, v in topology.items())


@rule("BM103", ERROR, "DestinationRule subset selects no pods", istio="IST0173", kiali="KIA0203",
      analyzer="destinationrule.SubsetSelectPodAnalyzer",
      level_doc="error if a VirtualService routes to the subset, else warning")
def subset_selects_no_pods(index: Index) -> Iterable:
    for dr in index.of("DestinationRule"):
        host = fqdn(str(spec_of(dr).get("host") or ""), index.ns(dr))
        services = [d.obj for d in index.lookup(host, index.ns(dr)) if d.obj.get("kind") == "Service"]
        selector = spec_of(services[0]).get("selector") if services else None
        if not selector:
            continue  # ServiceEntry, unknown host or selector-less Service: pods unknown here
        service_ns = index.ns(services[0])
        for subset in as_list(spec_of(dr).get("subsets")):
            if not isinstance(subset, Mapping):
                continue
            labels = subset.get("labels") or {}
            pod_labels = {k: v for k, v in labels.items() if k not in TOPOLOGY_LABELS}
            verdicts = [_subset_selects(index, selector, labels, w)
                        for w in index.selected({**selector, **pod_labels}, service_ns)]
            if any(v is not False for v in verdicts):
                continue
            shown = labels_text({**selector, **labels})
            users = index.routed_subsets.get((host, str(subset.get("name"))))
            if users:
                yield dr, (f"subset {subset.get('name')} selects no pods ({shown} in namespace {service_ns}) but "
                           f"VirtualService {', '.join(sorted(set(users)))} routes to it")
            else:
                yield dr, f"subset {subset.get('name')} selects no pods ({shown} in namespace {service_ns})", WARNING


@rule("BM113", WARNING, "DestinationRule host not found", istio="IST0174", kiali="KIA0202",
      analyzer="destinationrule.SubsetSelectPodAnalyzer")
def destination_rule_host_unknown(index: Index) -> Iterable:
    for dr in index.of("DestinationRule"):
        host = fqdn(str(spec_of(dr).get("host") or ""), index.ns(dr))
        if index.lookup(host, index.ns(dr)):
            continue
        if "*" in host and any(host_matches(host, d.host) for d in index.destinations):
            continue  # a wildcard host applies to every Service it covers
        kiali = "" if _kiali_reads_as_service(index, host) else None
        yield dr, f"host {host} not found: no Service or ServiceEntry defines it", None, kiali


def _kiali_reads_as_service(index: Index, host: str) -> bool:
    """Kiali reads `name.namespace` and `name.namespace.svc` as a Service (Istio does
    not: it keeps a host with a dot as written), so it reports nothing there."""
    parts = host.split(".")
    if len(parts) == 2 or (len(parts) == 3 and parts[2] == "svc"):
        return bool(index.lookup(fqdn(parts[0], parts[1]), parts[1]))
    return False


def _unverified(tls: Mapping, workload_selector: bool) -> str | None:
    """Why a TLS setting does not verify the server, or None."""
    if not isinstance(tls, Mapping) or tls.get("mode") not in ("SIMPLE", "MUTUAL"):
        return None
    if tls.get("caCertificates") or tls.get("insecureSkipVerify"):
        return None
    if tls.get("credentialName") and workload_selector:
        return None  # the CA comes with the credential's Secret
    note = " (credentialName only applies with a workloadSelector)" if tls.get("credentialName") else ""
    return (f"TLS mode {tls['mode']} without caCertificates{note}: the server's certificate is not checked against "
            "a CA you chose (istiod's VERIFY_CERTIFICATE_AT_CLIENT decides between the proxy's system roots and "
            "no check at all)")


@rule("BM120", WARNING, "TLS origination without caCertificates (server not checked against a chosen CA)",
      istio="IST0128",
      analyzer="destinationrule.CaCertificateAnalyzer")
def tls_without_ca(index: Index) -> Iterable:
    for dr in index.of("DestinationRule"):
        spec = spec_of(dr)
        why = _unverified((spec.get("trafficPolicy") or {}).get("tls") or {}, bool(spec.get("workloadSelector")))
        if why:
            yield dr, f"host {spec.get('host')}: {why}"


@rule("BM121", WARNING, "port-level TLS origination without caCertificates (server not checked against a chosen CA)",
      istio="IST0129", analyzer="destinationrule.CaCertificateAnalyzer")
def port_tls_without_ca(index: Index) -> Iterable:
    for dr in index.of("DestinationRule"):
        spec = spec_of(dr)
        for setting in as_list((spec.get("trafficPolicy") or {}).get("portLevelSettings")):
            if not isinstance(setting, Mapping):
                continue
            why = _unverified(setting.get("tls") or {}, bool(spec.get("workloadSelector")))
            if why:
                port = (setting.get("port") or {}).get("number")
                yield dr, f"host {spec.get('host')} port {port}: {why}"


@rule("BM157", WARNING, "several DestinationRules for the same host and subset (or host without subsets)",
      kiali="KIA0201")
def duplicate_destination_rules(index: Index) -> Iterable:
    claims: dict[tuple, list[Mapping]] = {}
    for dr in index.of("DestinationRule"):
        spec = spec_of(dr)
        if not spec.get("host"):
            continue
        selector = tuple(sorted(((spec.get("workloadSelector") or {}).get("matchLabels") or {}).items()))
        host = fqdn(str(spec["host"]), index.ns(dr))
        subsets = [str((s or {}).get("name")) for s in as_list(spec.get("subsets")) if isinstance(s, Mapping)]
        for subset in subsets or [""]:
            claims.setdefault((host, subset, selector), []).append(dr)
    shared: dict[int, tuple[Mapping, list[str]]] = {}
    for (host, subset, _), rules in claims.items():
        distinct = list({id(r): r for r in rules}.values())
        if len(distinct) < 2:
            continue
        what = f"{host} subset {subset}" if subset else host
        for dr in distinct:
            others = ", ".join(index.ref(o) for o in distinct if o is not dr)
            shared.setdefault(id(dr), (dr, []))[1].append(f"{what} (also in {others})")
    for dr, what in shared.values():
        yield dr, f"defines what another DestinationRule defines, so one of them is ignored: {'; '.join(what)}"
