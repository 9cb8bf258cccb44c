"""Builders for a `traffic.api: gateway-api` stack's traffic objects, spelled as Istio
1.30.3's Bookinfo Gateway API samples spell them (`samples/bookinfo/gateway-api/`,
`platform/kube/bookinfo-versions.yaml`):

- a Service per deployed version (`reviews-v2`, selecting app and version), since an
  HTTPRoute sends to Services, never to DestinationRule subsets;
- per routed service an HTTPRoute attached to its Service (GAMMA `parentRefs`) whose
  rules are the stack's routes: match rules first, the default rule last;
- DestinationRules for traffic policies only: host the service, and each per-version
  host (which is where routed traffic goes) with the subset's policy merged over the
  service's, field by field as Istio merges a subset's;
- the ingress `Gateway` of class `istio` (istiod deploys `bookinfo-gateway-istio`)
  and its HTTPRoute `bookinfo`.

What an HTTPRoute cannot say (fault injection, retries on the standard channel, ...)
is refused by the settings parser (`model.settings.parse_data_plane`), so every
setting reaching these builders has a rendering."""
from __future__ import annotations

from model.apps import service_namespace
from model.mesh import GATEWAY_HTTP_PORT, GATEWAY_HTTPS_PORT
from model.names import NETWORKING_API, istio_object
from model.routing_common import GATEWAY_NAME, INGRESS_VIRTUAL_SERVICE, traffic_policy
from model.settings import Destination, RequestMatch, Route, ServiceSettings, Settings, TrafficPolicy
from model.settings.parse_data_plane import gateway_api_duration
from model.traffic import ObjectKey
from model.vocabulary import GATEWAY_API
from model.workloads import deployment_name, labels

INGRESS_CLASS = "istio"
SERVICE_TYPE_ANNOTATION = "networking.istio.io/service-type"
"""Read by istiod's deployment controller from `spec.infrastructure.annotations`; the
Service it creates is a LoadBalancer without it."""
ISTIO_DEFAULT_SERVICE_TYPE = "LoadBalancer"
HTTPS_REDIRECT_ROUTE = f"{INGRESS_VIRTUAL_SERVICE}-https-redirect"
PATH_TYPES = {"exact": "Exact", "prefix": "PathPrefix", "regex": "RegularExpression"}
HEADER_TYPES = {"regex": "RegularExpression"}
"""Exact is HTTPRoute's default and, as in Istio's files, left unwritten."""


def _object(kind: str, name: str, namespace: str, spec: dict) -> dict:
    return istio_object(GATEWAY_API, kind, name, namespace, spec)


def version_service_name(service_name: str, version: str) -> str:
    return f"{service_name}-{version}"


def version_service(settings: Settings, service_name: str, version: str) -> dict:
    svc = settings.app.application.service(service_name)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": version_service_name(service_name, version),
                         "namespace": service_namespace(svc, settings.app.namespace)},
            "spec": {"ports": [{"port": svc.port, "name": svc.port_name}],
                     "selector": labels(service_name, version)}}


def backend_ref(service_name: str, version: str, port: int, weight: int | None = None) -> dict:
    body: dict = {"name": version_service_name(service_name, version), "port": port}
    if weight is not None:
        body["weight"] = weight
    return body


def backend_refs(service_name: str, port: int, destinations: tuple[Destination, ...]) -> list[dict]:
    """A lone destination carries no weight (it gets all requests), as in Istio's files."""
    if len(destinations) == 1:
        return [backend_ref(service_name, destinations[0].version, port)]
    return [backend_ref(service_name, d.version, port, d.weight or 0) for d in destinations]


def route_match(match: RequestMatch) -> dict:
    body: dict = {}
    if match.uri is not None:
        kind, value = match.uri
        body["path"] = {"type": PATH_TYPES[kind], "value": value}
    if match.headers:
        body["headers"] = [{**({"type": HEADER_TYPES[h.kind]} if h.kind in HEADER_TYPES else {}),
                            "name": h.name, "value": h.value} for h in match.headers]
    return body


