"""`meshplan check --crds` on Gateway API objects: Istio's own Gateway API samples pass
Gateway API v1.5.1's CRDs (both channels) with every rule evaluated, and the mistakes
the CRDs refuse are refused offline, each with the API server's own message."""
from __future__ import annotations

import copy
import json
from functools import cache

import pytest
import yaml

from meshplan.check import check_manifests, load_manifests
from model.analysis import analyze
from model.analysis.schema import CrdSchemas, load_crds, spec_problems
from tests.test_check_cli import check
from tests.upstream import upstream

GATEWAY_API = "istio-ambient/gateway-api/v1.5.1"
ISTIO_CRDS = "istio-1.30.3/crd-all.gen.yaml"
SAMPLES = "istio-ambient/samples/bookinfo/gateway-api"
BOOKINFO_PLATFORM = "istio-1.30.3/samples/bookinfo/platform/kube"
SAMPLE_FILES = ("bookinfo-gateway.yaml", "route-all-v1.yaml", "route-reviews-v1.yaml", "route-reviews-v3.yaml",
                "route-reviews-90-10.yaml", "route-reviews-50-v3.yaml")
GETTING_STARTED = "istio-ambient/istio-io-docs/ambient-getting-started"
CHANNELS = ("standard", "experimental")


def install_file(channel: str) -> str:
    return str(upstream(f"{GATEWAY_API}/{channel}-install.yaml"))


@cache
def _schemas(channel: str) -> CrdSchemas:
    return load_crds([str(upstream(ISTIO_CRDS)), install_file(channel)])


def schemas(channel: str) -> CrdSchemas:
    """Istio's CRDs and one Gateway API channel, loaded once (counters start at 0)."""
    loaded = _schemas(channel)
    loaded.evaluated = 0
    return loaded


def schema_findings(objects: list[dict], channel: str) -> list[str]:
    return [f"{f.level}: {f.message}" for f in analyze(objects, schemas=schemas(channel), only=["BM135"])]


def reviews_route() -> dict:
    """Istio's `route-reviews-90-10.yaml`: HTTPRoute reviews, v1 90 / v2 10, as written."""
    [route] = load_manifests([str(upstream(f"{SAMPLES}/route-reviews-90-10.yaml"))])
    return route


@pytest.mark.parametrize("channel", CHANNELS)
def test_istios_gateway_api_samples_pass_with_every_rule_evaluated(channel):
    files = [str(upstream(f"{SAMPLES}/{name}")) for name in SAMPLE_FILES]
    checked = schemas(channel)
    objects = load_manifests(files)
    assert {(o["apiVersion"], o["kind"]) for o in objects} <= set(checked.specs)  # every object has its CRD
    assert [str(f) for f in check_manifests(files, schemas=checked) if f.code == "BM135"] == []
    # Without the CRDs' defaults applied first, 21 of these evaluations error.
    assert checked.evaluated > 200


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_ambient_getting_started_waypoint_and_policies_pass(channel):
    files = [str(upstream(f"{GETTING_STARTED}/{name}")) for name in
             ("waypoint-gateway.yaml", "productpage-viewer-l4.yaml", "productpage-viewer-l7.yaml")]
    checked = schemas(channel)
    assert [str(f) for f in check_manifests(files, schemas=checked) if f.code == "BM135"] == []
    assert checked.evaluated > 0


def _weight(route):
    route["spec"]["rules"][0]["backendRefs"][0]["weight"] = 1_000_001


def _timeouts(route):
    route["spec"]["rules"][0]["timeouts"] = {"request": "1s", "backendRequest": "2s"}


def _mirror(route):
    route["spec"]["rules"][0]["filters"] = [{"type": "RequestMirror", "requestMirror": {
        "backendRef": {"name": "reviews-v3", "port": 9080}, "percent": 10,
        "fraction": {"numerator": 1, "denominator": 10}}}]


def _seventeen_rules(route):
    route["spec"]["rules"] = [copy.deepcopy(route["spec"]["rules"][0]) for _ in range(17)]


def _parent_twice(route):
    route["spec"]["parentRefs"].append(dict(route["spec"]["parentRefs"][0]))


def _no_port(route):
    del route["spec"]["rules"][0]["backendRefs"][1]["port"]


