"""`meshplan rollout`, first half: the plan. From the weights the stack config holds
now to the canary's target, one weight state per step, each rendered through the
program and diffed against the one before: a step must be exactly one
VirtualService (or HTTPRoute) update, within `rollout.maxStep` (the step guard), with no analyzer
error — otherwise the rollout is refused before anything is applied. Each step also
names its targets: the URNs whose inputs differ from the state before it, the only
objects its `pulumi up` may touch."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from meshplan.diff import compare as diffing
from meshplan.diff.states import state_from_rendered
from meshplan.check import check_rendered
from meshplan.render.engine import Rendered, run_program, shown_path
from model.errors import ConfigError
from model.gates import Canary, GateQuery, gate_queries
from model.gateway_api_routing import version_service_name
from model.traffic_changes import step_violations
from model.rollout_plan import (ROLLING_BACK_PATH, STARTED_FROM_PATH, PlannedStep, StartedFrom, current_weights,
                                even_steps, plan_steps, started_from_edits, weight_edits, weights_at)
from model.settings import PROJECT, Settings, parse_settings, read_stack_config

ROUTE_TYPES = ("kubernetes:networking.istio.io/v1:VirtualService",
               "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")
"""The objects a weight step updates: a service's VirtualService, or its HTTPRoute."""


