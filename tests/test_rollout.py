"""Traffic before/after and the step guard: the rule itself, its setting, and the
program refusing a preview through a StackReference to its own last deployment."""
from __future__ import annotations

import pytest

from model.errors import ConfigError
from model.traffic_changes import shares_from_output, step_violations, traffic_changes
from model.traffic import Share
from tests.conftest import EXAMPLES, ROOT, settings_from


def share(subset, percent, route="#0 default", vs="reviews"):
    return Share(virtual_service=vs, namespace="bookinfo", route=route, host="reviews", subset=subset, percent=percent)


def test_a_destination_new_to_an_existing_route_starts_from_zero():
    changes = traffic_changes([share("v1", 100)], [share("v1", 50), share("v3", 50)])
    assert [(c.subset, c.before, c.after) for c in changes] == [("v1", 100, 50), ("v3", 0.0, 50)]


def test_a_route_only_on_one_side_has_no_other_side():
    [change] = traffic_changes([], [share("v1", 100)])
    assert (change.before, change.after, change.changed) == (None, 100, True)


def test_routes_are_matched_by_match_not_by_index():
    before = [share("v1", 100, "#0 default")]
    after = [share("v2", 100, "#0 end-user=jason"), share("v1", 100, "#1 default")]
    moved = [c for c in traffic_changes(before, after) if c.changed]
    assert [(c.route, c.before, c.after) for c in moved] == [("#0 end-user=jason", None, 100)]


def test_step_guard_names_virtual_service_version_and_shift():
    changes = traffic_changes([share("v1", 50), share("v3", 50)], [share("v3", 100)])
    assert step_violations(changes, 25) == [
        "step guard: VirtualService bookinfo/reviews route '#0 default' moves reviews v3 50% → 100% "
        "(+50 points), more than the maximum step of 25 points"]
    assert step_violations(changes, 50) == []
    assert step_violations(changes, None) == []


def test_new_routes_are_not_judged_as_steps():
    assert step_violations(traffic_changes([], [share("v3", 100)]), 10) == []


def test_shares_read_back_from_the_traffic_output():
    rows = [{"virtualService": "reviews", "namespace": "bookinfo", "route": "#0 default", "host": "reviews",
             "subset": "v1", "percent": 100.0}]
    assert shares_from_output(rows) == [share("v1", 100.0)]


def test_rollout_setting_is_parsed_and_validated():
    settings = settings_from({"rollout": {"maxStep": 25, "guardPreviews": True}})
    assert (settings.rollout.max_step, settings.rollout.guard_previews) == (25.0, True)
    assert settings_from({}).rollout.max_step is None
    with pytest.raises(ConfigError, match=r"bookinfo-mesh:rollout.maxStep = 0: expected percentage points"):
        settings_from({"rollout": {"maxStep": 0}})
    with pytest.raises(ConfigError, match=r"bookinfo-mesh:rollout.step: unknown key"):
        settings_from({"rollout": {"step": 5}})


GUARDED = """
config:
  bookinfo-mesh:environment: dev
  bookinfo-mesh:rollout:
    maxStep: 25
    guardPreviews: {guard}
  bookinfo-mesh:services:
    reviews:
      to: v3
"""
PREVIOUS = {"traffic": [
    {"virtualService": "reviews", "namespace": "bookinfo", "route": "#0 default", "host": "reviews",
     "subset": "v1", "percent": 50.0},
    {"virtualService": "reviews", "namespace": "bookinfo", "route": "#0 default", "host": "reviews",
     "subset": "v3", "percent": 50.0}]}


def test_program_refuses_a_larger_step_than_its_last_deployment_with_the_cli_message(tmp_stack):
    from meshplan.render.engine import render

    path = tmp_stack(GUARDED.format(guard="true"))
    with pytest.raises(ConfigError) as refused:
        render(path, previous_outputs=PREVIOUS)
    assert "step guard: VirtualService bookinfo/reviews route '#0 default' moves reviews v3 50% → 100% " \
           "(+50 points), more than the maximum step of 25 points" in str(refused.value)