MISTAKES = {
    "weight over 1,000,000": (_weight, "spec.rules[0].backendRefs[0].weight: 1000001 is greater than the maximum "
                                       "of 1000000"),
    "backendRequest longer than request": (_timeouts, "spec.rules[0].timeouts: backendRequest timeout cannot be "
                                                      "longer than request timeout"),
    "mirror with percent and fraction": (_mirror, "spec.rules[0].filters[0].requestMirror: Only one of percent or "
                                                  "fraction may be specified in HTTPRequestMirrorFilter"),
    "17 rules": (_seventeen_rules, "spec.rules: 17 items, at most 16 allowed"),
    "parentRef twice": (_parent_twice, {
        "standard": "spec.parentRefs: sectionName must be unique when parentRefs includes 2 or more references to "
                    "the same parent",
        "experimental": "spec.parentRefs: sectionName or port must be unique when parentRefs includes 2 or more "
                        "references to the same parent"}),
    "Service backendRef without port": (_no_port, "spec.rules[0].backendRefs[1]: Must have port for Service "
                                                  "reference"),
}


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("mistake", MISTAKES)
def test_each_mistake_the_crds_refuse_is_refused_offline_with_their_message(mistake, channel):
    route = reviews_route()
    assert schema_findings([route], channel) == []
    mutate, message = MISTAKES[mistake]
    mutate(route)
    message = message[channel] if isinstance(message, dict) else message
    assert schema_findings([route], channel) == [f"error: {message}"]


def test_retries_are_an_unknown_field_of_the_standard_channel_and_accepted_by_the_experimental_one():
    route = reviews_route()
    route["spec"]["rules"][0]["retry"] = {"attempts": 3, "backoff": "100ms", "codes": [503]}
    assert schema_findings([route], "standard") == [
        "error: spec.rules[0]: Additional properties are not allowed ('retry' was unexpected)"]
    assert schema_findings([route], "experimental") == []


def test_parents_differing_only_by_namespace_are_two_parents():
    # The rule reads `p.__namespace__`: CEL's name for the property `namespace`.
    route = reviews_route()
    route["spec"]["parentRefs"].append({**route["spec"]["parentRefs"][0], "namespace": "other"})
    assert schema_findings([route], "standard") == []


def test_gateway_api_rules_calling_split_isip_and_substring_are_evaluated():
    tls = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "TLSRoute", "metadata": {"name": "t"},
           "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["*.example.com"],
                    "rules": [{"backendRefs": [{"name": "s", "port": 443}]}]}}
    gateway = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "gw"},
               "spec": {"gatewayClassName": "istio", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}],
                        "infrastructure": {"labels": {"example.com/team": "a"}}}}
    checked = schemas("standard")
    assert schema_findings([tls, gateway], "standard") == []
    assert checked.evaluated > 0
    tls["spec"]["hostnames"] = ["10.0.0.1"]
    gateway["spec"]["infrastructure"]["labels"] = {f"{'a' * 253}/team": "a"}
    assert schema_findings([tls, gateway], "standard") == [
        "error: spec.infrastructure.labels: If specified, the label key's prefix must be a DNS subdomain not longer "
        "than 253 characters in total.",
        "error: spec.hostnames: Hostnames cannot contain an IP"]


KUBERNETES_SEMANTICS = [
    # (value, rule): each rule must hold, as it does in the API server
    ("*.example.com", "self.substring(2) == 'example.com' && self.substring(0, 1) == '*'"),
    ("héllo", "self.substring(1, 2) == 'é' && self.substring(5) == ''"),  # code points, not bytes
    ("example.com/team", "self.split('/') == ['example.com', 'team'] && self.split('/', 1) == ['example.com/team']"),
    ("a/b/c", "self.split('/', 2) == ['a', 'b/c'] && self.split('/', 0) == [] && 'ab'.split('') == ['a', 'b']"),
    ("10.0.0.1", "isIP(self) && isIP('::1') && isIP('2001:db8::1')"),
    ("fe80::1%eth0", "!isIP(self) && !isIP('::ffff:1.2.3.4') && !isIP('01.2.3.4') && !isIP('example.com')"),
]


@pytest.mark.parametrize("value,text", KUBERNETES_SEMANTICS)
def test_kubernetes_library_functions_behave_as_the_api_servers(value, text):
    checked = CrdSchemas(specs={("example.com/v1", "Thing"): {"type": "object", "properties": {"value": {
        "type": "string", "x-kubernetes-validations": [{"rule": text, "message": "does not hold"}]}}}})
    assert spec_problems(checked, "example.com/v1", "Thing", {"value": value}) == []
    assert checked.evaluated == 1


