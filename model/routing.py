"""Builders for the Istio traffic objects: the ingress Gateway and VirtualService,
a DestinationRule per routed service with a subset per deployed version, and a
VirtualService per routed service whose routes come from stack config. Bodies are
spelled exactly as the Istio API spells them (camelCase), since a custom resource's
spec reaches the cluster verbatim."""
from __future__ import annotations

from model.mesh import GATEWAY_HTTP_PORT, GATEWAY_HTTPS_PORT, INGRESS_GATEWAY_LABELS
from model.gateway_api_routing import gateway_api_routing_objects
from model.routing_common import GATEWAY_NAME, INGRESS_VIRTUAL_SERVICE, traffic_policy
from model.settings import Destination, Fault, RequestMatch, Retries, Route, Settings
from model.workloads import subset_labels
from model.names import NETWORKING_API, istio_object



def _object(kind: str, name: str, namespace: str, spec: dict) -> dict:
    return istio_object(NETWORKING_API, kind, name, namespace, spec)


def gateway(settings: Settings) -> dict:
    hosts = list(settings.ingress.hosts)
    # Port 80, not upstream's 8080: the Helm gateway chart's Service maps 80→80,
    # while upstream's 8080 matches the istioctl-installed gateway (80→8080).
    http_server: dict = {"port": {"number": GATEWAY_HTTP_PORT, "name": "http", "protocol": "HTTP"},
                         "hosts": hosts}
    servers = [http_server]
    tls = settings.ingress.tls
    if tls is not None:
        if tls.https_redirect:
            http_server["tls"] = {"httpsRedirect": True}
        servers.append({
            "port": {"number": GATEWAY_HTTPS_PORT, "name": "https", "protocol": "HTTPS"},
            "tls": {"mode": "SIMPLE", "credentialName": tls.credential_name},
            "hosts": list(hosts),
        })
    return _object("Gateway", GATEWAY_NAME, settings.app.namespace, {
        "selector": dict(INGRESS_GATEWAY_LABELS),
        "servers": servers,
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


def fault(spec: Fault) -> dict:
    body: dict = {}
    if spec.delay is not None:
        body["delay"] = {"percentage": {"value": spec.delay.percentage}, "fixedDelay": spec.delay.fixed_delay}
    if spec.abort is not None:
        body["abort"] = {"percentage": {"value": spec.abort.percentage}, "httpStatus": spec.abort.http_status}
    return body


def retries(spec: Retries) -> dict:
    body: dict = {"attempts": spec.attempts}
    if spec.per_try_timeout is not None:
        body["perTryTimeout"] = spec.per_try_timeout
    if spec.retry_on is not None:
        body["retryOn"] = spec.retry_on
    return body


def http_route(host: str, route: Route) -> dict:
    body: dict = {}
    if route.matches:
        body["match"] = [http_match(m) for m in route.matches]
    if route.fault is not None:
        body["fault"] = fault(route.fault)
    body["route"] = [destination(host, d) for d in route.destinations]
    if route.timeout is not None:
        body["timeout"] = route.timeout
    if route.retries is not None:
        body["retries"] = retries(route.retries)
    if route.mirror is not None:
        body["mirror"] = {"host": host, "subset": route.mirror.version}
        if route.mirror.percentage is not None:
            body["mirrorPercentage"] = {"value": route.mirror.percentage}
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
    """One subset per deployed version; `trafficPolicy.tls` ISTIO_MUTUAL is the
    destination-rule-all-mtls.yaml variant, switched by a parameter."""
    configured = settings.service(service_name)
    spec: dict = {"host": service_name}
    policy = traffic_policy(configured.traffic_policy, istio_mutual=settings.security.istio_mutual)
    if policy:
        spec["trafficPolicy"] = policy
    subsets = []
    for version in configured.versions:
        subset: dict = {"name": version, "labels": subset_labels(version)}
        if version in configured.subset_policies:
            subset["trafficPolicy"] = traffic_policy(configured.subset_policies[version])
        subsets.append(subset)
    spec["subsets"] = subsets
    return _object("DestinationRule", service_name, settings.app.namespace, spec)


def service_virtual_service(settings: Settings, service_name: str) -> dict:
    configured = settings.service(service_name)
    return _object("VirtualService", service_name, settings.app.namespace, {
        "hosts": [service_name],
        "http": [http_route(service_name, route) for route in configured.routes],
    })


def routing_objects(settings: Settings) -> list[dict]:
    """Gateway and ingress VirtualService, then per routed service its
    DestinationRule and VirtualService; a gateway-api stack's objects instead
    (`model.gateway_api_routing`)."""
    if settings.gateway_api_routes:
        return gateway_api_routing_objects(settings)
    objects = [gateway(settings), ingress_virtual_service(settings)]
    for configured in settings.routed_services:
        objects.append(destination_rule(settings, configured.name))
        objects.append(service_virtual_service(settings, configured.name))
    return objects
