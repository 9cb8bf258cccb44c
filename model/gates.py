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

The settings parser (`model.settings.parse_rollout`) reads `rollout.analysis` into
`Analysis`, whose field defaults are the only ones. Pure: no Prometheus client here,
no Pulumi."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

PLACEHOLDERS = ("namespace", "service", "version", "window")
"""What a custom query may say as `{{ name }}` (Flagger's template style)."""
PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")

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

    window: str = "1m"
    """Range of the rate() windows, a Prometheus duration (30s, 1m, 5m)."""
    min_requests: int = 20
    """Requests the canary must have served in the window before anything is judged.
    Twenty: below that one failed request decides a 99% gate."""
    success_rate: float = 99.0
    """Least share of non-5xx responses, in percent."""
    latency_p99_ms: float = 500.0
    """Largest p99 request duration, in milliseconds."""
    metrics: tuple[MetricGate, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Canary:
    """Whose metrics the gates read: one version of one service."""

    namespace: str
    service: str
    version: str
    reporter: str = "destination"
    """Who reports its requests: the canary's sidecar (`destination`), or in ambient mode
    the waypoint that applies its routes (`waypoint`; ztunnel reports no HTTP metrics)."""
    version_service: str | None = None
    """The per-version Service an HTTPRoute sends the canary's traffic to (`reviews-v3`):
    the requests it receives are reported under that Service's name, not the service's."""


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


# --------------------------------------------------------------------------- queries


def _selector(canary: Canary, extra: str = "") -> str:
    service = (f'destination_service_name="{canary.service}"' if canary.version_service is None
               else f'destination_service_name=~"{canary.service}|{canary.version_service}"')
    labels = (f'reporter="{canary.reporter}",destination_service_namespace="{canary.namespace}",'
              f'{service},destination_version="{canary.version}"')
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
        *(GateQuery(name=m.name, query=PLACEHOLDER_RE.sub(lambda found: values[found.group(1)], m.query),
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
