"""`meshplan rollout` end to end against a real Prometheus: each scenario's canary
lives in its own namespace of one server's data, every step is a real render of the
program (the rehearsal applier, writing the stack file as `pulumi config set`
would), and the decisions are asserted step by step.

The loop asks Prometheus for each analysis at the clock's time. The test clock
really sleeps the (small) interval but reads a minute later each time, so the
analyses walk through series laid out a minute apart: deterministic, and still
Prometheus's engine over stored samples."""
from __future__ import annotations

import signal
import time

import pytest
import yaml

from meshplan.rollout.prometheus import Prometheus
from meshplan.interrupts import Interrupted
from meshplan.rollout.loop import RolloutInterrupted, run_rollout
from meshplan.rollout.apply import RehearsalApplier
from meshplan.rollout.plan import build_plan
from model.gates import FAIL, HOLD, PASS
from tests import istio_series as istio
from tests.prometheus_server import PrometheusServer, free_port

BASE = 1_700_000_000
INTERVAL = 0.05
STEPS = (10, 25, 50, 100)

SERIES = {
    "healthy": [(600, istio.HEALTHY), (600, istio.IDLE)],
    # 5xx from 90 s on: the analysis at 60 s passes, the one at 120 s does not.
    "failing": [(90, istio.HEALTHY), (600, istio.FAILING_5XX)],
    "slow": [(600, istio.SLOW)],
}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    series = [s for ns, phases in SERIES.items() for s in istio.series(istio.Canary(namespace=ns), phases, start=BASE)]
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), series)
    yield Prometheus(server.url, timeout=5)
    server.stop()


class MinuteClock:
    """Sleeps for real, reads a minute later per sleep."""

    def __init__(self, start: float = BASE):
        self.t = start

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
        self.t += 60


def stack_file(tmp_path, namespace: str):
    path = tmp_path / "Pulumi.canary.yaml"
    path.write_text(yaml.safe_dump({"config": {
        "bookinfo-mesh:environment": "staging",
        "bookinfo-mesh:app": {"namespace": namespace},
        "bookinfo-mesh:services": {"reviews": {"versions": ["v1", "v3"], "to": "v1"}},
        "bookinfo-mesh:rollout": {"maxStep": 50},
    }}))
    return path


def config_of(path) -> dict:
    return yaml.safe_load(path.read_text())["config"]


def rollout(path, prometheus, *, clock=None, max_failures=2, applier=None):
    plan = build_plan(path, stack="canary", service="reviews", to="v3", steps=STEPS)
    applier = applier or RehearsalApplier(path, stack="canary", write_to=path, max_step=50)
    events: list[dict] = []
    outcome = run_rollout(plan, applier=applier, prometheus=prometheus, interval=INTERVAL,
                          max_failures=max_failures, emit=events.append, clock=clock or MinuteClock())
    return plan, outcome, events, applier


def of(events, kind, key):
    return [e[key] for e in events if e["event"] == kind]


def reviews_route(applier) -> list[tuple[str, int]]:
    """The rendered reviews VirtualService's default route, as the last render has it."""
    [vs] = [o for o in applier.last.objects() if o["kind"] == "VirtualService" and o["metadata"]["name"] == "reviews"]
    return [(d["destination"]["subset"], d.get("weight", 100)) for d in vs["spec"]["http"][-1]["route"]]


def test_a_healthy_canary_is_promoted_through_every_step(tmp_path, prometheus):
    path = stack_file(tmp_path, "healthy")
    plan, outcome, events, applier = rollout(path, prometheus)
    assert outcome.promoted, outcome.reason
    assert of(events, "applied", "step") == [1, 2, 3, 4]
    assert of(events, "analysis", "decision") == [PASS] * 4
    assert applier.renders == 4
    assert reviews_route(applier) == [("v1", 0), ("v3", 100)]
    config = config_of(path)
    assert config["bookinfo-mesh:services"]["reviews"]["weights"] == {"v1": 0, "v3": 100}
    assert "to" not in config["bookinfo-mesh:services"]["reviews"]
    assert "startedFrom" not in config["bookinfo-mesh:rollout"]


