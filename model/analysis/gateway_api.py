"""Rules about Kubernetes Gateway API objects (group gateway.networking.k8s.io): the
routes' parent Gateways and Services, a Gateway's listeners, Istio policies that select
a Gateway API gateway's pods, and Gateway API CRDs too old for istiod.

Objects are read as written, not as the API server stores them, so the defaults it
fills in are applied where a rule depends on them: a parentRef is of group
gateway.networking.k8s.io and kind Gateway, a backendRef of the core group and kind
Service, a listener admits routes of its own namespace only (`from: Same`)."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from model.analysis.findings import ERROR, WARNING
from model.analysis.index import GATEWAY_API_GROUP, Index, as_list, gateway_api, labels_text, selects, spec_of
from model.analysis.registry import rule

GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
GATEWAY_CLASS_LABEL = "gateway.networking.k8s.io/gateway-class-name"
BUNDLE_VERSION = "gateway.networking.k8s.io/bundle-version"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""The label the API server puts on every Namespace: allowedRoutes selectors name it."""
ISTIO_DEPLOYED_CLASSES = ("istio", "istio-waypoint")
"""GatewayClasses whose Gateways istiod deploys itself, labelling the pods with the
Gateway's name (istio@1.30.3 manifests/charts/istio-control/istio-discovery/files/kube-gateway.yaml)."""
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute")
"""The routes Kiali checks (business/checkers/k8shttproutes, k8sgrpcroutes)."""
SELECTOR_POLICIES = ("AuthorizationPolicy", "RequestAuthentication", "Telemetry", "WasmPlugin")
CORE_GROUPS = ("", "core")

MINIMUM_CRD_VERSIONS: Mapping[str, tuple[int, int, int]] = {
    # istio@1.30.3 pkg/config/schema/gatewayapi/minimumversions.go `MinimumCRDVersions`: istiod
    # does not watch a Gateway API CRD whose bundle-version is below these (read by
    # pkg/config/analysis/analyzers/k8sgateway/crdversion.go, IST0176).
    "grpcroutes.gateway.networking.k8s.io": (1, 1, 0),
    "backendtlspolicies.gateway.networking.k8s.io": (1, 4, 0),
    "tlsroutes.gateway.networking.k8s.io": (1, 5, 0),
}
SEMVER = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?\Z")
"""What Masterminds semver's `NewVersion` (the parser crdversion.go uses) accepts: a `v`,
minor and patch optional."""


def _name(obj: Mapping) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _refs(value) -> list[tuple[int, Mapping]]:
    return [(position, ref) for position, ref in enumerate(as_list(value)) if isinstance(ref, Mapping)]


def _matches(selector: Mapping, labels: Mapping) -> bool:
    """A Kubernetes LabelSelector (`matchLabels`, `matchExpressions`) against labels."""
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping) or not selects(match_labels, labels):
        return False
    for expression in as_list(selector.get("matchExpressions")):
        if not isinstance(expression, Mapping):
            return False
        key, operator = str(expression.get("key")), expression.get("operator")
        values = [str(v) for v in as_list(expression.get("values"))]
        held = {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
                "Exists": key in labels, "DoesNotExist": key not in labels}.get(operator, False)
        if not held:
            return False
    return True


# ----------------------------------------------------------------------------- Istio analyzers

UNSUFFIXED_CLASSES = ("istio-waypoint",)
"""istiod names a Gateway's Deployment and ServiceAccount `<gateway>-<class>`, except
for these classes (istio@1.30.3 pilot/pkg/config/kube/gateway/deploymentcontroller.go,
`disableNameSuffix`): the waypoint's account is `waypoint`, the ingress's
`bookinfo-gateway-istio`."""


def deployed_gateway_accounts(index: Index) -> dict[str, set[str]]:
    """Namespace → the ServiceAccounts istiod creates for the Gateways of its classes
    among the objects: policies may name them before they exist."""
    accounts: dict[str, set[str]] = {}
    for gateway in index.of(gateway_api("Gateway")):
        gateway_class = str(spec_of(gateway).get("gatewayClassName"))
        if gateway_class in ISTIO_DEPLOYED_CLASSES:
            suffix = "" if gateway_class in UNSUFFIXED_CLASSES else f"-{gateway_class}"
            accounts.setdefault(index.ns(gateway), set()).add(f"{_name(gateway)}{suffix}")
    return accounts


def _gateway_pods(index: Index) -> dict[str, list[tuple[str, Mapping]]]:
    """Namespace → (Gateway name, pod labels) of every Gateway API gateway's pods: the
    Pods and pod templates labelled with a gateway name, and the pods istiod will deploy
    for the Gateways of its classes (the Gateway's name and class, and the labels of its
    `spec.infrastructure`)."""
    pods: dict[str, list[tuple[str, Mapping]]] = {}
    for workload in index.workloads:
        if GATEWAY_NAME_LABEL in workload.labels:
            pods.setdefault(workload.namespace, []).append((str(workload.labels[GATEWAY_NAME_LABEL]), workload.labels))
    for gateway in index.of(gateway_api("Gateway")):
        spec = spec_of(gateway)
        if spec.get("gatewayClassName") not in ISTIO_DEPLOYED_CLASSES:
            continue
        extra = (spec.get("infrastructure") or {}).get("labels") if isinstance(spec.get("infrastructure"), Mapping) else {}
        labels = {**(extra if isinstance(extra, Mapping) else {}), GATEWAY_NAME_LABEL: _name(gateway),
                  GATEWAY_CLASS_LABEL: str(spec["gatewayClassName"])}
        pods.setdefault(index.ns(gateway), []).append((_name(gateway), labels))
    return pods


