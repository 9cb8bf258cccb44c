"""The rules about Kubernetes Gateway API objects (model/analysis/gateway_api.py), each on
the smallest objects that show it, positive and negative; Istio's own Bookinfo Gateway
API samples with and without their per-version Services; and the Gateway API Gateway
kept apart from Istio's Gateway (both are kind `Gateway`)."""
from __future__ import annotations

import pytest

from model.analysis import analyze
from model.analysis.index import build_index, gateway_api
from model.analysis.shapes import first_shape_error
from tests.upstream import upstream

GW_API = "gateway.networking.k8s.io/v1"


def k8s(kind, name, namespace="bookinfo", spec=None, api=GW_API, **metadata):
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": namespace, **metadata},
            "spec": spec or {}}


def found(objects, code):
    return [(f.kind, f.namespace, f.name) for f in analyze(objects) if f.code == code]


def messages(objects, code):
    return [f.message for f in analyze(objects) if f.code == code]


def gateway(name="gw", namespace="bookinfo", listeners=None, cls="istio"):
    return k8s("Gateway", name, namespace, {"gatewayClassName": cls, "listeners": listeners or [
        {"name": "http", "port": 80, "protocol": "HTTP"}]})


def service(name, namespace="bookinfo"):
    return k8s("Service", name, namespace, {"ports": [{"name": "http", "port": 9080}]}, api="v1")


def namespace(name, **labels):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def route(name="r", namespace="bookinfo", parents=None, backends=(), kind="HTTPRoute"):
    return k8s(kind, name, namespace, {"parentRefs": parents if parents is not None else [{"name": "gw"}],
                                       "rules": [{"backendRefs": list(backends)}]})


# ----------------------------------------------------------------------------- IST0166

def policy(kind, name, spec, api="security.istio.io/v1"):
    return k8s(kind, name, "bookinfo", spec, api=api)


GATEWAY_POD_SELECTOR = {"matchLabels": {"gateway.networking.k8s.io/gateway-name": "gw"}}


@pytest.mark.parametrize("kind,api", [("AuthorizationPolicy", "security.istio.io/v1"),
                                      ("RequestAuthentication", "security.istio.io/v1"),
                                      ("Telemetry", "telemetry.istio.io/v1"),
                                      ("WasmPlugin", "extensions.istio.io/v1alpha1")])
def test_a_policy_selecting_the_pods_istiod_deploys_for_a_gateway_api_gateway(kind, api):
    selecting = policy(kind, "p", {"selector": GATEWAY_POD_SELECTOR}, api)
    assert found([gateway(), selecting], "BM180") == [(kind, "bookinfo", "p")]
    [message] = messages([gateway(), selecting], "BM180")
    assert "spec.selector.matchLabels" in message and "targetRefs" in message and "Gateway gw" in message
    for field in ("targetRef", "targetRefs"):  # with a target the selector is not reported (Istio's testdata too)
        target = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}
        targeted = policy(kind, "p", {"selector": GATEWAY_POD_SELECTOR,
                                      field: target if field == "targetRef" else [target]}, api)
        assert found([gateway(), targeted], "BM180") == []


def test_gateway_pods_are_those_of_istio_classes_in_the_policys_namespace():
    selecting = policy("AuthorizationPolicy", "p", {"selector": GATEWAY_POD_SELECTOR})
    assert found([gateway(namespace="other"), selecting], "BM180") == []
    assert found([gateway(cls="other-controller"), selecting], "BM180") == []
    assert found([gateway(cls="istio-waypoint"), selecting], "BM180") == [("AuthorizationPolicy", "bookinfo", "p")]
    by_infrastructure = gateway()
    by_infrastructure["spec"]["infrastructure"] = {"labels": {"team": "edge"}}
    on_team = policy("AuthorizationPolicy", "p", {"selector": {"matchLabels": {"team": "edge"}}})
    assert found([by_infrastructure, on_team], "BM180") == [("AuthorizationPolicy", "bookinfo", "p")]
    assert found([gateway(), on_team], "BM180") == []


