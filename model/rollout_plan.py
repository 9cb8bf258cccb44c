"""The weight states of a progressive rollout, as plain data: from a service's current
default-route weights to a canary version, one state per step, and the stack config
edits that set each state.

The stack config is the only record of where a rollout stands. While one runs,
`rollout.startedFrom` holds the weights it started from (so a resumed rollout rolls
back to them, not to wherever it was interrupted); `rollingBack: true` in it says a
rollback has written those weights back but its `pulumi up` has not yet succeeded, so
a rerun finishes the rollback instead of stepping toward the canary again. It is
removed when the rollout ends; the settings parser (`model.settings.parse_rollout`)
reads it into `StartedFrom`. Pure: no Pulumi, no rendering."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from model.traffic import Backings, hidden_by_secret, object_key, shares
from model.traffic_rows import ROUTE_KINDS


@dataclass(frozen=True, kw_only=True)
class StartedFrom:
    """Written by `meshplan rollout` while a rollout runs."""

    service: str
    to: str
    """The canary version being rolled to."""
    weights: Mapping[str, int]
    """The service's default-route weights before the rollout's first step."""
    rolling_back: bool = False
    """A rollback has written `weights` back; its `pulumi up` has not yet succeeded."""


def current_weights(service_config: Mapping[str, Any], deployed: tuple[str, ...]) -> dict[str, int]:
    """A service's default-route weights as stack config states them: `weights`, or
    `to` (one version, 100), or nothing (the first deployed version, 100)."""
    if "weights" in service_config:
        return {str(v): int(w) for v, w in service_config["weights"].items()}
    if "to" in service_config:
        return {str(service_config["to"]): 100}
    return {deployed[0]: 100}


def canary_share(weights: Mapping[str, int], canary: str) -> float:
    """The canary's share in percent (weights are relative)."""
    total = sum(weights.values())
    return 100.0 * weights.get(canary, 0) / total if total else 0.0


def weights_at(start: Mapping[str, int], canary: str, percent: int) -> dict[str, int]:
    """The weights that give the canary `percent` and split the rest among the other
    versions in their starting proportions, as whole numbers summing to 100 (largest
    remainders get the rounding). Every version of `start` stays listed, at 0 if need
    be, so each step edits the same config keys."""
    others = {v: w for v, w in start.items() if v != canary}
    rest = 100 - percent
    other_total = sum(others.values())
    result: dict[str, int] = {}
    if others and other_total == 0:
        # Only the canary had traffic: the rest goes to the first other version.
        others = {v: (1 if i == 0 else 0) for i, v in enumerate(others)}
        other_total = 1
    exact = {v: rest * w / other_total for v, w in others.items()} if others else {}
    floors = {v: int(x) for v, x in exact.items()}
    left = rest - sum(floors.values())
    for v in sorted(exact, key=lambda v: (-(exact[v] - floors[v]), list(others).index(v)))[:left]:
        floors[v] += 1
    result.update(floors)
    result[canary] = percent
    return result


@dataclass(frozen=True, kw_only=True)
class PlannedStep:
    number: int
    """1-based, counting the steps of the whole rollout (a resumed one keeps its numbers)."""
    percent: int
    """The canary's share after this step."""
    weights: dict[str, int]
    resumed: bool = False
    """The step the stack config already records: applied again (an up is idempotent)
    and judged, since an interrupted run may not have finished either."""


def even_steps(size: int, target: int = 100) -> tuple[int, ...]:
    """The canary's shares in steps of `size` points, ending at `target`."""
    return tuple(range(size, target, size)) + (target,)


def plan_steps(*, start: Mapping[str, int], current: Mapping[str, int], canary: str,
               steps: tuple[int, ...], resuming: bool) -> list[PlannedStep]:
    """The states still to go. Steps at or below the canary's current share are done;
    when resuming, the step the config records is judged again first."""
    now = canary_share(current, canary)
    planned = []
    for number, percent in enumerate(steps, start=1):
        if percent > now + 1e-9:
            planned.append(PlannedStep(number=number, percent=percent, weights=weights_at(start, canary, percent)))
        elif resuming and abs(percent - now) < 1e-9:
            planned = [PlannedStep(number=number, percent=percent, weights=dict(current), resumed=True)]
    return planned


def weight_edits(service: str, weights: Mapping[str, int], *, had_to: bool) -> tuple[dict[str, Any], list[str]]:
    """Config edits (key paths without the project prefix) that set a service's
    default-route weights: values to set and paths to remove after them."""
    removals = [f"services.{service}.to"] if had_to else []
    return {f"services.{service}.weights.{v}": w for v, w in weights.items()}, removals


def started_from_edits(record: StartedFrom) -> dict[str, Any]:
    edits: dict[str, Any] = {"rollout.startedFrom.service": record.service, "rollout.startedFrom.to": record.to}
    edits.update({f"rollout.startedFrom.weights.{v}": w for v, w in record.weights.items()})
    return edits


STARTED_FROM_PATH = "rollout.startedFrom"
ROLLING_BACK_PATH = f"{STARTED_FROM_PATH}.rollingBack"