def mirror_filter(service_name: str, port: int, route: Route) -> dict:
    mirror: dict = {"backendRef": backend_ref(service_name, route.mirror.version, port)}
    percentage = route.mirror.percentage
    if percentage is not None:
        if percentage == int(percentage):
            mirror["percent"] = int(percentage)
        else:
            from fractions import Fraction  # only a non-integer mirror percentage needs it
            share = Fraction(str(percentage)) / 100
            mirror["fraction"] = {"numerator": share.numerator, "denominator": share.denominator}
    return {"type": "RequestMirror", "requestMirror": mirror}


def route_rule(service_name: str, port: int, route: Route) -> dict:
    rule: dict = {}
    if route.matches:
        rule["matches"] = [route_match(m) for m in route.matches]
    if route.mirror is not None:
        rule["filters"] = [mirror_filter(service_name, port, route)]
    rule["backendRefs"] = backend_refs(service_name, port, route.destinations)
    timeouts: dict = {}
    if route.timeout is not None:
        timeouts["request"] = gateway_api_duration(route.timeout)
    if route.retries is not None:
        retry: dict = {"attempts": route.retries.attempts}
        if route.retries.retry_on is not None:
            retry["codes"] = [int(code) for code in route.retries.retry_on.split(",")]
        rule["retry"] = retry
        if route.retries.per_try_timeout is not None:
            timeouts["backendRequest"] = gateway_api_duration(route.retries.per_try_timeout)
    if timeouts:
        rule["timeouts"] = timeouts
    return rule


def service_route(settings: Settings, configured: ServiceSettings) -> dict:
    """The service's HTTPRoute, applied by the client's sidecar or the waypoint."""
    svc = settings.app.application.service(configured.name)
    return _object("HTTPRoute", configured.name, service_namespace(svc, settings.app.namespace), {
        "parentRefs": [{"group": "", "kind": "Service", "name": configured.name, "port": svc.port}],
        "rules": [route_rule(configured.name, svc.port, route) for route in configured.routes],
    })


def merged_policy(service: TrafficPolicy | None, version: TrafficPolicy | None) -> TrafficPolicy | None:
    """The version's policy over the service's, part by part, as Istio merges a
    subset's trafficPolicy over its DestinationRule's."""
    if version is None or service is None:
        return version or service
    return TrafficPolicy(load_balancer=version.load_balancer or service.load_balancer,
                         connection_pool=version.connection_pool or service.connection_pool,
                         outlier_detection=version.outlier_detection or service.outlier_detection)


def destination_rules(settings: Settings, configured: ServiceSettings) -> list[dict]:
    """Traffic policies without subsets: on the service's host, and on each version's
    host with that version's own policy merged in. None where nothing is to be said."""
    ns = service_namespace(settings.app.application.service(configured.name), settings.app.namespace)
    mutual = settings.security.istio_mutual
    rules = []
    for host, policy in [(configured.name, configured.traffic_policy)] + [
            (version_service_name(configured.name, v),
             merged_policy(configured.traffic_policy, configured.subset_policies.get(v)))
            for v in configured.versions]:
        body = traffic_policy(policy, istio_mutual=mutual)
        if body:
            rules.append(istio_object(NETWORKING_API, "DestinationRule", host, ns,
                                      {"host": host, "trafficPolicy": body}))
    return rules


def ingress_gateway(settings: Settings) -> dict:
    """Istio's `bookinfo-gateway.yaml` Gateway; a single host becomes the listeners'
    `hostname` (several: the HTTPRoute's `hostnames` alone select them)."""
    hosts = _hostnames(settings)
    hostname = {"hostname": hosts[0]} if len(hosts) == 1 else {}
    same = {"allowedRoutes": {"namespaces": {"from": "Same"}}}
    listeners = [{"name": "http", "port": GATEWAY_HTTP_PORT, "protocol": "HTTP", **hostname, **same}]
    tls = settings.ingress.tls
    if tls is not None:
        listeners.append({"name": "https", "port": GATEWAY_HTTPS_PORT, "protocol": "HTTPS", **hostname,
                          "tls": {"mode": "Terminate", "certificateRefs": [{"name": tls.credential_name}]},
                          **same})
    spec: dict = {"gatewayClassName": INGRESS_CLASS, "listeners": listeners}
    service_type = settings.istio.ingress_service_type
    if service_type != ISTIO_DEFAULT_SERVICE_TYPE:
        spec["infrastructure"] = {"annotations": {SERVICE_TYPE_ANNOTATION: service_type}}
    return _object("Gateway", GATEWAY_NAME, settings.app.namespace, spec)


