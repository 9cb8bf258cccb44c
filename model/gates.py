"""Metric gates of a progressive rollout: what `rollout.analysis` in stack config asks
for, the PromQL each gate runs for the canary, and the verdict on the values
Prometheus returns.

Two built-in gates follow Flagger's defaults, computed from Istio's standard metrics
as the canary's sidecars report them (`reporter="destination"`) for its
`destination_version`: the request success rate (non-5xx share of
`istio_requests_total`, at least 99%) and the p99 latency from
`istio_request_duration_milliseconds_bucket` (at most 500 ms), both over a 1m window.
A minimum request count comes first: below it the step waits, because no traffic is
not success. Custom gates are PromQL with a minimum and/or a maximum.

Pure: no Prometheus client here, no Pulumi."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from model.errors import ConfigError
from model.vocabulary import DNS_LABEL_RE as _NAME_RE, PROMETHEUS_WINDOW_RE as _WINDOW_RE

DEFAULT_WINDOW = "1m"
DEFAULT_SUCCESS_RATE = 99.0
DEFAULT_LATENCY_P99_MS = 500.0
DEFAULT_MIN_REQUESTS = 20
"""Twenty requests in the window: below that one failed request decides a 99% gate."""

ANALYSIS_KEYS = ("window", "minRequests", "successRate", "latencyP99", "metrics")
METRIC_KEYS = ("name", "query", "min", "max")
PLACEHOLDERS = ("namespace", "service", "version", "window")
"""What a custom query may say as `{{ name }}` (Flagger's template style)."""

_PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")

REQUESTS, SUCCESS_RATE, LATENCY_P99 = "request-count", "request-success-rate", "request-duration"


@dataclass(frozen=True, kw_only=True)
class MetricGate:
    """A custom gate: PromQL whose single value must lie within [minimum, maximum]."""

    name: str
    query: str
    """PromQL with `{{ namespace }}`, `{{ service }}`, `{{ version }}`, `{{ window }}`."""
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True, kw_only=True)
class Analysis:
    """What must hold of the canary before a rollout moves on."""

    window: str = DEFAULT_WINDOW
    """Range of the rate() windows, a Prometheus duration (30s, 1m, 5m)."""
    min_requests: int = DEFAULT_MIN_REQUESTS
    """Requests the canary must have served in the window before anything is judged."""
    success_rate: float = DEFAULT_SUCCESS_RATE
    """Least share of non-5xx responses, in percent."""
    latency_p99_ms: float = DEFAULT_LATENCY_P99_MS
    """Largest p99 request duration, in milliseconds."""
    metrics: tuple[MetricGate, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Canary:
    """Whose metrics the gates read: one version of one service."""

    namespace: str
    service: str
    version: str


@dataclass(frozen=True, kw_only=True)
class GateQuery:
    name: str
    query: str
    minimum: float | None
    maximum: float | None
    unit: str = ""

    def bounds(self) -> str:
        parts = []
        if self.minimum is not None:
            parts.append(f"≥ {self.minimum:g}{self.unit}")
        if self.maximum is not None:
            parts.append(f"≤ {self.maximum:g}{self.unit}")
        return " and ".join(parts)


# --------------------------------------------------------------------------- parse


def parse_analysis(raw: Any, path: str, source: str) -> Analysis:
    """`rollout.analysis` of a stack; absent means Flagger's defaults. One function
    of a little over a screen: each gate key is checked where it is read, so every
    message names its own key path."""
    def fail(where: str, message: str, value: Any) -> ConfigError:
        return ConfigError(file=source, path=where, value=value, message=message)

    if raw is None:
        return Analysis()
    if not isinstance(raw, dict):
        raise fail(path, "expected a mapping", raw)
    for key in raw:
        if key not in ANALYSIS_KEYS:
            raise ConfigError(file=source, path=f"{path}.{key}", message=f"unknown key; allowed: {', '.join(ANALYSIS_KEYS)}")

    def number(key: str, low: float, high: float | None, raw_map: dict = raw, where: str = path) -> float | None:
        if key not in raw_map:
            return None
        value = raw_map[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low \
                or (high is not None and value > high):
            upper = f" and at most {high:g}" if high is not None else ""
            raise fail(f"{where}.{key}", f"expected a number of at least {low:g}{upper}", value)
        return float(value)

    window = raw.get("window", DEFAULT_WINDOW)
    if not isinstance(window, str) or not _WINDOW_RE.match(window):
        raise fail(f"{path}.window", "expected a Prometheus duration like 30s, 1m or 5m", window)
    min_requests = raw.get("minRequests", DEFAULT_MIN_REQUESTS)
    if isinstance(min_requests, bool) or not isinstance(min_requests, int) or min_requests < 1:
        raise fail(f"{path}.minRequests", "expected a whole number of at least 1 (no traffic is not success)",
                   min_requests)
    success = number("successRate", 0, 100)
    latency = number("latencyP99", 0, None)

    metrics_raw = raw.get("metrics", [])
    if not isinstance(metrics_raw, list):
        raise fail(f"{path}.metrics", "expected a list of {name, query, min, max}", metrics_raw)
    metrics: list[MetricGate] = []
    for i, item in enumerate(metrics_raw):
        mp = f"{path}.metrics[{i}]"
        if not isinstance(item, dict):
            raise fail(mp, "expected a mapping with name, query and min and/or max", item)
        for key in item:
            if key not in METRIC_KEYS:
                raise ConfigError(file=source, path=f"{mp}.{key}", message=f"unknown key; allowed: {', '.join(METRIC_KEYS)}")
        name = item.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise fail(f"{mp}.name", "expected a lowercase name of letters, digits and -", name)
        if name in (REQUESTS, SUCCESS_RATE, LATENCY_P99) or any(m.name == name for m in metrics):
            raise fail(f"{mp}.name", "name already taken by another gate", name)
        query = item.get("query")
        if not isinstance(query, str) or not query.strip():
            raise fail(f"{mp}.query", "expected PromQL returning one value", query)
        for placeholder in _PLACEHOLDER_RE.findall(query):
            if placeholder not in PLACEHOLDERS:
                raise fail(f"{mp}.query", f"unknown placeholder {{{{ {placeholder} }}}}; allowed: "
                           + ", ".join(PLACEHOLDERS), query)
        low, high = number("min", -math.inf, None, item, mp), number("max", -math.inf, None, item, mp)
        if low is None and high is None:
            raise fail(mp, "a gate needs a threshold: give min, max or both", item)
        if low is not None and high is not None and low > high:
            raise fail(f"{mp}.min", f"min is above max ({high:g})", low)
        metrics.append(MetricGate(name=name, query=query.strip(), minimum=low, maximum=high))
    return Analysis(
        window=window, min_requests=min_requests,
        success_rate=DEFAULT_SUCCESS_RATE if success is None else success,
        latency_p99_ms=DEFAULT_LATENCY_P99_MS if latency is None else latency,
        metrics=tuple(metrics),
    )


# --------------------------------------------------------------------------- queries


def _selector(canary: Canary, extra: str = "") -> str:
    labels = (f'reporter="destination",destination_service_namespace="{canary.namespace}",'
              f'destination_service_name="{canary.service}",destination_version="{canary.version}"')
    return "{" + labels + (f",{extra}" if extra else "") + "}"


def gate_queries(analysis: Analysis, canary: Canary) -> list[GateQuery]:
    """The request count first (it decides whether anything is judged), then the
    built-in gates, then the custom ones in the order written."""
    window = analysis.window
    everything = _selector(canary)
    not_5xx = _selector(canary, 'response_code!~"5.."')
    # `or vector(0)`: a canary answering only 5xx has no non-5xx series at all; its
    # success rate is 0, not missing. With no requests at all the division stays empty.
    success = (f"(sum(rate(istio_requests_total{not_5xx}[{window}])) or vector(0))"
               f" / sum(rate(istio_requests_total{everything}[{window}])) * 100")
    latency = (f"histogram_quantile(0.99, sum by (le) "
               f"(rate(istio_request_duration_milliseconds_bucket{everything}[{window}])))")
    count = f"sum(increase(istio_requests_total{everything}[{window}]))"
    values = {"namespace": canary.namespace, "service": canary.service, "version": canary.version,
              "window": window}
    return [
        GateQuery(name=REQUESTS, query=count, minimum=float(analysis.min_requests), maximum=None),
        GateQuery(name=SUCCESS_RATE, query=success, minimum=analysis.success_rate, maximum=None, unit="%"),
        GateQuery(name=LATENCY_P99, query=latency, minimum=None, maximum=analysis.latency_p99_ms, unit=" ms"),
        *(GateQuery(name=m.name, query=_PLACEHOLDER_RE.sub(lambda found: values[found.group(1)], m.query),
                    minimum=m.minimum, maximum=m.maximum)
          for m in analysis.metrics),
    ]


# --------------------------------------------------------------------------- verdicts

PASS, FAIL, HOLD = "pass", "fail", "hold"


@dataclass(frozen=True, kw_only=True)
class GateResult:
    gate: GateQuery
    value: float | None
    """None: no value (Prometheus unreachable, a query error, an empty result or NaN)."""
    outcome: str
    reason: str

    def as_json(self) -> dict:
        return {"gate": self.gate.name, "value": self.value, "min": self.gate.minimum, "max": self.gate.maximum,
                "outcome": self.outcome, "reason": self.reason}


def judge(gate: GateQuery, value: float | None, *, error: str | None = None) -> GateResult:
    """One gate's outcome. No value never passes: it holds, with the reason."""
    if error is not None:
        return GateResult(gate=gate, value=None, outcome=HOLD, reason=error)
    if value is None or math.isnan(value):
        if gate.name == REQUESTS:
            # increase() over no series is empty: that is zero requests.
            value = 0.0
        else:
            return GateResult(gate=gate, value=None, outcome=HOLD, reason="no data (empty result or NaN)")
    shown = f"{value:.4g}{gate.unit}"
    if gate.minimum is not None and value < gate.minimum:
        if gate.name == REQUESTS:
            return GateResult(gate=gate, value=value, outcome=HOLD,
                              reason=f"{shown} requests, waiting for at least {gate.minimum:g}")
        return GateResult(gate=gate, value=value, outcome=FAIL, reason=f"{shown} below {gate.minimum:g}{gate.unit}")
    if gate.maximum is not None and value > gate.maximum:
        return GateResult(gate=gate, value=value, outcome=FAIL, reason=f"{shown} above {gate.maximum:g}{gate.unit}")
    return GateResult(gate=gate, value=value, outcome=PASS, reason=f"{shown} {gate.bounds()}")


def verdict(results: list[GateResult]) -> tuple[str, str]:
    """The step's outcome and its reason in one line. Too few requests hold the step
    whatever the other gates say (their values on a handful of requests mean
    nothing); otherwise a failed gate fails it, a gate without a value holds it, and
    only every gate passing passes it."""
    def reasons(outcome: str, only: str | None = None) -> str:
        return "; ".join(f"{r.gate.name}: {r.reason}" for r in results
                         if r.outcome == outcome and (only is None or r.gate.name == only))

    if reasons(HOLD, REQUESTS):
        return HOLD, reasons(HOLD, REQUESTS)
    if reasons(FAIL):
        return FAIL, reasons(FAIL)
    if reasons(HOLD):
        return HOLD, reasons(HOLD)
    return PASS, "all gates pass"
