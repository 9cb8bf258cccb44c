"""L7 configuration in ambient namespaces (model/analysis/ambient.py): AuthorizationPolicies
without targetRefs or without a waypoint (KIA0110, KIA0109), DestinationRules for
Services no waypoint serves (KIA0210-KIA0212); istio.io's ambient getting-started
policies, as its pages apply them, give none."""
from __future__ import annotations

import yaml

from model.analysis import analyze
from tests.upstream import upstream

AMBIENT = {"istio.io/dataplane-mode": "ambient"}
ENROLLED = {**AMBIENT, "istio.io/use-waypoint": "waypoint"}
L7_RULES = [{"to": [{"operation": {"methods": ["GET"]}}]}]
L4_RULES = [{"from": [{"source": {"principals": ["cluster.local/ns/default/sa/curl"]}}]}]


def namespace(labels, name="default"):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def policy(spec, name="p", ns="default"):
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def service(name="productpage", ns="default", **labels):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 9080}]}}


def deployment(name="productpage", ns="default", **labels):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"template": {"metadata": {"labels": {"app": name, **labels}},
                                  "spec": {"containers": [{"name": name, "image": "x"}]}}}}


def destination_rule(host, ns="default", traffic=None):
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "dr", "namespace": ns},
            "spec": {"host": host, "trafficPolicy": traffic or {"outlierDetection": {"consecutive5xxErrors": 3}}}}


def found(objects, code):
    return [(f.name, f.kiali) for f in analyze(objects) if f.code == code]


TARGET = {"targetRefs": [{"kind": "Service", "group": "", "name": "productpage"}]}
SELECTOR = {"selector": {"matchLabels": {"app": "productpage"}}}


def test_l7_policy_without_target_refs_in_an_ambient_namespace():
    assert found([namespace(ENROLLED), policy({**SELECTOR, "rules": L7_RULES})], "BM185") == [("p", "KIA0110")]
    assert found([namespace(ENROLLED), service(), policy({**TARGET, "rules": L7_RULES})], "BM185") == []
    assert found([namespace(ENROLLED), policy({**SELECTOR, "rules": L4_RULES})], "BM185") == []  # ztunnel's
    assert found([namespace({}), policy({**SELECTOR, "rules": L7_RULES})], "BM185") == []  # sidecars enforce it
    for l7 in ({"when": [{"key": "request.headers[x-user]", "values": ["a"]}]},
               {"from": [{"source": {"requestPrincipals": ["*"]}}]}, {"to": [{"operation": {"paths": ["/x"]}}]}):
        assert found([namespace(ENROLLED), policy({**SELECTOR, "rules": [l7]})], "BM185") == [("p", "KIA0110")], l7
    [message] = [f.message for f in analyze([namespace(ENROLLED), policy({**SELECTOR, "rules": L7_RULES})])
                 if f.code == "BM185"]
    assert message.startswith("spec.rules[0].to.operation.methods needs a waypoint") and "spec.targetRefs" in message


def test_l7_policy_for_what_no_waypoint_serves():
    targeted = policy({**TARGET, "rules": L7_RULES})
    assert found([namespace(AMBIENT), service(), targeted], "BM186") == [("p", "KIA0109")]
    assert found([namespace(ENROLLED), service(), targeted], "BM186") == []
    assert found([namespace(AMBIENT), service(**{"istio.io/use-waypoint": "waypoint"}), targeted], "BM186") == []
    assert found([namespace(ENROLLED), service(**{"istio.io/use-waypoint": "none"}), targeted], "BM186") == \
        [("p", "KIA0109")]  # the Service's own label opts it out
    selecting = policy({**SELECTOR, "rules": L7_RULES})
    assert found([namespace(AMBIENT), deployment(), selecting], "BM186") == [("p", "KIA0109")]
    assert found([namespace(AMBIENT), deployment(**{"istio.io/use-waypoint": "waypoint"}), selecting], "BM186") == []
    assert found([namespace(ENROLLED), deployment(), selecting], "BM186") == []
    assert found([namespace(AMBIENT), policy({"rules": L7_RULES})], "BM186") == [("p", "KIA0109")]  # namespace-wide


def test_l7_destination_rule_for_an_ambient_service():
    assert found([namespace(AMBIENT), service(), destination_rule("productpage")], "BM187") == [("dr", "KIA0211")]
    assert found([namespace(ENROLLED), service(), destination_rule("productpage")], "BM187") == []
    elsewhere = [namespace(ENROLLED), namespace({}, "client"), service(),
                 destination_rule("productpage.default.svc.cluster.local", "client")]
    assert found(elsewhere, "BM187") == [("dr", "KIA0212")]
    assert found([namespace(AMBIENT), destination_rule("missing")], "BM187") == [("dr", "KIA0210")]
    assert found([namespace(ENROLLED), destination_rule("missing")], "BM187") == []
    l4_only = destination_rule("productpage", traffic={"connectionPool": {"tcp": {"maxConnections": 1}}})
    assert found([namespace(AMBIENT), service(), l4_only], "BM187") == []
    by_header = destination_rule("productpage", traffic={"loadBalancer": {"consistentHash": {"httpHeaderName": "u"}}})
    assert found([namespace(AMBIENT), service(), by_header], "BM187") == [("dr", "KIA0211")]
    assert found([namespace({}), service(), destination_rule("productpage")], "BM187") == []


def test_istio_io_ambient_getting_started_policies_are_clean():
    folder = "istio-ambient/istio-io-docs/ambient-getting-started"
    load = lambda name: yaml.safe_load(upstream(f"{folder}/{name}").read_text())  # noqa: E731
    objects = [load("namespace-default.yaml"), load("waypoint-gateway.yaml"), load("productpage-viewer-l7.yaml"),
               service(), deployment()]
    assert [f for f in analyze(objects) if f.code in ("BM185", "BM186", "BM187")] == []
    l4 = {**load("productpage-viewer-l4.yaml"), "metadata": {"name": "l4", "namespace": "default"}}
    assert [f for f in analyze([*objects, l4]) if f.code in ("BM185", "BM186", "BM187")] == []