def test_an_integer_in_a_number_field_is_a_double_to_cel():
    checked = CrdSchemas(specs={("example.com/v1", "Thing"): {"type": "object", "properties": {"ratio": {
        "type": "number", "x-kubernetes-validations": [{"rule": "self > 0.5", "message": "too small"}]}}}})
    assert spec_problems(checked, "example.com/v1", "Thing", {"ratio": 1}) == []
    assert checked.evaluated == 1


def test_a_rule_cel_python_cannot_compile_or_evaluate_is_reported_not_passed():
    checked = CrdSchemas(specs={("example.com/v1", "Thing"): {"type": "object", "properties": {"items": {
        "type": "array", "items": {"type": "object", "x-kubernetes-validations": [
            {"rule": "self.missing.size() > 0", "message": "m"}, {"rule": "self.(", "message": "m"}]}}}}})
    problems = spec_problems(checked, "example.com/v1", "Thing", {"items": [{}, {}]})
    assert [(level, text.split(" (")[0]) for level, text in problems] == [
        ("warning", "spec.items[0]: rule not evaluated offline"), ("warning", "spec.items[0]: rule not evaluated offline")]
    assert "(no such member in mapping: 'missing'): self.missing.size() > 0" in problems[0][1]
    assert "(cannot compile: " in problems[1][1] and checked.evaluated == 0


def test_substring_out_of_range_fails_the_rule_as_the_api_server_refuses_it():
    checked = CrdSchemas(specs={("example.com/v1", "Thing"): {"type": "object", "properties": {"value": {
        "type": "string", "x-kubernetes-validations": [{"rule": "self.substring(7, 8) == '/'", "message": "bad"}]}}}})
    assert spec_problems(checked, "example.com/v1", "Thing", {"value": "unix:/"}) == [
        ("error", "spec.value: bad (index out of range: 7)")]


def test_a_rule_calling_a_function_cel_python_lacks_is_reported_by_name_once_per_object():
    policy = {"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication", "metadata": {"name": "jwt"},
              "spec": {"jwtRules": [{"issuer": "a", "jwksUri": "https://a.example/keys"},
                                    {"issuer": "b", "jwksUri": "https://b.example/keys"}]}}
    assert schema_findings([policy], "standard") == [
        "warning: spec.jwtRules[0].jwksUri: rule not evaluated offline (CEL function getScheme(), url() not "
        "available): url(self).getScheme() in [\"http\", \"https\"]"]


def test_crds_are_given_once_per_file_and_two_channels_are_refused(capsys, tmp_path):
    # The Services the routes name come with the samples, as docs/check.md checks them (else BM183).
    files = [str(upstream(f"{SAMPLES}/{name}")) for name in SAMPLE_FILES] + \
        [str(upstream(f"{BOOKINFO_PLATFORM}/{name}")) for name in ("bookinfo.yaml", "bookinfo-versions.yaml")]
    code, out, err = check(capsys, *files, "--crds", str(upstream(ISTIO_CRDS)), "--crds", install_file("standard"),
                           "--format", "json")
    assert (code, err) == (0, "")
    assert [f for f in json.loads(out)["findings"] if f["code"] == "BM135"] == []
    route = reviews_route()
    route["spec"]["rules"][0]["retry"] = {"attempts": 3}
    path = tmp_path / "route.yaml"
    path.write_text(yaml.safe_dump(route))
    code, out, _ = check(capsys, str(path), "--crds", install_file("standard"))
    assert code == 1 and "error [BM135] HTTPRoute default/reviews: spec.rules[0]: Additional properties" in out
    code, out, err = check(capsys, str(path), "--crds", install_file("standard"), "--crds",
                           install_file("experimental"))
    assert (code, out) == (1, "")
    assert err.startswith(f"error: {install_file('experimental')}: document ") and err.count("\n") == 1
    assert "BackendTLSPolicy.gateway.networking.k8s.io is already defined by " \
           f"{install_file('standard')}: give each CRD once (one Gateway API channel)" in err


