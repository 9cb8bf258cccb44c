"""`meshplan rollout`, second half: the loop. For each planned step: apply it (the
applier is a parameter), wait the interval, evaluate the gates against Prometheus,
and promote to the next step — or, after `max_failures` evaluations in a row that
did not pass (a failed gate, or a hold: no traffic, no data, Prometheus unreachable),
roll back to the starting weights.

Everything the loop does is an event (a dict) handed to `emit`: the CLI prints
them for people or as JSON lines."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

from meshplan.prometheus import Prometheus, PrometheusError
from meshplan.rollout_apply import StepApplier
from meshplan.rollout_plan import Plan
from model.gates import PASS, GateResult, judge, verdict
from model.vocabulary import duration_seconds


def parse_duration(text: str) -> float:
    """`2s`, `5m`, `1h`, `500ms` → seconds; ValueError with what is allowed."""
    seconds = duration_seconds(text.strip())
    if seconds is None or seconds <= 0:
        raise ValueError(f"expected a duration like 30s, 5m or 1h, got {text!r}")
    return seconds


class Clock(Protocol):
    def now(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class Outcome:
    promoted: bool
    reason: str
    """One line: what happened, and why when it is not a promotion."""


def evaluate(plan: Plan, prometheus: Prometheus, at: float) -> list[GateResult]:
    """Every gate at one instant. An unreachable Prometheus fails every query the
    same way: ask once and hold them all with its reason."""
    results = []
    for gate in plan.gates:
        try:
            results.append(judge(gate, prometheus.query(gate.query, at=at)))
        except PrometheusError as error:
            results.append(judge(gate, None, error=str(error)))
            if "unreachable" in str(error):
                results += [judge(g, None, error=str(error)) for g in plan.gates[len(results):]]
                break
    return results


def run_rollout(plan: Plan, *, applier: StepApplier, prometheus: Prometheus, interval: float,
                max_failures: int, emit: Callable[[dict], None], clock: Clock | None = None) -> Outcome:
    clock = clock or SystemClock()
    version = plan.canary.version
    for step in plan.steps:
        number, percent = step.planned.number, step.planned.percent
        message = f"meshplan rollout: {plan.service} {version} {percent}% (step {number})"
        done = applier.apply(step.edit, up=True, message=message)
        emit({"event": "applied", "step": number, "canaryPercent": percent, "weights": step.planned.weights,
              "resumed": step.planned.resumed, "detail": done})
        failures = 0
        while True:
            clock.sleep(interval)
            results = evaluate(plan, prometheus, clock.now())
            decision, reason = verdict(results)
            failures = 0 if decision == PASS else failures + 1
            emit({"event": "analysis", "step": number, "decision": decision, "reason": reason,
                  "failures": failures, "maxFailures": max_failures,
                  "gates": [r.as_json() for r in results]})
            if decision == PASS:
                emit({"event": "promoted", "step": number, "canaryPercent": percent})
                break
            if failures >= max_failures:
                done = applier.apply(plan.rollback, up=True,
                                     message=f"meshplan rollout: {plan.service} rolled back from {version} {percent}%")
                why = (f"rolled back {plan.service} to {_weights(plan.start)} at step {number} ({version} {percent}%) "
                       f"after {failures} failed analyses: {reason}")
                emit({"event": "rolledBack", "step": number, "weights": plan.start, "reason": why, "detail": done})
                return Outcome(promoted=False, reason=why)
    applier.apply(plan.finish, up=False, message="meshplan rollout: done")
    final = plan.steps[-1].planned.weights if plan.steps else plan.current
    why = f"promoted {plan.service} to {_weights(final)}"
    emit({"event": "done", "weights": final, "reason": why})
    return Outcome(promoted=True, reason=why)


def _weights(weights: dict[str, int]) -> str:
    return ", ".join(f"{v} {w}%" for v, w in weights.items())


# --------------------------------------------------------------------------- output


def human_line(event: dict) -> str:
    """One event as a person reads it."""
    kind = event["event"]
    if kind == "applied":
        what = "resumed at" if event["resumed"] else "step"
        return f"{what} {event['step']}: {_weights(event['weights'])} — {event['detail']}"
    if kind == "analysis":
        lines = [f"  analysis: {event['decision'].upper()} ({event['failures']}/{event['maxFailures']} failures) "
                 f"— {event['reason']}"]
        for gate in event["gates"]:
            bounds = " ".join(part for part in (
                f"min {gate['min']:g}" if gate["min"] is not None else "",
                f"max {gate['max']:g}" if gate["max"] is not None else "") if part)
            value = "—" if gate["value"] is None else f"{gate['value']:.4g}"
            lines.append(f"    {gate['gate']:<22} {value:>8}  ({bounds})  {gate['outcome']}")
        return "\n".join(lines)
    if kind == "promoted":
        return f"  promoted step {event['step']} ({event['canaryPercent']}%)"
    return event["reason"]
