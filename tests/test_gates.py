"""Rollout gates: `rollout.analysis` parsed and refused with one line, the verdict
rules, each gate's PromQL run by Prometheus's own engine (`promtool test rules`) on
synthetic Istio series, and the HTTP client against a real Prometheus server."""
from __future__ import annotations

import subprocess

import pytest
import yaml

from meshplan.rollout.prometheus import Prometheus, PrometheusError
from model.errors import ConfigError
from model.gates import (FAIL, HOLD, LATENCY_P99, PASS, REQUESTS, SUCCESS_RATE, Analysis, Canary, GateQuery,
                         gate_queries, judge, verdict)
from tests import istio_series as istio
from tests.conftest import settings_from
from tests.prometheus_server import PrometheusServer, binaries, free_port


def analysis_of(raw) -> Analysis:
    return settings_from({"rollout": {"analysis": raw}}).rollout.analysis


# --------------------------------------------------------------------------- settings


def test_no_analysis_means_flaggers_two_gates_and_a_request_minimum():
    analysis = settings_from({}).rollout.analysis
    assert (analysis.window, analysis.success_rate, analysis.latency_p99_ms, analysis.min_requests) == \
        ("1m", 99.0, 500.0, 20)
    names = [q.name for q in gate_queries(analysis, Canary(namespace="bookinfo", service="reviews", version="v3"))]
    assert names == [REQUESTS, SUCCESS_RATE, LATENCY_P99]


def test_custom_gates_fill_in_the_canary_and_window():
    analysis = analysis_of({"window": "2m", "metrics": [
        {"name": "error-budget", "max": 0.5,
         "query": 'sum(rate(x{ns="{{ namespace }}",v="{{version}}",s="{{ service }}"}[{{ window }}]))'}]})
    [custom] = gate_queries(analysis, Canary(namespace="bookinfo", service="reviews", version="v3"))[3:]
    assert custom.query == 'sum(rate(x{ns="bookinfo",v="v3",s="reviews"}[2m]))'
    assert (custom.minimum, custom.maximum) == (None, 0.5)


@pytest.mark.parametrize("raw, message", [
    ({"successRate": 101}, r"rollout.analysis.successRate = 101: expected a number of at least 0 and at most 100"),
    ({"window": "1 minute"}, r"rollout.analysis.window = \"1 minute\": expected a Prometheus duration"),
    ({"minRequests": 0}, r"rollout.analysis.minRequests = 0: expected a whole number of at least 1"),
    ({"latency": 300}, r"rollout.analysis.latency: unknown key; did you mean latencyP99\? "
                       r"allowed: window, minRequests, successRate, latencyP99, metrics$"),
    ({"metrics": [{"name": "x", "query": "up", "maximum": 1}]},
     r"rollout.analysis.metrics\[0\].maximum: unknown key; did you mean max\? allowed: name, query, min, max$"),
    ({"metrics": [{"name": "x", "query": "up"}]}, r"rollout.analysis.metrics\[0\] = .*: a gate needs a threshold"),
    ({"metrics": [{"name": "x", "query": "up{a=\"{{ pod }}\"}", "max": 1}]},
     r"rollout.analysis.metrics\[0\].query = .*unknown placeholder \{\{ pod \}\}"),
    ({"metrics": [{"name": "request-duration", "query": "up", "max": 1}]},
     r"rollout.analysis.metrics\[0\].name = \"request-duration\": name already taken"),
    ({"metrics": [{"name": "x", "query": "up", "min": 2, "max": 1}]},
     r"rollout.analysis.metrics\[0\].min = 2(\.0)?: min is above max \(1\)"),
])
def test_bad_analysis_is_refused_with_its_key_path(raw, message):
    with pytest.raises(ConfigError, match=r"Pulumi.test.yaml: bookinfo-mesh:" + message):
        analysis_of(raw)


def test_a_gate_whose_min_equals_its_max_is_accepted():
    [gate] = analysis_of({"metrics": [{"name": "x", "query": "up", "min": 1, "max": 1}]}).metrics
    assert (gate.minimum, gate.maximum) == (1, 1)


# --------------------------------------------------------------------------- verdicts

GATES = gate_queries(Analysis(), Canary(namespace="n", service="s", version="v3"))


def outcome(values: dict[str, float | None]) -> tuple[str, str]:
    return verdict([judge(g, values.get(g.name)) for g in GATES])


def test_every_gate_within_its_threshold_passes():
    assert outcome({REQUESTS: 600, SUCCESS_RATE: 99.5, LATENCY_P99: 120})[0] == PASS


def test_too_few_requests_hold_whatever_the_other_gates_say():
    decision, reason = outcome({REQUESTS: 3, SUCCESS_RATE: 50, LATENCY_P99: 120})
    assert (decision, reason) == (HOLD, "request-count: 3 requests, waiting for at least 20")
    assert outcome({SUCCESS_RATE: 100})[0] == HOLD  # empty count = no requests


