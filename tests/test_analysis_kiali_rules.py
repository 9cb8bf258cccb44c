"""The rules mirroring Kiali's validations, each on the smallest objects that show
it (the Kiali suite, tests/test_kiali_validations_suite.py, runs Kiali's own cases
where they are present); and the Kiali code each finding carries, in `--format json`."""
from __future__ import annotations

import json

import yaml

from model.analysis import CATALOGUE, analyze


def obj(kind, name, namespace="bookinfo", spec=None, api="networking.istio.io/v1", **extra):
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": namespace, **extra},
            "spec": spec or {}}


def security(kind, name, namespace="bookinfo", spec=None):
    return obj(kind, name, namespace, spec, api="security.istio.io/v1")


def found(objects, code):
    return [(f.kind, f.namespace, f.name, f.kiali) for f in analyze(objects) if f.code == code]


def gateway(name, namespace, hosts, selector=None, port=80):
    return obj("Gateway", name, namespace, {"selector": selector or {"istio": "ingressgateway"}, "servers": [
        {"port": {"number": port, "name": "http", "protocol": "HTTP"}, "hosts": hosts}]})


def test_gateways_with_overlapping_hosts_on_one_selector_and_port():
    both = [gateway("a", "test", ["*"]), gateway("b", "other", ["reviews.example.com"])]
    assert sorted(found(both, "BM156")) == [("Gateway", "other", "b", "KIA0301"), ("Gateway", "test", "a", "KIA0301")]
    assert found([gateway("a", "test", ["*"]), gateway("b", "test", ["x.com"], port=443)], "BM156") == []
    assert found([gateway("a", "test", ["x.com"]), gateway("b", "test", ["x.com"], {"app": "other"})], "BM156") == []
    assert found([gateway("a", "test", ["X.com", "x.com"])], "BM156") == [("Gateway", "test", "a", "KIA0301")]


def test_destination_rules_for_the_same_host_and_subset():
    service = obj("Service", "reviews", api="v1", spec={"ports": [{"name": "http", "port": 9080}]})
    rule = lambda name, host, subset: obj("DestinationRule", name, spec={  # noqa: E731
        "host": host, "subsets": [{"name": subset, "labels": {"version": subset}}]})
    same = [service, rule("a", "reviews", "v1"), rule("b", "reviews.bookinfo.svc.cluster.local", "v1")]
    assert sorted(found(same, "BM157")) == [("DestinationRule", "bookinfo", n, "KIA0201") for n in "ab"]
    assert found([service, rule("a", "reviews", "v1"), rule("b", "reviews", "v2")], "BM157") == []


def test_service_entries_twice_or_with_conflicting_protocols_name_the_kiali_code_that_applies():
    entry = lambda name, protocol, number=443: obj("ServiceEntry", name, spec={  # noqa: E731
        "hosts": ["example.com"], "ports": [{"number": number, "name": "p", "protocol": protocol}]})
    assert sorted(found([entry("a", "HTTPS"), entry("b", "HTTPS")], "BM158")) == \
        [("ServiceEntry", "bookinfo", n, "KIA1211") for n in "ab"]
    assert sorted(found([entry("a", "HTTPS"), entry("b", "HTTP")], "BM158")) == \
        [("ServiceEntry", "bookinfo", n, "KIA1212") for n in "ab"]
    assert found([entry("a", "HTTPS"), entry("b", "HTTP", 80)], "BM158") == []


def test_authorization_policy_methods_and_principals():
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bookinfo"}}
    account = obj("ServiceAccount", "test-1", api="v1")
    account.pop("spec")
    methods = security("AuthorizationPolicy", "p", spec={"rules": [{"to": [{"operation": {
        "methods": ["*", "GET", "G*", "*CH", "GOT", "*BAD*", "X*"]}}]}]})
    assert len(found([namespace, methods], "BM159")) == 3
    principals = lambda *names: security("AuthorizationPolicy", "p", spec={  # noqa: E731
        "rules": [{"from": [{"source": {"principals": list(names)}}]}]})
    good = ["*", "cluster.local/ns/bookinfo/sa/test*", "*.local/ns/bookinfo/sa/test-1", "cluster.local/ns/else/sa/x"]
    assert found([namespace, account, principals(*good)], "BM112") == []
    for bad in ("test", "cluster.local/ns/bookinfo/sa/wrong*", "*wrong/ns/bookinfo/sa/test-1*"):
        assert found([namespace, account, principals(bad)], "BM112") == \
            [("AuthorizationPolicy", "bookinfo", "p", "KIA0106")], bad


