"""Effective traffic shares, the way Istio computes them: weights within one HTTP
route are relative (share = weight / sum), an omitted weight counts 0 when others
are set, and a lone destination takes everything whatever its weight. Routes are
matched in order: a route whose match catches every request shadows every route
after it, whose destinations then receive 0% (so adding `uri: {prefix: /}` to v3
ahead of the default route moves the default route's traffic, and the step guard
sees it).

Gateway API HTTPRoutes are read by `model.httproute_traffic` into the same rows (their
weights and rule precedence differ); the readers here take both kinds.

The same shares decide what a route needs in place before it reaches Envoy (make
before break): `make_before_break`."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Iterator

from model.bodies import TEMPLATE_PATHS, is_list
from model.names import fqdn
from model.traffic_rows import (EPSILON, Delivery, ObjectKey, Share, format_percent,  # noqa: F401  (the readers' rows)
                                hidden_by_secret, object_key)

def shares(weights: list[float | None]) -> list[float]:
    """Percent of requests per destination of one route."""
    if len(weights) == 1:
        return [100.0]
    total = sum(w or 0 for w in weights)
    if total <= 0:
        return [0.0 for _ in weights]
    return [100.0 * (w or 0) / total for w in weights]


# URI regexes that match every path (Istio matches the whole path with RE2; every
# path starts with "/"). Only these spellings are recognised: deciding in general
# whether a regex matches everything is not worth a solver here.
_ALL_PATHS_REGEXES = frozenset({".*", "^.*$", "^.*", ".*$", "(.*)", "/.*", "^/.*", "^/.*$", ".+", "[\\s\\S]*"})


def match_catches_all(match: object) -> bool:
    """Whether one HTTPMatchRequest matches every request: no condition at all, or
    only a URI condition every path meets (prefix `/` or empty, a regex like `.*`)."""
    if not isinstance(match, Mapping):
        return False
    conditions = {k: v for k, v in match.items() if k not in ("name", "ignoreUriCase")}
    if not conditions:
        return True
    uri = conditions.pop("uri", None)
    if conditions or not isinstance(uri, Mapping) or len(uri) != 1:
        return False
    kind, value = next(iter(uri.items()))
    return (kind == "prefix" and value in ("", "/")) or (kind == "regex" and value in _ALL_PATHS_REGEXES)


def route_catches_all(route: Mapping) -> bool:
    """An HTTP route (or TCP/TLS rule) without matches, or with one that catches all."""
    matches = route.get("match")
    return not matches or (is_list(matches) and any(match_catches_all(m) for m in matches))


def describe_match(matches: Sequence[Mapping] | None) -> str:
    """A short reading of an HTTPMatchRequest list, e.g. `end-user=jason`."""
    if not matches:
        return "default"
    readings = []
    for match in matches:
        parts = []
        for field_name in ("uri", "port", "sourceLabels", "gateways"):
            if field_name in match:
                parts.append(_condition(field_name, match[field_name]))
        for header, condition in (match.get("headers") or {}).items():
            parts.append(_condition(header, condition))
        readings.append(" & ".join(parts) if parts else "any")
    return " | ".join(readings)


def _condition(name: str, condition) -> str:
    if isinstance(condition, Mapping) and len(condition) == 1:
        kind, value = next(iter(condition.items()))
        operator = {"exact": "=", "prefix": "^=", "regex": "~="}.get(kind, f" {kind} ")
        return f"{name}{operator}{value}"
    return f"{name}={condition}"


def route_label(index: int, route: Mapping) -> str:
    name = route.get("name")
    if name:
        return str(name)
    return f"#{index} {describe_match(route.get('match'))}"


def virtual_service_shares(vs: Mapping) -> list[Share]:
    """Every destination of every HTTP route of one VirtualService, with its share;
    none when a secret hides its name or any of its HTTP routes (no share of a route
    can be known without all of its weights and the routes before it)."""
    spec = vs.get("spec") or {}
    if hidden_by_secret(vs.get("metadata")) or hidden_by_secret(spec.get("http") if isinstance(spec, Mapping) else spec):
        return []
    metadata = vs.get("metadata") or {}
    name = metadata.get("name", "?")
    namespace = metadata.get("namespace", "")
    found = []
    for index, route, shadowed in ordered_rules(vs, "http"):
        destinations = route.get("route") or []
        percents = [0.0 for _ in destinations] if shadowed else shares([d.get("weight") for d in destinations])
        label = route_label(index, route)
        for dest, percent in zip(destinations, percents):
            target = dest.get("destination") or {}
            found.append(Share(virtual_service=name, namespace=namespace, route=label,
                               host=str(target.get("host", "?")), subset=str(target.get("subset", "")),
                               percent=percent))
    return found


def ordered_rules(vs: Mapping, kind: str) -> Iterator[tuple[int, Mapping, bool]]:
    """The rules of one kind (`http`, `tls`, `tcp`) of a VirtualService in order, each
    with whether an earlier rule catching every request shadows it."""
    shadowed = False
    for index, route in enumerate((vs.get("spec") or {}).get(kind) or []):
        yield index, route, shadowed
        shadowed = shadowed or route_catches_all(route)


def traffic_table(objects: Iterable[Mapping]) -> list[Share]:
    found = []
    for obj in objects:
        if obj.get("kind") == "VirtualService":
            found.extend(virtual_service_shares(obj))
        elif obj.get("kind") == "HTTPRoute":
            from model.httproute_traffic import http_route_shares  # it builds on this module

            found.extend(http_route_shares(obj))
    return found


# ------------------------------------------------------------ make before break


def deliveries(vs: Mapping) -> list[Delivery]:
    """Every destination of every HTTP, TLS and TCP rule of one VirtualService and every
    mirror, with its share; a rule shadowed by an earlier catch-all delivers 0%. None
    when a secret hides its name or its rules: what they deliver cannot be known."""
    spec = vs.get("spec") or {}
    rules = [spec.get(kind) for kind in ("http", "tls", "tcp")] if isinstance(spec, Mapping) else spec
    if hidden_by_secret(vs.get("metadata")) or hidden_by_secret(rules):
        return []
    key = object_key(vs)
    found = []
    for kind in ("http", "tls", "tcp"):
        for index, route, shadowed in ordered_rules(vs, kind):
            label = route_label(index, route) if kind == "http" else f"{kind} {route_label(index, route)}"
            destinations = route.get("route") or []
            percents = [0.0 for _ in destinations] if shadowed else shares([d.get("weight") for d in destinations])
            targets = [(d.get("destination") or {}, p, False) for d, p in zip(destinations, percents)]
            for target, percent in route_mirrors(route):
                targets.append((target, 0.0 if shadowed else percent, True))
            found.extend(Delivery(virtual_service=key, route=label, host=str(target.get("host", "")),
                                  subset=str(target.get("subset") or ""), percent=percent, mirrored=mirrored)
                         for target, percent, mirrored in targets)
    return found


def route_mirrors(route: Mapping) -> list[tuple[Mapping, float]]:
    """An HTTP route's mirrors (`mirror` with `mirrorPercentage`, or `mirrors`), each
    with the percent of the route's requests it copies (Istio's default: all)."""
    found = []
    if isinstance(route.get("mirror"), Mapping):
        percentage = route.get("mirrorPercentage")
        value = percentage.get("value") if isinstance(percentage, Mapping) else route.get("mirrorPercent")
        found.append((route["mirror"], 100.0 if value is None else float(value)))
    for mirror in route.get("mirrors") or []:
        percentage = mirror.get("percentage") if isinstance(mirror, Mapping) else None
        value = percentage.get("value") if isinstance(percentage, Mapping) else None
        if isinstance(mirror, Mapping) and isinstance(mirror.get("destination"), Mapping):
            found.append((mirror["destination"], 100.0 if value is None else float(value)))
    return found


@dataclass(frozen=True, kw_only=True)
class Backing:
    """What requests to one destination land on, among a set of objects."""

    rules: tuple[ObjectKey, ...] = ()
    """The DestinationRules defining its subset (none for a destination without one)."""
    services: tuple[ObjectKey, ...] = ()
    """The Service an HTTPRoute backendRef names, when it exists (none for a VirtualService)."""
    workloads: tuple[ObjectKey, ...] = ()
    """The objects whose pods its Service selects, narrowed by its subset's labels."""


