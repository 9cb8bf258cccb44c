"""Everything that reads traffic reads Gateway API HTTPRoutes too: the traffic table
(Gateway API's weights and match precedence, not a VirtualService's), route aspects,
the step guard, make before break, `meshplan diff` (text, markdown, the mermaid
graph, an exported state), the rollout plan and the deployer's RBAC. Inputs are
Istio's own Gateway API Bookinfo samples (read from the upstream artifacts) and
small variants of them made here."""
from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import yaml

from meshplan.cli import main
from meshplan.diff import compare as diffing
from meshplan.diff.compare import diff_states
from meshplan.diff.formats import diff_markdown, diff_text, mermaid
from meshplan.diff.states import State
from meshplan.rbac import MANAGE, deployer_manifests
from meshplan.render.recording import SECRET_SHOWN, Registration
from meshplan.rollout import plan as rollout_plan
from model.analysis.shapes import checked_object
from model.errors import ConfigError
from model.rollout_plan import PlannedStep, change_plans, default_route_weights
from model.route_aspects import route_aspects
from model.traffic import make_before_break, needed_before, traffic_table
from model.traffic_changes import (output_row, shares_from_output, step_violations, traffic_changes,
                                   undeployed_while_routed)
from model.vocabulary import REGISTERED_KINDS, is_custom_resource
from tests.conftest import render_file, render_stack
from tests.test_diff import ALL_V1, FIFTY, export_of
from tests.test_mermaid_graphs import parse
from tests.upstream import upstream

SAMPLES = "istio-ambient/samples/bookinfo/gateway-api"


def sample(name: str) -> list[dict]:
    """The objects of one of Istio's Gateway API Bookinfo files."""
    return [d for d in yaml.safe_load_all(upstream(f"{SAMPLES}/{name}").read_text()) if d]


def versions() -> list[dict]:
    """Istio's per-version Services (`reviews-v1` ... selecting app and version)."""
    text = upstream("istio-ambient/samples/bookinfo/platform/kube/bookinfo-versions.yaml").read_text()
    return [d for d in yaml.safe_load_all(text) if d]


def table(objects) -> dict[tuple[str, str, str], float]:
    """(route object, host, version) → percent, each row an HTTPRoute's."""
    shares = traffic_table(objects)
    assert {s.kind for s in shares} == {"HTTPRoute"}
    return {(s.virtual_service, s.host, s.subset): s.percent for s in shares}


def reviews(*rules: dict) -> dict:
    """An HTTPRoute `reviews` attached to the Service reviews (as Istio's samples)."""
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "reviews", "namespace": "bookinfo"},
            "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "reviews", "port": 9080}],
                     "rules": list(rules)}}


def to(*versions_and_weights, **rule) -> dict:
    """A rule sending to per-version Services: `to(("v1", 90), ("v2", None))`."""
    refs = [{"name": f"reviews-{v}", "port": 9080, **({} if w is None else {"weight": w})}
            for v, w in versions_and_weights]
    return {**rule, "backendRefs": refs}


def shares_by_rule(route: dict) -> dict[tuple[str, str], float]:
    return {(s.route, s.subset): s.percent for s in traffic_table([route])}


# ------------------------------------------------------------ Istio's samples


@pytest.mark.parametrize("name, expected", [
    ("route-reviews-90-10.yaml", {("reviews", "reviews", "v1"): 90.0, ("reviews", "reviews", "v2"): 10.0}),
    ("route-reviews-50-v3.yaml", {("reviews", "reviews", "v1"): 50.0, ("reviews", "reviews", "v3"): 50.0}),
    ("route-reviews-v3.yaml", {("reviews", "reviews", "v3"): 100.0}),
    ("route-reviews-v1.yaml", {("reviews", "reviews", "v1"): 100.0}),
    ("route-all-v1.yaml", {(s, s, "v1"): 100.0 for s in ("reviews", "productpage", "ratings", "details")}),
])
def test_the_shares_of_istios_gateway_api_samples(name, expected):
    assert table(sample(name)) == expected
    assert {s.route for s in traffic_table(sample(name))} == {"#0 default"}


def test_the_ingress_route_sends_all_its_paths_to_productpage_from_the_gateway():
    [share] = traffic_table(sample("bookinfo-gateway.yaml"))
    assert (share.virtual_service, share.host, share.subset, share.percent) == ("bookinfo", "productpage", "", 100.0)
    assert share.route == ("#0 path=/productpage | path^=/static | path=/login | path=/logout | "
                           "path^=/api/v1/products")