def test_an_istio_gateway_of_the_same_name_has_no_gateway_api_pods():
    istio_gateway = k8s("Gateway", "gw", spec={"selector": {"istio": "ingressgateway"}, "servers": []},
                        api="networking.istio.io/v1")
    selecting = policy("AuthorizationPolicy", "p", {"selector": GATEWAY_POD_SELECTOR})
    assert found([istio_gateway, selecting], "BM180") == []


# ----------------------------------------------------------------------------- IST0176

def crd(name, version):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name, "annotations": {"gateway.networking.k8s.io/bundle-version": version}}}


def test_gateway_api_crds_below_istios_minimum():
    assert found([crd("tlsroutes.gateway.networking.k8s.io", "v1.4.1")], "BM181") == \
        [("CustomResourceDefinition", "", "tlsroutes.gateway.networking.k8s.io")]
    assert found([crd("grpcroutes.gateway.networking.k8s.io", "v1.0.0")], "BM181") != []
    assert found([crd("backendtlspolicies.gateway.networking.k8s.io", "v1.3")], "BM181") != []
    [message] = messages([crd("tlsroutes.gateway.networking.k8s.io", "v1.4.1")], "BM181")
    assert message.startswith("metadata.annotations gateway.networking.k8s.io/bundle-version v1.4.1: ")
    assert 'is at version 1.4.1 but Istio 1.30.3 requires at least 1.5.0' in message


@pytest.mark.parametrize("name,version", [
    ("tlsroutes.gateway.networking.k8s.io", "v1.5.0"), ("tlsroutes.gateway.networking.k8s.io", "v1.5.1"),
    ("tlsroutes.gateway.networking.k8s.io", "v1.5.0-rc.1"),  # the pre-release is dropped before comparing
    ("grpcroutes.gateway.networking.k8s.io", "v1.1.0"), ("httproutes.gateway.networking.k8s.io", "v0.1.0"),
    ("tlsroutes.gateway.networking.k8s.io", "not-a-version")])
def test_gateway_api_crds_istio_accepts_or_does_not_judge(name, version):
    assert found([crd(name, version)], "BM181") == []


# ----------------------------------------------------------------------------- KIA1401

def test_route_to_a_gateway_that_is_not_defined():
    assert found([route()], "BM182") == [("HTTPRoute", "bookinfo", "r")]
    assert found([route(kind="GRPCRoute")], "BM182") == [("GRPCRoute", "bookinfo", "r")]
    assert messages([route()], "BM182") == ["spec.parentRefs[0] names Gateway bookinfo/gw, which is not defined"]
    assert found([gateway(), route()], "BM182") == []


def test_route_to_a_gateway_in_another_namespace_needs_its_listeners_to_admit_it():
    elsewhere = route(parents=[{"name": "gw", "namespace": "ingress"}])
    same_only = gateway(namespace="ingress")
    assert found([same_only, elsewhere], "BM182") == [("HTTPRoute", "bookinfo", "r")]
    from_all = gateway(namespace="ingress", listeners=[
        {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "All"}}}])
    assert found([from_all, elsewhere], "BM182") == []
    selected = gateway(namespace="ingress", listeners=[{"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {
        "namespaces": {"from": "Selector", "selector": {"matchLabels": {"shared-gateway": "true"}}}}}])
    assert found([selected, namespace("bookinfo", **{"shared-gateway": "true"}), elsewhere], "BM182") == []
    assert found([selected, namespace("bookinfo"), elsewhere], "BM182") == [("HTTPRoute", "bookinfo", "r")]
    by_name = gateway(namespace="ingress", listeners=[{"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {
        "namespaces": {"from": "Selector", "selector": {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["bookinfo"]}]}}}}])
    assert found([by_name, namespace("bookinfo"), elsewhere], "BM182") == []


