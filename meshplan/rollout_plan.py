"""`meshplan rollout`, first half: the plan. From the weights the stack config holds
now to the canary's target, one weight state per step, each rendered through the
program and diffed against the one before: a step must be exactly one
VirtualService update, within `rollout.maxStep` (the step guard), with no analyzer
error — otherwise the rollout is refused before anything is applied."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from meshplan import diff as diffing
from meshplan.states import state_from_rendered
from meshplan.check import check_rendered
from meshplan.engine import Rendered, _shown_path, run_program
from model.errors import ConfigError
from model.gates import Canary, GateQuery, gate_queries
from model.traffic_changes import step_violations
from model.rollout_plan import (STARTED_FROM_PATH, PlannedStep, StartedFrom, current_weights, even_steps, plan_steps,
                                started_from_edits, weight_edits)
from model.settings import PROJECT, Settings, parse_settings, read_stack_file

VIRTUAL_SERVICE = "kubernetes:networking.istio.io/v1:VirtualService"


@dataclass(frozen=True)
class ConfigEdit:
    """Stack config changes, as key paths without the project prefix
    (`services.reviews.weights.v1`): removals first, then values to set."""

    sets: Mapping[str, Any] = field(default_factory=dict)
    removals: tuple[str, ...] = ()

    def apply_to(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of the project config with the edit made."""
        edited = copy.deepcopy(dict(config))
        for path in self.removals:
            *parents, last = path.split(".")
            node = edited
            for key in parents:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.pop(last, None)
        for path, value in self.sets.items():
            *parents, last = path.split(".")
            node = edited
            for key in parents:
                if not isinstance(node.get(key), dict):
                    node[key] = {}
                node = node[key]
            node[last] = value
        return edited

    def lines(self) -> list[str]:
        return [*(f"remove {PROJECT}:{p}" for p in self.removals),
                *(f"set {PROJECT}:{p} = {v}" for p, v in self.sets.items())]


@dataclass
class Step:
    planned: PlannedStep
    edit: ConfigEdit
    config: dict
    """The project config after this step."""
    diff: diffing.Diff
    rendered: Rendered


@dataclass
class Plan:
    stack: str
    source: Path
    service: str
    canary: Canary
    start: dict[str, int]
    """The weights a rollback returns to: before the rollout's first step."""
    current: dict[str, int]
    steps: list[Step]
    rollback: ConfigEdit
    finish: ConfigEdit
    """What promotion leaves: no record of a running rollout."""
    gates: list[GateQuery]
    resumed: bool
    settings: Settings

    def as_json(self) -> dict:
        return {"event": "plan", "stack": self.stack, "service": self.service, "canary": self.canary.version,
                "start": self.start, "current": self.current, "resumed": self.resumed,
                "steps": [{"step": s.planned.number, "canaryPercent": s.planned.percent, "weights": s.planned.weights,
                           "resumed": s.planned.resumed, "config": s.edit.lines(), "diff": s.diff.as_json()}
                          for s in self.steps],
                "gates": [{"gate": g.name, "query": g.query, "min": g.minimum, "max": g.maximum} for g in self.gates]}


def default_steps(max_step: float | None) -> tuple[int, ...]:
    """Without --steps: equal steps of the largest the stack allows."""
    if max_step is None:
        raise ConfigError(file="meshplan rollout", path="--steps",
                          message="give --steps (the stack sets no rollout.maxStep to derive them from)")
    return even_steps(max(1, int(max_step)))


