"""Synthetic Istio metrics, as a canary's sidecar would report them, for Prometheus's
own tools: `istio_requests_total` by response code and the
`istio_request_duration_milliseconds` histogram, laid out in phases of constant
traffic. One description feeds both `promtool test rules` (input_series) and
`promtool tsdb create-blocks-from openmetrics` (a real server's data)."""
from __future__ import annotations

from dataclasses import dataclass

BUCKETS = (25, 50, 100, 250, 500, 1000, 2500, 5000)
SCRAPE = 15
"""Seconds between samples, Prometheus's usual scrape interval."""


@dataclass(frozen=True)
class Traffic:
    """Requests per second the canary serves and how long each takes."""

    ok: float = 0.0
    errors: float = 0.0
    """5xx responses per second."""
    latency_ms: float = 20.0


HEALTHY = Traffic(ok=10, latency_ms=20)
FAILING_5XX = Traffic(ok=9, errors=1, latency_ms=20)
SLOW = Traffic(ok=10, latency_ms=1800)
IDLE = Traffic()


@dataclass(frozen=True)
class Canary:
    namespace: str
    service: str = "reviews"
    version: str = "v3"


def _labels(canary: Canary, **extra: str) -> dict[str, str]:
    return {"reporter": "destination", "destination_service_namespace": canary.namespace,
            "destination_service_name": canary.service, "destination_version": canary.version,
            "destination_app": canary.service, **extra}


def series(canary: Canary, phases: list[tuple[int, Traffic]], *, start: int) -> list[tuple[str, dict, list[tuple[int, float]]]]:
    """Counter samples every SCRAPE seconds from `start` through the phases, each
    phase `(seconds, traffic)`. A phase without traffic still reports (flat
    counters) once a series exists, as Prometheus would keep scraping it."""
    codes = {"200": lambda t: t.ok, "503": lambda t: t.errors}
    out = []
    for code, rate in codes.items():
        if not any(rate(t) for _, t in phases):
            continue
        out.append(("istio_requests_total", _labels(canary, response_code=code),
                    _samples(phases, start, lambda t, rate=rate: rate(t))))
    if any(t.ok or t.errors for _, t in phases):
        for le in (*BUCKETS, "+Inf"):
            def in_bucket(t: Traffic, le=le) -> float:
                fits = le == "+Inf" or t.latency_ms <= le
                return (t.ok + t.errors) if fits else 0.0
            out.append(("istio_request_duration_milliseconds_bucket", _labels(canary, le=str(le)),
                        _samples(phases, start, in_bucket)))
    return out


def _samples(phases, start, per_second) -> list[tuple[int, float]]:
    samples, t, value = [(start, 0.0)], start, 0.0
    for seconds, traffic in phases:
        for _ in range(seconds // SCRAPE):
            t += SCRAPE
            value += per_second(traffic) * SCRAPE
            samples.append((t, value))
    return samples


def _selector(labels: dict) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def promtool_input(all_series) -> list[dict]:
    """`input_series` of a promtool test, samples every SCRAPE seconds from 0."""
    return [{"series": name + _selector(labels), "values": " ".join(f"{v:g}" for _, v in samples)}
            for name, labels, samples in all_series]


def openmetrics(all_series) -> str:
    """OpenMetrics text for `promtool tsdb create-blocks-from openmetrics`."""
    families: dict[str, list[str]] = {}
    for name, labels, samples in all_series:
        family = name.removesuffix("_total") if name.endswith("_total") else name
        lines = families.setdefault(family, [])
        lines.extend(f"{name}{_selector(labels)} {v:g} {t}" for t, v in samples)
    text = []
    for family, lines in families.items():
        kind = "counter" if family == "istio_requests" else "gauge"
        text.append(f"# TYPE {family} {kind}")
        text.extend(lines)
    text.append("# EOF")
    return "\n".join(text) + "\n"
