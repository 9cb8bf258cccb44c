"""Effective traffic shares of Kubernetes Gateway API HTTPRoutes
(gateway.networking.k8s.io/v1), in the rows `model.traffic` gives a VirtualService, so
that the traffic table, the step guard, `meshplan diff`, make before break and the
rollout plan read both kinds alike.

Gateway API semantics, which differ from a VirtualService's (Gateway API v1.5.1, the
HTTPRoute CRD's field descriptions):
- Weights: a backendRef's share is weight / the sum of its rule's weights, and an
  omitted weight counts 1, not 0. Weight 0 sends nothing: a lone backendRef takes
  100% unless its weight is 0.
- Precedence: rules are not tried in list order. Across a route's matches the most
  specific wins (an Exact path, then the longest prefix, a method, the most headers,
  the most query parameters); ties go to the first rule. Istio ranks RegularExpression
  paths below every prefix (its Gateway API conversion sorts the routes it generates
  so). A match catching every request (no matches, or a PathPrefix `/` alone: the
  API's default match) therefore shadows later catch-all matches and every
  RegularExpression-path match, but not a later rule matching a header; a rule
  receives nothing when every match of it is shadowed. Precedence across HTTPRoutes
  (their creation times) cannot be known offline: each route is read alone.

The columns of a row: `virtual_service` is the HTTPRoute's name (`kind` HTTPRoute);
`route` the rule's name, or `#<index>` and its matches; `host` the parent Service (a
parentRef of kind Service, group ""), or, for a route bound to a Gateway, the Service
the backendRef names; `subset` the version, read by the per-version Service
convention of Istio's `bookinfo-versions.yaml` (Service `reviews-v2` selects
`app: reviews, version: v2`): a backendRef named `<parent>-<x>` is version `<x>`, the
parent Service itself is no version, any other backendRef reads as its own name."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Iterator, NamedTuple

from model.bodies import as_list
from model.traffic_rows import Delivery, RouteAspect, Share, format_percent, hidden_by_secret, object_key

KIND = "HTTPRoute"
PARENT_GROUP_DEFAULT = "gateway.networking.k8s.io"
"""A parentRef's group when none is written: a Gateway's. A Service parent says `group: ""`."""
DEFAULT_MATCH = ("PathPrefix", "/")
"""The path of a match that states none (the API server's default)."""
_PATH_OPERATORS = {"Exact": "=", "PathPrefix": "^=", "RegularExpression": "~="}
_VALUE_OPERATORS = {"Exact": "=", "RegularExpression": "~="}


def backend_shares(weights: list[float | None]) -> list[float]:
    """Percent of a rule's requests per backendRef: omitted weights count 1."""
    counted = [1.0 if w is None else float(w) for w in weights]
    total = sum(counted)
    if total <= 0:
        return [0.0 for _ in counted]
    return [100.0 * w / total for w in counted]


def _path(match: Mapping) -> tuple[str, str]:
    path = match.get("path") if isinstance(match.get("path"), Mapping) else {}
    value = path.get("value")
    return str(path.get("type") or DEFAULT_MATCH[0]), DEFAULT_MATCH[1] if value is None else str(value)


def match_catches_all(match: object) -> bool:
    """Whether one HTTPRouteMatch matches every request: no method, header or query
    condition, and the default path (PathPrefix `/`). An unknown condition narrows."""
    if not isinstance(match, Mapping) or any(k not in ("path", "headers", "queryParams", "method") for k in match):
        return False
    if match.get("method") or as_list(match.get("headers")) or as_list(match.get("queryParams")):
        return False
    return _path(match) == DEFAULT_MATCH


def _matches(rule: Mapping) -> list:
    """A rule's matches; none stands for the default match, which catches every request."""
    return as_list(rule.get("matches")) or [{}]


def _regex_path(match: object) -> bool:
    return isinstance(match, Mapping) and _path(match)[0] == "RegularExpression"


def _spec(route: Mapping) -> Mapping:
    spec = route.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def ordered_rules(route: Mapping) -> Iterator[tuple[int, Mapping, bool]]:
    """The rules of one HTTPRoute in order, each with whether it is shadowed: every
    match of it outranked by a catch-all match of an earlier rule (or of any rule, for
    a RegularExpression path)."""
    listed = [rule if isinstance(rule, Mapping) else {} for rule in as_list(_spec(route).get("rules"))]
    first = next((i for i, rule in enumerate(listed) if any(match_catches_all(m) for m in _matches(rule))), None)
    for index, rule in enumerate(listed):
        shadowed = first is not None and all((index > first and match_catches_all(m)) or _regex_path(m)
                                             for m in _matches(rule))
        yield index, rule, shadowed


def describe_matches(matches: object) -> str:
    """A short reading of a rule's matches, e.g. `end-user=jason`; `default` for a rule
    whose matches all catch every request."""
    listed = as_list(matches)
    if all(match_catches_all(m) for m in listed):
        return "default"
    return " | ".join(_reading(m) for m in listed)


def _reading(match: object) -> str:
    if not isinstance(match, Mapping):
        return "?"
    parts = []
    kind, value = _path(match)
    if (kind, value) != DEFAULT_MATCH:
        parts.append(f"path{_PATH_OPERATORS.get(kind, f' {kind} ')}{value}")
    if match.get("method"):
        parts.append(f"method={match['method']}")
    parts += [_condition(header, "") for header in as_list(match.get("headers"))]
    parts += [_condition(param, "?") for param in as_list(match.get("queryParams"))]
    return " & ".join(parts) or "any"


def _condition(condition: object, prefix: str) -> str:
    if not isinstance(condition, Mapping):
        return "?"
    kind = str(condition.get("type") or "Exact")
    return f"{prefix}{condition.get('name', '?')}{_VALUE_OPERATORS.get(kind, f' {kind} ')}{condition.get('value', '')}"


def rule_label(index: int, rule: Mapping) -> str:
    """A rule's name, else `#<index>` and its matches (as a VirtualService route's label)."""
    name = rule.get("name")
    return str(name) if name else f"#{index} {describe_matches(rule.get('matches'))}"


def version(parent: str, backend: str) -> str:
    """The version a backendRef of a route attached to Service `parent` stands for
    (see the module docstring)."""
    prefix = f"{parent}-"
    if backend.startswith(prefix) and len(backend) > len(prefix):
        return backend[len(prefix):]
    return "" if backend == parent else backend


def version_service(parent: str, version_name: str) -> str:
    """The per-version Service of `parent` for a version: `reviews`, `v2` → `reviews-v2`."""
    return f"{parent}-{version_name}"


def parents(route: Mapping) -> tuple[list[tuple[str, str]], list[str]]:
    """(the Services the route is attached to, as (name, host as the rows show it);
    its other parents, Gateways, as `namespace/name`)."""
    _, namespace, _ = object_key(route)
    services: dict[tuple[str, str], None] = {}
    gateways: dict[str, None] = {}
    for ref in as_list(_spec(route).get("parentRefs")):
        if not isinstance(ref, Mapping):
            continue
        name, ref_namespace = str(ref.get("name", "?")), str(ref.get("namespace") or namespace)
        if ref.get("kind") == "Service" and ref.get("group", PARENT_GROUP_DEFAULT) == "":
            services[(name, name if ref_namespace == namespace else f"{name}.{ref_namespace}")] = None
        else:
            gateways[f"{ref_namespace}/{name}"] = None
    return list(services), list(gateways)


class _Target(NamedTuple):
    host: str
    subset: str
    service: tuple[str, str] | None
    """(namespace, name) of a Service backendRef (None for another kind of backend)."""


def _views(route: Mapping) -> list[tuple[str | None, str | None]]:
    """(parent Service, its host) per Service parent, and (None, None) once for the
    Gateways (or no parent): the rows of a rule are read once per view."""
    services, gateways = parents(route)
    return [*services, *([(None, None)] if gateways or not services else [])]


def _target(ref: Mapping, parent: str | None, parent_host: str | None, namespace: str) -> _Target:
    name, ref_namespace = str(ref.get("name", "?")), str(ref.get("namespace") or namespace)
    is_service = ref.get("kind", "Service") == "Service" and ref.get("group", "") == ""
    service = (ref_namespace, name) if is_service else None
    if parent is None or parent_host is None:  # bound to a Gateway: the backend is the service
        return _Target(name if ref_namespace == namespace else f"{name}.{ref_namespace}", "", service)
    return _Target(parent_host, version(parent, name), service)


def _hidden(route: Mapping) -> bool:
    """A secret hides its name, its parents or its rules: no share can be known."""
    return hidden_by_secret(route.get("metadata")) or hidden_by_secret(route.get("spec"))


def _backends(rule: Mapping, shadowed: bool) -> list[tuple[Mapping, float]]:
    refs = [ref for ref in as_list(rule.get("backendRefs")) if isinstance(ref, Mapping)]
    percents = [0.0 for _ in refs] if shadowed else backend_shares([ref.get("weight") for ref in refs])
    return list(zip(refs, percents))


def http_route_shares(route: Mapping) -> list[Share]:
    """Every backendRef of every rule of one HTTPRoute, with its share, per parent."""
    if _hidden(route):
        return []
    _, namespace, name = object_key(route)
    found = []
    for index, rule, shadowed in ordered_rules(route):
        label = rule_label(index, rule)
        for parent, parent_host in _views(route):
            for ref, percent in _backends(rule, shadowed):
                target = _target(ref, parent, parent_host, namespace)
                found.append(Share(virtual_service=name, namespace=namespace, route=label, host=target.host,
                                   subset=target.subset, percent=percent, kind=KIND))
    return found


def mirrors(rule: Mapping) -> list[tuple[Mapping, float]]:
    """A rule's RequestMirror filters: the backendRef each copies requests to and the
    percent it copies (`percent`, else `fraction` numerator/denominator (default
    100), else all, as Istio converts them)."""
    found = []
    for entry in as_list(rule.get("filters")):
        mirror = entry.get("requestMirror") if isinstance(entry, Mapping) and entry.get("type") == "RequestMirror" \
            else None
        if not isinstance(mirror, Mapping) or not isinstance(mirror.get("backendRef"), Mapping):
            continue
        fraction = mirror.get("fraction") if isinstance(mirror.get("fraction"), Mapping) else {}
        if mirror.get("percent") is not None:
            percent = float(mirror["percent"])
        elif fraction.get("numerator") is not None:
            percent = 100.0 * float(fraction["numerator"]) / float(fraction.get("denominator") or 100)
        else:
            percent = 100.0
        found.append((mirror["backendRef"], percent))
    return found


def http_route_deliveries(route: Mapping) -> list[Delivery]:
    """Every backendRef and mirror of every rule of one HTTPRoute, with its share and
    the Service it names; a shadowed rule delivers 0%. None when a secret hides it."""
    if _hidden(route):
        return []
    key = object_key(route)
    found = []
    for index, rule, shadowed in ordered_rules(route):
        label = rule_label(index, rule)
        targets = [(ref, percent, False) for ref, percent in _backends(rule, shadowed)]
        targets += [(ref, 0.0 if shadowed else percent, True) for ref, percent in mirrors(rule)]
        for parent, parent_host in _views(route):
            for ref, percent, mirrored in targets:
                target = _target(ref, parent, parent_host, key[1])
                found.append(Delivery(virtual_service=key, route=label, host=target.host, subset=target.subset,
                                      percent=percent, mirrored=mirrored, service=target.service))
    return found


def http_route_aspects(route: Mapping) -> list[RouteAspect]:
    """The mirrors, timeouts and retries of every rule of one HTTPRoute (Gateway API
    has no fault filter), read as a VirtualService route's are."""
    if _hidden(route):
        return []
    _, namespace, name = object_key(route)
    parent, parent_host = _views(route)[0]
    found = []
    for index, rule, _ in ordered_rules(route):
        label = rule_label(index, rule)
        found.extend(RouteAspect(virtual_service=name, namespace=namespace, route=label, aspect=aspect,
                                 reading=reading, kind=KIND)
                     for aspect, reading in _aspects(rule, parent, parent_host, namespace))
    return found


def _aspects(rule: Mapping, parent: str | None, parent_host: str | None, namespace: str) -> list[tuple[str, str]]:
    found = []
    for ref, percent in mirrors(rule):
        target = _target(ref, parent, parent_host, namespace)
        destination = " ".join(p for p in (target.host, target.subset) if p)
        found.append((f"mirror to {destination}", f"mirror to {destination} ({format_percent(percent)})"))
    timeouts = rule.get("timeouts") if isinstance(rule.get("timeouts"), Mapping) else {}
    if timeouts.get("request") is not None:
        found.append(("timeout", f"timeout {timeouts['request']}"))
    if timeouts.get("backendRequest") is not None:
        found.append(("backend timeout", f"backend timeout {timeouts['backendRequest']}"))
    retry = rule.get("retry")
    if isinstance(retry, Mapping):
        attempts = retry.get("attempts")
        reading = f"retries {_whole(attempts)}" if attempts is not None else "retries 2 (Istio's default)"
        codes = as_list(retry.get("codes"))
        if codes:
            reading += " on " + ",".join(_whole(code) for code in codes)
        if retry.get("backoff") is not None:
            reading += f" backoff {retry['backoff']}"
        found.append(("retries", reading))
    return found


def _whole(value: object) -> str:
    """A number as written (states and mocks carry whole numbers as `503.0`)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def default_weights(route: Mapping) -> dict[str, int] | None:
    """The weights of an HTTPRoute's default rule (the first whose matches all catch
    every request) by version, as the stack file writes them: a lone backendRef
    without a weight is 100, an omitted weight beside others 1. None without such a
    rule or a Service parent, or when a backendRef is not a per-version Service of it."""
    services, _ = parents(route)
    if _hidden(route) or not services:
        return None
    parent = services[0][0]
    rule = next((r for _, r, shadowed in ordered_rules(route)
                 if not shadowed and all(match_catches_all(m) for m in _matches(r))), None)
    refs = [ref for ref in as_list((rule or {}).get("backendRefs")) if isinstance(ref, Mapping)]
    versions = [version(parent, str(ref.get("name", ""))) for ref in refs]
    if not refs or any(version_service(parent, v) != ref.get("name") for v, ref in zip(versions, refs)):
        return None
    if len(refs) == 1 and refs[0].get("weight") is None:
        return {versions[0]: 100}
    return {v: int(1 if ref.get("weight") is None else ref["weight"]) for v, ref in zip(versions, refs)}