def test_istios_samples_pass_the_shape_check_every_state_and_manifest_reader_applies():
    for name in ("route-reviews-90-10.yaml", "route-all-v1.yaml", "bookinfo-gateway.yaml"):
        for obj in sample(name):
            assert checked_object(obj, file=name, where="document") is obj


def test_a_malformed_httproute_is_refused_in_one_line_naming_the_field():
    route = reviews(to(("v1", "ninety")))
    with pytest.raises(ConfigError, match=r"spec\.rules\[0\]\.backendRefs\[0\]\.weight.*a whole number"):
        checked_object(route, file="route.yaml", where="document 1")


def test_meshplan_check_reads_istios_gateway_api_files_and_refuses_a_mistyped_weight(capsys, tmp_path):
    # With the application and its per-version Services, as Istio's docs apply them:
    # a route to a Service that is not there is a finding of its own (BM183).
    files = [str(upstream(f"{SAMPLES}/{name}")) for name in ("route-reviews-90-10.yaml", "bookinfo-gateway.yaml")]
    files += [str(upstream("istio-1.30.3/samples/bookinfo/platform/kube/bookinfo.yaml")),
              str(upstream("istio-ambient/samples/bookinfo/platform/kube/bookinfo-versions.yaml"))]
    assert main(["check", *files]) == 0
    assert capsys.readouterr().out.lower() == "no findings\n"
    bad = tmp_path / "route.yaml"
    bad.write_text(upstream(f"{SAMPLES}/route-reviews-90-10.yaml").read_text().replace("weight: 90", "weight: ninety"))
    assert main(["check", str(bad)]) == 1
    assert capsys.readouterr().err == (f"error: {bad}: document 1: spec.rules[0].backendRefs[0].weight = "
                                       '"ninety": expected a whole number\n')


# ------------------------------------------------------------ Gateway API semantics


def test_an_omitted_weight_counts_one_beside_others_unlike_a_virtual_service():
    assert shares_by_rule(reviews(to(("v1", 3), ("v2", None)))) == {("#0 default", "v1"): 75.0,
                                                                    ("#0 default", "v2"): 25.0}
    assert shares_by_rule(reviews(to(("v1", None), ("v2", None)))) == {("#0 default", "v1"): 50.0,
                                                                       ("#0 default", "v2"): 50.0}


def test_weight_zero_sends_nothing_even_to_a_lone_backend():
    assert shares_by_rule(reviews(to(("v1", 0), ("v2", 5)))) == {("#0 default", "v1"): 0.0,
                                                                ("#0 default", "v2"): 100.0}
    assert shares_by_rule(reviews(to(("v1", 0)))) == {("#0 default", "v1"): 0.0}
    assert shares_by_rule(reviews(to(("v1", 7)))) == {("#0 default", "v1"): 100.0}


@pytest.mark.parametrize("catch_all", [{}, {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]},
                                       {"matches": [{"path": {"value": "/"}}]}, {"matches": [{}]}])
def test_a_first_rule_catching_every_request_shadows_a_later_catch_all(catch_all):
    route = reviews(to(("v3", None), **catch_all), to(("v1", None)))
    assert shares_by_rule(route) == {("#0 default", "v3"): 100.0, ("#1 default", "v1"): 0.0}


def test_a_later_header_rule_outranks_an_earlier_catch_all_by_gateway_api_precedence():
    jason = {"matches": [{"headers": [{"name": "end-user", "value": "jason"}]}]}
    regex = {"matches": [{"headers": [{"name": "end-user", "type": "RegularExpression", "value": "j.*"}]}]}
    route = reviews(to(("v1", None)), to(("v2", None), **jason), to(("v3", None), **regex))
    assert shares_by_rule(route) == {("#0 default", "v1"): 100.0, ("#1 end-user=jason", "v2"): 100.0,
                                     ("#2 end-user~=j.*", "v3"): 100.0}


def test_istio_ranks_a_regular_expression_path_below_the_catch_all_wherever_it_stands():
    regex = {"matches": [{"path": {"type": "RegularExpression", "value": "/.*"}}]}
    route = reviews(to(("v3", None), **regex), to(("v1", None)))
    assert shares_by_rule(route) == {("#0 path~=/.*", "v3"): 0.0, ("#1 default", "v1"): 100.0}


def test_a_route_a_secret_hides_has_no_known_shares():
    route = reviews(to(("v1", 90), ("v2", 10)))
    route["spec"]["rules"][0]["backendRefs"][1]["weight"] = SECRET_SHOWN
    assert traffic_table([route]) == [] and route_aspects([route]) == []