def test_program_guard_passes_small_steps_first_deployments_and_when_off(tmp_stack):
    from meshplan.render.engine import render

    within = {"traffic": [{**row, "percent": p} for row, p in zip(PREVIOUS["traffic"], (10.0, 90.0))]}
    assert render(tmp_stack(GUARDED.format(guard="true")), previous_outputs=within).outputs["rolloutGuard"] \
        == "within 25 points"
    assert render(tmp_stack(GUARDED.format(guard="true"), "Pulumi.first.yaml")).outputs["rolloutGuard"] \
        == "no previous traffic"
    off = render(tmp_stack(GUARDED.format(guard="false"), "Pulumi.off.yaml"), previous_outputs=PREVIOUS)
    assert off.outputs["rolloutGuard"] == "off"
    assert off.reads == []


def test_program_reads_its_own_stack_through_a_stack_reference(tmp_stack):
    from meshplan.render.engine import render

    rendered = render(tmp_stack(GUARDED.format(guard="true")), previous_outputs={})
    [reference] = rendered.reads
    assert reference["type"] == "pulumi:pulumi:StackReference"
    assert reference["id"].endswith("/bookinfo-mesh/test")


def test_example_task_files_step_by_at_most_fifty_points():
    """The Istio traffic-shifting task moves reviews in steps of 50 points at most."""
    from meshplan.diff.compare import diff_states
    from meshplan.diff.states import state_from_rendered
    from tests.conftest import render_file

    tasks = EXAMPLES / "istio-tasks"
    steps = ["all-v1", "reviews-50-v3", "reviews-v3"]
    for before, after in zip(steps, steps[1:]):
        diff = diff_states(state_from_rendered(render_file(tasks / f"{before}.yaml", "dev")),
                           state_from_rendered(render_file(tasks / f"{after}.yaml", "dev")))
        assert step_violations(diff.traffic, 50) == []
        assert step_violations(diff.traffic, 25) != []


# --------------------------------------------------------------------------- properties

import re  # noqa: E402

from hypothesis import example, given, strategies as st  # noqa: E402

from model.traffic import shares  # noqa: E402

SUBSETS = ("v1", "v2", "v3")
weights = st.dictionaries(st.sampled_from(SUBSETS), st.integers(min_value=0, max_value=1000), min_size=1).filter(
    lambda w: len(w) == 1 or sum(w.values()) > 0)


def route_shares(split: dict[str, int]) -> list[Share]:
    names = list(split)
    return [share(name, percent) for name, percent in zip(names, shares([split[n] for n in names]))]


@given(weights, weights)
def test_shifts_within_a_route_cancel_out(before, after):
    changes = traffic_changes(route_shares(before), route_shares(after))
    assert abs(sum(c.shift for c in changes)) < 1e-6
    assert {c.subset for c in changes} == set(before) | set(after)


def istio_percent(split: dict[str, int]) -> dict[str, float]:
    """Each destination's share as Istio computes it: its weight over their sum; a lone
    destination takes everything."""
    total = sum(split.values())
    return {name: 100.0 if len(split) == 1 else 100.0 * weight / total for name, weight in split.items()}


NAMED_MOVE = re.compile(r"moves reviews (?P<subset>v\d) \S+ → \S+ \((?P<points>[+-][0-9.e+-]+) points\)")


@given(weights, weights, st.integers(min_value=1, max_value=100))
@example(before={"v1": 1, "v2": 1}, after={"v2": 1}, step=25)  # v2 +50, v1 -50
@example(before={"v1": 559, "v2": 1000}, after={"v1": 0}, step=1)  # a tie only to within float rounding
def test_step_guard_refuses_a_route_moving_more_than_the_step_naming_its_largest_move_a_gain_on_a_tie(
        before, after, step):
    old, new = istio_percent(before), istio_percent(after)
    moves = {subset: new.get(subset, 0.0) - old.get(subset, 0.0) for subset in {*old, *new}}
    largest = max(abs(move) for move in moves.values())
    refused = step_violations(traffic_changes(route_shares(before), route_shares(after)), step)
    assert bool(refused) == (largest > step + 1e-6)  # a millionth of a point is float noise, not a move
    if refused:
        [line] = refused  # one line per route
        named = NAMED_MOVE.search(line)
        points = float(named["points"])
        assert abs(abs(points) - largest) < 0.01 and abs(moves[named["subset"]] - points) < 0.01, line
        if any(move > largest - 1e-6 for move in moves.values()):
            assert points > 0, (moves, line)  # the version gaining traffic: the one being rolled to