def test_parent_refs_to_services_or_istio_gateways_are_not_gateway_api_gateways():
    istio_gateway = k8s("Gateway", "gw", spec={"selector": {"istio": "ingressgateway"}, "servers": []},
                        api="networking.istio.io/v1")
    assert found([istio_gateway, route()], "BM182") == [("HTTPRoute", "bookinfo", "r")]
    mesh = route(parents=[{"group": "", "kind": "Service", "name": "reviews"}])
    assert found([service("reviews"), mesh], "BM182") == []


# ----------------------------------------------------------------------------- KIA1402

def test_backend_and_parent_services_that_are_not_defined():
    reviews = route("reviews", parents=[{"group": "", "kind": "Service", "name": "reviews", "port": 9080}],
                    backends=[{"name": "reviews-v1", "port": 9080}, {"name": "reviews-v2", "port": 9080}])
    assert sorted(messages([reviews], "BM183")) == [
        "spec.parentRefs[0] names Service bookinfo/reviews, which is not defined",
        "spec.rules[0].backendRefs[0] names Service bookinfo/reviews-v1, which is not defined",
        "spec.rules[0].backendRefs[1] names Service bookinfo/reviews-v2, which is not defined"]
    assert messages([service("reviews"), service("reviews-v1"), reviews], "BM183") == [
        "spec.rules[0].backendRefs[1] names Service bookinfo/reviews-v2, which is not defined"]
    assert found([service("reviews"), service("reviews-v1"), service("reviews-v2"), reviews], "BM183") == []


def test_backend_refs_of_other_kinds_and_dotted_names():
    other = route(backends=[{"group": "networking.istio.io", "kind": "Hostname", "name": "example.com"}])
    assert found([gateway(), other], "BM183") == []
    dotted = route(backends=[{"name": "reviews.bookinfo.svc.cluster.local", "port": 9080}], kind="GRPCRoute")
    assert found([gateway(), service("reviews"), dotted], "BM183") == [("GRPCRoute", "bookinfo", "r")]


def test_a_backend_in_another_namespace_needs_a_reference_grant():
    across = route(backends=[{"name": "ratings", "namespace": "data", "port": 9080}])
    assert found([gateway(), service("ratings", "data"), across], "BM183") == [("HTTPRoute", "bookinfo", "r")]
    grant = k8s("ReferenceGrant", "allow", "data", {
        "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "bookinfo"}],
        "to": [{"group": "", "kind": "Service"}]}, api="gateway.networking.k8s.io/v1beta1")
    assert found([gateway(), service("ratings", "data"), grant, across], "BM183") == []
    for_grpc = {**grant, "spec": {**grant["spec"], "from": [{**grant["spec"]["from"][0], "kind": "GRPCRoute"}]}}
    assert found([gateway(), service("ratings", "data"), for_grpc, across], "BM183") == [("HTTPRoute", "bookinfo", "r")]
    consumer = route(parents=[{"group": "", "kind": "Service", "name": "ratings", "namespace": "data"}])
    assert found([service("ratings", "data"), consumer], "BM183") == []  # a GAMMA consumer route needs no grant


# ----------------------------------------------------------------------------- KIA1503

def test_listeners_sharing_port_protocol_and_hostname():
    twice = gateway(listeners=[{"name": "a", "port": 80, "protocol": "HTTP", "hostname": "x.example.com"},
                               {"name": "b", "port": 80, "protocol": "HTTP", "hostname": "x.example.com"},
                               {"name": "c", "port": 80, "protocol": "HTTP", "hostname": "y.example.com"}])
    assert found([twice], "BM184") == [("Gateway", "bookinfo", "gw")]
    assert messages([twice], "BM184") == [
        "spec.listeners[0] (a) and listeners[1] (b) share port 80, protocol HTTP and hostname x.example.com: "
        "each listener needs its own combination"]
    no_hostname = gateway(listeners=[{"name": "a", "port": 80, "protocol": "HTTP"},
                                     {"name": "b", "port": 80, "protocol": "HTTP"}])
    assert found([no_hostname], "BM184") == [("Gateway", "bookinfo", "gw")]
    distinct = gateway(listeners=[{"name": "a", "port": 80, "protocol": "HTTP"},
                                  {"name": "b", "port": 443, "protocol": "HTTPS"},
                                  {"name": "c", "port": 80, "protocol": "HTTP", "hostname": "x.example.com"}])
    assert found([distinct], "BM184") == []


