"""Every Istio object of every stack and example uses only fields of the Istio API
(the subset written out below, taken from the Istio 1.30 CRDs; unknown fields
fail, as with strict field validation). Core kinds are validated strictly in
test_stacks.py."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import EXAMPLES, STACKS, ROOT, render_file

SOURCES = [EXAMPLES / "istio-tasks" / f"{p.stem}.yaml" for p in sorted((EXAMPLES / "istio-tasks").glob("*.yaml"))]
SOURCES += [ROOT / f"Pulumi.{stack}.yaml" for stack in STACKS]


@dataclass(frozen=True)
class MapOf:
    """An object with free keys (labels, headers), each value of one shape."""

    value: object


STR, INT, NUM, BOOL = str, int, (int, float), bool
STRING_MATCH = {"exact": STR, "prefix": STR, "regex": STR}
PORT_SELECTOR = {"number": INT}
DESTINATION = {"host": STR, "subset": STR, "port": PORT_SELECTOR}
ROUTE_DESTINATION = {"destination": DESTINATION, "weight": INT}
PERCENT = {"value": NUM}
HTTP_MATCH = {"uri": STRING_MATCH, "headers": MapOf(STRING_MATCH), "port": INT, "gateways": [STR],
              "sourceLabels": MapOf(STR)}
HTTP_ROUTE = {
    "name": STR, "match": [HTTP_MATCH], "route": [ROUTE_DESTINATION], "timeout": STR,
    "retries": {"attempts": INT, "perTryTimeout": STR, "retryOn": STR},
    "fault": {"delay": {"fixedDelay": STR, "percentage": PERCENT},
              "abort": {"httpStatus": INT, "percentage": PERCENT}},
    "mirror": DESTINATION, "mirrorPercentage": PERCENT,
}
TLS_ROUTE = {"match": [{"sniHosts": [STR], "port": INT, "gateways": [STR]}], "route": [ROUTE_DESTINATION]}
TRAFFIC_POLICY = {
    "loadBalancer": {"simple": STR, "consistentHash": {"httpHeaderName": STR,
                                                       "httpCookie": {"name": STR, "path": STR, "ttl": STR}}},
    "connectionPool": {
        "tcp": {"maxConnections": INT, "connectTimeout": STR},
        "http": {"http1MaxPendingRequests": INT, "http2MaxRequests": INT, "maxRequestsPerConnection": INT,
                 "maxRetries": INT, "idleTimeout": STR},
    },
    "outlierDetection": {"consecutive5xxErrors": INT, "consecutiveGatewayErrors": INT, "interval": STR,
                         "baseEjectionTime": STR, "maxEjectionPercent": INT, "minHealthPercent": INT},
    "tls": {"mode": STR},
    "portLevelSettings": [{"port": PORT_SELECTOR, "tls": {"mode": STR}}],
}
SPECS = {
    ("networking.istio.io/v1", "Gateway"): {
        "selector": MapOf(STR),
        "servers": [{"port": {"number": INT, "name": STR, "protocol": STR}, "hosts": [STR],
                     "tls": {"mode": STR, "credentialName": STR, "httpsRedirect": BOOL}}],
    },
    ("networking.istio.io/v1", "VirtualService"): {
        "hosts": [STR], "gateways": [STR], "http": [HTTP_ROUTE], "tls": [TLS_ROUTE],
    },
    ("networking.istio.io/v1", "DestinationRule"): {
        "host": STR, "trafficPolicy": TRAFFIC_POLICY,
        "subsets": [{"name": STR, "labels": MapOf(STR), "trafficPolicy": TRAFFIC_POLICY}],
    },
    ("networking.istio.io/v1", "ServiceEntry"): {
        "hosts": [STR], "location": STR, "resolution": STR,
        "ports": [{"number": INT, "name": STR, "protocol": STR}],
    },
    ("security.istio.io/v1", "PeerAuthentication"): {"mtls": {"mode": STR}},
    ("security.istio.io/v1", "AuthorizationPolicy"): {
        "selector": {"matchLabels": MapOf(STR)}, "action": STR,
        "rules": [{"from": [{"source": {"principals": [STR]}}], "to": [{"operation": {"methods": [STR]}}]}],
    },
}


def shape_errors(value, shape, path: str) -> list[str]:
    """Where `value` leaves `shape`: unknown fields, wrong types, empty lists."""
    if isinstance(shape, MapOf):
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping"]
        return [e for k, v in value.items() for e in shape_errors(v, shape.value, f"{path}.{k}")]
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        errors = [f"{path}.{k}: unknown field" for k in value if k not in shape]
        return errors + [e for k, v in value.items() if k in shape for e in shape_errors(v, shape[k], f"{path}.{k}")]
    if isinstance(shape, list):
        if not isinstance(value, list) or not value:
            return [f"{path}: expected a non-empty list"]
        return [e for i, v in enumerate(value) for e in shape_errors(v, shape[0], f"{path}[{i}]")]
    if shape is INT and (isinstance(value, bool) or not isinstance(value, int)):
        return [f"{path}: expected an integer, got {value!r}"]
    if not isinstance(value, shape) or (shape is not BOOL and isinstance(value, bool)):
        return [f"{path}: expected {shape}, got {value!r}"]
    return []


def test_the_shape_check_refuses_unknown_fields_and_wrong_types():
    spec = SPECS[("networking.istio.io/v1", "DestinationRule")]
    assert shape_errors({"host": "x", "traffic_policy": {}}, spec, "spec") == ["spec.traffic_policy: unknown field"]
    assert shape_errors({"host": "x", "subsets": [{"name": 1}]}, spec, "spec")
    assert not shape_errors({"host": "x", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}, spec, "spec")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_istio_object_uses_only_known_fields(source):
    for obj in render_file(source).objects():
        if not obj["apiVersion"].split("/")[0].endswith(".istio.io"):
            continue
        key = (obj["apiVersion"], obj["kind"])
        assert key in SPECS, f"{source.stem}: unexpected {key}"
        assert set(obj) == {"apiVersion", "kind", "metadata", "spec"}
        assert set(obj["metadata"]) == {"name", "namespace"}
        assert shape_errors(obj["spec"], SPECS[key], f"{obj['kind']}/{obj['metadata']['name']}") == []
