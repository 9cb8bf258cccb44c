"""Traffic before and after a change, the step guard that refuses a change shifting
any destination's share by more than a given number of percentage points, and the
refusal of a change that removes a version while traffic still goes to it.

One rule, used by `meshplan diff`, by the Pulumi program (against the traffic it
exported last time) and by anything else that knows two traffic tables."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from model.traffic_rows import ROUTE_KINDS, RouteAspect
from model.traffic import Backings, Delivery, Share, format_percent, make_before_break, object_key

_INDEX_PREFIX = re.compile(r"^#\d+ ")
EPSILON = 1e-6


@dataclass(frozen=True, kw_only=True)
class TrafficChange:
    """One destination of one route, before and after, in percent. `None` means the
    route did not exist on that side; a destination missing from a route that exists
    counts 0%."""

    virtual_service: str
    namespace: str
    route: str
    host: str
    subset: str
    before: float | None
    after: float | None
    kind: str = "VirtualService"
    """The route object's kind (VirtualService or HTTPRoute): shown, not part of its
    identity, so a route moved from one API to the other with the same shares is no change."""
    primaries: tuple[str, ...] = ()
    """Over several clusters, the primaries whose traffic objects make this change
    (every primary holds them alike unless they drifted); empty for one cluster."""

    @property
    def shift(self) -> float:
        return (self.after or 0.0) - (self.before or 0.0)

    @property
    def changed(self) -> bool:
        return abs(self.shift) > EPSILON or (self.before is None) != (self.after is None)

    @property
    def destination(self) -> str:
        return f"{self.host} {self.subset}" if self.subset else self.host

    def as_json(self) -> dict:
        return {"virtualService": self.virtual_service, "namespace": self.namespace, "route": self.route,
                "host": self.host, "subset": self.subset, "before": _number(self.before),
                "after": _number(self.after), **_kind_field(self.kind),
                **({"primaries": list(self.primaries)} if self.primaries else {})}


def _kind_field(kind: str) -> dict:
    """`kind` in a JSON row of an HTTPRoute; a row without it is a VirtualService's, as
    before HTTPRoutes were read."""
    return {} if kind == "VirtualService" else {"kind": kind}


def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    rounded = round(value, 4)
    return int(rounded) if rounded.is_integer() else rounded


def route_identity(label: str) -> str:
    """A route is the same route when its name or its match is: adding a rule in
    front of it shifts its index, not its identity."""
    return _INDEX_PREFIX.sub("", label)


def output_row(share: Share) -> dict:
    """One row of the program's `traffic` stack output, as `shares_from_output` reads it
    back (`kind` only for an HTTPRoute's row: a VirtualService's row is as it always was)."""
    return {"virtualService": share.virtual_service, "namespace": share.namespace, "route": share.route,
            "host": share.host, "subset": share.subset, "percent": share.percent, **_kind_field(share.kind)}


def shares_from_output(rows: Iterable[Mapping]) -> list[Share]:
    """Shares from the program's `traffic` stack output (a row without `kind` is a
    VirtualService's)."""
    return [Share(virtual_service=str(r["virtualService"]), namespace=str(r.get("namespace", "")),
                  route=str(r["route"]), host=str(r["host"]), subset=str(r.get("subset") or ""),
                  percent=float(r["percent"]), kind=str(r.get("kind") or "VirtualService"))
            for r in rows]


def traffic_changes(before: Iterable[Share], after: Iterable[Share]) -> list[TrafficChange]:
    """Every destination of every route on either side, in the order of `after` then
    what only `before` had."""
    def keyed(shares: Iterable[Share]) -> tuple[dict, set, dict]:
        table, routes, labels = {}, set(), {}
        for s in shares:
            route = (s.namespace, s.virtual_service, route_identity(s.route))
            key = (*route, s.host, s.subset)
            table[key] = table.get(key, 0.0) + s.percent
            routes.add(route)
            labels.setdefault(key, s.route)
            kinds.setdefault(key, s.kind)
        return table, routes, labels

    kinds: dict[tuple, str] = {}
    new, new_routes, new_labels = keyed(after)
    old, old_routes, old_labels = keyed(before)
    changes = []
    for key in [*new, *(k for k in old if k not in new)]:
        ns, vs, _, host, subset = key
        route = key[:3]
        changes.append(TrafficChange(
            virtual_service=vs, namespace=ns, route=new_labels.get(key) or old_labels[key], host=host,
            subset=subset,
            before=old.get(key, 0.0 if route in old_routes else None),
            after=new.get(key, 0.0 if route in new_routes else None), kind=kinds[key],
        ))
    return changes


@dataclass(frozen=True, kw_only=True)
class AspectChange:
    """A fault, mirror, timeout or retries of one HTTP route added (`before` None),
    removed (`after` None) or changed, each side as it reads."""

    virtual_service: str
    namespace: str
    route: str
    aspect: str
    before: str | None
    after: str | None
    kind: str = "VirtualService"

    @property
    def change(self) -> str:
        if self.before is None:
            return f"{self.after} added"
        if self.after is None:
            return f"{self.before} removed"
        return f"{self.before} → {self.after}"

    def as_json(self) -> dict:
        return {"virtualService": self.virtual_service, "namespace": self.namespace, "route": self.route,
                "aspect": self.aspect, "before": self.before, "after": self.after, **_kind_field(self.kind)}