# ----------------------------------------------------------------------------- Istio's Gateway kept apart

def test_istio_gateway_rules_do_not_read_gateway_api_gateways():
    """A Gateway API Gateway has no selector and no servers: Istio's Gateway rules must not
    judge it (BM106 would say its selector matches nothing), and a VirtualService naming it
    names no Istio Gateway (BM104)."""
    vs = k8s("VirtualService", "v", spec={"hosts": ["*"], "gateways": ["gw"], "http": [
        {"route": [{"destination": {"host": "productpage"}}]}]}, api="networking.istio.io/v1")
    index = build_index([gateway(), elsewhere := k8s("Gateway", "gw", "other", {"selector": {"istio": "x"}},
                                                        api="networking.istio.io/v1")], default_namespace="default")
    assert index.of("Gateway") == [elsewhere] and index.of(gateway_api("Gateway")) == [gateway()]
    findings = analyze([gateway(), service("productpage"), vs])
    assert [f.code for f in findings if f.kind == "Gateway"] == []
    assert [(f.code, f.name) for f in findings if f.code == "BM104"] == [("BM104", "v")]
    istio_gateway = k8s("Gateway", "gw", spec={"selector": {"istio": "ingressgateway"}, "servers": [
        {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}, api="networking.istio.io/v1")
    assert [f.code for f in analyze([istio_gateway, gateway(), service("productpage"), vs]) if f.code == "BM104"] == []


def test_shapes_judge_each_gateway_by_its_own_api():
    api_gateway = gateway()
    api_gateway["spec"]["selector"] = "not judged as Istio's"  # unknown to Gateway API's shape: passes
    assert first_shape_error(api_gateway) is None
    api_gateway["spec"]["listeners"][0]["port"] = "80"
    assert first_shape_error(api_gateway) == ("spec.listeners[0].port", "80", "a whole number")
    istio_gateway = k8s("Gateway", "gw", spec={"selector": "istio"}, api="networking.istio.io/v1")
    assert first_shape_error(istio_gateway) == ("spec.selector", "istio", "a mapping")
    bad_route = route(backends=["reviews"])
    assert first_shape_error(bad_route) == ("spec.rules[0].backendRefs[0]", "reviews", "a mapping")


# ----------------------------------------------------------------------------- Istio's Bookinfo samples

def _samples(*names):
    import yaml

    objects = []
    for name in names:
        objects += [o for o in yaml.safe_load_all(upstream(f"istio-ambient/{name}").read_text()) if o]
    return objects


def test_istios_bookinfo_gateway_api_samples_need_the_per_version_services():
    bookinfo = _samples("samples/bookinfo/gateway-api/bookinfo-gateway.yaml",
                        "samples/bookinfo/gateway-api/route-reviews-90-10.yaml")
    app = [service(name, "default") for name in ("productpage", "reviews", "ratings", "details")]
    missing = sorted(messages([*bookinfo, *app], "BM183"))
    assert missing == [f"spec.rules[0].backendRefs[{n}] names Service default/reviews-v{n + 1}, which is not defined"
                       for n in (0, 1)]
    versions = _samples("samples/bookinfo/platform/kube/bookinfo-versions.yaml")
    codes = {f.code for f in analyze([*bookinfo, *app, *versions], default_namespace="default")}
    assert not codes & {"BM180", "BM181", "BM182", "BM183", "BM184"}
