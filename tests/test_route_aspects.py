"""What a route does besides splitting traffic (faults, mirrors, timeouts, retries):
read once in model/traffic.py, printed by render and diff in every format."""
from __future__ import annotations

import json

import pytest

from meshplan.cli import main
from model.names import SECRET_SHOWN
from model.route_aspects import route_aspects
from tests.conftest import EXAMPLES

TASKS = EXAMPLES / "istio-tasks"


def virtual_service(**route) -> dict:
    return {"kind": "VirtualService", "metadata": {"name": "reviews", "namespace": "bookinfo"},
            "spec": {"hosts": ["reviews"], "http": [
                {"route": [{"destination": {"host": "reviews", "subset": "v1"}}], **route}]}}


def readings(**route) -> list[str]:
    return [a.reading for a in route_aspects([virtual_service(**route)])]


@pytest.mark.parametrize("route, shown", [
    ({"fault": {"delay": {"fixedDelay": "7s", "percentage": {"value": 100}}}}, ["delay 7s on 100%"]),
    ({"fault": {"delay": {"fixedDelay": "7s", "percent": 40}}}, ["delay 7s on 40%"]),
    ({"fault": {"abort": {"httpStatus": 500, "percentage": {"value": 12.5}}}}, ["abort 500 on 12.5%"]),
    ({"fault": {"abort": {"grpcStatus": "UNAVAILABLE", "percentage": {"value": 1}}}},
     ["abort grpcStatus UNAVAILABLE on 1%"]),
    ({"fault": {"abort": {"httpStatus": 503}}}, ["abort 503 on no percentage set"]),
    ({"mirror": {"host": "reviews", "subset": "v2"}, "mirrorPercentage": {"value": 25}},
     ["mirror to reviews v2 (25%)"]),
    ({"mirror": {"host": "reviews", "subset": "v2"}}, ["mirror to reviews v2 (100%)"]),
    ({"mirrors": [{"destination": {"host": "reviews", "subset": "v2"}, "percentage": {"value": 5}},
                  {"destination": {"host": "reviews", "subset": "v3"}}]},
     ["mirror to reviews v2 (5%)", "mirror to reviews v3 (100%)"]),
    ({"timeout": "0.5s"}, ["timeout 0.5s"]),
    ({"retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx"}}, ["retries 3 × 2s on 5xx"]),
    ({"retries": {"attempts": 0}}, ["retries 0"]),
    ({}, []),
])
def test_each_fault_mirror_timeout_and_retry_policy_reads_with_its_numbers(route, shown):
    assert readings(**route) == shown


def test_a_route_a_secret_hides_shows_nothing_it_cannot_know():
    vs = virtual_service(timeout="1s")
    vs["spec"]["http"][0]["fault"] = SECRET_SHOWN
    assert route_aspects([vs]) == []


def test_render_text_lists_the_faults_timeouts_and_retries_of_each_route(capsys):
    for name, line in [("request-timeouts", "bookinfo/ratings  #0 default  delay 2s on 100%"),
                       ("request-timeouts", "bookinfo/reviews  #0 default  timeout 0.5s"),
                       ("retries", "bookinfo/ratings  #0 default  retries 3 × 2s"),
                       ("ratings-test-abort", "bookinfo/ratings  #0 end-user=jason  abort 500 on 100%")]:
        assert main(["render", "--config", str(TASKS / f"{name}.yaml")]) == 0
        out = capsys.readouterr().out
        assert "\nRoute faults, mirrors, timeouts and retries\n" in out
        assert f"\n  {line}\n" in out, out


def diff(capsys, head: str, base: str, fmt: str) -> str:
    assert main(["diff", "--config", str(TASKS / f"{head}.yaml"), "--base-config", str(TASKS / f"{base}.yaml"),
                 "--format", fmt]) == 2
    return capsys.readouterr().out


def test_a_diff_adding_a_mirror_says_so_in_its_summary_and_its_own_section(capsys):
    out = diff(capsys, "mirroring", "all-v1", "text")
    assert out.splitlines()[1] == "1 to update; routes: reviews mirror to reviews v2 (100%) added"
    assert "\n  bookinfo/reviews  #0 default  mirror to reviews v2 (100%) added\n" in out


def test_diff_json_carries_each_aspect_before_and_after(capsys):
    document = json.loads(diff(capsys, "ratings-test-delay", "ratings-test-abort", "json"))
    assert document["routeAspects"] == [
        {"virtualService": "ratings", "namespace": "bookinfo", "route": "#0 end-user=jason", "aspect": "delay",
         "before": None, "after": "delay 7s on 100%"},
        {"virtualService": "ratings", "namespace": "bookinfo", "route": "#0 end-user=jason", "aspect": "abort",
         "before": "abort 500 on 100%", "after": None},
    ]


def test_diff_markdown_tables_a_changed_timeout(capsys, tmp_path):
    head = tmp_path / "Pulumi.dev.yaml"
    head.write_text((TASKS / "request-timeouts.yaml").read_text().replace("timeout: 0.5s", "timeout: 3s"))
    assert main(["diff", "--config", str(head), "--base-config", str(TASKS / "request-timeouts.yaml"),
                 "--format", "markdown"]) == 2
    out = capsys.readouterr().out
    assert "#### Faults, mirrors, timeouts and retries" in out
    assert "| `bookinfo/reviews` | #0 default | timeout 0.5s | timeout 3s |" in out


def test_an_unchanged_aspect_is_no_change(capsys):
    assert main(["diff", "--config", str(TASKS / "retries.yaml"), "--base-config", str(TASKS / "retries.yaml"),
                 "--format", "json"]) == 0
    assert "routeAspects" not in json.loads(capsys.readouterr().out)
