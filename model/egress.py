"""Builders for traffic leaving the mesh: a ServiceEntry per external host, TLS
origination by DestinationRule with its port-rewrite VirtualService (as
egress-rule-google-apis.yaml), and routing a host through the egress gateway (the
istio.io egress-gateway task).

The egress-gateway builder is generic, a function of (host, port, protocol), not of
Bookinfo. It serves both the external hosts a stack lists under `egress` and the
services an application definition marks external (BookManagementSystem's payment,
which the mesh reaches through the egress gateway)."""
from __future__ import annotations

from model.mesh import (EGRESS_GATEWAY_HOST, EGRESS_GATEWAY_LABELS, GATEWAY_HTTP_PORT,
                        GATEWAY_HTTPS_PORT)
from model.settings import ExternalService, Settings
from model.names import NETWORKING_API, istio_object

EGRESS_GATEWAY_NAME = "istio-egressgateway"
"""The Gateway object (in the caller's namespace) bound to the egress gateway pods."""
MESH = "mesh"
PASSTHROUGH_PROTOCOLS = ("HTTPS", "TLS")


def _object(kind: str, name: str, namespace: str, spec: dict) -> dict:
    return istio_object(NETWORKING_API, kind, name, namespace, spec)


def service_entry(external: ExternalService, namespace: str) -> dict:
    # location is Istio's default and upstream leaves it out; it is spelled out so a
    # reader (or a policy) sees at a glance that the host is outside the mesh.
    return _object("ServiceEntry", external.name, namespace, {
        "hosts": [external.host],
        "location": "MESH_EXTERNAL",
        "ports": [{"number": p.number, "name": p.name, "protocol": p.protocol} for p in external.ports],
        "resolution": external.resolution,
    })


def tls_origination_objects(external: ExternalService, namespace: str) -> list[dict]:
    """DestinationRule `originate-tls-for-<name>` (TLS SIMPLE on the TLS port) and,
    when plain requests arrive on another port, VirtualService
    `rewrite-port-for-<name>` sending them to the TLS port."""
    origination = external.tls_origination
    if origination is None:
        return []
    objects = []
    if origination.from_port is not None:
        objects.append(_object("VirtualService", f"rewrite-port-for-{external.name}", namespace, {
            "hosts": [external.host],
            "http": [{
                "match": [{"port": origination.from_port}],
                "route": [{"destination": {"host": external.host, "port": {"number": origination.port}}}],
            }],
        }))
    policy: dict = {}
    if external.load_balancer is not None:
        policy["loadBalancer"] = dict(external.load_balancer)
    policy["portLevelSettings"] = [{"port": {"number": origination.port}, "tls": {"mode": "SIMPLE"}}]
    objects.append(_object("DestinationRule", f"originate-tls-for-{external.name}", namespace, {
        "host": external.host,
        "trafficPolicy": policy,
    }))
    return objects


def egress_gateway_port(protocol: str) -> int:
    """The egress gateway Service port for a protocol (the chart maps 80 and 443)."""
    return GATEWAY_HTTPS_PORT if protocol in PASSTHROUGH_PROTOCOLS else GATEWAY_HTTP_PORT


def egress_gateway_server(hosts: list[str], protocol: str) -> dict:
    """A Gateway server on the egress gateway for `hosts`: HTTP as is, HTTPS/TLS
    passed through untouched (the gateway routes on SNI)."""
    if protocol in PASSTHROUGH_PROTOCOLS:
        return {"port": {"number": GATEWAY_HTTPS_PORT, "name": "tls", "protocol": "TLS"},
                "hosts": list(hosts), "tls": {"mode": "PASSTHROUGH"}}
    return {"port": {"number": GATEWAY_HTTP_PORT, "name": "http", "protocol": "HTTP"}, "hosts": list(hosts)}


def egress_gateway(servers: list[dict], namespace: str, *, name: str = EGRESS_GATEWAY_NAME) -> dict:
    return _object("Gateway", name, namespace, {"selector": dict(EGRESS_GATEWAY_LABELS), "servers": servers})


def egress_gateway_route(*, name: str, host: str, port: int, protocol: str, namespace: str,
                         gateway: str = EGRESS_GATEWAY_NAME) -> list[dict]:
    """DestinationRule and VirtualService that send `host:port` from sidecars to the
    egress gateway and from there out: rule 1 matches gateway `mesh` (every
    sidecar) and goes to the egress gateway's subset `name`; rule 2 matches the
    egress gateway and goes to the external host. The ServiceEntry for the host and
    the Gateway (see `egress_gateway`) complete the pattern."""
    gateway_port = egress_gateway_port(protocol)
    destination_rule = _object("DestinationRule", f"egressgateway-for-{name}", namespace, {
        "host": EGRESS_GATEWAY_HOST,
        "subsets": [{"name": name}],
    })
    to_gateway = [{"destination": {"host": EGRESS_GATEWAY_HOST, "subset": name,
                                   "port": {"number": gateway_port}}, "weight": 100}]
    to_host = [{"destination": {"host": host, "port": {"number": port}}, "weight": 100}]
    if protocol in PASSTHROUGH_PROTOCOLS:
        rule = {"tls": [
            {"match": [{"gateways": [MESH], "port": port, "sniHosts": [host]}], "route": to_gateway},
            {"match": [{"gateways": [gateway], "port": gateway_port, "sniHosts": [host]}], "route": to_host},
        ]}
    else:
        rule = {"http": [
            {"match": [{"gateways": [MESH], "port": port}], "route": to_gateway},
            {"match": [{"gateways": [gateway], "port": gateway_port}], "route": to_host},
        ]}
    virtual_service = _object("VirtualService", f"direct-{name}-through-egress-gateway", namespace, {
        "hosts": [host],
        "gateways": [gateway, MESH],
        **rule,
    })
    return [destination_rule, virtual_service]


def egress_objects(settings: Settings) -> list[dict]:
    """Per external service (the stack's and the application's; settings hold both)
    its ServiceEntry and TLS origination objects; then, if any host leaves through
    the egress gateway, one Gateway for all of them and per host its DestinationRule
    and VirtualService."""
    ns = settings.app.namespace
    objects: list[dict] = []
    externals = settings.egress.services
    through_gateway = [s for s in externals if s.egress_gateway_port is not None]
    for external in externals:
        objects.append(service_entry(external, ns))
        objects.extend(tls_origination_objects(external, ns))
    if through_gateway:
        by_protocol: dict[str, list[str]] = {}
        for external in through_gateway:
            kind = "TLS" if external.egress_gateway_port.protocol in PASSTHROUGH_PROTOCOLS else "HTTP"
            by_protocol.setdefault(kind, []).append(external.host)
        objects.append(egress_gateway([egress_gateway_server(hosts, kind) for kind, hosts in by_protocol.items()],
                                      ns))
        for external in through_gateway:
            port = external.egress_gateway_port
            objects.extend(egress_gateway_route(name=external.name, host=external.host, port=port.number,
                                                protocol=port.protocol, namespace=ns))
    return objects
