"""Builders for services outside the mesh and the way out to them: Istio's
egress-gateway pattern (istio.io task "Egress Gateways"), as one generic function,
and its use for the applications' external services.

`egress_gateway_route(...)` returns the four objects of the pattern for one external
host:

1. ServiceEntry: the host is known to the mesh, MESH_EXTERNAL (no sidecar there, so
   no mTLS towards it), resolved by DNS.
2. Gateway on the egress gateway (selector `istio=egressgateway`, port 80): the
   egress gateway accepts requests for the host.
3. DestinationRule for the egress gateway's Service, with one named subset: the
   first hop's destination.
4. VirtualService bound to `mesh` and the egress Gateway, two hops: sidecars send
   requests for the host to the egress gateway (port 80), and the egress gateway
   sends them on to the host's own port.

Plain HTTP only; TLS origination at the gateway is not covered. (The traffic
features may bring their own egress builder; the two are meant to be unified.)"""
from __future__ import annotations

from model.mesh import EGRESS_GATEWAY_HOST, EGRESS_GATEWAY_LABELS, GATEWAY_HTTP_PORT
from model.settings import Settings
from model.workloads import service_namespace

NETWORKING = "networking.istio.io/v1"
MESH = "mesh"
PROTOCOLS = ("HTTP",)


def _object(kind: str, name: str, namespace: str, spec: dict) -> dict:
    return {"apiVersion": NETWORKING, "kind": kind,
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def egress_gateway_name(name: str) -> str:
    return f"{name}-egress"


def egress_gateway_route(*, host: str, port: int, protocol: str, namespace: str, name: str) -> list[dict]:
    """ServiceEntry, egress Gateway, DestinationRule and two-hop VirtualService that
    send the mesh's requests for `host:port` out through the egress gateway. Every
    object is named `name` (the Gateway `<name>-egress`) and lives in `namespace`."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"egress through the gateway supports {', '.join(PROTOCOLS)}, not {protocol}")
    gateway = egress_gateway_name(name)
    port_name = protocol.lower()
    return [
        _object("ServiceEntry", name, namespace, {
            "hosts": [host],
            "ports": [{"number": port, "name": port_name, "protocol": protocol}],
            "location": "MESH_EXTERNAL",
            "resolution": "DNS",
        }),
        _object("Gateway", gateway, namespace, {
            "selector": dict(EGRESS_GATEWAY_LABELS),
            "servers": [{
                # The egress gateway chart's Service listens on 80 (and 443) only.
                "port": {"number": GATEWAY_HTTP_PORT, "name": port_name, "protocol": protocol},
                "hosts": [host],
            }],
        }),
        _object("DestinationRule", name, namespace, {
            "host": EGRESS_GATEWAY_HOST,
            "subsets": [{"name": name}],
        }),
        _object("VirtualService", name, namespace, {
            "hosts": [host],
            "gateways": [gateway, MESH],
            "http": [
                {
                    "match": [{"gateways": [MESH], "port": port}],
                    "route": [{"destination": {"host": EGRESS_GATEWAY_HOST, "subset": name,
                                               "port": {"number": GATEWAY_HTTP_PORT}},
                               "weight": 100}],
                },
                {
                    "match": [{"gateways": [gateway], "port": GATEWAY_HTTP_PORT}],
                    "route": [{"destination": {"host": host, "port": {"number": port}}, "weight": 100}],
                },
            ],
        }),
    ]


def service_fqdn(service: str, namespace: str) -> str:
    """The cluster-local FQDN. Istio matches a ServiceEntry host literally; sidecars
    also answer the short forms (`svc.ns`, `svc.ns.svc`) of cluster-local hosts, so
    a client calling http://bookinfo-payment.bookinfo-ext:8080 meets these routes."""
    return f"{service}.{namespace}.svc.cluster.local"


def external_service_name(service: str) -> str:
    """`external-payment` for `bookinfo-payment`: the name the ServiceEntry and the
    other egress objects of an external service go by."""
    return f"external-{service.rsplit('-', 1)[-1]}"


def external_objects(settings: Settings) -> list[dict]:
    """The egress objects for every deployed external service of the application.
    Needs the egress gateway (istio.egressGateway.enabled)."""
    app = settings.app.application
    objects: list[dict] = []
    for name in settings.services:
        svc = app.service(name)
        if not svc.external:
            continue
        host = service_fqdn(svc.name, service_namespace(svc, settings.app.namespace))
        objects += egress_gateway_route(host=host, port=svc.port, protocol="HTTP",
                                        namespace=settings.app.namespace,
                                        name=external_service_name(svc.name))
    return objects
