"""Parsing DestinationRule traffic policies (a service's `trafficPolicy`, each
`subsetTrafficPolicy` version, an external service's `loadBalancer`) and the
durations Istio accepts, into Istio's own spelling."""
from __future__ import annotations

from typing import Mapping

from model.settings.reader import Cursor, Keys
from model.settings.types import TrafficPolicy
from model.settings.validators import cookie_name_problem, duration_problem
from model.vocabulary import DURATION_RE, HEADER_RE, LOAD_BALANCERS, duration_ms

_POLICY = "services.<service>.trafficPolicy"
POLICY_KEYS = Keys(_POLICY, "loadBalancer", "connectionPool", "outlierDetection")
LOAD_BALANCER_KEYS = Keys(f"{_POLICY}.loadBalancer", "consistentHash")
HASH_KEYS = Keys(f"{_POLICY}.loadBalancer.consistentHash", "httpHeaderName", "httpCookie")
COOKIE_KEYS = Keys(f"{_POLICY}.loadBalancer.consistentHash.httpCookie", "name", "path", "ttl")
POOL_KEYS = Keys(f"{_POLICY}.connectionPool", "tcp", "http")

_TCP_POOL = {"maxConnections": 1, "connectTimeout": "duration"}
_HTTP_POOL = {"http1MaxPendingRequests": 1, "http2MaxRequests": 1, "maxRequestsPerConnection": 0,
              "maxRetries": 0, "idleTimeout": "duration"}
_OUTLIER = {"consecutive5xxErrors": 0, "consecutiveGatewayErrors": 0, "interval": "duration",
            "baseEjectionTime": "duration", "maxEjectionPercent": 0, "minHealthPercent": 0}
"""Field → `duration`, or the smallest whole number Istio accepts."""

TCP_POOL_KEYS = Keys(f"{_POLICY}.connectionPool.tcp", *_TCP_POOL)
HTTP_POOL_KEYS = Keys(f"{_POLICY}.connectionPool.http", *_HTTP_POOL)
OUTLIER_KEYS = Keys(f"{_POLICY}.outlierDetection", *_OUTLIER)


def istio_duration(at: Cursor, *, zero_allowed: bool = False) -> str:
    """A duration as Istio writes it (0.5s, 7s, 250ms, 2m), at least 1ms."""
    text = at.string(pattern=DURATION_RE, what="a duration like 0.5s, 7s, 250ms or 2m")
    problem = None if zero_allowed and duration_ms(text) == 0 else duration_problem(text)
    if problem:
        raise at.fail(f"{problem}; expected at least 1ms", text)
    return text


def parse_traffic_policy(at: Cursor) -> TrafficPolicy:
    policy = at.mapping(POLICY_KEYS)
    if not policy.raw:
        raise at.fail("expected loadBalancer, connectionPool or outlierDetection", at.raw)
    pool = None
    if "connectionPool" in policy:
        parts = policy["connectionPool"].mapping(POOL_KEYS)
        if not parts.raw:
            raise parts.fail("expected tcp, http or both", policy["connectionPool"].raw)
        pool = {}
        if "tcp" in parts:
            pool["tcp"] = _fields(parts["tcp"], TCP_POOL_KEYS, _TCP_POOL)
        if "http" in parts:
            pool["http"] = _fields(parts["http"], HTTP_POOL_KEYS, _HTTP_POOL)
    return TrafficPolicy(
        load_balancer=policy.get("loadBalancer", None, parse_load_balancer),
        connection_pool=pool,
        outlier_detection=policy.get("outlierDetection", None, lambda c: _fields(c, OUTLIER_KEYS, _OUTLIER)),
    )


def _fields(at: Cursor, keys: Keys, kinds: Mapping[str, object]) -> dict:
    fields = at.mapping(keys)
    if not fields.raw:
        raise at.fail(f"expected at least one of {', '.join(keys)}", at.raw)
    body = {}
    for key, kind in kinds.items():
        if key not in fields:
            continue
        if kind == "duration":
            body[key] = istio_duration(fields[key])
        else:
            percent = key.endswith("Percent")
            body[key] = fields[key].integer(minimum=kind, maximum=100 if percent else 2**31 - 1)
    return body


def parse_load_balancer(at: Cursor) -> dict:
    """One of Istio's simple load balancers by name, or a consistent hash on a header or a cookie."""
    if isinstance(at.raw, str):
        return {"simple": at.string(choices=LOAD_BALANCERS)}
    balancer = at.mapping(LOAD_BALANCER_KEYS)
    if not balancer.raw:
        raise at.fail(f"expected one of {', '.join(LOAD_BALANCERS)} or consistentHash", at.raw)
    by = balancer["consistentHash"].mapping(HASH_KEYS)
    if len(by.raw) != 1:
        raise by.fail("expected exactly one of httpHeaderName, httpCookie", balancer["consistentHash"].raw)
    if "httpHeaderName" in by:
        return {"consistentHash": {"httpHeaderName": by["httpHeaderName"].string(
            pattern=HEADER_RE, what="a lowercase header name")}}
    cookie = by["httpCookie"].mapping(COOKIE_KEYS)
    if "name" not in cookie:
        raise cookie["name"].fail("required (the cookie name)")
    body = {"name": cookie["name"].string()}
    if cookie_name_problem(body["name"]):
        raise cookie["name"].fail(cookie_name_problem(body["name"]), body["name"])
    if "path" in cookie:
        body["path"] = cookie["path"].string()
    if "ttl" in cookie:
        body["ttl"] = istio_duration(cookie["ttl"], zero_allowed=True)  # 0s: a session cookie
    return {"consistentHash": {"httpCookie": body}}
