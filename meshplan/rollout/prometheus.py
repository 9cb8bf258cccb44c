"""A Prometheus HTTP API client for one thing: an instant query that should return a
single number (`GET /api/v1/query`).

The standard library's urllib does a GET with a timeout; a client library would add
a dependency for a dozen lines. Every failure (unreachable, HTTP error, a query
error, a result of several series) is a `PrometheusError` with a one-line reason,
so a gate can hold and say why instead of crashing."""
from __future__ import annotations

import json
import math
import socket
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_TIMEOUT = 10.0


class PrometheusError(Exception):
    """Anything that keeps a query from giving a number; `str()` is one line."""


class Prometheus:
    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"expected an http(s) URL like http://prometheus.istio-system:9090, got {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def query(self, promql: str, *, at: float | None = None) -> float | None:
        """The value of an instant query: None for an empty result or NaN (nothing to
        judge); PrometheusError for anything else that is not one number."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        request = urllib.request.Request(f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}",
                                         headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            # Prometheus answers a bad query with 400 and its own error in the body.
            body = error.read()
            message = _api_error(body) or f"HTTP {error.code} {error.reason}"
            raise PrometheusError(f"query refused by Prometheus: {message}") from None
        except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise PrometheusError(f"Prometheus at {self.url} unreachable ({reason})") from None
        try:
            document = json.loads(body)
        except ValueError:
            raise PrometheusError(f"Prometheus at {self.url} answered something that is not JSON") from None
        if document.get("status") != "success":
            raise PrometheusError(f"query failed: {_api_error(body) or 'no reason given'}")
        return _single_value(document.get("data") or {})


def _api_error(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, dict) and document.get("error"):
        return f"{document.get('errorType', 'error')}: {document['error']}".replace("\n", " ")
    return None


def _single_value(data: dict) -> float | None:
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        value = float(result[1])
    elif kind == "vector":
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(f"query returned {len(result)} series; a gate needs one value (aggregate it, e.g. sum(...))")
        value = float(result[0]["value"][1])
    else:
        raise PrometheusError(f"query returned a {kind}; a gate needs an instant vector or a scalar")
    return None if math.isnan(value) else value
