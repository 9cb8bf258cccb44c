"""The shape of the Kubernetes and Istio objects the analyzers read, checked before
they read them: a manifest or an exported state with `metadata: hello`, a weight
`'50'` or subsets as a string is refused with one line naming the field path,
instead of failing deep inside a rule.

Only the fields the analyzers and the traffic table read are described; any other
field passes (full schema validation is `meshplan check --crds`). Types follow the
Kubernetes and Istio APIs: names and labels are strings, ports and weights whole
numbers (JSON states may hold them as `80.0`)."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from model.analysis.index import gateway_api, index_key
from model.bodies import is_list
from model.errors import ConfigError
from model.settings.types import SECRET_NOT_SET_SHOWN, SECRET_SHOWN

MASKED = (SECRET_SHOWN, SECRET_NOT_SET_SHOWN)
"""A secret value as the state readers show it (set, or not set in an offline
render): it stands for any shape."""

# A shape is a callable that yields (relative path, value, what was expected) for
# every mismatch; the helpers below build them.
Shape = Callable[[Any, str], Iterator[tuple[str, Any, str]]]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def scalar(kind: type | tuple[type, ...], what: str) -> Shape:
    def check(value: Any, path: str):
        if value in MASKED:
            return
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            yield path, value, what
        elif not isinstance(value, kind):
            yield path, value, what
    return check


def _whole(value: Any, path: str):
    if value in MASKED:
        return
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
        yield path, value, "a whole number"


STR = scalar(str, "a string")
BOOL = scalar(bool, "true or false")
NUMBER = scalar((int, float), "a number")
INT: Shape = _whole
INT_OR_STR: Shape = scalar((int, float, str), "a number or a string")


def obj(**fields: Shape) -> Shape:
    """A mapping; the named fields, where present, have their shapes."""
    def check(value: Any, path: str):
        if value in MASKED:
            return
        if not isinstance(value, Mapping):
            yield path, value, "a mapping"
            return
        for key, shape in fields.items():
            key = key.rstrip("_")  # `from_`: a Python keyword as a field name
            if key in value and value[key] is not None:
                yield from shape(value[key], _join(path, key))
    return check


def list_of(item: Shape) -> Shape:
    def check(value: Any, path: str):
        if value in MASKED:
            return
        if not is_list(value):
            yield path, value, "a list"
            return
        for index, entry in enumerate(value):
            yield from item(entry, f"{path}[{index}]")
    return check


def map_of(item: Shape) -> Shape:
    def check(value: Any, path: str):
        if value in MASKED:
            return
        if not isinstance(value, Mapping):
            yield path, value, "a mapping"
            return
        for key, entry in value.items():
            if not isinstance(key, str):
                yield _join(path, str(key)), key, "string keys"
            else:
                yield from item(entry, _join(path, key))
    return check


LABELS = map_of(STR)
STRINGS = list_of(STR)
METADATA = obj(name=STR, namespace=STR, labels=LABELS, annotations=LABELS)
STRING_MATCH = obj(exact=STR, prefix=STR, regex=STR)
DESTINATION = obj(host=STR, subset=STR, port=obj(number=INT))
HTTP_MATCH = obj(uri=STRING_MATCH, scheme=STRING_MATCH, method=STRING_MATCH, authority=STRING_MATCH,
                 headers=map_of(STRING_MATCH), queryParams=map_of(STRING_MATCH),
                 withoutHeaders=map_of(STRING_MATCH), port=INT, sourceLabels=LABELS, gateways=STRINGS,
                 sourceNamespace=STR, name=STR, ignoreUriCase=BOOL)
ROUTE_DESTINATION = obj(destination=DESTINATION, weight=INT)
L4_MATCH = obj(port=INT, gateways=STRINGS, sourceLabels=LABELS, sniHosts=STRINGS, destinationSubnets=STRINGS)
HTTP_ROUTE = obj(name=STR, match=list_of(HTTP_MATCH), route=list_of(ROUTE_DESTINATION), mirror=DESTINATION,
                 mirrors=list_of(obj(destination=DESTINATION)), mirrorPercentage=obj(value=NUMBER),
                 delegate=obj(name=STR, namespace=STR), timeout=STR,
                 retries=obj(attempts=INT, perTryTimeout=STR, retryOn=STR))
L4_ROUTE = obj(match=list_of(L4_MATCH), route=list_of(ROUTE_DESTINATION))
PORT_SELECTOR = obj(number=INT)
WORKLOAD_SELECTOR = obj(labels=LABELS)
MATCH_LABELS = obj(matchLabels=LABELS)
CONTAINER = obj(name=STR, image=STR, ports=list_of(obj(containerPort=INT, name=STR, protocol=STR)))
POD_SPEC = obj(containers=list_of(CONTAINER), initContainers=list_of(CONTAINER), serviceAccountName=STR)
POD_TEMPLATE = obj(metadata=METADATA, spec=POD_SPEC)
WORKLOAD_SPEC = obj(replicas=INT, selector=MATCH_LABELS, template=POD_TEMPLATE)
# Gateway API (gateway.networking.k8s.io/v1): what the traffic table reads of an HTTPRoute.
BACKEND_REF = obj(name=STR, namespace=STR, group=STR, kind=STR, port=INT, weight=INT)
NAMED_MATCH = list_of(obj(name=STR, value=STR, type=STR))
ROUTE_MATCH = obj(path=obj(type=STR, value=STR), headers=NAMED_MATCH, queryParams=NAMED_MATCH, method=STR)
ROUTE_FILTER = obj(type=STR, requestMirror=obj(backendRef=BACKEND_REF, percent=INT,
                                               fraction=obj(numerator=INT, denominator=INT)))
ROUTE_RULE = obj(name=STR, matches=list_of(ROUTE_MATCH), backendRefs=list_of(BACKEND_REF),
                 filters=list_of(ROUTE_FILTER), timeouts=obj(request=STR, backendRequest=STR),
                 retry=obj(attempts=INT, codes=list_of(INT), backoff=STR))
LABEL_SELECTOR = obj(matchLabels=LABELS, matchExpressions=list_of(obj(key=STR, operator=STR, values=STRINGS)))
REFERENCE = obj(group=STR, kind=STR, namespace=STR, name=STR, sectionName=STR, port=INT, weight=INT)
GATEWAY_API_ROUTE = obj(parentRefs=list_of(REFERENCE), hostnames=STRINGS, rules=list_of(ROUTE_RULE))

SPECS: Mapping[str, Shape] = {
    "VirtualService": obj(hosts=STRINGS, gateways=STRINGS, exportTo=STRINGS, http=list_of(HTTP_ROUTE),
                          tcp=list_of(L4_ROUTE), tls=list_of(L4_ROUTE)),
    "DestinationRule": obj(host=STR, exportTo=STRINGS, workloadSelector=MATCH_LABELS,
                           trafficPolicy=obj(), subsets=list_of(obj(name=STR, labels=LABELS, trafficPolicy=obj()))),
    "Gateway": obj(selector=LABELS, servers=list_of(obj(
        port=obj(number=INT, name=STR, protocol=STR, targetPort=INT), hosts=STRINGS, bind=STR, name=STR,
        tls=obj(mode=STR, credentialName=STR)))),
    "ServiceEntry": obj(hosts=STRINGS, addresses=STRINGS, exportTo=STRINGS, location=STR, resolution=STR,
                        ports=list_of(obj(number=INT, protocol=STR, name=STR, targetPort=INT)),
                        endpoints=list_of(obj(address=STR, ports=map_of(INT), labels=LABELS)),
                        workloadSelector=WORKLOAD_SELECTOR),
    "Sidecar": obj(workloadSelector=WORKLOAD_SELECTOR, egress=list_of(obj(hosts=STRINGS, port=PORT_SELECTOR)),
                   ingress=list_of(obj(port=PORT_SELECTOR))),
    "AuthorizationPolicy": obj(selector=MATCH_LABELS, action=STR, rules=list_of(obj(
        from_=list_of(obj(source=obj(principals=STRINGS, namespaces=STRINGS, notPrincipals=STRINGS))),
        to=list_of(obj(operation=obj(methods=STRINGS, paths=STRINGS, ports=STRINGS, hosts=STRINGS))),
        when=list_of(obj(key=STR, values=STRINGS))))),
    "PeerAuthentication": obj(selector=MATCH_LABELS, mtls=obj(mode=STR), portLevelMtls=map_of(obj(mode=STR))),
    "RequestAuthentication": obj(selector=MATCH_LABELS),
    "Telemetry": obj(selector=MATCH_LABELS),
    "WasmPlugin": obj(selector=MATCH_LABELS),
    "EnvoyFilter": obj(workloadSelector=WORKLOAD_SELECTOR, configPatches=list_of(obj())),
    "Service": obj(selector=LABELS, type=STR, clusterIP=STR, externalName=STR, ports=list_of(obj(
        port=INT, name=STR, targetPort=INT_OR_STR, protocol=STR, appProtocol=STR, nodePort=INT))),
    "Pod": POD_SPEC,
    **{kind: WORKLOAD_SPEC for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")},
    "CronJob": obj(jobTemplate=obj(spec=WORKLOAD_SPEC)),
    # Gateway API kinds by their index key: their Gateway is not Istio's.
    gateway_api("Gateway"): obj(gatewayClassName=STR, infrastructure=obj(labels=LABELS), listeners=list_of(obj(
        name=STR, hostname=STR, port=INT, protocol=STR, allowedRoutes=obj(namespaces=obj(
            from_=STR, selector=LABEL_SELECTOR))))),
    gateway_api("HTTPRoute"): GATEWAY_API_ROUTE,
    gateway_api("GRPCRoute"): GATEWAY_API_ROUTE,
    gateway_api("ReferenceGrant"): obj(from_=list_of(obj(group=STR, kind=STR, namespace=STR)),
                                       to=list_of(obj(group=STR, kind=STR, name=STR))),
}


def shape_errors(document: Any) -> Iterator[tuple[str, Any, str]]:
    """(field path, value, what is expected) for every field of a Kubernetes object
    the analyzers would misread, in document order."""
    if not isinstance(document, Mapping):
        yield "", document, "a Kubernetes object (a mapping)"
        return
    for key in ("apiVersion", "kind"):
        if key in document and not isinstance(document[key], str):
            yield key, document[key], "a string"
            return
    if "metadata" in document and document["metadata"] is not None:
        yield from METADATA(document["metadata"], "metadata")
    spec = document.get("spec")
    shape = SPECS.get(index_key(document)) if "kind" in document else None
    if spec is not None:
        yield from (shape or obj())(spec, "spec")
    if document.get("kind") == "Secret":
        yield from obj(type=STR, data=map_of(STR), stringData=map_of(STR))(document, "")


def first_shape_error(document: Any) -> tuple[str, Any, str] | None:
    return next(iter(shape_errors(document)), None)


def checked_object(document: Any, *, file: str, where: str) -> dict:
    """`document` if the fields the analyzers read have their API's shapes; else one
    line naming the file, `where` (document, resource) and the field path."""
    error = first_shape_error(document)
    if error is not None:
        field, value, expected = error
        raise ConfigError(file=file, path=f"{where}: {field}" if field else where, value=value,
                          message=f"expected {expected}")
    return document
