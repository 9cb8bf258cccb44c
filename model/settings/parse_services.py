"""Parsing the `services` key: the versions, replicas and routes (matches, weights,
faults, timeouts, retries, mirrors) of each service; its traffic policies are read
by `parse_traffic_policy`."""
from __future__ import annotations

import re

from model.settings.parse_traffic_policy import istio_duration, parse_traffic_policy
from model.settings.reader import Cursor, Keys
from model.settings.types import (Abort, AppSettings, Delay, Destination, Fault, HeaderMatch, Mirror, RequestMatch,
                                  Retries, Route, ServiceSettings)
from model.settings.validators import regex_problem
from model.vocabulary import (HEADER_RE, HEADER_VALUE_RE, MATCH_KINDS, MAX_WEIGHT, RETRY_CONDITIONS, URI_PATH_RE,
                              URI_PATTERN_RE)

ROUTE_OPTIONS = ("fault", "timeout", "retries", "mirror")
"""What a route carries besides its destinations; on the service, its default route's."""
SERVICE_KEYS = Keys("services.<service>", "versions", "replicas", "resources", "routes", "weights", "to",
                    *ROUTE_OPTIONS, "trafficPolicy", "subsetTrafficPolicy")
ROUTE_KEYS = Keys("services.<service>.routes[]", "match", "to", "weights", *ROUTE_OPTIONS)
MATCH_KEYS = Keys("services.<service>.routes[].match", "headers", "uri")
CONDITION_KEYS = Keys("services.<service>.routes[].match.uri", *MATCH_KINDS)
"""Also each header's condition (`match.headers.<name>`)."""
FAULT_KEYS = Keys("services.<service>.fault", "delay", "abort")
DELAY_KEYS = Keys("services.<service>.fault.delay", "fixedDelay", "percentage")
ABORT_KEYS = Keys("services.<service>.fault.abort", "httpStatus", "percentage")
RETRIES_KEYS = Keys("services.<service>.retries", "attempts", "perTryTimeout", "retryOn")
MIRROR_KEYS = Keys("services.<service>.mirror", "version", "percentage")


def parse_services(root: Cursor, app_settings: AppSettings) -> dict[str, ServiceSettings]:
    """Each routable service the stack configures, then the backing stores its
    deployed versions need."""
    app = app_settings.application
    services = root["services"].mapping()
    for name in services.keys():
        if name not in app.service_names or app.service(name).backing:
            routable = ", ".join(s.name for s in app.services if not s.backing)
            raise services[name].fail(f"no such service in {app.name}; allowed: {routable}")
    parsed: dict[str, ServiceSettings] = {}
    for service in app.services:
        if service.backing:
            continue
        svc = services[service.name].mapping(SERVICE_KEYS)
        versions = svc.get("versions", service.default_versions,
                           lambda c: c.strings(choices=service.version_names))
        # Keep the application's order, so a stack that lists [v3, v1] renders as [v1, v3].
        versions = tuple(v for v in service.version_names if v in versions)
        replicas = svc.get("replicas", app_settings.replicas, lambda c: c.integer(minimum=0, maximum=100))
        routes = _routes(svc, versions)
        subsets = svc["subsetTrafficPolicy"].mapping()
        subset_policies = {}
        for version in subsets.keys():
            if version not in versions:
                raise subsets[version].fail(f"version is not deployed; deployed: {', '.join(versions)}")
            subset_policies[version] = parse_traffic_policy(subsets[version])
        parsed[service.name] = ServiceSettings(
            name=service.name, versions=versions,
            replicas=replicas, routes=routes,
            resources=svc.get("resources", None, Cursor.resources),
            traffic_policy=svc.get("trafficPolicy", None, parse_traffic_policy),
            subset_policies=subset_policies,
        )
    # Backing stores come with the first deployed version that requires them.
    for service in app.services:
        if not service.backing:
            continue
        needed = any(
            service.name in app.service(s.name).version(v).requires
            for s in parsed.values()
            for v in s.versions
        )
        if needed:
            parsed[service.name] = ServiceSettings(
                name=service.name,
                versions=tuple(v.name for v in service.versions),
                replicas=1,
                routes=(),
            )
    return {name: parsed[name] for name in app.service_names if name in parsed}


