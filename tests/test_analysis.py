"""The analyzers over constructed objects (no Pulumi) and over every rendered stack."""
from __future__ import annotations

import copy
import re

import pytest

from model.analysis import (CODES, DEFAULT_GATEWAYS, ERROR, WARNING, GatewayWorkload, analyze, errors, fqdn,
                            installed_gateways)
from tests.conftest import STACKS, render_stack
from tests.manifests import bookinfo, find


def codes(findings, level=None):
    return sorted({f.code for f in findings if level is None or f.level == level})


def test_clean_bookinfo_sample_has_no_errors_only_warnings_for_subsets_without_pods():
    findings = analyze(bookinfo())
    assert errors(findings) == []
    no_pods = {(f.name, f.message.split()[1]) for f in findings if f.code == "BM103"}
    assert no_pods == {("ratings", "v2"), ("ratings", "v2-mysql"), ("ratings", "v2-mysql-vm"), ("details", "v2")}
    assert all(f.level == WARNING for f in findings)


def test_finding_prints_as_level_code_kind_namespace_name_message():
    objects = bookinfo()
    find(objects, "VirtualService", "reviews")["spec"]["http"][0]["route"][0]["destination"]["subset"] = "v9"
    [finding] = errors(analyze(objects))
    assert re.fullmatch(r"error \[BM102\] VirtualService default/reviews: http\[0\]: subset v9 of reviews "
                        r"is not defined by DestinationRule default/reviews \(subsets: v1, v2, v3\)", str(finding))


def test_unknown_destination_host_is_an_error_naming_the_host():
    objects = bookinfo()
    find(objects, "VirtualService", "ratings")["spec"]["http"][0]["route"][0]["destination"]["host"] = "ratingz"
    # As in istioctl, the subset is judged too, whether or not its host exists.
    [finding, subset] = errors(analyze(objects))
    assert (finding.code, finding.kind, finding.name) == ("BM101", "VirtualService", "ratings")
    assert "ratingz.default.svc.cluster.local" in finding.message
    assert (subset.code, subset.istio) == ("BM102", "IST0101") and "subset v1 of ratingz" in subset.message


def test_short_host_resolves_in_the_virtual_service_namespace():
    objects = bookinfo()
    vs = find(objects, "VirtualService", "reviews")
    vs["metadata"]["namespace"] = "other"
    [finding] = [f for f in errors(analyze(objects)) if f.code == "BM101"]
    assert "reviews.other.svc.cluster.local" in finding.message
    assert fqdn("reviews", "bookinfo") == "reviews.bookinfo.svc.cluster.local"
    assert fqdn("api.example.com", "bookinfo") == "api.example.com"


def test_external_host_needs_a_service_entry():
    objects = bookinfo()
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "google"},
          "spec": {"hosts": ["www.googleapis.com"],
                   "http": [{"route": [{"destination": {"host": "www.googleapis.com"}}]}]}}
    assert codes(errors(analyze([*objects, vs]))) == ["BM101"]
    entry = {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry", "metadata": {"name": "google"},
             "spec": {"hosts": ["*.googleapis.com"], "location": "MESH_EXTERNAL", "resolution": "DNS"}}
    assert errors(analyze([*objects, vs, entry])) == []


def test_subset_without_destination_rule_names_the_missing_rule():
    objects = [o for o in bookinfo() if not (o["kind"] == "DestinationRule" and o["metadata"]["name"] == "details")]
    [finding] = errors(analyze(objects))
    assert finding.code == "BM102" and "no DestinationRule for host details.default.svc.cluster.local" in finding.message


def test_routed_subset_selecting_no_pods_is_an_error_unrouted_a_warning():
    objects = bookinfo()
    find(objects, "VirtualService", "details")["spec"]["http"][0]["route"][0]["destination"]["subset"] = "v2"
    [finding] = errors(analyze(objects))
    assert (finding.code, finding.kind, finding.name) == ("BM103", "DestinationRule", "details")
    assert "subset v2 selects no pods (app=details,version=v2 in namespace default)" in finding.message
    assert "VirtualService default/details routes to it" in finding.message


def test_pods_in_another_namespace_do_not_count_for_a_subset():
    objects = bookinfo()
    find(objects, "Deployment", "productpage-v1")["metadata"]["namespace"] = "elsewhere"
    assert [(f.code, f.name) for f in errors(analyze(objects))] == [("BM103", "productpage")]


