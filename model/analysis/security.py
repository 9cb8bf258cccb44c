"""Rules about security policies: the workloads AuthorizationPolicies select and the
namespaces and service accounts they name; JWT claim routes that need a
RequestAuthentication on their gateway; istiod's guard on JWKS URIs."""
from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping

from model.analysis.findings import ERROR, WARNING
from model.analysis.gateway_api import deployed_gateway_accounts
from model.analysis.index import ISTIO_NAMESPACE, Index, Workload, as_list, labels_text, selects, spec_of, vs_gateways
from model.analysis.registry import rule

POLICIES = "auth.AuthorizationPoliciesAnalyzer"
PRINCIPAL = re.compile(r"^(?P<td>[^/]+)/ns/(?P<ns>[^/]+)/sa/(?P<sa>[^/]+)\Z")
PRINCIPAL_NAMESPACE = re.compile(r"/ns/(?P<ns>[^/*]+)/sa/")
TRUST_DOMAIN = "cluster.local"


def _selector(policy: Mapping) -> Mapping:
    return ((spec_of(policy).get("selector") or {}).get("matchLabels")) or {}


def _sources(policy: Mapping) -> Iterable[Mapping]:
    for policy_rule in as_list(spec_of(policy).get("rules")):
        for block in as_list((policy_rule or {}).get("from")):
            source = (block or {}).get("source")
            if isinstance(source, Mapping):
                yield source


def _namespaces(index: Index) -> set[str]:
    names = {str((n.get("metadata") or {}).get("name")) for n in index.of("Namespace")}
    return names | {index.ns(o) for o in index.objects if index.ns(o)}


