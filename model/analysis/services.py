"""Rules about Services and ServiceEntries as Istio sees them: port names for
protocol selection (ExternalName Services included), ServiceEntries that need
addresses, and several Services selecting one workload with ports that disagree."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from model.analysis.findings import INFO, WARNING
from model.analysis.index import ISTIO_NAMESPACE, Index, as_list, spec_of
from model.analysis.membership import sidecar_injected
from model.analysis.registry import rule

PROTOCOLS = ("http", "http2", "https", "grpc", "grpc-web", "mongo", "mysql", "redis", "tcp", "tls", "udp")
"""Port name prefixes Istio's protocol selection understands (`<protocol>[-<suffix>]`)."""


def _follows_convention(name: str) -> bool:
    return any(name == p or name.startswith(f"{p}-") for p in PROTOCOLS)


def port_protocol(port: Mapping) -> str:
    """The protocol Istio takes for a Service port: `appProtocol`, else the name's
    `<protocol>[-suffix]` prefix, else the Kubernetes protocol (TCP when unset)."""
    if port.get("appProtocol"):
        return str(port["appProtocol"]).lower()
    name = str(port.get("name") or "")
    named = next((p for p in PROTOCOLS if name == p or name.startswith(f"{p}-")), None)
    return named or str(port.get("protocol") or "TCP").lower()


def _system_service(index: Index, service: Mapping) -> bool:
    labels = (service.get("metadata") or {}).get("labels") or {}
    if "gateway.istio.io/managed" in labels:
        return True
    return index.ns(service) == ISTIO_NAMESPACE and ("istio" in labels or labels.get("release") == "istio")


@rule("BM131", INFO, "Service port name outside the `<protocol>[-suffix]` convention (protocol sniffed)",
      istio="IST0118", analyzer="service.PortNameAnalyzer")
def port_name_convention(index: Index) -> Iterable:
    for service in index.of("Service"):
        if _system_service(index, service) or spec_of(service).get("type") == "ExternalName":
            continue
        for port in as_list(spec_of(service).get("ports")):
            if not isinstance(port, Mapping) or port.get("appProtocol"):
                continue
            name = str(port.get("name") or "")
            if not _follows_convention(name):
                shown = f"name {name}" if name else "no name"
                yield service, (f"port {port.get('port')} has {shown}: not <protocol>[-suffix] "
                                f"({', '.join(PROTOCOLS)}), so Istio guesses its protocol; name it or set appProtocol")


@rule("BM132", WARNING, "ServiceEntry with TCP (or unset protocol) ports and no addresses", istio="IST0134",
      analyzer="serviceentry.Analyzer")
def service_entry_needs_addresses(index: Index) -> Iterable:
    for entry in index.of("ServiceEntry"):
        spec = spec_of(entry)
        if as_list(spec.get("addresses")):
            continue
        for port in as_list(spec.get("ports")):
            if isinstance(port, Mapping) and str(port.get("protocol") or "").upper() in ("", "TCP"):
                yield entry, (f"port {port.get('number')} is {port.get('protocol') or 'without protocol'} and the "
                              "entry has no addresses: proxies cannot tell its traffic apart unless the cluster "
                              "auto-allocates addresses (PILOT_ENABLE_IP_AUTOALLOCATE / ISTIO_META_DNS_AUTO_ALLOCATE)")
                break


@rule("BM152", WARNING, "ExternalName Service port without a protocol name, or named tcp (traffic may not be "
                        "forwarded)", istio="IST0150", analyzer="service.PortNameAnalyzer")
def external_name_port_name(index: Index) -> Iterable:
    for service in index.of("Service"):
        if spec_of(service).get("type") != "ExternalName":
            continue
        for port in as_list(spec_of(service).get("ports")):
            if not isinstance(port, Mapping) or port.get("appProtocol"):
                continue
            name = str(port.get("name") or "")
            if not _follows_convention(name) or name == "tcp" or name.startswith("tcp-"):
                shown = f"named {name}" if name else "unnamed"
                yield service, (f"port {port.get('port')} is {shown}: for an ExternalName Service the proxy may not "
                                "forward TCP or unmatched traffic to it; name it for its protocol (e.g. https, http)")


MULTI_SERVICE = "deployment.MultiServiceAnalyzer"


def _service_ports(index: Index, workload) -> list[tuple[Mapping, Mapping]]:
    return [(service, port) for service in index.services_selecting(workload) if not index.why_assumed(service)
            for port in as_list(spec_of(service).get("ports")) if isinstance(port, Mapping)]


def _mesh_templates(index: Index):
    """Workload templates whose pods join the mesh (a Pod shows its own ports already)."""
    return [w for w in index.workloads if w.kind != "Pod" and not w.assumed and sidecar_injected(index, w)]


@rule("BM150", WARNING, "Services selecting one workload give the same port different protocols", istio="IST0116",
      analyzer=MULTI_SERVICE)
def one_port_two_protocols(index: Index) -> Iterable:
    for workload in _mesh_templates(index):
        by_port: dict[int, dict[str, list[str]]] = {}
        for service, port in _service_ports(index, workload):
            if isinstance(port.get("port"), (int, float)):
                by_port.setdefault(int(port["port"]), {}).setdefault(port_protocol(port), []).append(index.ref(service))
        for number, protocols in sorted(by_port.items()):
            if len(protocols) > 1:
                shown = "; ".join(f"{p} by {', '.join(s)}" for p, s in sorted(protocols.items()))
                yield workload.obj, f"port {number} is served as {shown}: its pods can only speak one protocol there"


@rule("BM151", WARNING, "Services selecting one workload map different ports to the same target port",
      istio="IST0137", analyzer=MULTI_SERVICE)
def one_target_two_ports(index: Index) -> Iterable:
    for workload in _mesh_templates(index):
        by_target: dict[str, dict[int, list[str]]] = {}
        for service, port in _service_ports(index, workload):
            if isinstance(port.get("port"), (int, float)):
                target = str(port.get("targetPort") if port.get("targetPort") is not None else int(port["port"]))
                by_target.setdefault(target, {}).setdefault(int(port["port"]), []).append(index.ref(service))
        for target, ports in sorted(by_target.items()):
            if len(ports) > 1:
                shown = "; ".join(f"port {p} in {', '.join(s)}" for p, s in sorted(ports.items()))
                yield workload.obj, (f"target port {target} is reached as {shown}: Services selecting the same "
                                     "workload must use the same port for it")