def _routes(svc: Cursor, deployed_versions: tuple[str, ...]) -> tuple[Route, ...]:
    routes = []
    for route in svc.get("routes", [], lambda c: c.elements(what="a list of routes")):
        route = route.mapping(ROUTE_KEYS)
        if "match" not in route:
            raise route.fail("a route needs a match (the default route is the service's own to/weights)")
        if "to" not in route and "weights" not in route:
            raise route.fail("a route needs a destination: give to (one version) or weights")
        routes.append(_route(route, deployed_versions, matches=_matches(route["match"])))
    routes.append(_route(svc, deployed_versions, matches=()))
    return tuple(routes)


def _route(at: Cursor, deployed_versions: tuple[str, ...], *, matches: tuple[RequestMatch, ...]) -> Route:
    # A fault, timeout, retries or mirror belongs to a route: on the service it
    # applies to the default route, which must then be stated, not implied.
    for option in ROUTE_OPTIONS:
        if option in at and "to" not in at and "weights" not in at:
            raise at[option].fail("needs a route to apply to: give to (one version) or weights")
    destinations = _destinations(at, deployed_versions)
    mirror = at.get("mirror", None, lambda c: _mirror(c, deployed_versions))
    if mirror is not None and any(d.version == mirror.version for d in destinations):
        raise at["mirror"]["version"].fail("mirroring to a version the route already sends to", mirror.version)
    return Route(
        matches=matches,
        destinations=destinations,
        fault=at.get("fault", None, _fault),
        timeout=at.get("timeout", None, istio_duration),
        retries=at.get("retries", None, _retries),
        mirror=mirror,
    )


def _percentage(at: Cursor) -> float:
    if isinstance(at.raw, bool) or not isinstance(at.raw, (int, float)) or not 0 <= at.raw <= 100:
        raise at.fail("expected a percentage from 0 to 100", at.raw)
    return float(at.raw)


def _fault(at: Cursor) -> Fault:
    fault = at.mapping(FAULT_KEYS)
    if not fault.raw:
        raise at.fail("expected delay, abort or both", at.raw)
    delay = abort = None
    if "delay" in fault:
        d = fault["delay"].mapping(DELAY_KEYS)
        if "fixedDelay" not in d:
            raise d["fixedDelay"].fail("required (a duration like 7s)")
        delay = Delay(fixed_delay=istio_duration(d["fixedDelay"]), percentage=d.get("percentage", 100.0, _percentage))
    if "abort" in fault:
        a = fault["abort"].mapping(ABORT_KEYS)
        if "httpStatus" not in a:
            raise a["httpStatus"].fail("required (an HTTP status like 500)")
        abort = Abort(http_status=a["httpStatus"].integer(minimum=200, maximum=599),
                      percentage=a.get("percentage", 100.0, _percentage))
    return Fault(delay=delay, abort=abort)


def _retries(at: Cursor) -> Retries:
    retries = at.mapping(RETRIES_KEYS)
    if "attempts" not in retries:
        raise retries["attempts"].fail("required (how many retries, 0 to turn them off)")
    retry_on = None
    if "retryOn" in retries:
        retry_on = retries["retryOn"].string()
        for condition in retry_on.split(","):
            if condition not in RETRY_CONDITIONS and not re.fullmatch(r"[1-5][0-9][0-9]", condition):
                raise retries["retryOn"].fail(f"unknown retry condition {condition!r}; allowed: "
                                              f"{', '.join(RETRY_CONDITIONS)} or an HTTP status", retry_on)
    return Retries(
        attempts=retries["attempts"].integer(minimum=0, maximum=100),
        per_try_timeout=retries.get("perTryTimeout", None, istio_duration),
        retry_on=retry_on,
    )


