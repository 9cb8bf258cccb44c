"""Effective traffic shares, the way Istio computes them: weights within one HTTP
route are relative (share = weight / sum), an omitted weight counts 0 when others
are set, and a lone destination takes everything whatever its weight. Routes are
matched in order: a route whose match catches every request shadows every route
after it, whose destinations then receive 0% (so adding `uri: {prefix: /}` to v3
ahead of the default route moves the default route's traffic, and the step guard
sees it)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from model.bodies import is_list


@dataclass(frozen=True, kw_only=True)
class Share:
    virtual_service: str
    namespace: str
    route: str
    """Which HTTP route of the VirtualService: its name, or `#<index>` and its match."""
    host: str
    subset: str
    percent: float

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.namespace, self.virtual_service, self.route, self.host, self.subset)


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
    """Every destination of every HTTP route of one VirtualService, with its share."""
    metadata = vs.get("metadata") or {}
    name = metadata.get("name", "?")
    namespace = metadata.get("namespace", "")
    found = []
    shadowed = False
    for index, route in enumerate((vs.get("spec") or {}).get("http") or []):
        destinations = route.get("route") or []
        percents = shares([d.get("weight") for d in destinations])
        if shadowed:
            percents = [0.0 for _ in percents]
        shadowed = shadowed or route_catches_all(route)
        label = route_label(index, route)
        for dest, percent in zip(destinations, percents):
            target = dest.get("destination") or {}
            found.append(Share(virtual_service=name, namespace=namespace, route=label,
                               host=str(target.get("host", "?")), subset=str(target.get("subset", "")),
                               percent=percent))
    return found


def traffic_table(objects: Iterable[Mapping]) -> list[Share]:
    found = []
    for obj in objects:
        if obj.get("kind") == "VirtualService":
            found.extend(virtual_service_shares(obj))
    return found


def format_percent(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value - round(value)) < 0.05:
        return f"{round(value)}%"
    return f"{value:.1f}%"