@dataclass(frozen=True)
class ConfigEdit:
    """Stack config changes, as key paths without the project prefix
    (`services.reviews.weights.v1`): values to set, then paths to remove. Sets come
    first so that `rollout.startedFrom` is on record before any weight key goes away,
    and a first step that replaces `to` with `weights` is never "neither": cut short
    between the two, the config holds both, which the program refuses, rather than a
    valid config routing to the first deployed version."""

    sets: Mapping[str, Any] = field(default_factory=dict)
    removals: tuple[str, ...] = ()

    def apply_to(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of the project config with the edit made."""
        edited = copy.deepcopy(dict(config))
        for path, value in self.sets.items():
            *parents, last = path.split(".")
            node = edited
            for key in parents:
                if not isinstance(node.get(key), dict):
                    node[key] = {}
                node = node[key]
            node[last] = value
        for path in self.removals:
            *parents, last = path.split(".")
            node = edited
            for key in parents:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.pop(last, None)
        return edited

    def lines(self) -> list[str]:
        return [*(f"set {PROJECT}:{p} = {v}" for p, v in self.sets.items()),
                *(f"remove {PROJECT}:{p}" for p in self.removals)]

    def __bool__(self) -> bool:
        return bool(self.sets or self.removals)


@dataclass
class Step:
    planned: PlannedStep
    edit: ConfigEdit
    config: dict
    """The project config after this step."""
    diff: diffing.Diff
    rendered: Rendered
    targets: tuple[str, ...]
    """The URNs whose inputs differ from the state before this step."""


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
    """The starting weights back, with `rollingBack: true` until its up succeeds."""
    rollback_targets: tuple[str, ...]
    after_rollback: ConfigEdit
    """What a rollback leaves once its up succeeded: no record of a running rollout."""
    finish: ConfigEdit
    """What promotion leaves: no record of a running rollout."""
    gates: list[GateQuery]
    resumed: bool
    settings: Settings
    rolling_back: bool = False
    """A previous run's rollback did not finish: this run finishes it and nothing else."""
    repair: ConfigEdit = field(default_factory=ConfigEdit)
    """Finishes a first step's config edit that an interruption cut short, before anything else."""

    @property
    def resumed_targets(self) -> tuple[str, ...]:
        """The objects an interrupted run may have left pending: those of the recorded
        step, or of the rollback."""
        if self.rolling_back:
            return self.rollback_targets
        return self.steps[0].targets if self.steps and self.steps[0].planned.resumed else ()

    def as_json(self) -> dict:
        return {"event": "plan", "stack": self.stack, "service": self.service, "canary": self.canary.version,
                "start": self.start, "current": self.current, "resumed": self.resumed,
                "rollingBack": self.rolling_back,
                "steps": [{"step": s.planned.number, "canaryPercent": s.planned.percent, "weights": s.planned.weights,
                           "resumed": s.planned.resumed, "config": s.edit.lines(), "diff": s.diff.as_json(),
                           "targets": list(s.targets)}
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
    """The plan for a fresh, resumed or rolling-back rollout. Over a screen because
    every part of it (steps, targets, rollback) comes from the same renders, made once."""
    source = str(shown_path(Path(config_file)))
    raw, provider = read_stack_config(source)
    repair = _unfinished_first_edit(raw, service)
    raw = repair.apply_to(raw)
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
    rolling_back = started is not None and started.rolling_back
    planned = [] if rolling_back else plan_steps(start=start, current=current, canary=to, steps=steps,
                                                 resuming=started is not None)

    def render(config: dict) -> Rendered:
        return _render(config, parse_settings(config, stack=stack, source=source), stack, source, provider)

    base_render = _render(raw, settings, stack, source, provider)
    before, before_config, result = base_render, raw, []
    for i, step in enumerate(planned):
        if step.resumed:
            # Applied again as recorded; its targets are what it changed from the state before it.
            previous = start if step.number == 1 else weights_at(start, to, steps[step.number - 2])
            previous = {version: previous.get(version, 0) for version in {**previous, **step.weights}}
            earlier = render(ConfigEdit(sets=weight_edits(service, previous, had_to=False)[0]).apply_to(raw))
            edit, config, rendered, targets = ConfigEdit(), raw, base_render, changed_urns(earlier, base_render)
        else:
            sets, removals = weight_edits(service, step.weights, had_to="to" in svc_raw and i == 0)
            if started is None and i == 0:
                sets = {**sets, **started_from_edits(StartedFrom(service=service, to=to, weights=start))}
            edit = ConfigEdit(sets=sets, removals=tuple(removals))
            config = edit.apply_to(before_config)
            rendered = render(config)
            targets = changed_urns(before, rendered)
        label = "the stack config now" if i == 0 else f"step {planned[i - 1].number}"
        diff = diffing.diff_states(state_from_rendered(before, label),
                                   state_from_rendered(rendered, f"step {step.number} ({step.percent}%)"))
        refuse_unless_one_weight_change(diff, step, settings.rollout.max_step, rendered, source)
        result.append(Step(planned=step, edit=edit, config=config, diff=diff, rendered=rendered, targets=targets))
        before, before_config = rendered, config

    if rolling_back:
        first = ConfigEdit(sets=weight_edits(service, weights_at(start, to, steps[0]), had_to=False)[0])
        rollback_targets = changed_urns(base_render, render(first.apply_to(raw)))
    else:
        rollback_targets = tuple(sorted({urn for step in result for urn in step.targets}))
    versions = [*start, *current, *(v for step in planned for v in step.weights)]
    rollback_weights = {v: start.get(v, 0) for v in dict.fromkeys(versions)}
    has_record = started is not None or bool(planned)
    record = ConfigEdit(removals=(STARTED_FROM_PATH,) if has_record else ())
    rollback = ConfigEdit(sets={**{f"services.{service}.weights.{v}": w for v, w in rollback_weights.items()},
                                **({ROLLING_BACK_PATH: True} if has_record else {})})
    canary = Canary(namespace=settings.app.namespace, service=service, version=to,
                    reporter="waypoint" if settings.ambient else "destination",
                    version_service=version_service_name(service, to) if settings.gateway_api_routes else None)
    return Plan(stack=stack, source=config_file, service=service, canary=canary, start=start, current=current,
                steps=result, rollback=rollback, rollback_targets=rollback_targets, after_rollback=record,
                finish=record, gates=gate_queries(settings.rollout.analysis, canary), resumed=started is not None,
                settings=settings, rolling_back=rolling_back, repair=repair)


def changed_urns(before: Rendered, after: Rendered) -> tuple[str, ...]:
    """The URNs registered on one side only, or with other inputs: what an `up` from
    `before` to `after` must touch (the stack's own outputs are always written: the
    engine targets the root stack resource implicitly)."""
    old, new = before.by_urn(), after.by_urn()
    return tuple(sorted(urn for urn in old.keys() | new.keys()
                        if urn not in old or urn not in new or old[urn].inputs != new[urn].inputs))


def _unfinished_first_edit(raw: dict, service: str) -> ConfigEdit:
    """A first step cut short between its two config commands leaves `to` beside the
    step's `weights` (with the rollout on record): removing `to` finishes it."""
    record = (raw.get("rollout") or {}).get("startedFrom") if isinstance(raw.get("rollout"), dict) else None
    svc_raw = (raw.get("services") or {}).get(service) if isinstance(raw.get("services"), dict) else None
    if isinstance(record, dict) and record.get("service") == service and isinstance(svc_raw, dict) \
            and "to" in svc_raw and "weights" in svc_raw:
        return ConfigEdit(removals=(f"services.{service}.to",))
    return ConfigEdit()


def _render(config: dict, settings: Settings, stack: str, source: str, provider: dict) -> Rendered:
    return run_program(config, settings=settings, stack=stack, source=source, provider_config=provider)


def refuse_unless_one_weight_change(diff: diffing.Diff, step: PlannedStep, max_step: float | None,
                                     rendered: Rendered, source: str) -> None:
    where = f"step {step.number} ({step.percent}%)"
    if step.resumed:
        if diff.changes:
            raise ConfigError(file=source, path="", message=f"{where}: resuming should change nothing, "
                                                             f"but {len(diff.changes)} resources would change")
        return
    updates = [c for c in diff.changes if c.op == diffing.UPDATE and c.type in ROUTE_TYPES]
    if len(diff.changes) != 1 or len(updates) != 1:
        shown = ", ".join(f"{c.op} {c.type.rsplit(':', 1)[-1]} {c.name}" for c in diff.changes) or "nothing"
        noun = "HTTPRoute" if any(c.type == ROUTE_TYPES[1] for c in diff.changes) else "VirtualService"
        raise ConfigError(file=source, path="",
                          message=f"{where}: a rollout step must be exactly one {noun} update; it would {shown}")
    refused = step_violations(diff.traffic, max_step)
    if refused:
        raise ConfigError(file=source, path="", message=f"{where}: {refused[0]}")
    errors = [f for f in check_rendered(rendered) if f.level == "error"]
    if errors:
        raise ConfigError(file=source, path="", message=f"{where}: {errors[0]}")