def test_gateway_referenced_but_not_defined():
    objects = bookinfo()
    find(objects, "VirtualService", "bookinfo")["spec"]["gateways"] = ["bookinfo-gw"]
    [finding] = errors(analyze(objects))
    assert finding.code == "BM104" and "gateway default/bookinfo-gw is not defined" in finding.message


def test_virtual_service_is_flagged_only_when_none_of_its_hosts_is_served_by_its_gateway():
    objects = bookinfo()
    find(objects, "Gateway", "bookinfo-gateway")["spec"]["servers"][0]["hosts"] = ["bookinfo.example.com"]
    find(objects, "VirtualService", "bookinfo")["spec"]["hosts"] = ["shop.example.com"]
    [finding] = [f for f in analyze(objects) if f.code == "BM105"]
    assert finding.level == WARNING and finding.istio == "IST0132"
    assert "none of its hosts (shop.example.com) is served" in finding.message
    find(objects, "VirtualService", "bookinfo")["spec"]["hosts"] = ["shop.example.com", "bookinfo.example.com"]
    assert not [f for f in analyze(objects) if f.code == "BM105"]
    # `./host` serves only the Gateway's own namespace.
    find(objects, "Gateway", "bookinfo-gateway")["metadata"]["namespace"] = "istio-system"
    find(objects, "VirtualService", "bookinfo")["spec"]["gateways"] = ["istio-system/bookinfo-gateway"]
    find(objects, "Gateway", "bookinfo-gateway")["spec"]["servers"][0]["hosts"] = ["./bookinfo.example.com"]
    assert [f.code for f in analyze(objects) if f.code == "BM105"] == ["BM105"]
    find(objects, "Gateway", "bookinfo-gateway")["spec"]["servers"][0]["hosts"] = ["default/bookinfo.example.com"]
    assert not [f for f in analyze(objects) if f.code == "BM105"]


def test_gateway_selector_must_match_an_installed_gateway_the_istio_ingress_trap():
    helm_docs_gateway = installed_gateways([{"name": "istio-ingress", "chart": "gateway", "namespace": "istio-ingress"}])
    assert helm_docs_gateway[0].labels == {"istio": "ingress"}
    [finding] = errors(analyze(bookinfo(), gateways=helm_docs_gateway))
    assert finding.code == "BM106" and "selector istio=ingressgateway matches no gateway workload" in finding.message
    assert "istio=ingress" in finding.message


def test_gateway_workloads_in_the_files_count_and_defaults_apply_without_any():
    objects = bookinfo()
    find(objects, "Gateway", "bookinfo-gateway")["spec"]["selector"] = {"istio": "my-gateway"}
    # Gateways assumed, not known: the cluster may run one, so a warning that says so.
    [finding] = [f for f in analyze(objects) if f.code == "BM106"]
    assert finding.level == WARNING and "pass it with --gateway" in finding.message
    assert codes(errors(analyze(objects, gateways=DEFAULT_GATEWAYS))) == ["BM106"]
    pod = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "my-gateway"},
           "spec": {"template": {"metadata": {"labels": {"istio": "my-gateway"}}}}}
    assert errors(analyze([*objects, pod])) == []
    assert installed_gateways([{"name": "kiali-server", "chart": "kiali-server"}]) is None
    assert DEFAULT_GATEWAYS[0].labels == {"istio": "ingressgateway"}


def test_two_mesh_virtual_services_for_one_host_conflict():
    objects = bookinfo()
    extra = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "reviews-canary"},
             "spec": {"hosts": ["reviews.default.svc.cluster.local"],
                      "http": [{"route": [{"destination": {"host": "reviews", "subset": "v2"}}]}]}}
    found = [f for f in errors(analyze([*objects, extra])) if f.code == "BM107"]
    assert sorted(f.name for f in found) == ["reviews", "reviews-canary"]
    # Gateway-bound VirtualServices for one host are merged by Istio, not in conflict.
    assert not [f for f in analyze(objects) if f.code == "BM107"]


def test_weights_duplicates_and_lone_destinations():
    objects = bookinfo()
    http = find(objects, "VirtualService", "reviews")["spec"]["http"]
    http[0]["route"] = [{"destination": {"host": "reviews", "subset": "v1"}, "weight": 0},
                        {"destination": {"host": "reviews", "subset": "v1"}, "weight": 0}]
    find(objects, "VirtualService", "ratings")["spec"]["http"][0]["route"][0]["weight"] = 50
    find(objects, "VirtualService", "details")["spec"]["http"][0]["route"] = [
        {"destination": {"host": "details", "subset": "v1"}, "weight": -10},
        {"destination": {"host": "details", "subset": "v1"}, "weight": 110}]
    found = {(f.code, f.name, f.level) for f in analyze(objects)}
    assert ("BM110", "reviews", ERROR) in found and ("BM110", "details", ERROR) in found
    assert ("BM108", "reviews", WARNING) in found
    assert ("BM109", "ratings", WARNING) in found