def _matches(pattern: str, name: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return name.endswith(pattern[1:])
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return pattern == name


@rule("BM133", WARNING, "AuthorizationPolicy selects no workload", istio="IST0127", analyzer=POLICIES)
def policy_selects_nothing(index: Index) -> Iterable:
    for policy in index.of("AuthorizationPolicy"):
        namespace = index.ns(policy)
        selector = _selector(policy)
        everywhere = namespace == ISTIO_NAMESPACE
        if everywhere and not selector:
            continue  # the root namespace's policy without a selector applies to the whole mesh
        found = index.selected(selector, None if everywhere else namespace)
        if not [w for w in found if not w.assumed]:
            where = "the mesh" if everywhere else f"namespace {namespace}"
            yield policy, f"selector {labels_text(selector)} matches no workload in {where}"


@rule("BM134", ERROR, "AuthorizationPolicy source namespace matches no namespace", istio="IST0101", kiali="KIA0101",
      analyzer=POLICIES)
def policy_namespace_unknown(index: Index) -> Iterable:
    known = _namespaces(index)
    for policy in index.of("AuthorizationPolicy"):
        for source in _sources(policy):
            for key in ("namespaces", "notNamespaces"):
                for pattern in as_list(source.get(key)):
                    if not any(_matches(str(pattern), n) for n in known):
                        yield policy, f"source.{key} {pattern} matches no namespace among the objects"


@rule("BM112", ERROR, "AuthorizationPolicy principal names a missing service account, matches none, or is not "
      "`<trust domain>/ns/<namespace>/sa/<account>`", kiali="KIA0106")
def principal_account_missing(index: Index) -> Iterable:
    accounts: dict[str, set[str]] = {}
    for account in index.of("ServiceAccount"):
        accounts.setdefault(index.ns(account), {"default"}).add(str((account.get("metadata") or {}).get("name")))
    for namespace, names in deployed_gateway_accounts(index).items():
        accounts.setdefault(namespace, {"default"}).update(names)
    ordered = {namespace: sorted(names) for namespace, names in accounts.items()}
    namespaces = _namespaces(index)
    for policy in index.of("AuthorizationPolicy"):
        for source in _sources(policy):
            for principal in [*as_list(source.get("principals")), *as_list(source.get("notPrincipals"))]:
                problem = _principal_problem(str(principal), namespaces, accounts, ordered)
                if problem:
                    yield policy, f"principal {principal} {problem}"


def _principal_problem(principal: str, namespaces: set[str], accounts: Mapping[str, set[str]],
                       ordered: Mapping[str, list[str]]) -> str | None:
    """Why a principal can match no workload identity, or None. Only namespaces the
    objects describe can be judged; every namespace has the `default` account."""
    if principal == "*":
        return None
    if "*" in principal:
        namespace = PRINCIPAL_NAMESPACE.search(principal)
        if namespace is None or namespace["ns"] not in namespaces:
            return None
        known = accounts.get(namespace["ns"], {"default"})
        stem, _, rest = principal.partition("/sa/")
        if PRINCIPAL.match(principal.rstrip("*") + ("x" if principal.endswith("/sa/*") else "")) and \
                principal.count("*") == 1 and principal.endswith("*"):
            # Istio's prefix form `<td>/ns/<ns>/sa/<prefix>*`: look the prefix up in order.
            prefix = rest[:-1]
            names = ordered.get(namespace["ns"], ["default"])
            found = bisect.bisect_left(names, prefix)
            if found < len(names) and names[found].startswith(prefix):
                return None
        else:
            pattern = re.compile(".*".join(re.escape(part) for part in principal.split("*")))
            if any(pattern.fullmatch(f"{TRUST_DOMAIN}/ns/{namespace['ns']}/sa/{a}") for a in known):
                return None
        return f"matches no service account of namespace {namespace['ns']} ({', '.join(sorted(known))})"
    match = PRINCIPAL.match(principal)
    if match is None:
        return "is not of the form <trust domain>/ns/<namespace>/sa/<service account>"
    ns, account = match["ns"], match["sa"]
    if ns not in namespaces or account in accounts.get(ns, {"default"}):
        return None
    return f"names service account {ns}/{account}, which does not exist"


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")


def _method_valid(method: str) -> bool:
    """An HTTP method, `*`, or one `*` at either end covering some HTTP method."""
    if method == "*" or method in HTTP_METHODS:
        return True
    if method.count("*") != 1 or "*" not in (method[0], method[-1]):
        return False
    stem = method.strip("*")
    return any(m.startswith(stem) if method.endswith("*") else m.endswith(stem) for m in HTTP_METHODS)


@rule("BM159", WARNING, "AuthorizationPolicy operation method that matches no HTTP method", kiali="KIA0102")
def policy_method_invalid(index: Index) -> Iterable:
    for policy in index.of("AuthorizationPolicy"):
        for policy_rule in as_list(spec_of(policy).get("rules")):
            for block in as_list((policy_rule or {}).get("to")):
                operation = (block or {}).get("operation")
                if not isinstance(operation, Mapping):
                    continue
                for key in ("methods", "notMethods"):
                    for method in as_list(operation.get(key)):
                        if not _method_valid(str(method)):
                            yield policy, (f"operation.{key} {method} matches no HTTP method "
                                           f"({', '.join(HTTP_METHODS)}, with `*` at one end at most)")


# ----------------------------------------------------------------------------- request authentication

CLAIM_HEADER = "@request.auth.claims."
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
BLOCKED_CIDRS = "BLOCKED_CIDRS_IN_JWKS_URIS"


def _authenticated(index: Index, workload: Workload) -> bool:
    """Whether a RequestAuthentication applies to the workload: one in its namespace
    selecting it (or selecting nothing, i.e. all), one in the root namespace selecting
    it, or one whose targetRef(s) names its Kubernetes Gateway."""
    for authn in index.of("RequestAuthentication"):
        spec, namespace = spec_of(authn), index.ns(authn)
        refs = [r for r in [spec.get("targetRef"), *as_list(spec.get("targetRefs"))] if isinstance(r, Mapping)]
        if refs:
            named = {str(r.get("name")) for r in refs if r.get("kind") == "Gateway"}
            if namespace == workload.namespace and workload.labels.get(GATEWAY_NAME_LABEL) in named:
                return True
            continue
        selector = _selector(authn)
        if namespace in (workload.namespace, ISTIO_NAMESPACE) and selects(selector, workload.labels):
            return True
    return False


def _claim_keys(vs: Mapping) -> list[str]:
    keys = []
    for route in as_list(spec_of(vs).get("http")):
        for match in as_list((route or {}).get("match")):
            for field in ("headers", "withoutHeaders"):
                headers = (match or {}).get(field)
                if isinstance(headers, Mapping):
                    keys += [str(k) for k in headers if str(k).startswith(CLAIM_HEADER)]
    return list(dict.fromkeys(keys))


@rule("BM153", ERROR, "VirtualService routes on JWT claims through a gateway no RequestAuthentication applies to",
      istio="IST0149", analyzer="virtualservice.JWTClaimRouteAnalyzer",
      level_doc="error; warning when the gateway pods are assumed (files only, no --gateway)")
def jwt_claim_route_without_authentication(index: Index) -> Iterable:
    for vs in index.of("VirtualService"):
        keys = _claim_keys(vs)
        if not keys:
            continue
        for ref in vs_gateways(vs):
            gw_ns, _, name = ref.rpartition("/")
            gateway = index.gateways.get((gw_ns or index.ns(vs), name))
            if gateway is None:
                continue  # an undefined gateway is BM104's finding
            for workload in index.gateway_workloads(gateway):
                if _authenticated(index, workload):
                    continue
                message = (f"matches on {', '.join(keys)} through Gateway {index.ref(gateway)}, but no "
                           f"RequestAuthentication applies to its pod {workload.namespace}/{workload.name}: "
                           "without a validated JWT the claims are empty and the match never holds")
                if workload.assumed and not index.gateways_known:
                    yield vs, message + f" [gateway {workload.assumed}]", WARNING
                else:
                    yield vs, message


@rule("BM154", WARNING, "RequestAuthentication while istiod does not block private CIDRs for JWKS URIs",
      istio="IST0175", analyzer="authn.BlockedCIDRsAnalyzer")
def jwks_fetch_unrestricted(index: Index) -> Iterable:
    authns = index.of("RequestAuthentication")
    if not authns:
        return
    env = index.istiod_env
    if env is None:
        for authn in authns:
            if any(isinstance(r, Mapping) and r.get("jwksUri") for r in as_list(spec_of(authn).get("jwtRules"))):
                yield authn, (f"istiod fetches its jwksUri; istiod is not among the objects: make sure the cluster's "
                              f"istiod sets {BLOCKED_CIDRS} (e.g. 10.0.0.0/8,172.16.0.0/12,192.168.0.0/16) so a "
                              "jwksUri cannot reach internal addresses")
        return
    if not env.get(BLOCKED_CIDRS):
        for deployment in index.of("Deployment"):
            if index.ns(deployment) == ISTIO_NAMESPACE and \
                    ((deployment.get("metadata") or {}).get("labels") or {}).get("app") == "istiod":
                yield deployment, (f"{len(authns)} RequestAuthentication(s) make istiod fetch JWKS URIs, and "
                                   f"{BLOCKED_CIDRS} is not set: a jwksUri may reach internal addresses")
                break