def test_a_canary_failing_at_step_2_is_rolled_back_to_the_starting_weights(tmp_path, prometheus):
    path = stack_file(tmp_path, "failing")
    plan, outcome, events, applier = rollout(path, prometheus)
    assert not outcome.promoted
    assert of(events, "applied", "step") == [1, 2]
    assert of(events, "analysis", "decision") == [PASS, FAIL, FAIL]
    assert of(events, "rolledBack", "step") == [2]
    assert "request-success-rate:" in outcome.reason and "below 99%" in outcome.reason
    assert reviews_route(applier) == [("v1", 100), ("v3", 0)]
    assert config_of(path)["bookinfo-mesh:services"]["reviews"]["weights"] == {"v1": 100, "v3": 0}
    assert "startedFrom" not in config_of(path)["bookinfo-mesh:rollout"]


def test_a_slow_canary_fails_the_latency_gate(tmp_path, prometheus):
    path = stack_file(tmp_path, "slow")
    _, outcome, events, _ = rollout(path, prometheus, max_failures=1)
    assert of(events, "analysis", "decision") == [FAIL]
    assert "request-duration: 2485 ms above 500 ms" in outcome.reason


def test_a_canary_without_traffic_is_held_then_rolled_back(tmp_path, prometheus):
    path = stack_file(tmp_path, "quiet")
    _, outcome, events, applier = rollout(path, prometheus, max_failures=3)
    assert not outcome.promoted
    assert of(events, "analysis", "decision") == [HOLD, HOLD, HOLD]
    assert of(events, "analysis", "reason")[0] == "request-count: 0 requests, waiting for at least 20"
    assert of(events, "applied", "step") == [1]
    assert reviews_route(applier) == [("v1", 100), ("v3", 0)]


def test_an_unreachable_prometheus_never_promotes(tmp_path):
    path = stack_file(tmp_path, "healthy")
    down = Prometheus(f"http://127.0.0.1:{free_port()}", timeout=2)
    _, outcome, events, applier = rollout(path, down)
    assert not outcome.promoted
    assert of(events, "analysis", "decision") == [HOLD, HOLD]
    assert all("unreachable" in reason for reason in of(events, "analysis", "reason"))
    assert "promoted" not in [e["event"] for e in events]
    assert reviews_route(applier) == [("v1", 100), ("v3", 0)]


class InterruptedAt(RehearsalApplier):
    """Ctrl-C while `pulumi up` runs a step: its config is written, its up cancelled
    before it changed anything."""

    def __init__(self, *args, step: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.step = step

    def up(self, *, message, targets):
        if f"(step {self.step})" in message:
            raise Interrupted(signal.SIGINT, applied=False)
        return super().up(message=message, targets=targets)


def interrupted_at_step_3(tmp_path, prometheus):
    path = stack_file(tmp_path, "healthy")
    applier = InterruptedAt(path, stack="canary", write_to=path, max_step=50, step=3)
    with pytest.raises(RolloutInterrupted) as stopped:
        rollout(path, prometheus, applier=applier)
    assert str(stopped.value) == (
        "interrupted; pulumi up of step 3 (v1 50%, v3 50%) was cancelled; the stack config holds step 3 "
        "(v1 50%, v3 50%), the stack still holds step 2 (v1 75%, v3 25%); run the same command to resume")
    config = config_of(path)
    assert config["bookinfo-mesh:services"]["reviews"]["weights"] == {"v1": 50, "v3": 50}
    assert config["bookinfo-mesh:rollout"]["startedFrom"] == {"service": "reviews", "to": "v3",
                                                             "weights": {"v1": 100}}
    return path


def test_an_interrupted_rollout_resumes_from_the_weights_in_the_stack_config(tmp_path, prometheus):
    path = interrupted_at_step_3(tmp_path, prometheus)
    plan, outcome, events, _ = rollout(path, prometheus, clock=MinuteClock(BASE + 180))
    assert plan.resumed and plan.start == {"v1": 100}
    assert outcome.promoted, outcome.reason
    assert [(e["step"], e["resumed"]) for e in events if e["event"] == "applied"] == [(3, True), (4, False)]
    assert config_of(path)["bookinfo-mesh:services"]["reviews"]["weights"] == {"v1": 0, "v3": 100}


def test_a_resumed_rollout_rolls_back_to_where_the_rollout_began(tmp_path, prometheus):
    path = interrupted_at_step_3(tmp_path, prometheus)
    # By 20 minutes in, the healthy canary's traffic has stopped.
    _, outcome, events, applier = rollout(path, prometheus, clock=MinuteClock(BASE + 1200))
    assert not outcome.promoted
    assert of(events, "analysis", "decision") == [HOLD, HOLD]
    assert reviews_route(applier) == [("v1", 100), ("v3", 0)]
    assert config_of(path)["bookinfo-mesh:services"]["reviews"]["weights"] == {"v1": 100, "v3": 0}
