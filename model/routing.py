"""Builders for the Istio traffic objects: the ingress Gateway and VirtualService,
a DestinationRule per routed service with a subset per deployed version, and a
VirtualService per routed service whose routes come from stack config. Bodies are
spelled exactly as the Istio API spells them (camelCase), since a custom resource's
spec reaches the cluster verbatim."""
from __future__ import annotations

from model.mesh import GATEWAY_HTTP_PORT, INGRESS_GATEWAY_LABELS
from model.settings import Destination, RequestMatch, Route, Settings
from model.workloads import subset_labels

NETWORKING = "networking.istio.io/v1"
GATEWAY_NAME = "bookinfo-gateway"
INGRESS_VIRTUAL_SERVICE = "bookinfo"


def _object(kind: str, name: str, namespace: str, spec: dict) -> dict:
    return {"apiVersion": NETWORKING, "kind": kind,
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def gateway(settings: Settings) -> dict:
    return _object("Gateway", GATEWAY_NAME, settings.app.namespace, {
        "selector": dict(INGRESS_GATEWAY_LABELS),
        "servers": [{
            # Port 80, not upstream's 8080: the Helm gateway chart's Service maps 80→80,
            # while upstream's 8080 matches the istioctl-installed gateway (80→8080).
            "port": {"number": GATEWAY_HTTP_PORT, "name": "http", "protocol": "HTTP"},
            "hosts": list(settings.ingress.hosts),
        }],
    })


def http_match(match: RequestMatch) -> dict:
    body: dict = {}
    if match.uri is not None:
        kind, value = match.uri
        body["uri"] = {kind: value}
    if match.headers:
        body["headers"] = {h.name: {h.kind: h.value} for h in match.headers}
    return body


def destination(host: str, dest: Destination, *, port: int | None = None) -> dict:
    target: dict = {"host": host, "subset": dest.version}
    if port is not None:
        target["port"] = {"number": port}
    body: dict = {"destination": target}
    if dest.weight is not None:
        body["weight"] = dest.weight
    return body


def http_route(host: str, route: Route) -> dict:
    body: dict = {}
    if route.matches:
        body["match"] = [http_match(m) for m in route.matches]
    body["route"] = [destination(host, d) for d in route.destinations]
    return body


def ingress_virtual_service(settings: Settings) -> dict:
    app = settings.app.application
    rules = []
    for ingress_route in app.ingress_routes:
        svc = app.service(ingress_route.service)
        rule: dict = {"match": [{"uri": {kind: value}} for kind, value in ingress_route.uris]}
        if ingress_route.by_version:
            default = settings.service(svc.name).default_route
            rule["route"] = [destination(svc.name, d, port=svc.port) for d in default.destinations]
        else:
            rule["route"] = [{"destination": {"host": svc.name, "port": {"number": svc.port}}}]
        rules.append(rule)
    return _object("VirtualService", INGRESS_VIRTUAL_SERVICE, settings.app.namespace, {
        "hosts": list(settings.ingress.hosts),
        "gateways": [GATEWAY_NAME],
        "http": rules,
    })


def destination_rule(settings: Settings, service_name: str) -> dict:
    deployed = settings.service(service_name)
    return _object("DestinationRule", service_name, settings.app.namespace, {
        "host": service_name,
        "subsets": [{"name": v, "labels": subset_labels(v)} for v in deployed.versions],
    })


def service_virtual_service(settings: Settings, service_name: str) -> dict:
    deployed = settings.service(service_name)
    return _object("VirtualService", service_name, settings.app.namespace, {
        "hosts": [service_name],
        "http": [http_route(service_name, route) for route in deployed.routes],
    })


def routing_objects(settings: Settings) -> list[dict]:
    """Gateway and ingress VirtualService, then per routed service its
    DestinationRule and VirtualService."""
    objects = [gateway(settings), ingress_virtual_service(settings)]
    for deployed in settings.routed_services:
        objects.append(destination_rule(settings, deployed.name))
        objects.append(service_virtual_service(settings, deployed.name))
    return objects