def test_one_line_per_route_names_the_largest_move():
    changes = traffic_changes([share("v1", 100), share("v1", 100, route="#0 end-user=jason", vs="other")],
                              [share("v2", 100), share("v2", 60, route="#0 end-user=jason", vs="other"),
                               share("v1", 40, route="#0 end-user=jason", vs="other")])
    lines = step_violations(changes, 25)
    assert len(lines) == 2
    assert "VirtualService bookinfo/reviews route '#0 default' moves reviews v2 0% → 100% (+100 points)" in lines[0]
    assert "VirtualService bookinfo/other route '#0 end-user=jason' moves reviews v2 0% → 60% (+60 points)" \
        in lines[1]


@given(weights)
def test_an_unchanged_split_moves_nothing(split):
    assert not [c for c in traffic_changes(route_shares(split), route_shares(split)) if c.changed]


def _moved(subset: str, before: float, after: float, route: str = "#0 default"):
    from model.traffic_changes import TrafficChange

    return TrafficChange(virtual_service="reviews", namespace="bookinfo", route=route, host="reviews",
                         subset=subset, before=before, after=after)


def _reviews(weights: dict[str, int]) -> list[dict]:
    """The reviews VirtualService with these default-route weights, and its subsets."""
    def body(kind, spec):
        return {"apiVersion": "networking.istio.io/v1", "kind": kind,
                "metadata": {"name": "reviews", "namespace": "bookinfo"}, "spec": spec}

    route = [{"destination": {"host": "reviews", "subset": v}, "weight": w} for v, w in weights.items()]
    return [body("VirtualService", {"hosts": ["reviews"], "http": [{"route": route}]}),
            body("DestinationRule", {"host": "reviews", "subsets": [{"name": v, "labels": {"version": v}}
                                                                    for v in ("v1", "v2", "v3")]})]


def test_a_weight_change_is_planned_as_steps_within_the_limit_ending_at_its_share():
    from model.rollout_plan import change_plans

    sides = {"before": _reviews({"v1": 90, "v3": 10}), "after": _reviews({"v1": 50, "v3": 50})}
    [plan] = change_plans([_moved("v1", 90, 50), _moved("v3", 10, 50)], 25, **sides)
    assert (plan.service, plan.canary, plan.steps) == ("reviews", "v3", (25, 50))
    assert plan.states == ({"v1": 75, "v3": 25}, {"v1": 50, "v3": 50})
    [one_step] = change_plans([_moved("v1", 90, 50), _moved("v3", 10, 50)], None, **sides)
    assert one_step.steps == (50,)


def test_only_default_routes_are_planned():
    from model.rollout_plan import change_plans

    assert change_plans([_moved("v1", 100, 0, route="#0 end-user=jason"),
                         _moved("v2", 0, 100, route="#0 end-user=jason")], 25,
                        before=_reviews({"v1": 100}), after=_reviews({"v1": 100})) == []


def test_the_pr_diff_prints_the_rollout_plan_and_the_command_that_runs_it(capsys, monkeypatch):
    from meshplan.cli import main

    monkeypatch.chdir(ROOT)
    code = main(["diff", "--config", "examples/istio-tasks/reviews-50-v3.yaml",
                 "--base-config", "examples/istio-tasks/all-v1.yaml", "--max-step", "25",
                 "--format", "markdown"])
    out = capsys.readouterr().out
    assert code == 1  # the jump itself is refused
    assert ("- bookinfo/reviews → v3 in 2 steps: 1) v1 75%, v3 25%; 2) v1 50%, v3 50%<br>"
            "`meshplan rollout --config examples/istio-tasks/reviews-50-v3.yaml "
            "--service reviews --to v3 --steps 25,50`") in out