def test_export_to_a_namespace_that_does_not_exist():
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bookinfo2"}}
    vs = obj("VirtualService", "v", spec={"hosts": ["*"], "exportTo": [".", "*", "bookinfo2", "wrong"]})
    assert found([namespace, vs], "BM160") == [("VirtualService", "bookinfo", "v", "KIA0005")]


def test_mtls_disabled_against_what_the_other_side_enforces():
    mesh_pa = lambda mode: security("PeerAuthentication", "mesh", "istio-system", {"mtls": {"mode": mode}})  # noqa: E731
    ns_pa = security("PeerAuthentication", "ns", spec={"mtls": {"mode": "DISABLE"}})
    rule = lambda host, mode, ns="bookinfo": obj("DestinationRule", "dr", ns, {  # noqa: E731
        "host": host, "trafficPolicy": {"tls": {"mode": mode}}})
    assert found([mesh_pa("DISABLE"), rule("*.local", "ISTIO_MUTUAL")], "BM161") == \
        [("PeerAuthentication", "istio-system", "mesh", "KIA0506")]
    assert found([ns_pa, rule("*.bookinfo.svc.cluster.local", "ISTIO_MUTUAL")], "BM161") == \
        [("PeerAuthentication", "bookinfo", "ns", "KIA0505")]
    assert found([ns_pa, rule("*.local", "ISTIO_MUTUAL"), rule("*.bookinfo.svc.cluster.local", "DISABLE", "x")],
                 "BM161") == []
    assert found([mesh_pa("STRICT"), rule("*.local", "DISABLE")], "BM161") == \
        [("DestinationRule", "bookinfo", "dr", "KIA0208")]
    assert found([mesh_pa("PERMISSIVE"), rule("*.local", "DISABLE")], "BM161") == []


