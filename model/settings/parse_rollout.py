"""Parsing the `rollout` key: the step limit, the metric gates `meshplan rollout`
checks (`analysis`) and the record of a running rollout (`startedFrom`).

The typed results live with the code that uses them: `Analysis` and `MetricGate` in
`model.gates`, `StartedFrom` in `model.rollout_plan`; their field defaults are the
only defaults."""
from __future__ import annotations


from model.gates import LATENCY_P99, PLACEHOLDER_RE, PLACEHOLDERS, REQUESTS, SUCCESS_RATE, Analysis, MetricGate
from model.rollout_plan import StartedFrom
from model.settings.reader import Cursor, Keys
from model.settings.types import RolloutSettings
from model.vocabulary import DNS_LABEL_RE, PROMETHEUS_WINDOW_RE

ROLLOUT_KEYS = Keys("rollout", "maxStep", "guardPreviews", "analysis", "startedFrom")
ANALYSIS_KEYS = Keys("rollout.analysis", "window", "minRequests", "successRate", "latencyP99", "metrics")
METRIC_KEYS = Keys("rollout.analysis.metrics[]", "name", "query", "min", "max")
STARTED_FROM_KEYS = Keys("rollout.startedFrom", "service", "to", "weights", "rollingBack")
REQUIRED_STARTED_FROM_KEYS = ("service", "to", "weights")



def parse_rollout(root: Cursor) -> RolloutSettings:
    rollout = root["rollout"].mapping(ROLLOUT_KEYS)
    return RolloutSettings(
        max_step=rollout.get("maxStep", None, _step),
        guard_previews=rollout.get("guardPreviews", False, Cursor.boolean),
        analysis=parse_analysis(rollout["analysis"]),
        started_from=parse_started_from(rollout["startedFrom"]),
    )


def _step(at: Cursor) -> float:
    if isinstance(at.raw, bool) or not isinstance(at.raw, (int, float)) or not 0 < at.raw <= 100:
        raise at.fail("expected percentage points above 0 and at most 100", at.raw)
    return float(at.raw)


def parse_analysis(at: Cursor) -> Analysis:
    """`rollout.analysis`; absent means Flagger's defaults."""
    analysis = at.mapping(ANALYSIS_KEYS)
    return Analysis(
        window=analysis.get("window", Analysis.window, lambda c: c.string(
            pattern=PROMETHEUS_WINDOW_RE, what="a Prometheus duration like 30s, 1m or 5m")),
        min_requests=analysis.get("minRequests", Analysis.min_requests, _min_requests),
        success_rate=analysis.get("successRate", Analysis.success_rate, lambda c: c.number(minimum=0, maximum=100)),
        latency_p99_ms=analysis.get("latencyP99", Analysis.latency_p99_ms, lambda c: c.number(minimum=0)),
        metrics=_metric_gates(analysis),
    )


def _min_requests(at: Cursor) -> int:
    if isinstance(at.raw, bool) or not isinstance(at.raw, int) or at.raw < 1:
        raise at.fail("expected a whole number of at least 1 (no traffic is not success)", at.raw)
    return at.raw


def _metric_gates(analysis: Cursor) -> tuple[MetricGate, ...]:
    gates: list[MetricGate] = []
    for item in analysis.get("metrics", [], lambda c: c.elements(what="a list of {name, query, min, max}")):
        if not isinstance(item.raw, dict):
            raise item.fail("expected a mapping with name, query and min and/or max", item.raw)
        metric = item.mapping(METRIC_KEYS)
        name = metric["name"].string(pattern=DNS_LABEL_RE, what="a lowercase name of letters, digits and -")
        if name in (REQUESTS, SUCCESS_RATE, LATENCY_P99) or any(g.name == name for g in gates):
            raise metric["name"].fail("name already taken by another gate", name)
        query = metric["query"]
        if not isinstance(query.raw, str) or not query.raw.strip():
            raise query.fail("expected PromQL returning one value", query.raw)
        for placeholder in PLACEHOLDER_RE.findall(query.raw):
            if placeholder not in PLACEHOLDERS:
                raise query.fail(f"unknown placeholder {{{{ {placeholder} }}}}; allowed: {', '.join(PLACEHOLDERS)}",
                                 query.raw)
        low, high = metric.get("min", None, Cursor.number), metric.get("max", None, Cursor.number)
        if low is None and high is None:
            raise item.fail("a gate needs a threshold: give min, max or both", item.raw)
        if low is not None and high is not None and low > high:
            raise metric["min"].fail(f"min is above max ({high:g})", low)
        gates.append(MetricGate(name=name, query=query.raw.strip(), minimum=low, maximum=high))
    return tuple(gates)


def parse_started_from(at: Cursor) -> StartedFrom | None:
    """`rollout.startedFrom`, which `meshplan rollout` writes while a rollout runs."""
    if at.raw is None:
        return None
    if not isinstance(at.raw, dict):
        raise at.fail("expected a mapping of service, to and weights (written by meshplan rollout)", at.raw)
    record = at.mapping(STARTED_FROM_KEYS)
    for key in REQUIRED_STARTED_FROM_KEYS:
        if key not in record:
            raise record[key].fail("missing (written by meshplan rollout)")
    service, to = (record[key].string(what="a name") for key in ("service", "to"))
    weights = record["weights"]
    if not isinstance(weights.raw, dict) or not weights.raw:
        raise weights.fail("expected version → weight", weights.raw)
    for version in weights.raw:
        weight = weights[version].raw
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise weights[version].fail("expected a whole number of at least 0", weight)
    return StartedFrom(service=service, to=to, weights={str(k): v for k, v in weights.raw.items()},
                       rolling_back=record.get("rollingBack", StartedFrom.rolling_back, Cursor.boolean))
