"""The Istio objects a multi-cluster install applies beside the charts, as Istio's
samples/multicluster files spell them (namespace aside: the samples are applied with
`-n istio-system`), and the system namespace each cluster's istiod reads its network
and control plane from."""
from __future__ import annotations

from model.mesh import ISTIO_NAMESPACE
from model.names import NETWORKING_API, gateway_label, istio_object, service_fqdn

EASTWEST_RELEASE = "istio-eastwestgateway"
EASTWEST_LABELS = gateway_label(EASTWEST_RELEASE)
"""`istio: eastwestgateway`: what the gateway chart labels the release's pods with,
and what the expose objects select."""
CROSS_NETWORK_GATEWAY = "cross-network-gateway"
ISTIOD_GATEWAY = "istiod-gateway"
ISTIOD_VIRTUAL_SERVICE = "istiod-vs"
NETWORK_GATEWAY_PORT = 15443
"""The port istiod expects a network gateway to listen on (`DefaultNetworkGatewayPort`)."""
ISTIOD_XDS_PORT, ISTIOD_WEBHOOK_PORT, ISTIOD_WEBHOOK_TARGET = 15012, 15017, 443

NETWORK_LABEL = "topology.istio.io/network"
CONTROL_PLANE_ANNOTATION = "topology.istio.io/controlPlaneClusters"


def cross_network_gateway() -> dict:
    """expose-services.yaml: mTLS to any `*.local` service of this network, passed
    through by SNI from the other networks."""
    return istio_object(NETWORKING_API, "Gateway", CROSS_NETWORK_GATEWAY, ISTIO_NAMESPACE, {
        "selector": dict(EASTWEST_LABELS),
        "servers": [{"port": {"number": NETWORK_GATEWAY_PORT, "name": "tls", "protocol": "TLS"},
                     "tls": {"mode": "AUTO_PASSTHROUGH"}, "hosts": ["*.local"]}],
    })


def istiod_gateway() -> dict:
    """expose-istiod.yaml's Gateway: istiod's xDS and webhook ports for a remote's
    proxies and API server (protocol spelled lowercase as upstream; Istio reads it
    case-insensitively)."""
    def server(name: str, number: int) -> dict:
        return {"port": {"name": name, "number": number, "protocol": "tls"}, "tls": {"mode": "PASSTHROUGH"},
                "hosts": ["*"]}
    return istio_object(NETWORKING_API, "Gateway", ISTIOD_GATEWAY, ISTIO_NAMESPACE, {
        "selector": dict(EASTWEST_LABELS),
        "servers": [server("tls-istiod", ISTIOD_XDS_PORT), server("tls-istiodwebhook", ISTIOD_WEBHOOK_PORT)],
    })


def istiod_virtual_service(revision: str = "") -> dict:
    """expose-istiod.yaml's VirtualService, or for a revision expose-istiod-rev's: the
    SNI names of that revision's istiod only."""
    istiod = f"istiod-{revision}" if revision else "istiod"
    host = service_fqdn(istiod, ISTIO_NAMESPACE)
    sni = [f"{istiod}.{ISTIO_NAMESPACE}.svc", host] if revision else ["*"]

    def route(port: int, target: int) -> dict:
        return {"match": [{"port": port, "sniHosts": list(sni)}],
                "route": [{"destination": {"host": host, "port": {"number": target}}}]}
    name = f"{ISTIOD_VIRTUAL_SERVICE}-{revision}" if revision else ISTIOD_VIRTUAL_SERVICE
    return istio_object(NETWORKING_API, "VirtualService", name, ISTIO_NAMESPACE, {
        "hosts": ["*"], "gateways": [ISTIOD_GATEWAY],
        "tls": [route(ISTIOD_XDS_PORT, ISTIOD_XDS_PORT), route(ISTIOD_WEBHOOK_PORT, ISTIOD_WEBHOOK_TARGET)],
    })


def is_expose_object(obj) -> bool:
    """Whether `obj` is one of the expose objects above, by kind, namespace and name (a
    revision's istiod VirtualService included): judged with its cluster's install
    (MC107, MC109), not by the one-cluster traffic rules, which know neither the
    east-west gateway's network ports nor the istiod Service the chart makes."""
    meta = obj.get("metadata") or {}
    if meta.get("namespace") != ISTIO_NAMESPACE:
        return False
    name, kind = meta.get("name") or "", obj.get("kind")
    if kind == "Gateway":
        return name in (CROSS_NETWORK_GATEWAY, ISTIOD_GATEWAY)
    return kind == "VirtualService" and (name == ISTIOD_VIRTUAL_SERVICE or name.startswith(f"{ISTIOD_VIRTUAL_SERVICE}-"))


def system_namespace(network: str, control_plane: str | None) -> dict:
    """`istio-system` carrying the cluster's network (read by istiod for pods it did
    not inject) and, on a remote, the primary allowed to lead it (with
    `externalIstiod` istiod serves only clusters whose namespace names it)."""
    metadata: dict = {"name": ISTIO_NAMESPACE}
    if network:
        metadata["labels"] = {NETWORK_LABEL: network}
    if control_plane:
        metadata["annotations"] = {CONTROL_PLANE_ANNOTATION: control_plane}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
