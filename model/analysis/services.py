"""Rules about Services and ServiceEntries as Istio sees them: port names for
protocol selection, and ServiceEntries that need addresses."""
from __future__ import annotations

from typing import Iterable, Mapping

from model.analysis.findings import INFO, WARNING
from model.analysis.index import ISTIO_NAMESPACE, Index, as_list, spec_of
from model.analysis.registry import rule

PROTOCOLS = ("http", "http2", "https", "grpc", "grpc-web", "mongo", "mysql", "redis", "tcp", "tls", "udp")
"""Port name prefixes Istio's protocol selection understands (`<protocol>[-<suffix>]`)."""


def _follows_convention(name: str) -> bool:
    return any(name == p or name.startswith(f"{p}-") for p in PROTOCOLS)


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
