"""Rules where the project had to choose beyond what Istio's own analyzer cases show:
gateway namespaces, checks that need the cluster, pod templates, one finding per
object and problem."""
from __future__ import annotations

from model.analysis import ERROR, INFO, WARNING, GatewayWorkload, analyze

GATEWAY_PODS = (GatewayWorkload(labels={"istio": "ingress"}, namespace="istio-ingress", service="istio-ingress",
                                ports=(80, 443)),
                GatewayWorkload(labels={"istio": "ingress"}, namespace="team-gw", service="team-ingress",
                                ports=(80, 443)))


def _gateway(name: str, namespace: str, credential: str = "", host: str = "shop.example.com") -> dict:
    server = {"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": [host]}
    if credential:
        server["tls"] = {"mode": "SIMPLE", "credentialName": credential}
    return {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"istio": "ingress"}, "servers": [server]}}


def _istiod(**env: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "istiod", "namespace": "istio-system", "labels": {"app": "istiod"}},
            "spec": {"selector": {"matchLabels": {"app": "istiod"}}, "template": {
                "metadata": {"labels": {"app": "istiod"}},
                "spec": {"containers": [{"name": "discovery",
                                         "env": [{"name": k, "value": v} for k, v in env.items()]}]}}}}


def _pairs(findings, code):
    return sorted((f.namespace, f.name) for f in findings if f.code == code)


def test_two_gateways_on_the_same_pods_conflict_whatever_their_namespaces():
    objects = [_gateway("a", "shop"), _gateway("b", "payments")]
    assert _pairs(analyze(objects, gateways=GATEWAY_PODS), "BM123") == [("payments", "b"), ("shop", "a")]


def test_gateways_scoped_to_their_namespace_by_istiod_do_not_conflict_across_namespaces():
    scoped = _istiod(PILOT_SCOPE_GATEWAY_TO_NAMESPACE="true")
    objects = [_gateway("a", "istio-ingress"), _gateway("b", "team-gw"), scoped]
    assert _pairs(analyze(objects, gateways=GATEWAY_PODS), "BM123") == []
    # Each now selects only its own namespace's pods; a Gateway elsewhere selects none.
    lonely = analyze([_gateway("c", "shop"), scoped], gateways=GATEWAY_PODS)
    assert _pairs(lonely, "BM106") == [("shop", "c")]


def test_one_credential_name_on_gateway_pods_of_different_namespaces_is_two_secrets():
    same_pods = [_gateway("a", "shop", "shop-cert", "a.example.com"),
                 _gateway("b", "shop", "shop-cert", "b.example.com")]
    assert _pairs(analyze(same_pods, gateways=GATEWAY_PODS), "BM124") == [("shop", "a"), ("shop", "b")]
    scoped = [_gateway("a", "istio-ingress", "shop-cert", "a.example.com"),
              _gateway("b", "team-gw", "shop-cert", "b.example.com"), _istiod(PILOT_SCOPE_GATEWAY_TO_NAMESPACE="true")]
    assert _pairs(analyze(scoped, gateways=GATEWAY_PODS), "BM124") == []


def _request_authentication(namespace="shop", selector=None) -> dict:
    spec = {"jwtRules": [{"issuer": "https://idp.example.com", "jwksUri": "https://idp.example.com/jwks"}]}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    return {"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
            "metadata": {"name": "jwt", "namespace": namespace}, "spec": spec}


def test_jwks_check_without_istiod_among_the_objects_is_a_warning_that_names_the_cluster():
    [finding] = [f for f in analyze([_request_authentication()]) if f.code == "BM154"]
    assert (finding.level, finding.kind, finding.istio) == (WARNING, "RequestAuthentication", "IST0175")
    assert "not among the objects" in finding.message and "BLOCKED_CIDRS_IN_JWKS_URIS" in finding.message
    guarded = analyze([_request_authentication(), _istiod(BLOCKED_CIDRS_IN_JWKS_URIS="10.0.0.0/8")])
    assert [f for f in guarded if f.code == "BM154"] == []


def _claim_route(gateway="istio-ingress/shop-gateway") -> dict:
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {"hosts": ["shop.example.com"], "gateways": [gateway], "http": [{
                "match": [{"headers": {"@request.auth.claims.group": {"exact": "beta"}}}],
                "route": [{"destination": {"host": "shop"}}]}]}}


def test_claim_route_needs_request_authentication_on_the_gateway_pods():
    gateway = _gateway("shop-gateway", "istio-ingress")
    gateways = GATEWAY_PODS[:1]
    [finding] = [f for f in analyze([gateway, _claim_route()], gateways=gateways) if f.code == "BM153"]
    assert finding.level == ERROR and "istio-ingress/istio-ingress-pod" in finding.message
    authn = _request_authentication("istio-ingress", {"istio": "ingress"})
    assert [f for f in analyze([gateway, _claim_route(), authn], gateways=gateways) if f.code == "BM153"] == []


def test_claim_route_on_the_assumed_gateway_is_a_warning_saying_so():
    gateway = _gateway("shop-gateway", "istio-ingress")
    gateway["spec"]["selector"] = {"istio": "ingressgateway"}
    [finding] = [f for f in analyze([gateway, _claim_route()]) if f.code == "BM153"]
    assert finding.level == WARNING and "assumed" in finding.message


def test_pod_template_annotations_are_judged_as_the_pod_s_and_metadata_ones_as_the_workload_s():
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "web", "namespace": "shop",
                               "annotations": {"sidecar.istio.io/proxyCPU": "100m"}},
                  "spec": {"template": {"metadata": {"labels": {"app": "web"}, "annotations": {
                      "sidecar.istio.io/proxyCPU": "100m", "sidecar.istio.io/injct": "false",
                      "traffic.sidecar.istio.io/excludeOutboundPorts": "all",
                      "sidecar.istio.io/statsInclusionPrefixes": "cluster"}},
                      "spec": {"containers": [{"name": "web"}]}}}}
    found = {(f.code, f.level, f.message.split(":")[0]) for f in analyze([deployment])
             if f.istio in ("IST0107", "IST0108", "IST0125", "IST0135")}
    assert found == {
        ("BM145", WARNING, "annotation sidecar.istio.io/proxyCPU only applies to Pod, not Deployment"),
        ("BM146", WARNING, "pod template"),
        ("BM147", WARNING, "pod template"),
        ("BM148", INFO, "pod template"),
    }


def test_envoy_filter_gives_one_finding_per_problem_naming_every_patch():
    envoy_filter = {"apiVersion": "networking.istio.io/v1alpha3", "kind": "EnvoyFilter",
                    "metadata": {"name": "lua", "namespace": "shop"}, "spec": {"configPatches": [
                        {"applyTo": "HTTP_FILTER", "patch": {"operation": "INSERT_BEFORE"}},
                        {"applyTo": "NETWORK_FILTER", "patch": {"operation": "REMOVE"}},
                        {"applyTo": "HTTP_FILTER", "patch": {"operation": "INSERT_FIRST"}}]}}
    [finding] = [f for f in analyze([envoy_filter]) if f.code == "BM140"]
    assert "configPatches[0] INSERT_BEFORE" in finding.message and "configPatches[1] REMOVE" in finding.message
    envoy_filter["spec"]["priority"] = 10
    assert [f for f in analyze([envoy_filter]) if f.code == "BM140"] == []