def test_a_backend_outside_the_version_convention_reads_as_its_own_name():
    route = reviews({"backendRefs": [{"name": "reviews", "port": 9080, "weight": 1},
                                     {"name": "ratings-v1", "port": 9080, "weight": 1}]})
    assert shares_by_rule(route) == {("#0 default", ""): 50.0, ("#0 default", "ratings-v1"): 50.0}


# ------------------------------------------------------------ mirrors, timeouts, retries


def test_mirrors_timeouts_and_retries_read_as_route_aspects():
    mirror = {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "reviews-v3", "port": 9080},
                                                         "percent": 50}}
    third = {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "reviews-v2", "port": 9080},
                                                        "fraction": {"numerator": 1, "denominator": 3}}}
    route = reviews(to(("v1", None), filters=[mirror, third], timeouts={"request": "10s", "backendRequest": "2s"},
                       retry={"attempts": 3.0, "codes": [503.0, 502], "backoff": "100ms"}))
    assert [(a.kind, a.route, a.aspect, a.reading) for a in route_aspects([route])] == [
        ("HTTPRoute", "#0 default", "mirror to reviews v3", "mirror to reviews v3 (50%)"),
        ("HTTPRoute", "#0 default", "mirror to reviews v2", "mirror to reviews v2 (33.3%)"),
        ("HTTPRoute", "#0 default", "timeout", "timeout 10s"),
        ("HTTPRoute", "#0 default", "backend timeout", "backend timeout 2s"),
        ("HTTPRoute", "#0 default", "retries", "retries 3 on 503,502 backoff 100ms")]


def test_a_mirror_without_a_percentage_copies_every_request_and_a_retry_without_attempts_is_istios_two():
    bare = {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "reviews-v3", "port": 9080}}}
    route = reviews(to(("v1", None), filters=[bare], retry={}))
    assert [a.reading for a in route_aspects([route])] == ["mirror to reviews v3 (100%)",
                                                           "retries 2 (Istio's default)"]


# ------------------------------------------------------------ the step guard


def test_the_step_guard_judges_istios_v1_to_90_10_routes():
    moved = traffic_changes(traffic_table(sample("route-reviews-v1.yaml")),
                            traffic_table(sample("route-reviews-90-10.yaml")))
    assert step_violations(moved, 5) == [
        "step guard: HTTPRoute /reviews route '#0 default' moves reviews v2 0% → 10% (+10 points), "
        "more than the maximum step of 5 points"]
    assert step_violations(moved, 10) == []


def test_the_exported_traffic_rows_carry_an_httproutes_kind_and_read_back_the_same_shares():
    shares = traffic_table(sample("route-reviews-90-10.yaml"))
    rows = [output_row(s) for s in shares]
    assert rows[0] == {"virtualService": "reviews", "namespace": "", "route": "#0 default", "host": "reviews",
                       "subset": "v1", "percent": 90.0, "kind": "HTTPRoute"}
    assert shares_from_output(rows) == shares
    vs = yaml.safe_load(upstream("istio-1.30.3/samples/bookinfo/networking/virtual-service-reviews-90-10.yaml")
                        .read_text())
    assert "kind" not in output_row(traffic_table([vs])[0])  # a VirtualService's row as it always was
    assert shares_from_output([{k: v for k, v in rows[0].items() if k != "kind"}])[0].kind == "VirtualService"


def test_a_virtual_service_replaced_by_an_httproute_with_the_same_shares_moves_no_traffic():
    vs = yaml.safe_load(upstream("istio-1.30.3/samples/bookinfo/networking/virtual-service-reviews-90-10.yaml")
                        .read_text())
    moved = traffic_changes(traffic_table([vs]), traffic_table(sample("route-reviews-90-10.yaml")))
    assert moved and not [c for c in moved if c.changed]


# ------------------------------------------------------------ make before break


def test_a_backend_needs_its_per_version_service_before_the_route_sends_to_it():
    objects = sample("route-reviews-90-10.yaml") + versions()
    needs = {(n.delivery.subset, n.backing.services) for n in make_before_break(objects)}
    assert needs == {("v1", (("Service", "", "reviews-v1"),)), ("v2", (("Service", "", "reviews-v2"),))}
    assert needed_before(objects)[("HTTPRoute", "", "reviews")] == (("Service", "", "reviews-v1"),
                                                                    ("Service", "", "reviews-v2"))