def test_policy_naming_identities_where_mtls_is_off_follows_the_mesh_config_auto_mtls():
    policy = security("AuthorizationPolicy", "p", spec={"selector": {"matchLabels": {"app": "ratings"}}, "rules": [
        {"from": [{"source": {"principals": ["cluster.local/ns/default/sa/x"]}}]}]})
    config = lambda auto: {"apiVersion": "v1", "kind": "ConfigMap",  # noqa: E731
                           "metadata": {"name": "istio", "namespace": "istio-system"},
                           "data": {"mesh": yaml.safe_dump({"enableAutoMtls": auto})}}
    disabled = security("PeerAuthentication", "ns", spec={"mtls": {"mode": "DISABLE"}})
    assert found([policy, disabled], "BM162") == [("AuthorizationPolicy", "bookinfo", "p", "KIA0105")]
    assert found([policy], "BM162") == [] and found([policy, config(True)], "BM162") == []
    assert found([policy, config(False)], "BM162") == [("AuthorizationPolicy", "bookinfo", "p", "KIA0105")]
    workload_on = [security("PeerAuthentication", "w", spec={"selector": {"matchLabels": {"app": "ratings"}},
                                                              "mtls": {"mode": "STRICT"}}),
                   obj("Service", "ratings", api="v1", spec={"selector": {"app": "ratings"}, "ports": [{"port": 9080}]}),
                   obj("DestinationRule", "ratings", spec={"host": "ratings",
                                                           "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}})]
    assert found([policy, disabled, *workload_on], "BM162") == []


def test_root_sidecar_with_a_selector():
    sidecar = lambda ns, spec: obj("Sidecar", "s", ns, spec)  # noqa: E731
    selector = {"workloadSelector": {"labels": {"app": "reviews"}}}
    assert found([sidecar("istio-system", selector)], "BM163") == [("Sidecar", "istio-system", "s", "KIA1006")]
    assert found([sidecar("istio-system", {}), sidecar("bookinfo", selector)], "BM163") == []


def test_virtual_services_on_one_gateway_and_gateways_named_in_matches():
    gw = gateway("gw", "bookinfo", ["*"])
    vs = lambda name, host, gateways: obj("VirtualService", name, spec={"hosts": [host], "gateways": gateways})  # noqa: E731
    assert sorted(found([gw, vs("a", "reviews", ["gw"]), vs("b", "reviews", ["gw"])], "BM164")) == \
        [("VirtualService", "bookinfo", n, "KIA1106") for n in "ab"]
    assert found([gw, vs("a", "reviews", ["gw"]), vs("b", "reviews", ["mesh"])], "BM164") == []
    assert found([gw, vs("a", "reviews", ["gw"]), vs("b", "reviews.bookinfo", ["gw"])], "BM164") == []
    matched = vs("a", "reviews", ["gw"])
    matched["spec"]["http"] = [{"match": [{"gateways": ["gw", "missing"]}], "route": []}]
    assert found([gw, matched], "BM104") == [("VirtualService", "bookinfo", "a", "KIA1102")]


def test_each_repeated_destination_is_reported():
    vs = obj("VirtualService", "v", spec={"hosts": ["reviews"], "http": [{"route": [
        {"destination": {"host": "reviews"}, "weight": 50}, {"destination": {"host": "reviews"}, "weight": 50}]}]})
    assert found([vs], "BM108") == [("VirtualService", "bookinfo", "v", "KIA1105")] * 2


def test_every_finding_names_one_kiali_code_of_its_rule_and_json_carries_it(tmp_path, capsys):
    from meshplan.cli import main

    objects = [security("PeerAuthentication", "mesh", "istio-system", {"mtls": {"mode": "STRICT"}}),
               obj("DestinationRule", "dr", spec={"host": "*.local", "trafficPolicy": {"tls": {"mode": "DISABLE"}}})]
    for finding in analyze(objects):
        assert finding.kiali in CATALOGUE[finding.code].kiali.split("/") and "/" not in finding.kiali
    manifest = tmp_path / "mesh.yaml"
    manifest.write_text(yaml.safe_dump_all(objects))
    main(["check", "--format", "json", str(manifest)])
    shown = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["code"] == "BM161"]
    assert [f["kiali"] for f in shown] == ["KIA0208"]


def test_destination_rule_host_not_found_claims_kiali_only_where_kiali_agrees():
    service = obj("Service", "reviews", api="v1", spec={"ports": [{"name": "http", "port": 9080}]})
    rule = lambda host: obj("DestinationRule", "dr", spec={"host": host})  # noqa: E731
    assert found([service, rule("*.bookinfo.svc.cluster.local")], "BM113") == []  # covers reviews
    assert found([service, rule("ratings")], "BM113") == [("DestinationRule", "bookinfo", "dr", "KIA0202")]
    # Istio keeps `reviews.bookinfo` as written (not found); Kiali reads it as the Service.
    assert found([service, rule("reviews.bookinfo")], "BM113") == [("DestinationRule", "bookinfo", "dr", "")]


def test_istiod_labelled_only_on_its_pods_still_scopes_gateways_to_their_namespace():
    pod = obj("Pod", "proxy", "test", {"containers": [{"name": "p", "image": "x:1"}]}, api="v1",
              labels={"app": "proxy"})
    istiod = obj("Deployment", "istiod", "istio-system", api="apps/v1", spec={"template": {
        "metadata": {"labels": {"app": "istiod"}}, "spec": {"containers": [{"name": "discovery", "image": "x:1", "env": [
            {"name": "PILOT_SCOPE_GATEWAY_TO_NAMESPACE", "value": "true"}]}]}}})
    other = gateway("gw", "other", ["*"], {"app": "proxy"})
    assert [k for *_, k in found([pod, istiod, other], "BM106")] == ["KIA0302"]
    assert found([pod, istiod, gateway("gw", "test", ["*"], {"app": "proxy"})], "BM106") == []