def build_plan(config_file: Path, *, stack: str, service: str, to: str,
               steps: tuple[int, ...] | None) -> Plan:
    source = str(_shown_path(Path(config_file)))
    raw = read_stack_file(source)
    settings = parse_settings(raw, stack=stack, source=source)
    routed = [s.name for s in settings.routed_services]
    if service not in routed:
        raise ConfigError(file=source, path=f"{PROJECT}:services.{service}", value=service,
                          message=f"no routed service of that name; routed: {', '.join(routed)}")
    svc = settings.service(service)
    if to not in svc.versions:
        raise ConfigError(file=source, path=f"{PROJECT}:services.{service}.versions", value=list(svc.versions),
                          message=f"{to} is not deployed; deploy it first (add it to versions), then roll traffic to it")
    svc_raw = (raw.get("services") or {}).get(service) or {}
    current = current_weights(svc_raw, svc.versions)
    started = settings.rollout.started_from
    if started is not None and (started.service, started.to) != (service, to):
        raise ConfigError(file=source, path=f"{PROJECT}:{STARTED_FROM_PATH}",
                          value={"service": started.service, "to": started.to},
                          message="another rollout is in progress; resume it with its own --service/--to")
    start = dict(started.weights) if started else dict(current)
    steps = steps or default_steps(settings.rollout.max_step)
    planned = plan_steps(start=start, current=current, canary=to, steps=steps, resuming=started is not None)

    base_render = _render(raw, settings, stack, source)
    before, before_config, result = base_render, raw, []
    for i, step in enumerate(planned):
        sets, removals = weight_edits(service, step.weights, had_to="to" in svc_raw and i == 0)
        if started is None and i == 0:
            sets = {**sets, **started_from_edits(StartedFrom(service=service, to=to, weights=start))}
        edit = ConfigEdit(sets=sets, removals=tuple(removals))
        config = edit.apply_to(before_config)
        rendered = _render(config, parse_settings(config, stack=stack, source=source), stack, source)
        label = "the stack config now" if i == 0 else f"step {planned[i - 1].number}"
        diff = diffing.diff_states(state_from_rendered(before, label),
                                   state_from_rendered(rendered, f"step {step.number} ({step.percent}%)"))
        _refuse_unless_one_weight_change(diff, step, settings.rollout.max_step, rendered, source)
        result.append(Step(planned=step, edit=edit, config=config, diff=diff, rendered=rendered))
        before, before_config = rendered, config

    versions = [*start, *current, *(v for step in planned for v in step.weights)]
    rollback_weights = {v: start.get(v, 0) for v in dict.fromkeys(versions)}
    has_record = started is not None or bool(planned)
    rollback = ConfigEdit(sets={f"services.{service}.weights.{v}": w for v, w in rollback_weights.items()},
                          removals=(STARTED_FROM_PATH,) if has_record else ())
    finish = ConfigEdit(removals=(STARTED_FROM_PATH,) if has_record else ())
    canary = Canary(namespace=settings.app.namespace, service=service, version=to)
    return Plan(stack=stack, source=config_file, service=service, canary=canary, start=start, current=current,
                steps=result, rollback=rollback, finish=finish,
                gates=gate_queries(settings.rollout.analysis, canary), resumed=started is not None,
                settings=settings)


def _render(config: dict, settings: Settings, stack: str, source: str) -> Rendered:
    return run_program(config, settings=settings, stack=stack, source=source)


def _refuse_unless_one_weight_change(diff: diffing.Diff, step: PlannedStep, max_step: float | None,
                                     rendered: Rendered, source: str) -> None:
    where = f"step {step.number} ({step.percent}%)"
    if step.resumed:
        if diff.changes:
            raise ConfigError(file=source, path="", message=f"{where}: resuming should change nothing, "
                                                             f"but {len(diff.changes)} resources would change")
        return
    updates = [c for c in diff.changes if c.op == diffing.UPDATE and c.type == VIRTUAL_SERVICE]
    if len(diff.changes) != 1 or len(updates) != 1:
        shown = ", ".join(f"{c.op} {c.type.rsplit(':', 1)[-1]} {c.name}" for c in diff.changes) or "nothing"
        raise ConfigError(file=source, path="",
                          message=f"{where}: a rollout step must be exactly one VirtualService update; it would {shown}")
    refused = step_violations(diff.traffic, max_step)
    if refused:
        raise ConfigError(file=source, path="", message=f"{where}: {refused[0]}")
    errors = [f for f in check_rendered(rendered) if f.level == "error"]
    if errors:
        raise ConfigError(file=source, path="", message=f"{where}: {errors[0]}")

