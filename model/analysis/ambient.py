"""Rules about L7 configuration in ambient namespaces, where only a waypoint proxy
applies it: ztunnel enforces L4 alone, a waypoint takes policies attached by
`targetRefs` (it ignores `selector`), and traffic reaches a waypoint only when the
Service or its namespace is enrolled with `istio.io/use-waypoint`.

Kiali's AmbientPolicyChecker (kiali business/checkers/ambient_policy_checker.go and
ambient/l7_classification.go, first in Kiali v2.30): which policies are L7, and what
counts as enrolled, are read as it reads them."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from model.analysis.findings import WARNING
from model.analysis.index import Index, Workload, as_list, spec_of
from model.analysis.membership import namespace_is_ambient
from model.analysis.registry import rule
from model.names import service_fqdn

USE_WAYPOINT = "istio.io/use-waypoint"
WAYPOINT_FOR = "istio.io/waypoint-for"
MANAGED = "gateway.istio.io/managed"
MESH_CONTROLLER = "istio.io-mesh-controller"
L7_CONDITIONS = ("request.headers", "request.auth.claims", "request.auth.principal", "request.auth.audiences",
                 "request.auth.presenter")
"""`when` keys a waypoint evaluates (Kiali's IsL7Condition; destination.port is ztunnel's)."""


def _labels(obj: Mapping) -> Mapping:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels if isinstance(labels, Mapping) else {}


def _name(obj: Mapping) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _enrolled(own: Mapping | None, namespace: Mapping) -> bool:
    """Kiali's IsEnrolledForWaypoint: the object's `istio.io/use-waypoint` first (`none`
    opts out), else its namespace's."""
    for labels in (own, namespace):
        if labels is not None and USE_WAYPOINT in labels:
            return labels[USE_WAYPOINT] not in ("", "none")
    return False


def _namespace_labels(index: Index, namespace: str) -> Mapping:
    return next((_labels(n) for n in index.of("Namespace") if _name(n) == namespace), {})


def _targets(spec: Mapping) -> list[Mapping]:
    return [r for r in [spec.get("targetRef"), *as_list(spec.get("targetRefs"))] if isinstance(r, Mapping)]


def _l7_policy(spec: Mapping) -> str:
    """What makes an AuthorizationPolicy L7 (Kiali's IsL7AuthorizationPolicy), '' if nothing."""
    for number, policy_rule in enumerate(as_list(spec.get("rules"))):
        if not isinstance(policy_rule, Mapping):
            continue
        for condition in as_list(policy_rule.get("when")):
            key = str((condition or {}).get("key", "")) if isinstance(condition, Mapping) else ""
            if key.startswith(L7_CONDITIONS):
                return f"spec.rules[{number}].when key {key}"
        for block in as_list(policy_rule.get("to")):
            operation = block.get("operation") if isinstance(block, Mapping) else None
            for field in ("methods", "paths", "hosts"):
                if isinstance(operation, Mapping) and as_list(operation.get(field)):
                    return f"spec.rules[{number}].to.operation.{field}"
        for block in as_list(policy_rule.get("from")):
            source = block.get("source") if isinstance(block, Mapping) else None
            if isinstance(source, Mapping) and as_list(source.get("requestPrincipals")):
                return f"spec.rules[{number}].from.source.requestPrincipals"
    return ""


def _l7_authorization_policies(index: Index) -> Iterable[tuple[Mapping, str]]:
    for policy in index.of("AuthorizationPolicy"):
        if namespace_is_ambient(index, index.ns(policy)):
            reason = _l7_policy(spec_of(policy))
            if reason:
                yield policy, reason


@rule("BM185", WARNING, "L7 AuthorizationPolicy in an ambient namespace without targetRefs (a waypoint ignores "
      "selectors)", kiali="KIA0110")
def l7_policy_without_target_refs(index: Index) -> Iterable:
    for policy, reason in _l7_authorization_policies(index):
        if not _targets(spec_of(policy)):
            yield policy, (f"{reason} needs a waypoint, and a waypoint applies only policies with spec.targetRefs "
                           f"(a Service or its waypoint Gateway); namespace {index.ns(policy)} runs in ambient mode, "
                           "where ztunnel enforces L4 only")


def _is_waypoint(workload: Workload) -> bool:
    return WAYPOINT_FOR in workload.labels or workload.labels.get(MANAGED) == MESH_CONTROLLER