def aspect_changes(before: Iterable[RouteAspect], after: Iterable[RouteAspect]) -> list[AspectChange]:
    """The route aspects that differ, matched by route identity (as shares are) and
    aspect, in the order of `after` then what only `before` had."""
    def keyed(aspects: Iterable[RouteAspect]) -> dict:
        return {(a.namespace, a.virtual_service, route_identity(a.route), a.aspect): a for a in aspects}

    old, new = keyed(before), keyed(after)
    changes = []
    for key in [*new, *(k for k in old if k not in new)]:
        was, now = old.get(key), new.get(key)
        if was is not None and now is not None and was.reading == now.reading:
            continue
        shown = now or was
        changes.append(AspectChange(virtual_service=shown.virtual_service, namespace=shown.namespace,
                                    route=shown.route, aspect=shown.aspect, before=was and was.reading,
                                    after=now and now.reading, kind=shown.kind))
    return changes


def _larger_move(change: TrafficChange, than: TrafficChange) -> bool:
    """A larger move, or on a tie the gain. Shares are floats: 100·559/1559 gained and
    lost differ in their last bit, so moves within EPSILON of each other tie."""
    if abs(abs(change.shift) - abs(than.shift)) > EPSILON:
        return abs(change.shift) > abs(than.shift)
    return change.shift > than.shift


def step_violations(changes: Iterable[TrafficChange], max_step: float | None) -> list[str]:
    """One line per route in which a destination's share moves by more than
    `max_step` points, naming the largest move (the destination gaining traffic on a
    tie: the version being rolled to).

    Only routes present on both sides are judged: a new or removed route is not a
    step of a rollout."""
    if max_step is None:
        return []
    worst: dict[tuple[str, str, str], TrafficChange] = {}
    for c in changes:
        if c.before is None or c.after is None or abs(c.shift) <= max_step + EPSILON:
            continue
        key = (c.namespace, c.virtual_service, route_identity(c.route))
        if key not in worst or _larger_move(c, worst[key]):
            worst[key] = c
    return [
        f"step guard: {c.kind} {c.namespace}/{c.virtual_service} route {c.route!r} moves "
        f"{c.destination} {format_percent(c.before)} → {format_percent(c.after)} "
        f"({c.shift:+.4g} points), more than the maximum step of {max_step:g} points"
        for c in sorted(worst.values(), key=lambda c: (-abs(c.shift), c.namespace, c.virtual_service, c.route))
    ]


def undeployed(before: Iterable[Mapping], after: Iterable[Mapping]) -> list[tuple[Delivery, list[str]]]:
    """Make before break, the removing half: each destination that a VirtualService or
    HTTPRoute sends traffic to in `before` and that still exists in `after`, whose subset,
    per-version Service or pods `after` no longer has, with what went (the largest share
    per destination). Removing
    a version must wait until a change of its own has moved its traffic away: within
    one update the subset and pods can go while Envoy still routes to them.

    A version only some of whose workloads go, or that another workload takes over,
    is still deployed; a route removed together with its versions is deleted before them."""
    after = list(after)
    remaining = Backings(after)
    virtual_services = {object_key(o) for o in after if o.get("kind") in ROUTE_KINDS}
    worst: dict[tuple, tuple[Delivery, list[str]]] = {}
    for need in make_before_break(before):
        delivery = need.delivery
        if delivery.virtual_service not in virtual_services:
            continue
        now = remaining.of_delivery(delivery)
        gone = []
        if need.backing.rules and not now.rules:
            gone += [f"subset {delivery.subset} of DestinationRule {ns}/{name}" for _, ns, name in need.backing.rules]
        if need.backing.services and not now.services:
            gone += [f"Service {ns}/{name}" for _, ns, name in need.backing.services]
        if need.backing.workloads and not now.workloads:
            gone += [f"{kind} {ns}/{name}" for kind, ns, name in need.backing.workloads]
        key = (delivery.virtual_service, delivery.host, delivery.subset)
        if gone and (key not in worst or delivery.percent > worst[key][0].percent):
            worst[key] = (delivery, gone)
    return list(worst.values())


def undeployed_while_routed(before: Iterable[Mapping], after: Iterable[Mapping]) -> list[str]:
    """`undeployed`, one line each, naming the service and version."""
    lines = []
    for delivery, gone in undeployed(before, after):
        kind, ns, name = delivery.virtual_service
        receives = f"a {format_percent(delivery.percent)} mirror" if delivery.mirrored \
            else format_percent(delivery.percent)
        lines.append(f"make before break: {delivery.destination} still receives {receives} of {kind} "
                     f"{ns}/{name} route {delivery.route!r}, and this change undeploys it ({', '.join(gone)}); "
                     "shift its traffic to 0% first, then remove it")
    return lines