@dataclass(frozen=True, kw_only=True)
class ChangePlan:
    """How `meshplan rollout` would take one service's default route from the base's
    weights to the change's, within the step limit: the same path it would take, or
    why it cannot."""

    namespace: str
    service: str
    canary: str
    """The version gaining the most traffic."""
    steps: tuple[int, ...]
    """The canary's share after each step (none when `unavailable`)."""
    states: tuple[dict[str, int], ...]
    """The weights after each step, as the rollout writes them."""
    step_limit: float | None
    """The largest move per step the steps respect (None: no limit, one step)."""
    unavailable: str = ""
    """Why no rollout reaches the change's traffic ('' when `steps` does)."""


def default_route_weights(vs: Mapping) -> dict[str, int] | None:
    """The weights of a VirtualService's default route (its last HTTP route, when it
    matches every request) as the stack file writes them: `to` is one version at 100,
    as `current_weights` reads it. None without such a route or a subset per destination.
    An HTTPRoute's are its default rule's (`model.httproute_traffic.default_weights`)."""
    if vs.get("kind") == "HTTPRoute":
        from model.httproute_traffic import default_weights

        return default_weights(vs)
    routes = (vs.get("spec") or {}).get("http") or []
    if not routes or hidden_by_secret(routes) or routes[-1].get("match"):
        return None
    destinations = [d.get("destination") or {} for d in routes[-1].get("route") or []]
    if not destinations or not all(d.get("subset") for d in destinations):
        return None
    if len(destinations) == 1 and routes[-1]["route"][0].get("weight") is None:
        return {str(destinations[0]["subset"]): 100}
    return {str(d["subset"]): int(r.get("weight") or 0) for d, r in zip(destinations, routes[-1]["route"])}


def _shares(weights: Mapping[str, int]) -> dict[str, float]:
    return dict(zip(weights, shares(list(weights.values()))))


def change_plans(changes: list, max_step: float | None, *, before: Iterable[Mapping],
                 after: Iterable[Mapping]) -> list[ChangePlan]:
    """For each VirtualService or HTTPRoute whose default route's weights a change moves
    (`changes`: model.traffic_changes.TrafficChange; `before`, `after`: the two sides'
    objects), the steps `meshplan rollout` would take from the base's weights to the new canary share, each
    at most `max_step` points (one step without a limit), when they end at the change's
    traffic. None for a service the change also undeploys a routed version of: that is
    refused, not planned."""
    from model.traffic_changes import undeployed

    before, after = list(before), list(after)
    routes: dict[tuple[str, str], list] = {}
    for change in changes:
        if change.route.endswith(" default") and change.subset and change.before is not None \
                and change.after is not None:
            routes.setdefault((change.namespace, change.virtual_service), []).append(change)
    held = {delivery.virtual_service for delivery, _ in undeployed(before, after)}
    written = [{object_key(o)[1:]: default_route_weights(o) for o in side
                if o.get("kind") in ROUTE_KINDS} for side in (before, after)]
    base_subsets = Backings(before)
    plans = []
    for (namespace, service), moved in routes.items():
        gaining = max(moved, key=lambda c: c.shift)
        start, wanted = written[0].get((namespace, service)), written[1].get((namespace, service))
        if gaining.shift <= 0 or (gaining.kind, namespace, service) in held or not start or not wanted:
            continue
        canary, target = gaining.subset, gaining.after
        plan = ChangePlan(namespace=namespace, service=service, canary=canary, steps=(), states=(),
                          step_limit=max_step)
        why = _unreachable(start, wanted, canary, target, max_step,
                           deployed=_deployed(base_subsets, gaining, canary))
        if why:
            plans.append(replace(plan, unavailable=why))
            continue
        steps = even_steps(int(max_step) if max_step else 100, round(target))
        planned = plan_steps(start=start, current=start, canary=canary, steps=steps, resuming=False)
        plans.append(replace(plan, steps=tuple(p.percent for p in planned),
                             states=tuple(p.weights for p in planned)))
    return plans


def _deployed(backings: Backings, change, canary: str) -> bool:
    """Whether the base defines the canary: its DestinationRule subset, or for an
    HTTPRoute its per-version Service."""
    if change.kind == "HTTPRoute":
        from model.httproute_traffic import version_service

        return bool(backings.of_service(change.namespace, version_service(change.host, canary)).services)
    return bool(backings.of(change.namespace, change.host, canary).rules)


def _listed(weights: Mapping[str, int]) -> str:
    return ", ".join(f"{v} {w}" for v, w in weights.items())


def _unreachable(start: Mapping[str, int], wanted: Mapping[str, int], canary: str, target: float,
                 max_step: float | None, *, deployed: bool) -> str:
    """Why `meshplan rollout`, run on the base's stack config, cannot end at the
    change's traffic ('' when it can)."""
    if not deployed:
        return f"{canary} is not deployed in the base; deploy it in a change of its own, then roll traffic to it"
    if max_step is not None and max_step < 1:
        return f"rollout steps are whole percentages, and the maximum step is {max_step:g} points"
    reached = _shares(weights_at(start, canary, round(target)))
    goal = _shares(wanted)
    if abs(target - round(target)) > 1e-9 or any(abs(reached.get(v, 0.0) - goal.get(v, 0.0)) > 1e-6
                                                  for v in {*reached, *goal}):
        return (f"meshplan rollout cannot reach this change's weights ({_listed(wanted)}) from the base's "
                f"({_listed(start)}): it moves {canary} in whole percentages and keeps the other versions "
                "in their proportions")
    return ""