def test_a_gate_past_its_threshold_fails_and_says_by_how_much():
    assert outcome({REQUESTS: 600, SUCCESS_RATE: 90, LATENCY_P99: 120}) == \
        (FAIL, "request-success-rate: 90% below 99%")
    assert outcome({REQUESTS: 600, SUCCESS_RATE: 100, LATENCY_P99: 2400}) == \
        (FAIL, "request-duration: 2400 ms above 500 ms")


def test_a_gate_without_a_value_holds_never_passes():
    assert outcome({REQUESTS: 600, SUCCESS_RATE: 100, LATENCY_P99: float("nan")}) == \
        (HOLD, "request-duration: no data (empty result or NaN)")
    errors = verdict([judge(g, None, error="Prometheus at http://x unreachable") for g in GATES])
    assert errors == (HOLD, "request-count: Prometheus at http://x unreachable")


# --------------------------------------------------------------------------- PromQL on Prometheus's engine

NAN = float("nan")
SCENARIOS = {
    # namespace: phases, then the expected request count, success rate and p99 at 10m
    # (None: an empty result; NaN: series without new requests, 0/0). The p99 is
    # interpolated in its bucket: 20 ms requests in (0, 25] → 24.75, 1800 ms ones in
    # (1000, 2500] → 2485.
    "healthy": ([(600, istio.HEALTHY)], 600, 100, 24.75),
    "failing": ([(600, istio.FAILING_5XX)], 600, 90, 24.75),
    "slow": ([(600, istio.SLOW)], 600, 100, 2485),
    "idle": ([(300, istio.HEALTHY), (300, istio.IDLE)], 0, NAN, NAN),
    "absent": ([], None, None, None),
}


def test_each_gate_query_gives_the_expected_value_on_promtools_engine(tmp_path):
    """Healthy, failing with 5xx, slow, idle (series exist, no new requests) and absent
    (no series at all): every gate's query evaluated at 10m by promtool."""
    _, promtool = binaries()
    series, cases = [], []
    for namespace, (phases, *expected) in SCENARIOS.items():
        series += istio.series(istio.Canary(namespace=namespace), phases, start=0)
        queries = gate_queries(Analysis(), Canary(namespace=namespace, service="reviews", version="v3"))
        for query, value in zip(queries, expected):
            expr = query.query
            if value is NAN:
                # This promtool compares NaN unequal to NaN; NaN is also the one value
                # for which `x == bool x` is 0.
                expr, value = f"({expr}) == bool ({expr})", 0
            samples = [] if value is None else [{"labels": "{}", "value": value}]
            cases.append({"expr": expr, "eval_time": "10m", "exp_samples": samples})
    tests = {"rule_files": [], "evaluation_interval": "1m",
             "tests": [{"interval": f"{istio.SCRAPE}s", "input_series": istio.promtool_input(series),
                        "promql_expr_test": cases}]}
    test_file = tmp_path / "gates_test.yml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    done = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(cases) == 15


def test_a_canary_answering_only_5xx_has_a_success_rate_of_zero_not_none(tmp_path):
    _, promtool = binaries()
    series = istio.series(istio.Canary(namespace="broken"), [(600, istio.Traffic(errors=5))], start=0)
    query = gate_queries(Analysis(), Canary(namespace="broken", service="reviews", version="v3"))[1].query
    tests = {"rule_files": [], "tests": [{"interval": f"{istio.SCRAPE}s", "input_series": istio.promtool_input(series),
                                          "promql_expr_test": [{"expr": query, "eval_time": "10m",
                                                                "exp_samples": [{"labels": "{}", "value": 0}]}]}]}
    test_file = tmp_path / "only_5xx_test.yml"
    test_file.write_text(yaml.safe_dump(tests))
    done = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


# --------------------------------------------------------------------------- the HTTP client, real server

START = 1_700_000_000


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    series = istio.series(istio.Canary(namespace="healthy"), [(600, istio.HEALTHY)], start=START)
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), series)
    yield Prometheus(server.url, timeout=5)
    server.stop()


def test_client_reads_one_value_at_a_given_time(prometheus):
    [count, success, _] = gate_queries(Analysis(), Canary(namespace="healthy", service="reviews", version="v3"))
    assert prometheus.query(count.query, at=START + 300) == pytest.approx(600, rel=0.05)
    assert prometheus.query(success.query, at=START + 300) == pytest.approx(100)
    assert prometheus.query("vector(1) / 0 * 0", at=START + 300) is None  # NaN: nothing to judge
    assert prometheus.query(count.query.replace("healthy", "elsewhere"), at=START + 300) is None


def test_client_reports_query_errors_and_multiple_series_in_one_line(prometheus):
    with pytest.raises(PrometheusError, match=r"^query refused by Prometheus: bad_data: .*parse error"):
        prometheus.query("sum(rate(", at=START)
    with pytest.raises(PrometheusError, match=r"returned 9 series; a gate needs one value"):
        prometheus.query("istio_request_duration_milliseconds_bucket", at=START + 300)


def test_client_reports_an_unreachable_server_in_one_line():
    down = Prometheus(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(PrometheusError, match=r"^Prometheus at http://127.0.0.1:\d+ unreachable \(.*refused.*\)$"):
        down.query("up")
