"""Parsing the `services` key: versions, weights, routes, faults, retries, mirrors
and traffic policies of each service."""
from __future__ import annotations

import re
from typing import Any, Mapping


from model.settings.reader import _Reader, _get
from model.settings.types import Abort, AppSettings, Delay, Destination, Fault, HeaderMatch, Mirror, RequestMatch, Retries, Route, ServiceSettings, TrafficPolicy
from model.vocabulary import LOAD_BALANCERS, MATCH_KINDS, MAX_WEIGHT, RETRY_CONDITIONS, DURATION_RE as _DURATION_RE, HEADER_RE as _HEADER_RE
from model.settings.reader import Cursor
from model.settings.validators import cookie_name_problem, duration_ms, duration_problem, regex_problem


_ROUTE_OPTIONS = ("fault", "timeout", "retries", "mirror")
_SERVICE_KEYS = ("versions", "replicas", "resources", "routes", "weights", "to", *_ROUTE_OPTIONS,
                 "trafficPolicy", "subsetTrafficPolicy")


def _parse_services(services: Cursor, app_settings: AppSettings) -> dict[str, ServiceSettings]:
    app = app_settings.application
    for name in services.keys():
        if name not in app.service_names or app.service(name).backing:
            routable = ", ".join(s.name for s in app.services if not s.backing)
            raise services[name].fail(f"no such service in {app.name}; allowed: {routable}")
    parsed: dict[str, ServiceSettings] = {}
    for service in app.services:
        if service.backing:
            continue
        svc = services[service.name].mapping(_SERVICE_KEYS)
        versions = svc.get("versions", service.default_versions,
                           lambda c: c.strings(choices=service.version_names))
        # Keep the application's order, so a stack that lists [v3, v1] renders as [v1, v3].
        versions = tuple(v for v in service.version_names if v in versions)
        replicas = svc.get("replicas", app_settings.replicas, lambda c: c.integer(minimum=0, maximum=100))
        routes = _routes(svc.reader, svc.raw, svc.path, versions)
        subsets = svc["subsetTrafficPolicy"].mapping()
        subset_policies = {}
        for version in subsets.keys():
            if version not in versions:
                raise subsets[version].fail(f"version is not deployed; deployed: {', '.join(versions)}")
            subset_policies[version] = _traffic_policy(svc.reader, subsets[version].raw, subsets[version].path)
        parsed[service.name] = ServiceSettings(
            name=service.name, versions=versions,
            replicas=replicas, routes=routes,
            resources=svc.get("resources", None, Cursor.resources),
            traffic_policy=svc.get("trafficPolicy", None, lambda c: _traffic_policy(c.reader, c.raw, c.path)),
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


def _routes(r: _Reader, svc: dict, sp: str, deployed_versions: tuple[str, ...]) -> tuple[Route, ...]:
    routes = []
    raw_routes = svc.get("routes", [])
    if not isinstance(raw_routes, list):
        raise r.fail(f"{sp}.routes", "expected a list of routes", raw_routes)
    for i, raw_route in enumerate(raw_routes):
        rp = f"{sp}.routes[{i}]"
        route = r.mapping(raw_route, rp, ("match", "to", "weights", *_ROUTE_OPTIONS))
        if "match" not in route:
            raise r.fail(rp, "a route needs a match (the default route is the service's own to/weights)")
        if "to" not in route and "weights" not in route:
            raise r.fail(rp, "a route needs a destination: give to (one version) or weights")
        routes.append(_route(r, route, rp, deployed_versions, matches=_matches(r, route["match"], f"{rp}.match")))
    routes.append(_route(r, svc, sp, deployed_versions, matches=()))
    return tuple(routes)


def _route(r: _Reader, raw: dict, path: str, deployed_versions: tuple[str, ...], *,
           matches: tuple[RequestMatch, ...]) -> Route:
    # A fault, timeout, retries or mirror belongs to a route: on the service it
    # applies to the default route, which must then be stated, not implied.
    for option in _ROUTE_OPTIONS:
        if option in raw and "to" not in raw and "weights" not in raw:
            raise r.fail(f"{path}.{option}", "needs a route to apply to: give to (one version) or weights")
    destinations = _destinations(r, raw, path, deployed_versions)
    mirror = _get(raw, "mirror", None, lambda v: _mirror(r, v, f"{path}.mirror", deployed_versions))
    if mirror is not None and any(d.version == mirror.version for d in destinations):
        raise r.fail(f"{path}.mirror.version", "mirroring to a version the route already sends to",
                     mirror.version)
    return Route(
        matches=matches,
        destinations=destinations,
        fault=_get(raw, "fault", None, lambda v: _fault(r, v, f"{path}.fault")),
        timeout=_get(raw, "timeout", None, lambda v: _duration(r, v, f"{path}.timeout")),
        retries=_get(raw, "retries", None, lambda v: _retries(r, v, f"{path}.retries")),
        mirror=mirror,
    )


def _duration(r: _Reader, value: Any, path: str, *, zero_allowed: bool = False) -> str:
    text = r.string(value, path, pattern=_DURATION_RE, what="a duration like 0.5s, 7s, 250ms or 2m")
    problem = None if zero_allowed and duration_ms(text) == 0 else duration_problem(text)
    if problem:
        raise r.fail(path, f"{problem}; expected at least 1ms", text)
    return text


def _percentage(r: _Reader, value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise r.fail(path, "expected a percentage from 0 to 100", value)
    return float(value)


def _fault(r: _Reader, value: Any, path: str) -> Fault:
    raw = r.mapping(value, path, ("delay", "abort"))
    if not raw:
        raise r.fail(path, "expected delay, abort or both", value)
    delay = abort = None
    if "delay" in raw:
        d = r.mapping(raw["delay"], f"{path}.delay", ("fixedDelay", "percentage"))
        if "fixedDelay" not in d:
            raise r.fail(f"{path}.delay.fixedDelay", "required (a duration like 7s)")
        delay = Delay(fixed_delay=_duration(r, d["fixedDelay"], f"{path}.delay.fixedDelay"),
                      percentage=_get(d, "percentage", 100.0,
                                      lambda v: _percentage(r, v, f"{path}.delay.percentage")))
    if "abort" in raw:
        a = r.mapping(raw["abort"], f"{path}.abort", ("httpStatus", "percentage"))
        if "httpStatus" not in a:
            raise r.fail(f"{path}.abort.httpStatus", "required (an HTTP status like 500)")
        abort = Abort(http_status=r.integer(a["httpStatus"], f"{path}.abort.httpStatus", minimum=200, maximum=599),
                      percentage=_get(a, "percentage", 100.0,
                                      lambda v: _percentage(r, v, f"{path}.abort.percentage")))
    return Fault(delay=delay, abort=abort)


def _retries(r: _Reader, value: Any, path: str) -> Retries:
    raw = r.mapping(value, path, ("attempts", "perTryTimeout", "retryOn"))
    if "attempts" not in raw:
        raise r.fail(f"{path}.attempts", "required (how many retries, 0 to turn them off)")
    retry_on = None
    if "retryOn" in raw:
        retry_on = r.string(raw["retryOn"], f"{path}.retryOn")
        for condition in retry_on.split(","):
            if condition not in RETRY_CONDITIONS and not re.fullmatch(r"[1-5][0-9][0-9]", condition):
                raise r.fail(f"{path}.retryOn", f"unknown retry condition {condition!r}; allowed: "
                             f"{', '.join(RETRY_CONDITIONS)} or an HTTP status", retry_on)
    return Retries(
        attempts=r.integer(raw["attempts"], f"{path}.attempts", minimum=0, maximum=100),
        per_try_timeout=_get(raw, "perTryTimeout", None, lambda v: _duration(r, v, f"{path}.perTryTimeout")),
        retry_on=retry_on,
    )


def _mirror(r: _Reader, value: Any, path: str, deployed_versions: tuple[str, ...]) -> Mirror:
    raw = r.mapping(value, path, ("version", "percentage"))
    if "version" not in raw:
        raise r.fail(f"{path}.version", "required (the deployed version to mirror to)")
    version = raw["version"]
    if version not in deployed_versions:
        raise r.fail(f"{path}.version", f"version is not deployed; deployed: {', '.join(deployed_versions)}", version)
    return Mirror(version=version,
                  percentage=_get(raw, "percentage", None, lambda v: _percentage(r, v, f"{path}.percentage")))


_TCP_POOL = {"maxConnections": 1, "connectTimeout": "duration"}
_HTTP_POOL = {"http1MaxPendingRequests": 1, "http2MaxRequests": 1, "maxRequestsPerConnection": 0,
              "maxRetries": 0, "idleTimeout": "duration"}
_OUTLIER = {"consecutive5xxErrors": 0, "consecutiveGatewayErrors": 0, "interval": "duration",
            "baseEjectionTime": "duration", "maxEjectionPercent": 0, "minHealthPercent": 0}
"""Field → `duration`, or the smallest whole number Istio accepts."""


def _fields(r: _Reader, value: Any, path: str, allowed: Mapping[str, Any]) -> dict:
    raw = r.mapping(value, path, tuple(allowed))
    if not raw:
        raise r.fail(path, f"expected at least one of {', '.join(allowed)}", value)
    body = {}
    for key, kind in allowed.items():
        if key not in raw:
            continue
        if kind == "duration":
            body[key] = _duration(r, raw[key], f"{path}.{key}")
        else:
            percent = key.endswith("Percent")
            body[key] = r.integer(raw[key], f"{path}.{key}", minimum=kind,
                                  maximum=100 if percent else 2**31 - 1)
    return body


def _load_balancer(r: _Reader, value: Any, path: str) -> dict:
    if isinstance(value, str):
        return {"simple": r.string(value, path, choices=LOAD_BALANCERS)}
    raw = r.mapping(value, path, ("consistentHash",))
    if not raw:
        raise r.fail(path, f"expected one of {', '.join(LOAD_BALANCERS)} or consistentHash", value)
    hp = f"{path}.consistentHash"
    by = r.mapping(raw["consistentHash"], hp, ("httpHeaderName", "httpCookie"))
    if len(by) != 1:
        raise r.fail(hp, "expected exactly one of httpHeaderName, httpCookie", raw["consistentHash"])
    if "httpHeaderName" in by:
        return {"consistentHash": {"httpHeaderName": r.string(
            by["httpHeaderName"], f"{hp}.httpHeaderName", pattern=_HEADER_RE, what="a lowercase header name")}}
    cp = f"{hp}.httpCookie"
    cookie = r.mapping(by["httpCookie"], cp, ("name", "path", "ttl"))
    if "name" not in cookie:
        raise r.fail(f"{cp}.name", "required (the cookie name)")
    body = {"name": r.string(cookie["name"], f"{cp}.name")}
    if cookie_name_problem(body["name"]):
        raise r.fail(f"{cp}.name", cookie_name_problem(body["name"]), body["name"])
    if "path" in cookie:
        body["path"] = r.string(cookie["path"], f"{cp}.path")
    if "ttl" in cookie:
        body["ttl"] = _duration(r, cookie["ttl"], f"{cp}.ttl", zero_allowed=True)  # 0s: a session cookie
    return {"consistentHash": {"httpCookie": body}}


def _traffic_policy(r: _Reader, value: Any, path: str) -> TrafficPolicy:
    raw = r.mapping(value, path, ("loadBalancer", "connectionPool", "outlierDetection"))
    if not raw:
        raise r.fail(path, "expected loadBalancer, connectionPool or outlierDetection", value)
    pool = None
    if "connectionPool" in raw:
        pp = f"{path}.connectionPool"
        parts = r.mapping(raw["connectionPool"], pp, ("tcp", "http"))
        if not parts:
            raise r.fail(pp, "expected tcp, http or both", raw["connectionPool"])
        pool = {}
        if "tcp" in parts:
            pool["tcp"] = _fields(r, parts["tcp"], f"{pp}.tcp", _TCP_POOL)
        if "http" in parts:
            pool["http"] = _fields(r, parts["http"], f"{pp}.http", _HTTP_POOL)
    return TrafficPolicy(
        load_balancer=_get(raw, "loadBalancer", None, lambda v: _load_balancer(r, v, f"{path}.loadBalancer")),
        connection_pool=pool,
        outlier_detection=_get(raw, "outlierDetection", None,
                               lambda v: _fields(r, v, f"{path}.outlierDetection", _OUTLIER)),
    )


def _destinations(r: _Reader, raw: dict, path: str, deployed_versions: tuple[str, ...]) -> tuple[Destination, ...]:
    def deployed_version(value: Any, vpath: str) -> str:
        if value not in deployed_versions:
            raise r.fail(vpath, f"version is not deployed; deployed: {', '.join(deployed_versions)}", value)
        return value

    if "to" in raw and "weights" in raw:
        raise r.fail(f"{path}.to", "give either to (one version) or weights, not both")
    if "weights" in raw:
        weights = r.mapping(raw["weights"], f"{path}.weights")
        if not weights:
            raise r.fail(f"{path}.weights", "expected at least one version", weights)
        destinations = tuple(
            Destination(
                version=deployed_version(version, f"{path}.weights.{version}"),
                weight=r.integer(weight, f"{path}.weights.{version}", minimum=0, maximum=MAX_WEIGHT),
            )
            for version, weight in weights.items()
        )
        if len(destinations) > 1 and sum(d.weight or 0 for d in destinations) == 0:
            raise r.fail(f"{path}.weights", "weights are all zero; at least one must be above 0", weights)
        return destinations
    if "to" in raw:
        return (Destination(version=deployed_version(raw["to"], f"{path}.to"), weight=None),)
    return (Destination(version=deployed_versions[0], weight=None),)


def _matches(r: _Reader, value: Any, path: str) -> tuple[RequestMatch, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise r.fail(path, "expected at least one match", value)
    matches = []
    for i, item in enumerate(items):
        mp = path if not isinstance(value, list) else f"{path}[{i}]"
        raw = r.mapping(item, mp, ("headers", "uri"))
        if not raw:
            raise r.fail(mp, "a match needs headers or uri", item)
        headers = []
        for name, condition in r.mapping(raw.get("headers"), f"{mp}.headers").items():
            hp = f"{mp}.headers.{name}"
            r.string(name, hp, pattern=_HEADER_RE, what="a lowercase header name")
            kind, text = _one_condition(r, condition, hp)
            headers.append(HeaderMatch(name=name, kind=kind, value=text))
        uri = _one_condition(r, raw["uri"], f"{mp}.uri") if "uri" in raw else None
        matches.append(RequestMatch(headers=tuple(headers), uri=uri))
    return tuple(matches)


def _one_condition(r: _Reader, value: Any, path: str) -> tuple[str, str]:
    raw = r.mapping(value, path, MATCH_KINDS)
    if len(raw) != 1:
        raise r.fail(path, f"expected exactly one of {', '.join(MATCH_KINDS)}", value)
    kind, text = next(iter(raw.items()))
    if kind == "regex":
        problem = regex_problem(r.string(text, f"{path}.regex"))
        if problem:
            raise r.fail(f"{path}.regex", problem, text)
    return kind, r.string(text, f"{path}.{kind}")