@rule("BM180", WARNING, "policy selector picks a Gateway API gateway's pods (ineffective there: use targetRefs)",
      istio="IST0166", analyzer="k8sgateway.SelectorAnalyzer")
def selector_on_gateway_api_pods(index: Index) -> Iterable:
    # istio@1.30.3 pkg/config/analysis/analyzers/k8sgateway/workloadselector.go: a policy with a
    # `selector` and no `targetRef` whose matchLabels are all on a pod labelled
    # gateway.networking.k8s.io/gateway-name in its namespace. `targetRefs` also counts as
    # targeting here: the CRDs refuse it together with a selector (BM135's finding).
    pods = None
    for kind in SELECTOR_POLICIES:
        for policy in index.of(kind):
            spec = spec_of(policy)
            selector = spec.get("selector")
            if spec.get("targetRef") or spec.get("targetRefs") or not isinstance(selector, Mapping):
                continue
            match_labels = selector.get("matchLabels") or {}
            if not isinstance(match_labels, Mapping):
                continue
            pods = _gateway_pods(index) if pods is None else pods
            gateways = sorted({name for name, labels in pods.get(index.ns(policy), ()) if selects(match_labels, labels)})
            for name in gateways:
                yield policy, (f"spec.selector.matchLabels {labels_text(match_labels)} picks the pods of Kubernetes "
                               f"Gateway {name}, where a selector has no effect: use targetRefs "
                               f"(group {GATEWAY_API_GROUP}, kind Gateway, name {name})")


def _version(text: str) -> tuple[int, int, int] | None:
    """The version without its pre-release, as crdversion.go compares it (None when Masterminds
    semver would not parse it: Istio then reports nothing)."""
    found = SEMVER.match(text.strip())
    return tuple(int(part or 0) for part in found.groups()[:3]) if found else None


@rule("BM181", WARNING, "Gateway API CRD whose bundle-version is below the minimum Istio 1.30.3 watches",
      istio="IST0176", analyzer="k8sgateway.CRDVersionAnalyzer")
def gateway_api_crd_too_old(index: Index) -> Iterable:
    # Worded as istio.io's IST0176 page shows the message (reference/config/analysis/ist0176).
    for crd in index.of("CustomResourceDefinition"):
        minimum = MINIMUM_CRD_VERSIONS.get(_name(crd))
        annotations = (crd.get("metadata") or {}).get("annotations") or {}
        if minimum is None or not isinstance(annotations, Mapping) or BUNDLE_VERSION not in annotations:
            continue  # no annotation: istiod's CRD watcher logs it, the analyzer stays silent
        written = str(annotations[BUNDLE_VERSION])
        installed = _version(written)
        if installed is not None and installed < minimum:
            yield crd, (f"metadata.annotations {BUNDLE_VERSION} {written}: Gateway API CRD {_name(crd)} is at "
                        f"version {'.'.join(map(str, installed))} but Istio 1.30.3 requires at least "
                        f"{'.'.join(map(str, minimum))}; resources of this kind will not be processed. Upgrade "
                        "the Gateway API CRDs")


# ----------------------------------------------------------------------------- Kiali checks

def _routes(index: Index) -> Iterable[tuple[str, Mapping]]:
    for kind in ROUTE_KINDS:
        for route in index.of(gateway_api(kind)):
            yield kind, route


def _namespace_labels(index: Index, namespace: str) -> Mapping | None:
    """A namespace's labels with the one the API server adds; None when it is not among
    the objects (nothing to match a selector against)."""
    for candidate in index.of("Namespace"):
        if _name(candidate) == namespace:
            labels = (candidate.get("metadata") or {}).get("labels") or {}
            return {**(labels if isinstance(labels, Mapping) else {}), NAMESPACE_NAME_LABEL: namespace}
    return None


def _admits(index: Index, gateway: Mapping, namespace: str) -> bool:
    """Whether a listener of a Gateway in another namespace admits routes of `namespace`
    (Kiali's IsGatewaySharedWithNS: `from: All`, or `Selector` matching its labels)."""
    labels = _namespace_labels(index, namespace)
    for _, listener in _refs(spec_of(gateway).get("listeners")):
        namespaces = (listener.get("allowedRoutes") or {}).get("namespaces") \
            if isinstance(listener.get("allowedRoutes"), Mapping) else None
        namespaces = namespaces if isinstance(namespaces, Mapping) else {}
        chosen, selector = namespaces.get("from", "Same"), namespaces.get("selector")
        if chosen == "All" or (chosen == "Selector" and isinstance(selector, Mapping) and labels is not None
                               and _matches(selector, labels)):
            return True
    return False