def test_listeners_named_twice_are_refused_by_the_list_map_and_by_the_rule_and_defaults_count():
    gateway = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "gw"},
               "spec": {"gatewayClassName": "istio",
                        "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"},
                                      {"name": "http", "port": 8080, "protocol": "HTTP"}],
                        # the second address is an IPAddress by default
                        "addresses": [{"type": "IPAddress", "value": "10.0.0.1"}, {"value": "10.0.0.1"}]}}
    assert schema_findings([gateway], "standard") == [
        "error: spec.addresses: IPAddress values must be unique",
        "error: spec.listeners: Listener name must be unique within the Gateway",
        "error: spec.listeners[1]: duplicate entry (name='http') in a list of type map"]


DEFAULTED = {"type": "object", "properties": {
    "kind": {"type": "string", "default": "Service"},
    "parent": {"type": "object", "properties": {"group": {"type": "string", "default": ""}}},
    "refs": {"type": "array", "items": {"type": "object", "properties": {
        "kind": {"type": "string", "default": "Service"},
        "matches": {"type": "array", "default": [{"path": {}}], "items": {"type": "object", "properties": {
            "path": {"type": "object", "properties": {"type": {"type": "string", "default": "PathPrefix"}}}}}}}}},
    "labels": {"type": "object", "additionalProperties": {"type": "string", "default": "x"}},
    "note": {"type": "string"},
    "maybe": {"type": "string", "nullable": True, "default": "d"}}}


def test_defaults_fill_present_objects_and_items_as_the_api_server_does():
    from model.analysis.crd_defaults import with_defaults

    given = {"refs": [{"name": "a"}, {"kind": "Other", "matches": [{}]}], "labels": {"a": None},
             "note": None, "maybe": None}
    assert with_defaults(DEFAULTED, given) == {
        "kind": "Service",
        "refs": [{"name": "a", "kind": "Service", "matches": [{"path": {"type": "PathPrefix"}}]},  # a default defaulted
                 {"kind": "Other", "matches": [{}]}],
        "labels": {"a": "x"},     # null where null is not allowed: the default
        "maybe": None}            # nullable: kept; `note` (null, no default) dropped; no `parent` created
    assert given["refs"][0] == {"name": "a"}  # the object itself is left as written


def _rules(path: str) -> set[str]:
    """Every CEL rule of the served versions of the CRDs in a file."""
    from model.safe_files import MANIFEST, load_large_yaml_file

    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            found.update(v["rule"] for v in node.get("x-kubernetes-validations") or [])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for doc in load_large_yaml_file(path, MANIFEST, missing="absent"):
        if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
            walk([v["schema"] for v in doc["spec"]["versions"] if v.get("served")])
    return found


def _inventory(path: str) -> tuple[set[str], set[str]]:
    import celpy

    from model.analysis.cel_functions import called_functions, missing_functions

    environment = celpy.Environment()
    trees = [environment.compile(text) for text in _rules(path) if "oldSelf" not in text]
    return set().union(*map(called_functions, trees)), set().union(*map(missing_functions, trees))


def test_every_function_gateway_api_rules_call_is_evaluated_and_istios_url_library_is_named():
    for channel in CHANNELS:
        called, missing = _inventory(install_file(channel))
        assert called == {"has", "all", "exists", "exists_one", "filter", "size", "matches", "contains",
                          "startsWith", "endsWith", "duration", "split", "isIP", "substring"}, channel
        assert missing == set(), channel
    called, missing = _inventory(str(upstream(ISTIO_CRDS)))
    assert missing == {"url", "isURL", "getScheme"}
    assert called - missing <= {"has", "all", "exists", "exists_one", "size", "contains", "startsWith", "endsWith",
                                "matches", "duration", "int", "substring"}


def test_a_crd_file_of_malformed_crds_is_refused_in_one_line(capsys, tmp_path):
    crds = tmp_path / "crds.yaml"
    crds.write_text("kind: CustomResourceDefinition\nspec:\n  group: g\n  names: {kind: Thing}\n  versions: [1, {schema: 3}, "
                    "{served: true, schema: {openAPIV3Schema: {properties: {spec: 4}}}}]\n---\n"
                    "kind: CustomResourceDefinition\nspec: [1]\n")
    objects = tmp_path / "thing.yaml"
    objects.write_text("apiVersion: g/v1\nkind: Thing\nmetadata: {name: a}\n")
    code, out, err = check(capsys, str(objects), "--crds", str(crds))
    assert (code, out, err) == (1, "", f"error: {crds}: no CustomResourceDefinition with a spec schema (--crds)\n")