def test_findings_come_errors_first_then_warnings_whatever_their_codes():
    objects = bookinfo()
    find(objects, "VirtualService", "bookinfo")["spec"]["gateways"] = ["nowhere"]
    findings = analyze(objects)
    levels = [f.level for f in findings]
    warning_codes = [f.code for f in findings if f.level == WARNING]
    error_codes = [f.code for f in findings if f.level == ERROR]
    assert min(warning_codes) < max(error_codes)  # by code alone a warning would come first
    assert levels == [ERROR] * len(error_codes) + [WARNING] * len(warning_codes)


def test_the_same_object_given_twice_reports_each_finding_once():
    objects = bookinfo()
    reviews = find(objects, "VirtualService", "reviews")
    reviews["spec"]["http"][0]["route"][0]["destination"]["subset"] = "v9"
    findings = analyze([*objects, copy.deepcopy(reviews)])
    assert [f.code for f in findings].count("BM102") == 1
    assert len(findings) == len(set(findings))


def test_rule_after_a_catch_all_rule_never_matches():
    objects = bookinfo()
    http = find(objects, "VirtualService", "reviews")["spec"]["http"]
    http.append({"match": [{"headers": {"end-user": {"exact": "jason"}}}],
                 "route": [{"destination": {"host": "reviews", "subset": "v2"}}]})
    [finding] = [f for f in analyze(objects) if f.code == "BM111"]
    assert finding.name == "reviews" and "http[1] can never match: http[0]" in finding.message
    http.reverse()
    assert not [f for f in analyze(objects) if f.code == "BM111"]


def authorization_policy(principals):
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": "reviews-viewer", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "reviews"}}, "action": "ALLOW",
                     "rules": [{"from": [{"source": {"principals": principals}}],
                                "to": [{"operation": {"methods": ["GET"]}}]}]}}


def test_authorization_policy_principal_must_name_an_existing_service_account():
    objects = bookinfo()
    good = authorization_policy(["cluster.local/ns/default/sa/bookinfo-productpage",
                                 "cluster.local/ns/default/sa/default", "cluster.local/ns/other/sa/anyone",
                                 "cluster.local/ns/default/sa/*"])
    assert errors(analyze([*objects, good])) == []
    bad = authorization_policy(["cluster.local/ns/default/sa/bookinfo-productpag"])
    [finding] = errors(analyze([*objects, bad]))
    assert finding.code == "BM112" and finding.kind == "AuthorizationPolicy"
    assert "service account default/bookinfo-productpag, which does not exist" in finding.message


def test_destination_rule_for_an_unknown_host_is_a_warning():
    objects = bookinfo()
    find(objects, "DestinationRule", "details")["spec"]["host"] = "detail"
    found = {(f.code, f.level) for f in analyze(objects)}
    assert ("BM113", WARNING) in found


def test_every_code_is_documented_with_the_istioctl_or_kiali_code_or_the_check_it_mirrors():
    from model.analysis import CATALOGUE
    from model.analysis.registry import CODE_RE

    assert set(CODES) == set(CATALOGUE)
    for code, rule in CATALOGUE.items():
        meaning, equivalent = CODES[code]
        assert CODE_RE.fullmatch(code) and meaning == rule.doc and meaning, code
        assert re.fullmatch(r"(IST\d{4})?", rule.istio) and re.fullmatch(r"(KIA\d{4}(/KIA\d{4})*)?", rule.kiali), code
        named = [c for c in (rule.istio, rule.kiali) if c]
        assert named or rule.other, f"{code} names no istioctl, Kiali or other equivalent"
        assert all(c in equivalent for c in named) if named else equivalent == rule.other, code


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_stacks_have_no_analysis_errors(stack):
    from meshplan.check import check_rendered

    assert errors(check_rendered(render_stack(stack))) == []


def test_gateway_workload_host_counts_as_known():
    egress = GatewayWorkload(labels={"istio": "egressgateway"}, namespace="istio-system", service="istio-egressgateway")
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "x", "namespace": "a"},
          "spec": {"hosts": ["x.example.com"], "http": [{"route": [
              {"destination": {"host": "istio-egressgateway.istio-system.svc.cluster.local"}}]}]}}
    entry = {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry", "metadata": {"name": "x", "namespace": "a"},
             "spec": {"hosts": ["x.example.com"]}}
    assert errors(analyze([vs, entry], gateways=[egress])) == []


