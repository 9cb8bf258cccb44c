"""The analysis reads object bodies as any Mapping, and list fields as any Sequence
but text (`model.bodies`): what the policy host hands a policy,
`unknown_checking_proxy(deserialize_properties(...))` from pulumi_policy itself, is
judged exactly as the same objects as dicts and lists."""
from __future__ import annotations

import copy
import json

import pytest
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from meshplan.check import load_manifests
from model.analysis import analyze, installed_gateways
from model.analysis.schema import CrdSchemas
from model.analysis.shapes import shape_errors
from model.bodies import as_list, is_list, json_text, plain_data
from model.traffic import traffic_table
from tests.conftest import EXAMPLES, STACKS, render_file, render_stack
from tests.upstream import upstream

UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def as_host_hands_it(body: dict):
    """A body as pulumi_policy's Analyze and AnalyzeStack hand it to a policy."""
    return unknown_checking_proxy(deserialize_properties(body))


def test_the_host_wraps_bodies_in_mappings_and_sequences_that_are_not_dicts_and_lists():
    wrapped = as_host_hands_it({"spec": {"hosts": ["reviews"]}})
    assert not isinstance(wrapped, dict) and not isinstance(wrapped["spec"]["hosts"], list)
    assert is_list(wrapped["spec"]["hosts"]) and as_list(wrapped["spec"]["hosts"]) == ["reviews"]
    assert not is_list("reviews") and as_list("reviews") == [] and as_list(None) == []
    assert as_list(("a",)) == ["a"]
    assert plain_data(wrapped) == {"spec": {"hosts": ["reviews"]}} and type(plain_data(wrapped)) is dict
    assert json_text(wrapped) == json.dumps({"spec": {"hosts": ["reviews"]}}, sort_keys=True)


def _judged_both_ways(objects: list[dict], releases: list[dict] = (), **options):
    plain = analyze(objects, gateways=installed_gateways(releases) if releases else None, **options)
    wrapped_releases = [as_host_hands_it(r) for r in releases]
    wrapped = analyze([as_host_hands_it(o) for o in objects],
                      gateways=installed_gateways(wrapped_releases) if releases else None, **options)
    return plain, wrapped


@pytest.mark.parametrize("source", [*STACKS, *sorted(p.name for p in (EXAMPLES / "istio-tasks").glob("*.yaml"))])
def test_every_stack_and_example_is_judged_alike_as_dicts_and_as_the_host_hands_it(source):
    rendered = render_stack(source) if source in STACKS else render_file(EXAMPLES / "istio-tasks" / source)
    plain, wrapped = _judged_both_ways(rendered.objects(), [r.inputs for r in rendered.releases()],
                                       default_namespace=rendered.settings.app.namespace)
    assert wrapped == plain


def test_istio_analyzer_cases_are_judged_alike_as_dicts_and_as_the_host_hands_them():
    """Istio's own analyzer cases reach every rule (findings of each kind included)."""
    cases = sorted(p for p in upstream("istio-analyzers").iterdir() if (p / "expected.json").is_file())
    codes = set()
    for case in cases:
        spec = json.loads((case / "expected.json").read_text())
        objects = load_manifests([str(case / f) for f in spec["inputFiles"]])
        plain, wrapped = _judged_both_ways(objects, default_namespace="")
        assert wrapped == plain, case.name
        codes.update(f.code for f in plain)
    assert len(codes) >= 40


def test_gateways_installed_by_a_wrapped_release_keep_its_service_ports():
    release = {"name": "istio-ingressgateway", "chart": "gateway", "namespace": "istio-ingress",
               "values": {"service": {"ports": [{"name": "http", "port": 8080, "targetPort": 8081}]}}}
    [plain] = installed_gateways([release])
    assert plain.ports == (8080, 8081)
    assert installed_gateways([as_host_hands_it(release)]) == (plain,)


def test_schema_validation_reads_wrapped_bodies_as_plain_ones():
    schemas = CrdSchemas(specs={("networking.istio.io/v1", "VirtualService"): {
        "type": "object", "properties": {
            "hosts": {"type": "array", "items": {"type": "string"},
                      "x-kubernetes-validations": [{"rule": "size(self) > 1", "message": "two hosts at least"}]},
            "http": {"type": "array", "items": {"type": "object", "properties": {"timeout": {"type": "string"}}}}}}})
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "v"},
          "spec": {"hosts": ["reviews"], "http": [{"timeout": 1}], "htp": []}}
    plain, wrapped = _judged_both_ways([vs], schemas=schemas, only=["BM135"])
    assert wrapped == plain
    assert sorted(f.message for f in plain) == [
        "spec.hosts: two hosts at least", "spec.http[0].timeout: 1 is not of type 'string'",
        "spec: Additional properties are not allowed ('htp' was unexpected)"]


def test_shapes_accept_wrapped_lists_and_still_refuse_what_is_not_one():
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "v"},
          "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews"}, "weight": 100}]}]}}
    assert list(shape_errors(as_host_hands_it(vs))) == [] == list(shape_errors(vs))
    vs["spec"]["hosts"] = "reviews"
    assert list(shape_errors(as_host_hands_it(vs))) == [("spec.hosts", "reviews", "a list")] == list(shape_errors(vs))


def test_traffic_shares_and_shadowing_read_wrapped_routes():
    catch_all = {"match": [{"uri": {"prefix": "/"}}], "route": [{"destination": {"host": "reviews", "subset": "v3"}}]}
    vs = {"kind": "VirtualService", "metadata": {"name": "reviews", "namespace": "bookinfo"},
          "spec": {"http": [catch_all, {"route": [{"destination": {"host": "reviews", "subset": "v1"}, "weight": 90},
                                                  {"destination": {"host": "reviews", "subset": "v2"}, "weight": 10}]}]}}
    plain = traffic_table([vs])
    assert [(s.subset, s.percent) for s in plain] == [("v3", 100.0), ("v1", 0.0), ("v2", 0.0)]
    assert traffic_table([as_host_hands_it(vs)]) == plain
    for source in ("reviews-jason-v2-v3.yaml", "mirroring.yaml"):
        objects = render_file(EXAMPLES / "istio-tasks" / source).objects()
        assert traffic_table([as_host_hands_it(o) for o in objects]) == traffic_table(objects)


def test_an_unknown_value_stops_the_analysis_only_where_a_rule_reads_it():
    rendered = render_stack("prod")
    objects = [{**copy.deepcopy(o), "status": UNKNOWN_STRING} for o in rendered.objects()]
    releases = [r.inputs for r in rendered.releases()]
    plain, wrapped = _judged_both_ways(objects, releases, default_namespace="bookinfo")
    assert wrapped == plain
    vs = next(o for o in objects if o["kind"] == "VirtualService" and o["metadata"]["name"] == "reviews")
    vs["spec"]["http"][0]["route"][0]["destination"]["host"] = UNKNOWN_STRING
    with pytest.raises(UnknownValueError):
        analyze([as_host_hands_it(o) for o in objects], default_namespace="bookinfo")