def test_a_mirror_needs_its_service_too_and_a_shadowed_rule_needs_nothing():
    mirror = {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "reviews-v3", "port": 9080}}}
    route = reviews(to(("v1", None), filters=[mirror]), to(("v2", None)))
    assert [(n.delivery.subset, n.delivery.mirrored, n.delivery.service) for n in make_before_break([route])] == [
        ("v1", False, ("bookinfo", "reviews-v1")), ("v3", True, ("bookinfo", "reviews-v3"))]


def test_removing_a_per_version_service_still_routed_to_is_refused():
    before = sample("route-reviews-90-10.yaml") + versions()
    after = [o for o in before if o["metadata"]["name"] != "reviews-v2"]
    assert undeployed_while_routed(before, after) == [
        "make before break: reviews v2 still receives 10% of HTTPRoute /reviews route '#0 default', and this "
        "change undeploys it (Service /reviews-v2); shift its traffic to 0% first, then remove it"]
    moved_away = sample("route-reviews-v1.yaml") + versions()
    assert undeployed_while_routed(moved_away, [o for o in moved_away if o["metadata"]["name"] != "reviews-v2"]) == []


# ------------------------------------------------------------ meshplan diff


def httproute_diff(base: list[dict], head: list[dict]):
    return diff_states(State("base", {}, base), State("head", {}, head))


def test_the_diff_shows_httproute_traffic_in_text_and_markdown():
    ingress = sample("bookinfo-gateway.yaml")
    diff = httproute_diff(ingress + sample("route-reviews-v1.yaml"), ingress + sample("route-reviews-90-10.yaml"))
    text = diff_text(diff)
    assert "traffic: reviews v1 100% → 90%, v2 0% → 10%" in text
    assert "  HTTPRoute /reviews  #0 default  reviews v2              0% →   10%  (+10)\n" in text
    markdown = diff_markdown(diff)
    assert "| Route | Route | Destination | Before | After | Change |" in markdown
    assert "| `HTTPRoute /reviews` | #0 default | reviews v2 | 0% | 10% | +10 |" in markdown


def test_the_traffic_graph_of_httproutes_starts_at_the_gateway_and_the_parent_service_and_parses():
    ingress = sample("bookinfo-gateway.yaml")
    diff = httproute_diff(ingress + sample("route-all-v1.yaml") + sample("route-reviews-v1.yaml"),
                          ingress + sample("route-all-v1.yaml")[1:] + sample("route-reviews-90-10.yaml"))
    graph = mermaid(diff)
    text = "\n".join(graph)
    assert '{{"bookinfo-gateway"}}' in text and '("productpage")' in text and '["reviews v2"]' in text
    gateway, productpage, reviews_node, v2 = (next(line.split("{")[0].split("(")[0].split("[")[0].strip()
                                                    for line in graph if marker in line)
                                               for marker in ('{{"bookinfo-gateway"}}', '("productpage")',
                                                              '("reviews")', '["reviews v2"]'))
    assert f'  {gateway} -->|"100%"| {productpage}' in graph
    assert f'  {reviews_node} -->|"0% → 10%"| {v2}' in graph
    assert parse([text]) == [{"ok": True}]


def test_an_exported_state_holding_an_httproute_is_read_by_the_diff(capsys, tmp_path):
    document = export_of(render_file(ALL_V1, "dev"))
    [vs] = [r for r in document["deployment"]["resources"] if r["urn"].endswith("::routing-virtualservice-reviews")]
    route = copy.deepcopy(sample("route-reviews-90-10.yaml")[0])
    route["metadata"]["namespace"] = "bookinfo"
    vs.update(type="kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", inputs=route, outputs=route)
    state = tmp_path / "state.json"
    state.write_text(json.dumps(document))
    code = main(["diff", "--config", FIFTY, "--stack", "dev", "--against-state", str(state), "--format", "json"])
    assert code == 2
    traffic = json.loads(capsys.readouterr().out)["traffic"]
    assert [(t["subset"], t["before"], t["after"], t.get("kind")) for t in traffic] == [
        ("v1", 90, 50, None), ("v3", 0, 50, None), ("v2", 10, 0, "HTTPRoute")]


# ------------------------------------------------------------ the rollout plan