def _not_enrolled(index: Index, policy: Mapping) -> list[str]:
    """What the policy applies to that no waypoint serves, as Kiali's selectorNeedsWarning
    judges it; a policy targeting Services is judged by those Services (Kiali judges its
    namespace), one targeting a Gateway is attached to that gateway itself."""
    spec, namespace = spec_of(policy), index.ns(policy)
    namespace_labels = _namespace_labels(index, namespace)
    targets = _targets(spec)
    if targets:
        services = {(index.ns(s), _name(s)): s for s in index.of("Service")}
        named = [str(t.get("name")) for t in targets if t.get("kind") == "Service"]
        return [f"Service {name}" for name in named
                if not _enrolled(_labels(services.get((namespace, name), {})), namespace_labels)]
    match_labels = (spec.get("selector") or {}).get("matchLabels") if isinstance(spec.get("selector"), Mapping) else None
    if isinstance(match_labels, Mapping) and match_labels:
        selected = [w for w in index.selected(dict(match_labels), namespace) if not _is_waypoint(w)]
        if selected:
            return [f"{w.kind} {w.name}" for w in selected if not _enrolled(w.labels, namespace_labels)]
    return [] if _enrolled(None, namespace_labels) else [f"namespace {namespace}"]


@rule("BM186", WARNING, "L7 AuthorizationPolicy in an ambient namespace for workloads no waypoint serves "
      "(no istio.io/use-waypoint)", kiali="KIA0109")
def l7_policy_without_waypoint(index: Index) -> Iterable:
    for policy, reason in _l7_authorization_policies(index):
        missing = _not_enrolled(index, policy)
        if missing:
            yield policy, (f"{reason} needs a waypoint, but {', '.join(missing)} is not enrolled to use one "
                           f"(label {USE_WAYPOINT}=<waypoint> on the Service or namespace): the L7 rule is never "
                           "enforced")


def _l7_traffic_policy(policy: Mapping, where: str) -> str:
    """Kiali's trafficPolicyHasL7: HTTP consistent hashing, HTTP connection pool, outlier detection."""
    hashing = ((policy.get("loadBalancer") or {}).get("consistentHash") or {}) \
        if isinstance(policy.get("loadBalancer"), Mapping) else {}
    if isinstance(hashing, Mapping) and (hashing.get("httpHeaderName") or hashing.get("httpCookie")):
        return f"{where}.loadBalancer.consistentHash"
    pool = policy.get("connectionPool")
    if isinstance(pool, Mapping) and pool.get("http") is not None:
        return f"{where}.connectionPool.http"
    if policy.get("outlierDetection") is not None:
        return f"{where}.outlierDetection"
    return ""


def _l7_rule(spec: Mapping) -> str:
    places = [(spec.get("trafficPolicy"), "spec.trafficPolicy")]
    places += [(s.get("trafficPolicy"), f"spec.subsets[{n}].trafficPolicy")
               for n, s in enumerate(as_list(spec.get("subsets"))) if isinstance(s, Mapping)]
    return next((found for policy, where in places if isinstance(policy, Mapping)
                 for found in [_l7_traffic_policy(policy, where)] if found), "")


@rule("BM187", WARNING, "L7 DestinationRule for an ambient Service no waypoint serves, or outside its namespace",
      kiali="KIA0210/KIA0211/KIA0212")
def l7_destination_rule_without_waypoint(index: Index) -> Iterable:
    # KIA0211: the Service is not enrolled; KIA0212: the rule is outside the Service's
    # namespace; KIA0210: no ambient Service among the objects, and the rule's own
    # namespace is ambient and not enrolled (Kiali's checkHostBasedConfig).
    services = {service_fqdn(_name(s), index.ns(s)): s for s in index.of("Service")}
    for rule_obj in index.of("DestinationRule"):
        spec, namespace = spec_of(rule_obj), index.ns(rule_obj)
        reason = _l7_rule(spec)
        host = str(spec.get("host") or "")
        if not reason or not host or host == "*":
            continue
        service = services.get(host if "." in host else service_fqdn(host, namespace))
        if service is not None and namespace_is_ambient(index, index.ns(service)):
            where = f"{index.ns(service)}/{_name(service)}"
            if index.ns(service) != namespace:
                yield rule_obj, (f"{reason} is for Service {where} in ambient mode, whose waypoint only reads "
                                 f"DestinationRules of namespace {index.ns(service)}: this one, in {namespace}, "
                                 "is never applied"), None, "KIA0212"
            if not _enrolled(_labels(service), _namespace_labels(index, index.ns(service))):
                yield rule_obj, (f"{reason} needs a waypoint, but Service {where} is not enrolled to use one "
                                 f"(label {USE_WAYPOINT}=<waypoint> on it or its namespace)"), None, "KIA0211"
        elif namespace_is_ambient(index, namespace) and not _enrolled(None, _namespace_labels(index, namespace)):
            # No ambient Service among the objects: Kiali falls back on the rule's own namespace.
            yield rule_obj, (f"{reason} needs a waypoint, but namespace {namespace} runs in ambient mode without "
                             f"{USE_WAYPOINT}: host {host} is reached through ztunnel only"), None, "KIA0210"