class Backings:
    """Destinations resolved the way Istio resolves them against a set of objects:
    a short host in the namespace of the VirtualService naming it, a subset by the
    DestinationRules for that host, its pods by the host's Service selector plus the
    subset's labels. Indexed once, so each lookup costs the size of its answer."""

    def __init__(self, objects: Iterable[Mapping]):
        self._fqdn = fqdn
        self._rules: dict[str, list[tuple[ObjectKey, dict[str, Mapping]]]] = {}
        self._selectors: dict[str, list[tuple[str, Mapping]]] = {}
        self._services: dict[str, list[ObjectKey]] = {}
        self._pods: dict[tuple[str, str, str], set[ObjectKey]] = {}
        self._order: dict[ObjectKey, int] = {}
        for obj in objects:
            key = object_key(obj)
            kind, namespace, name = key
            spec = obj.get("spec") or {}
            if kind == "DestinationRule":
                subsets = {str(s.get("name")): s.get("labels") or {} for s in spec.get("subsets") or []
                           if isinstance(s, Mapping)}
                self._rules.setdefault(fqdn(str(spec.get("host", "")), namespace), []).append((key, subsets))
            elif kind == "Service":
                self._services.setdefault(fqdn(name, namespace), []).append(key)
                if isinstance(spec.get("selector"), Mapping) and spec["selector"]:
                    self._selectors.setdefault(fqdn(name, namespace), []).append((namespace, spec["selector"]))
            elif kind in TEMPLATE_PATHS:
                template = obj
                for step in TEMPLATE_PATHS[kind]:
                    template = (template.get(step) if isinstance(template, Mapping) else None) or {}
                labels = (template.get("metadata") or {}).get("labels") or {}
                self._order.setdefault(key, len(self._order))
                for label, value in labels.items():
                    self._pods.setdefault((namespace, str(label), str(value)), set()).add(key)

    def of(self, namespace: str, host: str, subset: str) -> Backing:
        """The backing of `host`/`subset` named by a VirtualService in `namespace`."""
        target = self._fqdn(host, namespace)
        defining = [(key, subsets[subset]) for key, subsets in self._rules.get(target, ()) if subset in subsets]
        if subset and not defining:
            return Backing()  # no subset, no pods it could reach
        return Backing(rules=tuple(key for key, _ in defining),
                       workloads=self._selected(target, [labels for _, labels in defining] or [{}]))

    def of_service(self, namespace: str, name: str) -> Backing:
        """The backing of the Service `name` an HTTPRoute backendRef names in `namespace`."""
        target = self._fqdn(name, namespace)
        return Backing(services=tuple(self._services.get(target, ())), workloads=self._selected(target, [{}]))

    def of_delivery(self, delivery: Delivery) -> Backing:
        if delivery.service is not None:
            return self.of_service(*delivery.service)
        return self.of(delivery.virtual_service[1], delivery.host, delivery.subset)

    def _selected(self, target: str, label_sets: list[Mapping]) -> tuple[ObjectKey, ...]:
        """The workloads whose pods the Services of `target` select, narrowed by any of `label_sets`."""
        workloads: set[ObjectKey] = set()
        for service_namespace, selector in self._selectors.get(target, ()):
            for extra in label_sets:
                wanted = {**selector, **extra}
                matched = [self._pods.get((service_namespace, str(k), str(v)), set()) for k, v in wanted.items()]
                workloads |= set.intersection(*matched) if matched else set()
        return tuple(sorted(workloads, key=self._order.__getitem__))