def test_the_rollout_plan_reads_an_httproutes_default_rule_weights():
    assert default_route_weights(sample("route-reviews-90-10.yaml")[0]) == {"v1": 90, "v2": 10}
    assert default_route_weights(sample("route-reviews-v3.yaml")[0]) == {"v3": 100}
    assert default_route_weights(reviews(to(("v1", 1), ("v2", None)))) == {"v1": 1, "v2": 1}
    jason = {"matches": [{"headers": [{"name": "end-user", "value": "jason"}]}]}
    assert default_route_weights(reviews(to(("v2", None), **jason), to(("v1", 90), ("v3", 10)))) == {"v1": 90,
                                                                                                     "v3": 10}
    assert default_route_weights(sample("bookinfo-gateway.yaml")[1]) is None  # no Service parent


def test_a_change_from_v1_to_90_10_is_planned_as_rollout_steps_when_the_canary_service_exists():
    base = sample("route-reviews-v1.yaml") + versions()
    head = sample("route-reviews-90-10.yaml") + versions()
    moved = traffic_changes(traffic_table(base), traffic_table(head))
    [plan] = change_plans(moved, 5, before=base, after=head)
    assert (plan.service, plan.canary, plan.steps, plan.unavailable) == ("reviews", "v2", (5, 10), "")
    assert plan.states == ({"v1": 95, "v2": 5}, {"v1": 90, "v2": 10})
    without_v2 = [o for o in base if o["metadata"]["name"] != "reviews-v2"]
    [plan] = change_plans(moved, 5, before=without_v2, after=head)
    assert plan.unavailable.startswith("v2 is not deployed in the base")


def test_a_rollout_step_may_be_one_httproute_update_and_nothing_else():
    rendered = render_stack("dev")
    step = PlannedStep(number=1, percent=10, weights={"v1": 90, "v2": 10})
    moved = traffic_changes(traffic_table(sample("route-reviews-v1.yaml")),
                            traffic_table(sample("route-reviews-90-10.yaml")))

    def judged(*types: str):
        changes = [diffing.ResourceChange(diffing.UPDATE, t, "reviews", f"urn::{i}") for i, t in enumerate(types)]
        diff = diffing.Diff(base=State("a", {}, []), proposed=State("b", {}, []), changes=changes, traffic=moved)
        rollout_plan.refuse_unless_one_weight_change(diff, step, 10, rendered, "Pulumi.dev.yaml")

    judged("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")
    with pytest.raises(ConfigError, match="exactly one HTTPRoute update; it would update HTTPRoute reviews, "
                                          "update Service reviews"):
        judged("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "kubernetes:core/v1:Service")


# ------------------------------------------------------------ rbac


def test_gateway_api_kinds_are_registered_custom_resources_with_their_crds_plurals():
    crds = {(d["spec"]["group"], d["spec"]["names"]["kind"]): d["spec"]["names"]["plural"]
            for d in yaml.safe_load_all(upstream("istio-ambient/gateway-api/v1.5.1/standard-install.yaml").read_text())
            if d and d.get("kind") == "CustomResourceDefinition"}
    registered = {key: kind for key, kind in REGISTERED_KINDS.items() if key[0] == "gateway.networking.k8s.io/v1"}
    assert set(registered) == {("gateway.networking.k8s.io/v1", "Gateway"), ("gateway.networking.k8s.io/v1", "HTTPRoute")}
    for (_, name), kind in registered.items():
        assert kind.namespaced and is_custom_resource(kind)
        assert crds[(kind.group, name)] == kind.resource


def test_the_deployer_of_a_stack_registering_a_gateway_and_httproute_gets_exactly_the_manage_verbs_on_them():
    rendered = render_stack("prod-traffic")
    added = []
    for obj in sample("bookinfo-gateway.yaml"):
        body = {**obj, "metadata": {**obj["metadata"], "namespace": "bookinfo"}}
        type_token = f"kubernetes:{obj['apiVersion']}:{obj['kind']}"
        added.append(Registration(urn=f"urn:pulumi:prod-traffic::bookinfo-mesh::{type_token}::{obj['metadata']['name']}",
                                  type=type_token, name=obj["metadata"]["name"], parent=None, inputs=body,
                                  depends_on=[], protect=False, custom=True))
    with_gateway_api = dataclasses.replace(rendered, resources=[*rendered.resources, *added])
    [role] = [m for m in deployer_manifests(with_gateway_api) if m["kind"] == "Role"]
    gateway_api = [rule for rule in role["rules"] if "gateway.networking.k8s.io" in rule["apiGroups"]]
    assert gateway_api == [{"apiGroups": ["gateway.networking.k8s.io"], "resources": ["gateways", "httproutes"],
                            "verbs": list(MANAGE)}]
    [before] = [m for m in deployer_manifests(rendered) if m["kind"] == "Role"]
    assert [r for r in role["rules"] if r not in gateway_api] == before["rules"]