def _mirror(at: Cursor, deployed_versions: tuple[str, ...]) -> Mirror:
    mirror = at.mapping(MIRROR_KEYS)
    if "version" not in mirror:
        raise mirror["version"].fail("required (the deployed version to mirror to)")
    version = _deployed_version(mirror["version"], mirror["version"].raw, deployed_versions)
    return Mirror(version=version, percentage=mirror.get("percentage", None, _percentage))


def _deployed_version(at: Cursor, version: object, deployed_versions: tuple[str, ...]) -> str:
    if version not in deployed_versions:
        raise at.fail(f"version is not deployed; deployed: {', '.join(deployed_versions)}", version)
    return version


def _destinations(at: Cursor, deployed_versions: tuple[str, ...]) -> tuple[Destination, ...]:
    if "to" in at and "weights" in at:
        raise at["to"].fail("give either to (one version) or weights, not both")
    if "weights" in at:
        weights = at["weights"].mapping()
        if not weights.raw:
            raise weights.fail("expected at least one version", weights.raw)
        destinations = tuple(
            Destination(
                version=_deployed_version(weights[version], version, deployed_versions),
                weight=weights[version].integer(minimum=0, maximum=MAX_WEIGHT),
            )
            for version in weights.keys()
        )
        if len(destinations) > 1 and sum(d.weight or 0 for d in destinations) == 0:
            raise weights.fail("weights are all zero; at least one must be above 0", weights.raw)
        return destinations
    if "to" in at:
        return (Destination(version=_deployed_version(at["to"], at["to"].raw, deployed_versions), weight=None),)
    return (Destination(version=deployed_versions[0], weight=None),)


def _matches(at: Cursor) -> tuple[RequestMatch, ...]:
    """One match, or a list of them (any may hold)."""
    items = at.elements(what="a list") if isinstance(at.raw, list) else [at]
    if not items:
        raise at.fail("expected at least one match", at.raw)
    matches = []
    for item in items:
        match = item.mapping(MATCH_KEYS)
        if not match.raw:
            raise item.fail("a match needs headers or uri", item.raw)
        headers = []
        named = match["headers"].mapping()
        for name in named.keys():
            named[name].holding(name).string(pattern=HEADER_RE, what="a lowercase header name")
            kind, text = _one_condition(named[name])
            # Exact, prefix and regex alike: a pattern is matched against values too.
            if not HEADER_VALUE_RE.match(text):
                raise named[name][kind].fail("expected a header value (no control characters but tab)", text)
            headers.append(HeaderMatch(name=name, kind=kind, value=text))
        uri = _uri_condition(match["uri"]) if "uri" in match else None
        matches.append(RequestMatch(headers=tuple(headers), uri=uri))
    return tuple(matches)


def _uri_condition(at: Cursor) -> tuple[str, str]:
    """A uri match a request path can meet: what Envoy receives is visible ASCII, the
    rest percent-encoded, so any other character in an exact or prefix value never
    matches; a regex holds no control character."""
    kind, text = _one_condition(at)
    if kind == "regex" and not URI_PATTERN_RE.match(text):
        raise at[kind].fail("expected a pattern of request paths (no control characters)", text)
    if kind != "regex" and not URI_PATH_RE.match(text):
        raise at[kind].fail("expected a request path (visible ASCII without spaces or #; percent-encode the rest)",
                            text)
    return kind, text


def _one_condition(at: Cursor) -> tuple[str, str]:
    condition = at.mapping(CONDITION_KEYS)
    if len(condition.raw) != 1:
        raise at.fail(f"expected exactly one of {', '.join(MATCH_KINDS)}", at.raw)
    [kind] = condition.keys()
    if kind == "regex":
        problem = regex_problem(condition["regex"].string())
        if problem:
            raise condition["regex"].fail(problem, condition["regex"].raw)
    return kind, condition[kind].string()