@dataclass(frozen=True, kw_only=True)
class Need:
    """A destination a route sends traffic to, and what must be in place first."""

    delivery: Delivery
    backing: Backing


def make_before_break(objects: Iterable[Mapping]) -> list[Need]:
    """Make before break, stated once: for every VirtualService and HTTPRoute among
    `objects`, each destination it sends (or mirrors) traffic to, with the objects among
    them that must be in place before it routes there: the DestinationRules defining
    the subset, or the per-version Service an HTTPRoute backendRef names, and the
    workloads running its pods (istio.io's traffic-management best practices). A
    destination at 0% (weight 0, or shadowed by an earlier catch-all) needs nothing, so
    traffic can leave a version before the version goes."""
    objects = list(objects)
    backings = Backings(objects)
    found = []
    for obj in objects:
        kind = obj.get("kind")
        if kind == "HTTPRoute":
            from model.httproute_traffic import http_route_deliveries  # it builds on this module

            routed = http_route_deliveries(obj)
        else:
            routed = deliveries(obj) if kind == "VirtualService" else []
        found.extend(Need(delivery=delivery, backing=backings.of_delivery(delivery))
                     for delivery in routed if delivery.percent > EPSILON)
    return found


def needed_before(objects: Iterable[Mapping]) -> dict[ObjectKey, tuple[ObjectKey, ...]]:
    """Per route object, the objects it waits for (`make_before_break`, flattened)."""
    found: dict[ObjectKey, dict[ObjectKey, None]] = {}
    for need in make_before_break(objects):
        waits = found.setdefault(need.delivery.virtual_service, {})
        waits.update(dict.fromkeys((*need.backing.rules, *need.backing.services, *need.backing.workloads)))
    return {vs: tuple(waits) for vs, waits in found.items()}