@rule("BM182", ERROR, "route parentRef names a Gateway that is not defined or does not admit the route's namespace",
      kiali="KIA1401")
def route_parent_gateway_missing(index: Index) -> Iterable:
    gateways = {(index.ns(g), _name(g)): g for g in index.of(gateway_api("Gateway"))}
    for _, route in _routes(index):
        namespace = index.ns(route)
        for position, ref in _refs(spec_of(route).get("parentRefs")):
            if ref.get("group", GATEWAY_API_GROUP) != GATEWAY_API_GROUP or ref.get("kind", "Gateway") != "Gateway" \
                    or not ref.get("name"):
                continue
            where = f"spec.parentRefs[{position}]"
            target = (str(ref.get("namespace") or namespace), str(ref["name"]))
            gateway = gateways.get(target)
            if gateway is None:
                yield route, f"{where} names Gateway {'/'.join(target)}, which is not defined"
            elif target[0] != namespace and not _admits(index, gateway, namespace):
                yield route, (f"{where} names Gateway {'/'.join(target)}, whose listeners do not admit routes from "
                              f"namespace {namespace} (allowedRoutes.namespaces is Same, or a selector its labels "
                              "do not match)")


def _service_refs(kind: str, spec: Mapping) -> Iterable[tuple[str, Mapping, bool]]:
    """(field path, reference, whether it is a parentRef) of every reference to a Service."""
    for position, ref in _refs(spec.get("parentRefs")):
        if ref.get("kind", "Gateway") == "Service" and ref.get("group", GATEWAY_API_GROUP) in CORE_GROUPS:
            yield f"spec.parentRefs[{position}]", ref, True
    for number, route_rule in _refs(spec.get("rules")):
        for position, ref in _refs(route_rule.get("backendRefs")):
            if ref.get("kind", "Service") == "Service" and ref.get("group", "") in CORE_GROUPS:
                yield f"spec.rules[{number}].backendRefs[{position}]", ref, False


def _granted(index: Index, route_kind: str, source: str, target: str, name: str) -> bool:
    """Whether a ReferenceGrant in `target` lets `route_kind`s of `source` name Service `name`."""
    for grant in index.of(gateway_api("ReferenceGrant")):
        spec = spec_of(grant)
        if index.ns(grant) != target:
            continue
        allowed_from = any(f.get("group") == GATEWAY_API_GROUP and f.get("kind") == route_kind
                           and f.get("namespace") == source for _, f in _refs(spec.get("from")))
        allowed_to = any(t.get("group", "") in CORE_GROUPS and t.get("kind") == "Service"
                         and t.get("name", name) == name for _, t in _refs(spec.get("to")))
        if allowed_from and allowed_to:
            return True
    return False


@rule("BM183", ERROR, "route parentRef or backendRef names a Service that is not defined (or not granted)",
      kiali="KIA1402")
def route_service_missing(index: Index) -> Iterable:
    # kiali@d733a096 business/checkers/k8shttproutes/no_host_checker.go. A cross-namespace
    # parentRef Service (a GAMMA consumer route) needs no ReferenceGrant in Gateway API, so
    # only backendRefs are held to one.
    services = {(index.ns(s), _name(s)) for s in index.of("Service", with_assumed=True)}
    for kind, route in _routes(index):
        namespace = index.ns(route)
        for where, ref, parent in _service_refs(kind, spec_of(route)):
            name = str(ref.get("name") or "")
            if not name:
                continue
            target = str(ref.get("namespace") or namespace)
            if "." in name:
                yield route, f"{where}.name {name}: a Service name, not a host (no dots; the namespace goes in namespace)"
            elif (target, name) not in services:
                yield route, f"{where} names Service {target}/{name}, which is not defined"
            elif target != namespace and not parent and not _granted(index, kind, namespace, target, name):
                yield route, (f"{where} names Service {target}/{name} in another namespace, and no ReferenceGrant "
                              f"in {target} allows {kind}s from {namespace} to name it")


@rule("BM184", ERROR, "Gateway API Gateway with listeners sharing port, protocol and hostname", kiali="KIA1503")
def listeners_not_unique(index: Index) -> Iterable:
    # Kiali's k8sgateways/multi_match_checker.go compares listeners whose hostnames are both
    # set; the Gateway CRD's own rule (unique port, protocol and hostname) also counts two
    # listeners without a hostname as the same, and so does this one.
    for gateway in index.of(gateway_api("Gateway")):
        combinations: dict[tuple[str, str, str], list[str]] = {}
        for position, listener in _refs(spec_of(gateway).get("listeners")):
            key = (str(listener.get("port")), str(listener.get("protocol")), str(listener.get("hostname") or ""))
            combinations.setdefault(key, []).append(f"listeners[{position}] ({listener.get('name')})")
        for (port, protocol, hostname), listeners in combinations.items():
            if len(listeners) > 1:
                yield gateway, (f"spec.{' and '.join(listeners)} share port {port}, protocol {protocol} and hostname "
                                f"{hostname or '(none)'}: each listener needs its own combination")
