"""`meshplan rollout` as a user runs it: the plan and its refusals, the weights of
each step, what the Automation API applier would run (through an injected
PulumiCommand that records instead of running a CLI that is not here), and a whole
`--rehearse` run against a real Prometheus with the real clock."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
import yaml
from pulumi.automation import CommandResult, PulumiCommand
from semver import VersionInfo

from meshplan.rollout.loop import parse_duration
from meshplan.rollout.apply import AutomationApplier
from meshplan.diff import compare as diffing
from meshplan.diff.states import state_from_rendered
from meshplan.render.engine import run_program
from meshplan.rollout.plan import ConfigEdit, build_plan, refuse_unless_one_weight_change
from model.errors import ConfigError
from model.rollout_plan import plan_steps, weights_at
from tests import istio_series as istio
from tests.conftest import ROOT
from tests.prometheus_server import PrometheusServer

STACK_YAML = {
    "bookinfo-mesh:environment": "staging",
    "bookinfo-mesh:app": {"namespace": "live"},
    "bookinfo-mesh:services": {"reviews": {"versions": ["v1", "v2", "v3"], "weights": {"v1": 80, "v2": 20}}},
    "bookinfo-mesh:rollout": {"maxStep": 50, "analysis": {"minRequests": 10}},
}


def write_stack(tmp_path, config=None) -> str:
    path = tmp_path / "Pulumi.canary.yaml"
    path.write_text(yaml.safe_dump({"config": config or STACK_YAML}))
    return str(path)


def meshplan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "meshplan", *args], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"}, timeout=120)


# --------------------------------------------------------------------------- weights


def test_steps_keep_the_other_versions_proportions_in_whole_numbers():
    assert weights_at({"v1": 80, "v2": 20}, "v3", 10) == {"v1": 72, "v2": 18, "v3": 10}
    assert weights_at({"v1": 2, "v2": 1}, "v3", 50) == {"v1": 33, "v2": 17, "v3": 50}
    assert weights_at({"v1": 100}, "v3", 100) == {"v1": 0, "v3": 100}


def test_steps_already_taken_are_skipped_and_a_resumed_step_is_judged_again():
    steps = plan_steps(start={"v1": 100}, current={"v1": 75, "v3": 25}, canary="v3", steps=(10, 25, 50),
                       resuming=True)
    assert [(s.number, s.percent, s.resumed) for s in steps] == [(2, 25, True), (3, 50, False)]
    assert steps[0].weights == {"v1": 75, "v3": 25}


def test_durations_read_like_prometheus_ones():
    assert (parse_duration("2s"), parse_duration("5m"), parse_duration("250ms")) == (2, 300, 0.25)
    with pytest.raises(ValueError, match="expected a duration like 30s, 5m or 1h, got '5 minutes'"):
        parse_duration("5 minutes")


# --------------------------------------------------------------------------- the plan


def test_dry_run_prints_each_step_as_its_diff_and_changes_nothing(tmp_path):
    path = write_stack(tmp_path)
    before = open(path).read()
    done = meshplan("rollout", "--config", path, "--service", "reviews", "--to", "v3", "--steps", "50,100",
                    "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "step 1: v1 40%, v2 10%, v3 50%" in done.stdout
    assert "1 to update; traffic: reviews v1 80% → 40%, v2 20% → 10%, v3 0% → 50%" in done.stdout
    assert "step 2: v1 0%, v2 0%, v3 100%" in done.stdout
    assert "~ update  kubernetes:networking.istio.io/v1:VirtualService  routing-virtualservice-reviews" in done.stdout
    assert "starting at step" not in done.stdout
    assert done.stdout.endswith("\n\ndry run: nothing was applied; 2 steps planned (run without --dry-run, with "
                                "--prometheus, to take them)\n")
    assert open(path).read() == before


def test_dry_run_says_why_it_starts_past_step_1(tmp_path):
    config = {**STACK_YAML, "bookinfo-mesh:services": {"reviews": {"versions": ["v1", "v3"],
                                                                   "weights": {"v1": 75, "v3": 25}}}}
    done = meshplan("rollout", "--config", write_stack(tmp_path, config), "--service", "reviews", "--to", "v3",
                    "--steps", "25,50,100", "--dry-run")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "starting at step 2: step 1 is done already (v3 has 25% now)" in lines
    assert lines.index("starting at step 2: step 1 is done already (v3 has 25% now)") < lines.index(
        "step 2: v1 50%, v3 50%")
    assert lines[-1] == "dry run: nothing was applied; 2 steps planned (run without --dry-run, with --prometheus, " \
                        "to take them)"


def test_dry_run_json_is_one_plan_line(tmp_path):
    done = meshplan("rollout", "--config", write_stack(tmp_path), "--service", "reviews", "--to", "v3",
                    "--dry-run", "--format", "json")
    [line] = done.stdout.splitlines()
    plan = json.loads(line)
    # Without --steps: steps of rollout.maxStep (50).
    assert [s["canaryPercent"] for s in plan["steps"]] == [50, 100]
    assert [s["diff"]["changes"][0]["type"] for s in plan["steps"]] == ["kubernetes:networking.istio.io/v1:VirtualService"] * 2
    assert [g["gate"] for g in plan["gates"]] == ["request-count", "request-success-rate", "request-duration"]


@pytest.mark.parametrize("args, message", [
    (["--steps", "10,100"], r"step 2 \(100%\): step guard: VirtualService live/reviews route '#0 default' moves "
                            r"reviews v3 10% → 100% \(\+90 points\), more than the maximum step of 50 points"),
    (["--to", "v4"], r"bookinfo-mesh:services.reviews.versions = \[.*\]: v4 is not deployed"),
    (["--service", "ratingz"], r"bookinfo-mesh:services.ratingz = \"ratingz\": no routed service of that name"),
])
def test_a_plan_that_breaks_a_rule_is_refused_in_one_line(tmp_path, args, message):
    base = {"--service": "reviews", "--to": "v3", "--steps": "50,100"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    done = meshplan("rollout", "--config", write_stack(tmp_path), "--dry-run",
                    *[part for pair in base.items() for part in pair])
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert re.search(message, line), line


def test_each_step_is_one_virtual_service_update_and_anything_more_is_refused(tmp_path):
    config = {**STACK_YAML, "bookinfo-mesh:services": {"reviews": {"versions": ["v1", "v3"], "to": "v1"}}}
    plan = build_plan(write_stack(tmp_path, config), stack="canary", service="reviews", to="v3", steps=(50, 100))
    assert [(s.diff.counts()["update"], len(s.diff.changes)) for s in plan.steps] == [(1, 1), (1, 1)]
    # A change that also deploys a version adds a Deployment: not a rollout step.
    first, planned = plan.steps[0], plan.steps[0].planned
    more = run_program({**first.config, "services": {"reviews": {"versions": ["v1", "v2", "v3"],
                                                                 "weights": planned.weights}}},
                       settings=plan.settings, stack="canary", source="Pulumi.canary.yaml")
    diff = diffing.diff_states(state_from_rendered(first.rendered), state_from_rendered(more))
    with pytest.raises(ConfigError, match=r"step 1 \(50%\): a rollout step must be exactly one VirtualService "
                                          r"update; it would create Deployment workloads-deployment-reviews-v2"):
        refuse_unless_one_weight_change(diff, planned, 50, more, "Pulumi.canary.yaml")


def test_a_rollout_in_progress_for_another_canary_is_refused(tmp_path):
    started = {**STACK_YAML["bookinfo-mesh:rollout"],
               "startedFrom": {"service": "reviews", "to": "v2", "weights": {"v1": 100}}}
    with pytest.raises(ConfigError, match=r"bookinfo-mesh:rollout.startedFrom = .*another rollout is in progress"):
        build_plan(write_stack(tmp_path, {**STACK_YAML, "bookinfo-mesh:rollout": started}), stack="canary",
                   service="reviews", to="v3", steps=(50, 100))


def test_a_rollback_that_did_not_finish_is_planned_as_itself_and_nothing_else(tmp_path):
    record = {"service": "reviews", "to": "v3", "weights": {"v1": 80, "v2": 20}, "rollingBack": True}
    config = {**STACK_YAML, "bookinfo-mesh:rollout": {**STACK_YAML["bookinfo-mesh:rollout"], "startedFrom": record},
              "bookinfo-mesh:services": {"reviews": {"versions": ["v1", "v2", "v3"],
                                                     "weights": {"v1": 80, "v2": 20, "v3": 0}}}}
    path = write_stack(tmp_path, config)
    plan = build_plan(path, stack="canary", service="reviews", to="v3", steps=(50, 100))
    assert (plan.rolling_back, plan.steps) == (True, [])
    assert [urn.rsplit("::", 1)[-1] for urn in plan.rollback_targets] == ["routing-virtualservice-reviews"]
    assert plan.rollback.sets["rollout.startedFrom.rollingBack"] is True
    assert plan.after_rollback.removals == ("rollout.startedFrom",)
    done = meshplan("rollout", "--config", path, "--service", "reviews", "--to", "v3", "--steps", "50,100", "--dry-run")
    assert "a rollback did not finish (rollout.startedFrom.rollingBack): this run finishes it, no step is taken" \
        in done.stdout and "step 1" not in done.stdout


@pytest.mark.parametrize("value", ["yes", 1])
def test_rolling_back_is_true_or_false(value):
    from tests.conftest import settings_from

    record = {"service": "reviews", "to": "v3", "weights": {"v1": 100}, "rollingBack": value}
    with pytest.raises(ConfigError, match=r"bookinfo-mesh:rollout.startedFrom.rollingBack = .*: expected true or "
                                          r"false$"):
        settings_from({"rollout": {"startedFrom": record}})


@pytest.mark.parametrize("stack, message", [
    ("acme/other/staging", "the project is bookinfo-mesh (Pulumi.yaml), not other"),
    ("a/b/c/d", "expected a stack name, org/stack or org/project/stack"),
    ("acme//staging", "expected a stack name, org/stack or org/project/stack"),
])
def test_a_stack_name_of_another_shape_is_refused_in_one_line(stack, message):
    done = meshplan("rollout", "--stack", stack, "--service", "reviews", "--to", "v2", "--dry-run")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"error: meshplan: --stack = \"{stack}\": {message}"]


def test_a_real_rollout_needs_prometheus_and_refuses_bad_flags(tmp_path):
    path = write_stack(tmp_path)
    done = meshplan("rollout", "--config", path, "--service", "reviews", "--to", "v3", "--rehearse")
    assert done.returncode == 1 and done.stderr.strip() == \
        "error: meshplan rollout: --prometheus: required to judge the steps (or give --dry-run)"
    done = meshplan("rollout", "--config", path, "--service", "reviews", "--to", "v3", "--steps", "50,10")
    assert done.returncode == 1 and "expected rising whole percentages" in done.stderr
    done = meshplan("rollout", "--stack", "staging", "--service", "reviews", "--to", "v2",
                    "--prometheus", "http://127.0.0.1:9", "--steps", "50,100")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == \
        "error: meshplan rollout: the pulumi CLI is not installed; the Automation API runs it " \
        "(use --rehearse or --dry-run without it)"


# --------------------------------------------------------------------------- Automation API


class RecordingPulumi(PulumiCommand):
    """Stands in for the pulumi binary: records each command, answers as a
    successful CLI would, runs nothing."""

    def __init__(self):  # no binary to find: skip the base class's version probe
        self.command = "pulumi"
        self.version = VersionInfo.parse("3.200.0")
        self.calls: list[list[str]] = []

    def run(self, args, cwd, additional_env, on_output=None, on_error=None):
        self.calls.append([a for a in args if a != "--non-interactive"])
        self.cwd = cwd
        if args[-3:] == ["output", "--json", "--show-secrets"] or "output" in args:
            return CommandResult(stdout="{}", stderr="", code=0)
        if "history" in args:
            summary = {"kind": "update", "startTime": "2025-01-01T00:00:00.000Z", "message": "", "environment": {},
                       "config": {}, "result": "succeeded", "version": 2}
            return CommandResult(stdout=json.dumps([summary]), stderr="", code=0)
        return CommandResult(stdout="", stderr="", code=0)


def test_automation_applier_sets_the_weights_by_path_removes_to_after_then_runs_up_on_the_stack():
    pulumi = RecordingPulumi()
    applier = AutomationApplier("staging", pulumi_command=pulumi)
    edit = ConfigEdit(sets={"services.reviews.weights.v1": 90, "services.reviews.weights.v3": 10},
                      removals=("services.reviews.to",))
    applier.write(edit)
    applier.up(message="meshplan rollout: reviews v3 10% (step 1)", targets=("urn:a", "urn:b"))
    assert pulumi.cwd == str(ROOT)
    calls = [c for c in pulumi.calls if c[:2] != ["stack", "output"] and c[:2] != ["stack", "history"]]
    assert calls[0] == ["stack", "select", "--stack", "staging"]
    assert calls[1] == ["config", "set-all", "--stack", "staging", "--path",
                        "--plaintext", "bookinfo-mesh:services.reviews.weights.v1=90",
                        "--plaintext", "bookinfo-mesh:services.reviews.weights.v3=10"]
    assert calls[2] == ["config", "rm", "bookinfo-mesh:services.reviews.to", "--stack", "staging", "--path"]
    up = calls[3]
    assert up[:3] == ["up", "--yes", "--skip-preview"]
    assert up[up.index("--stack") + 1] == "staging"
    assert up[up.index("--message") + 1] == "meshplan rollout: reviews v3 10% (step 1)"
    assert [up[i + 1] for i, a in enumerate(up) if a == "--target"] == ["urn:a", "urn:b"]
    assert "--color" in up and up[up.index("--color") + 1] == "never"


def test_automation_applier_writes_config_only_and_never_runs_an_untargeted_up():
    pulumi = RecordingPulumi()
    applier = AutomationApplier("prod", pulumi_command=pulumi)
    applier.write(ConfigEdit(removals=("rollout.startedFrom",)))
    assert applier.up(message="nothing", targets=()) == "nothing to update"
    assert pulumi.calls[1:] == [["config", "rm", "bookinfo-mesh:rollout.startedFrom", "--stack", "prod", "--path"]]


# --------------------------------------------------------------------------- a whole rehearsal


@pytest.fixture(scope="module")
def live_prometheus(tmp_path_factory):
    """A canary serving traffic now: series from ten minutes ago to ten from now."""
    now = int(time.time())
    series = istio.series(istio.Canary(namespace="live"), [(1200, istio.HEALTHY)], start=now - 600)
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), series)
    yield server.url
    server.stop()


def test_rehearse_runs_the_loop_against_prometheus_and_applies_nothing(tmp_path, live_prometheus):
    path = write_stack(tmp_path)
    before = open(path).read()
    done = meshplan("rollout", "--config", path, "--service", "reviews", "--to", "v3", "--steps", "50,100",
                    "--interval", "1s", "--prometheus", live_prometheus, "--rehearse")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("analysis: PASS") == 2
    assert "step 2: v1 0%, v2 0%, v3 100% — rehearsal: rendered through the program" in done.stdout
    assert done.stdout.rstrip().endswith("would promote reviews to v1 0%, v2 0%, v3 100%; nothing was applied "
                                         "(rehearsal)")
    assert open(path).read() == before
    # The docs show this very run's output, as a real run printed it.
    from tests.conftest import docs_text

    sample = docs_text("rollout.md").split("$ meshplan rollout --config Pulumi.canary.yaml", 1)[1]
    sample = sample.split("```", 1)[0].split("\n", 2)[2]
    port = re.compile(r"http://127\.0\.0\.1:\d+")
    assert port.sub("PROMETHEUS", done.stdout) == port.sub("PROMETHEUS", sample)


def test_rehearse_json_lines_end_in_the_outcome_and_exit_1_on_rollback(tmp_path, live_prometheus):
    strict = {**STACK_YAML, "bookinfo-mesh:rollout": {"maxStep": 50, "analysis": {"minRequests": 100000}}}
    done = meshplan("rollout", "--config", write_stack(tmp_path, strict), "--service", "reviews", "--to", "v3",
                    "--steps", "50,100", "--interval", "1s", "--max-failures", "1", "--prometheus", live_prometheus,
                    "--rehearse", "--format", "json")
    assert done.returncode == 1
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["event"] for e in events] == ["plan", "applied", "analysis", "rolledBack"]
    assert events[2]["decision"] == "hold"
    [line] = done.stderr.splitlines()
    assert line.startswith("error: would roll back reviews to v1 80%, v2 20% at step 1 (v3 50%) after 1 failed "
                           "analyses: request-count: ")
    assert line.endswith("; nothing was applied (rehearsal)") and "rolled back" not in done.stdout + done.stderr
