"""`meshplan rollout`, second half: the loop. For each planned step: write it into the
stack config and bring the stack to it (the applier is a parameter), wait the
interval, evaluate the gates against Prometheus, and promote to the next step — or,
after `max_failures` evaluations in a row that did not pass (a failed gate, or a
hold: no traffic, no data, Prometheus unreachable), roll back to the starting weights.

Everything the loop does is an event (a dict) handed to `emit`: the CLI prints
them for people or as JSON lines."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

from meshplan import interrupts
from meshplan.interrupts import Interrupted
from meshplan.rollout.prometheus import Prometheus, PrometheusError
from meshplan.rollout.apply import RolloutApplyError, StepApplier
from meshplan.rollout.plan import Plan
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
        interrupts.sleep(seconds)


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


@dataclass
class _Held:
    """What the stack config and the stack hold as the loop goes, and the `pulumi up`
    under way: the one line an interruption or a failure ends with says all three."""

    config: str
    stack: str
    todo: str = "resume"
    doing: str = ""

    def line(self) -> str:
        held = f"the stack config and the stack hold {self.config}" if self.config == self.stack \
            else f"the stack config holds {self.config}, the stack still holds {self.stack}"
        return f"{held}; run the same command to {self.todo}"


class RolloutInterrupted(Exception):
    """Ctrl-C or SIGTERM during a real rollout, after the CLI child finished; `str()` is one line."""


def run_rollout(plan: Plan, *, applier: StepApplier, prometheus: Prometheus, interval: float,
                max_failures: int, emit: Callable[[dict], None], clock: Clock | None = None) -> Outcome:
    clock = clock or SystemClock()
    recorded = plan.steps[0] if plan.steps and plan.steps[0].planned.resumed else None
    now = _step(recorded) if recorded else weights_text(plan.current) if plan.resumed else _start(plan)
    held = _Held(config=now, stack=now, todo="resume" if plan.resumed else "start the rollout")
    try:
        if plan.repair:
            applier.write(plan.repair)
        if applier.prepare(plan):
            held.stack = "the state before the recorded step" if recorded else "an earlier step of the rollout"
    except Interrupted:
        raise RolloutInterrupted(f"interrupted; {held.line()}") from None
    try:
        if plan.rolling_back:
            held.config, held.todo = _start(plan, rolling_back=True), "finish the rollback"
            why = f"finished rolling back {plan.service} to {weights_text(plan.start)} (rollout.startedFrom.rollingBack)"
            return _roll_back(plan, applier, emit, held, why=why, number=None)
        outcome = _steps(plan, applier=applier, prometheus=prometheus, interval=interval,
                         max_failures=max_failures, emit=emit, clock=clock, held=held)
        if outcome is None:
            applier.write(plan.finish)
    except Interrupted as stop:
        if stop.applied:
            held.stack = held.config
        cancelled = f"{held.doing} was cancelled; " if held.doing.startswith("pulumi up") and not stop.applied \
            else ""
        locked = " (interrupted twice, pulumi terminated at once: if the stack is locked, run pulumi cancel first)" \
            if stop.repeated and held.doing.startswith("pulumi up") else ""
        raise RolloutInterrupted(f"interrupted; {cancelled}{held.line()}{locked}") from None
    except RolloutApplyError as failed:
        if failed.applied:
            held.stack = held.config
        if held.doing.startswith("writing"):
            # Cut short, a first step's edit leaves `to` beside `weights`: refused by the program, finished by a rerun.
            raise RolloutApplyError(f"{held.doing} failed: {failed}; the stack still holds {held.stack}; "
                                    "run the same command to resume") from None
        raise RolloutApplyError(f"{held.doing + ' failed: ' if held.doing else ''}{failed}; {held.line()}") from None
    if outcome is not None:
        return outcome
    final = plan.steps[-1].planned.weights if plan.steps else plan.current
    why = f"would promote {plan.service} to {weights_text(final)}; nothing was applied (rehearsal)" \
        if _rehearsal(applier) else f"promoted {plan.service} to {weights_text(final)}"
    emit({"event": "done", "weights": final, "reason": why})
    return Outcome(promoted=True, reason=why)


def _steps(plan: Plan, *, applier: StepApplier, prometheus: Prometheus, interval: float, max_failures: int,
           emit: Callable[[dict], None], clock: Clock, held: _Held) -> Outcome | None:
    """Every step in turn; an Outcome if it ended in a rollback, None when all were promoted."""
    version = plan.canary.version
    for step in plan.steps:
        number, percent = step.planned.number, step.planned.percent
        held.doing = f"writing {_step(step)} into the stack config"
        applier.write(step.edit)
        held.config, held.todo, held.doing = _step(step), "resume", f"pulumi up of {_step(step)}"
        done = applier.up(message=f"meshplan rollout: {plan.service} {version} {percent}% (step {number})",
                          targets=step.targets)
        held.stack, held.doing = _step(step), ""
        emit({"event": "applied", "step": number, "canaryPercent": percent, "weights": step.planned.weights,
              "resumed": step.planned.resumed, "detail": done})
        failures = 0
        while True:
            clock.sleep(interval)
            results = evaluate(plan, prometheus, clock.now())
            interrupts.raise_if_requested()
            decision, reason = verdict(results)
            failures = 0 if decision == PASS else failures + 1
            emit({"event": "analysis", "step": number, "decision": decision, "reason": reason,
                  "failures": failures, "maxFailures": max_failures, "gates": [r.as_json() for r in results]})
            if decision == PASS:
                emit({"event": "promoted", "step": number, "canaryPercent": percent})
                break
            if failures >= max_failures:
                verb = "would roll back" if _rehearsal(applier) else "rolled back"
                why = (f"{verb} {plan.service} to {weights_text(plan.start)} at step {number} "
                       f"({version} {percent}%) after {failures} failed analyses: {reason}"
                       + ("; nothing was applied (rehearsal)" if _rehearsal(applier) else ""))
                return _roll_back(plan, applier, emit, held, why=why, number=number)
    return None


def _roll_back(plan: Plan, applier: StepApplier, emit: Callable[[dict], None], held: _Held, *, why: str,
               number: int | None) -> Outcome:
    """The starting weights back. The record stays, marked `rollingBack`, until the
    rollback's up has succeeded: a rerun then finishes it and never steps toward the
    canary again."""
    held.doing = "writing the starting weights back into the stack config"
    applier.write(plan.rollback)
    held.config, held.todo, held.doing = _start(plan, rolling_back=True), "finish the rollback", \
        "pulumi up of the rollback"
    done = applier.up(message=f"meshplan rollout: {plan.service} rolled back from {plan.canary.version}",
                      targets=plan.rollback_targets)
    held.stack, held.doing = _start(plan), ""
    applier.write(plan.after_rollback)
    held.config = _start(plan)
    emit({"event": "rolledBack", "step": number, "weights": plan.start, "reason": why, "detail": done})
    return Outcome(promoted=False, reason=why)


def _rehearsal(applier: StepApplier) -> bool:
    """Whether the applier only renders (`--rehearse`): the outcome then says what
    would have been done, never that it was."""
    return bool(getattr(applier, "rehearsal", False))


def _start(plan: Plan, *, rolling_back: bool = False) -> str:
    return f"the weights before the rollout ({weights_text(plan.start)})" + \
        (" with rollout.startedFrom.rollingBack" if rolling_back else "")


def _step(step) -> str:
    return f"step {step.planned.number} ({weights_text(step.planned.weights)})"


def weights_text(weights: dict[str, int]) -> str:
    return ", ".join(f"{v} {w}%" for v, w in weights.items())


# --------------------------------------------------------------------------- output


def human_line(event: dict) -> str:
    """One event as a person reads it."""
    kind = event["event"]
    if kind == "applied":
        what = "resumed at" if event["resumed"] else "step"
        return f"{what} {event['step']}: {weights_text(event['weights'])} — {event['detail']}"
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