def _hostnames(settings: Settings) -> list[str]:
    """`*` (any host) is HTTPRoute's default: no hostnames at all."""
    hosts = list(settings.ingress.hosts)
    return [] if "*" in hosts else hosts


def ingress_routes(settings: Settings) -> list[dict]:
    """HTTPRoute `bookinfo` (rules and matches in the application's order); with an
    HTTPS redirect it serves the https listener only, and `bookinfo-https-redirect`
    answers the http listener with a 301 to HTTPS."""
    app = settings.app.application
    rules = []
    for ingress_route in app.ingress_routes:
        svc = app.service(ingress_route.service)
        rule: dict = {"matches": [{"path": {"type": PATH_TYPES[kind], "value": value}}
                                  for kind, value in ingress_route.uris]}
        if ingress_route.by_version:
            default = settings.service(svc.name).default_route
            rule["backendRefs"] = backend_refs(svc.name, svc.port, default.destinations)
        else:
            rule["backendRefs"] = [{"name": svc.name, "port": svc.port}]
        rules.append(rule)
    hostnames = {"hostnames": _hostnames(settings)} if _hostnames(settings) else {}
    redirect = settings.ingress.tls is not None and settings.ingress.tls.https_redirect
    parent: dict = {"name": GATEWAY_NAME, **({"sectionName": "https"} if redirect else {})}
    routes = [_object("HTTPRoute", INGRESS_VIRTUAL_SERVICE, settings.app.namespace,
                      {"parentRefs": [parent], **hostnames, "rules": rules})]
    if redirect:
        routes.append(_object("HTTPRoute", HTTPS_REDIRECT_ROUTE, settings.app.namespace, {
            "parentRefs": [{"name": GATEWAY_NAME, "sectionName": "http"}], **hostnames,
            "rules": [{"filters": [{"type": "RequestRedirect",
                                    "requestRedirect": {"scheme": "https", "statusCode": 301}}]}]}))
    return routes


def gateway_api_routing_objects(settings: Settings) -> list[dict]:
    """The ingress Gateway and its routes, then per routed service its per-version
    Services, DestinationRules (if any policy) and HTTPRoute."""
    objects = [ingress_gateway(settings), *ingress_routes(settings)]
    for configured in settings.routed_services:
        objects.extend(version_service(settings, configured.name, v) for v in configured.versions)
        objects.extend(destination_rules(settings, configured))
        objects.append(service_route(settings, configured))
    return objects


def route_waits(settings: Settings) -> dict[ObjectKey, tuple[ObjectKey, ...]]:
    """Per HTTPRoute, the per-version Services it sends or mirrors to and their
    Deployments: a route never reaches the proxies before its backends exist."""
    waits: dict[ObjectKey, tuple[ObjectKey, ...]] = {}
    app = settings.app.application
    by_version = {r.service for r in app.ingress_routes if r.by_version}
    for configured in settings.routed_services:
        ns = service_namespace(app.service(configured.name), settings.app.namespace)
        versions = dict.fromkeys(v for route in configured.routes for v in (
            *(d.version for d in route.destinations), *((route.mirror.version,) if route.mirror else ())))
        needed = tuple(key for v in versions for key in (
            ("Service", ns, version_service_name(configured.name, v)),
            ("Deployment", ns, deployment_name(configured.name, v))))
        waits[("HTTPRoute", ns, configured.name)] = needed
        if configured.name in by_version:
            ingress = ("HTTPRoute", settings.app.namespace, INGRESS_VIRTUAL_SERVICE)
            waits[ingress] = (*waits.get(ingress, ()), *needed)
    return waits