def test_gateway_port_must_be_a_port_of_the_gateway_service_the_8080_trap():
    helm = installed_gateways([{"name": "istio-ingressgateway", "chart": "gateway", "namespace": "istio-ingress",
                                "values": {"service": {"type": "NodePort"}}}])
    [finding] = [f for f in analyze(bookinfo(), gateways=helm) if f.code == "BM114"]
    assert (finding.level, finding.kind, finding.name) == (WARNING, "Gateway", "bookinfo-gateway")
    assert finding.message == ("server port 8080 is not a port of gateway Service istio-ingress/istio-ingressgateway "
                               "(ports: 80, 443, 15021) [gateway installed by this stack's gateway Helm release]")
    # On files, istioctl analyze assumes a gateway Service with ports 80, 443, 31400
    # and 15443, and so flags upstream's 8080 too; the finding says it is assumed.
    [assumed] = [f for f in analyze(bookinfo()) if f.code == "BM114"]
    assert "assumed, as istioctl analyze assumes for files" in assumed.message
    custom = installed_gateways([{"name": "istio-ingressgateway", "chart": "gateway", "values": {
        "service": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}}])
    assert not [f for f in analyze(bookinfo(), gateways=custom) if f.code == "BM114"]


def test_readme_code_table_is_the_catalogue():
    from model.analysis.registry import markdown_table
    from tests.conftest import ROOT

    from tests.conftest import docs_text

    readme = docs_text("check.md")
    table = readme.split("<!-- check-codes:begin -->\n", 1)[1].split("<!-- check-codes:end -->", 1)[0]
    assert table == markdown_table()


def test_every_rule_declares_its_code_level_doc_and_runs_alone():
    from model.analysis import CATALOGUE

    assert len(CATALOGUE) >= 35
    for code, rule in CATALOGUE.items():
        assert rule.code == code and rule.level in ("error", "warning", "info") and rule.doc
        # Each rule runs on its own: the others' results are never needed.
        assert analyze(bookinfo(), only=[code]) == [f for f in analyze(bookinfo()) if f.code == code]


def test_export_to_limits_where_a_host_counts():
    objects = bookinfo()
    entry = {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
             "metadata": {"name": "everything", "namespace": "other"},
             "spec": {"hosts": ["*"], "exportTo": ["."]}}
    find(objects, "VirtualService", "ratings")["spec"]["http"][0]["route"][0]["destination"]["host"] = "ratingz"
    assert "BM101" in codes(errors(analyze([*objects, entry])))
    entry["spec"]["exportTo"] = ["*"]
    assert "BM101" not in codes(errors(analyze([*objects, entry])))


def test_a_virtual_service_exported_everywhere_is_judged_from_its_own_namespace_only():
    # `exportTo: ["*"]` shows the routes to every namespace, but its destinations are
    # resolved where the VirtualService lives, as with no exportTo at all; a
    # namespace named in exportTo must see them (and exist: BM160).
    objects = [*bookinfo(), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}]
    find(objects, "Service", "reviews")["metadata"]["annotations"] = {"networking.istio.io/exportTo": "."}
    routes = find(objects, "VirtualService", "reviews")["spec"]
    for everywhere in (["*"], ["*", "other"]):
        routes["exportTo"] = everywhere
        assert errors(analyze(objects)) == [], everywhere
    routes["exportTo"] = ["other"]
    [finding] = errors(analyze(objects))
    assert finding.code == "BM101" and "not found from namespace other (defined, but not exported there)" \
        in finding.message


def test_destination_ports_and_mirrors_are_judged():
    objects = bookinfo()
    rule = find(objects, "VirtualService", "reviews")["spec"]["http"][0]
    rule["route"][0]["destination"]["port"] = {"number": 9999}
    rule["mirror"] = {"host": "reviewz"}
    found = {f.code: f for f in errors(analyze(objects))}
    assert "port 9999 is not one of its ports (9080)" in found["BM115"].message
    assert "http[0] mirror: destination host reviewz" in found["BM101"].message


def test_overlapping_wildcard_hosts_conflict_in_the_mesh():
    def vs(name, namespace, host):
        return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"hosts": [host], "http": [{"route": [{"destination": {"host": "x.example.com"}}]}]}}
    found = analyze([vs("a", "foo", "*.productpage.d"), vs("b", "bar", "*.d")], only=["BM107"])
    assert sorted(f.name for f in found) == ["a", "b"] and {f.istio for f in found} == {"IST0109"}
