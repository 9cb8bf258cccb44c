"""A weight change in the ambient, Gateway API stack (`dev-ambient`) from end to end:
`meshplan diff` shows one HTTPRoute update with its effective shares, the step guard
judges it, the program's `traffic` output names the route's kind, every route waits for
the Services it sends to, and `meshplan rollout --rehearse` steps it with metric gates
read as an ambient mesh reports them (the waypoint, under the per-version Service)."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import yaml

from meshplan.cli import main
from model.gates import Analysis, Canary, gate_queries
from tests import istio_series as istio
from tests.conftest import ROOT, render_file
from tests.prometheus_server import PrometheusServer

AMBIENT = ROOT / "Pulumi.dev-ambient.yaml"
REVIEWS_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"


def ambient_stack(tmp_path, name: str, reviews: dict, rollout: dict | None = None) -> str:
    """dev-ambient with the reviews routing (and rollout settings) replaced."""
    config = yaml.safe_load(AMBIENT.read_text())["config"]
    config["bookinfo-mesh:services"] = {**config["bookinfo-mesh:services"], "reviews": reviews}
    if rollout is not None:
        config["bookinfo-mesh:rollout"] = rollout
    path = tmp_path / name / "Pulumi.dev-ambient.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump({"config": config}))
    return str(path)


def diff(capsys, *argv) -> tuple[int, str, str]:
    code = main(["diff", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --------------------------------------------------------------------------- meshplan diff


def test_a_weight_change_is_one_httproute_update_with_its_shares_in_json(capsys, tmp_path):
    changed = ambient_stack(tmp_path, "changed", {"weights": {"v1": 90, "v2": 10}})
    code, out, _ = diff(capsys, "--config", changed, "--base-config", str(AMBIENT), "--format", "json")
    assert code == 2
    report = json.loads(out)
    assert report["summary"]["counts"] == {"create": 0, "update": 1, "replace": 0, "delete": 0}
    [change] = report["changes"]
    assert (change["op"], change["type"], change["name"]) == ("update", REVIEWS_ROUTE, "routing-httproute-reviews")
    assert report["traffic"] == [
        {"virtualService": "reviews", "namespace": "bookinfo", "route": "#0 default", "host": "reviews",
         "subset": "v1", "before": 100, "after": 90, "kind": "HTTPRoute"},
        {"virtualService": "reviews", "namespace": "bookinfo", "route": "#0 default", "host": "reviews",
         "subset": "v2", "before": 0, "after": 10, "kind": "HTTPRoute"},
    ]


def test_a_weight_change_reads_as_one_httproute_update_in_text_and_markdown(capsys, tmp_path):
    changed = ambient_stack(tmp_path, "changed", {"weights": {"v1": 90, "v2": 10}})
    code, out, _ = diff(capsys, "--config", changed, "--base-config", str(AMBIENT))
    assert code == 2
    assert "1 to update; traffic: reviews v1 100% → 90%, v2 0% → 10%" in out
    assert [line for line in out.splitlines() if line.startswith(("~ ", "+ ", "- ", "± "))] == \
        [f"~ update  {REVIEWS_ROUTE}  routing-httproute-reviews"]
    assert "HTTPRoute bookinfo/reviews  #0 default  reviews v1            100% →   90%  (-10)" in out
    assert "HTTPRoute bookinfo/reviews  #0 default  reviews v2              0% →   10%  (+10)" in out
    code, out, _ = diff(capsys, "--config", changed, "--base-config", str(AMBIENT), "--format", "markdown")
    assert code == 2
    assert "**1 to update; traffic: reviews v1 100% → 90%, v2 0% → 10%**" in out
    [row] = [line for line in out.splitlines() if line.startswith(("| ~ ", "| + ", "| - ", "| ± "))]
    assert row.startswith(f"| ~ update | `{REVIEWS_ROUTE}` | `routing-httproute-reviews` |")
    assert "| `HTTPRoute bookinfo/reviews` | #0 default | reviews v1 | 100% | 90% | -10 |" in out
    assert "| `HTTPRoute bookinfo/reviews` | #0 default | reviews v2 | 0% | 10% | +10 |" in out


def test_the_step_guard_refuses_a_large_step_naming_the_httproute_and_passes_a_small_one(capsys, tmp_path):
    guard = {"maxStep": 20}
    base = ambient_stack(tmp_path, "base", {"weights": {"v1": 90, "v2": 10}}, guard)
    large = ambient_stack(tmp_path, "large", {"weights": {"v1": 50, "v2": 50}}, guard)
    small = ambient_stack(tmp_path, "small", {"weights": {"v1": 75, "v2": 25}}, guard)
    code, _, err = diff(capsys, "--config", large, "--base-config", base)
    assert code == 1
    assert err.splitlines() == [
        "error: step guard: HTTPRoute bookinfo/reviews route '#0 default' moves reviews v2 10% → 50% "
        "(+40 points), more than the maximum step of 20 points"]
    code, out, err = diff(capsys, "--config", small, "--base-config", base)
    assert code == 2 and "step guard" not in err + out
    assert "reviews v1 90% → 75%, v2 10% → 25%" in out


# --------------------------------------------------------------------------- the program


def test_the_traffic_output_names_httproute_rows_and_leaves_virtual_service_rows_as_they_were():
    ambient_rows = render_file(AMBIENT).outputs["traffic"]
    assert ambient_rows and {row["kind"] for row in ambient_rows} == {"HTTPRoute"}
    sidecar_rows = render_file(ROOT / "Pulumi.dev.yaml").outputs["traffic"]
    assert sidecar_rows and all("kind" not in row for row in sidecar_rows)


def test_the_program_step_guard_reads_its_last_traffic_output_as_httproute_rows():
    from model.traffic import traffic_table
    from model.traffic_changes import output_row, shares_from_output

    rendered = render_file(AMBIENT)
    rows = rendered.outputs["traffic"]
    assert [output_row(s) for s in shares_from_output(rows)] == rows
    assert {s.kind for s in traffic_table(rendered.objects())} == {"HTTPRoute"}


def test_every_route_waits_for_the_services_and_deployments_it_sends_to(tmp_path):
    rendered = render_file(ambient_stack(tmp_path, "split", {"weights": {"v1": 90, "v2": 10}}))
    names = {r.urn: r.name for r in rendered.resources}
    waits = {r.name: {names[u] for u in r.depends_on if u in names} for r in rendered.resources
             if r.type == REVIEWS_ROUTE}
    assert {"routing-service-reviews-v1", "routing-service-reviews-v2", "workloads-deployment-reviews-v1",
            "workloads-deployment-reviews-v2"} <= waits["routing-httproute-reviews"]
    # The ingress route sends to the application's own productpage Service.
    assert {"workloads-service-productpage", "workloads-deployment-productpage-v1"} <= \
        waits["routing-httproute-bookinfo"]


# --------------------------------------------------------------------------- gates and rehearsal


def test_ambient_gates_read_the_waypoint_under_the_per_version_service():
    canary = Canary(namespace="bookinfo", service="reviews", version="v2", reporter="waypoint",
                    version_service="reviews-v2")
    count = gate_queries(Analysis(), canary)[0].query
    assert 'reporter="waypoint"' in count and 'destination_service_name=~"reviews|reviews-v2"' in count
    sidecar = gate_queries(Analysis(), Canary(namespace="bookinfo", service="reviews", version="v2"))[0].query
    assert 'reporter="destination"' in sidecar and 'destination_service_name="reviews",' in sidecar


def waypoint_series(now: int) -> list:
    """A healthy reviews v2 as an ambient mesh reports it: by the waypoint, under the
    per-version Service the HTTPRoute sends to."""
    found = istio.series(istio.Canary(namespace="bookinfo", version="v2"), [(1200, istio.HEALTHY)], start=now - 600)
    return [(name, {**labels, "reporter": "waypoint", "destination_service_name": "reviews-v2"}, samples)
            for name, labels, samples in found]


@pytest.fixture(scope="module")
def waypoint_prometheus(tmp_path_factory):
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), waypoint_series(int(time.time())))
    yield server.url
    server.stop()


def test_rehearse_steps_the_httproute_with_gates_and_applies_nothing(tmp_path, waypoint_prometheus):
    path = ambient_stack(tmp_path, "canary", {"weights": {"v1": 90, "v2": 10}},
                         {"maxStep": 50, "analysis": {"minRequests": 10}})
    before = open(path).read()
    done = subprocess.run([sys.executable, "-m", "meshplan", "rollout", "--config", path, "--service", "reviews",
                           "--to", "v2", "--steps", "50,100", "--interval", "1s", "--prometheus",
                           waypoint_prometheus, "--rehearse"],
                          cwd=ROOT, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("analysis: PASS") == 2
    assert "step 2: v1 0%, v2 100% — rehearsal: rendered through the program" in done.stdout
    assert done.stdout.rstrip().endswith("would promote reviews to v1 0%, v2 100%; nothing was applied (rehearsal)")
    assert open(path).read() == before


# --------------------------------------------------------------------------- every stack and example

STACK_FILES = sorted(p for p in ROOT.glob("Pulumi.*.yaml")) + sorted((ROOT / "examples").rglob("*.yaml"))
GATEWAY_API_GROUP = "gateway.networking.k8s.io/"


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_gateway_api_object_passes_the_schema_and_cel_of_its_channel(path):
    from tests.test_gateway_api_schema import schemas

    rendered = render_file(path)
    objects = [o for o in rendered.objects() if str(o.get("apiVersion", "")).startswith(GATEWAY_API_GROUP)]
    if not rendered.settings.gateway_api_routes:
        assert objects == []
        return
    channel = rendered.settings.gateway_api.channel
    checked = schemas(channel)
    from model.analysis import analyze

    found = [str(f) for f in analyze(objects, schemas=checked, only=["BM135"])]
    assert found == []  # no error, no warning: no rule is left "not evaluated"
    assert checked.evaluated > 0


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_meshplan_check_of_every_stack_and_example_reports_no_error(path):
    from meshplan.check import check_rendered
    from model.analysis import ERROR

    assert [str(f) for f in check_rendered(render_file(path)) if f.level == ERROR] == []


def test_the_program_guard_refuses_a_large_step_from_its_last_traffic_output_naming_the_httproute(tmp_path):
    from meshplan.render.engine import render
    from model.errors import ConfigError

    guard = {"maxStep": 20, "guardPreviews": True}
    last = render_file(ambient_stack(tmp_path, "last", {"weights": {"v1": 90, "v2": 10}}, guard)).outputs
    with pytest.raises(ConfigError) as refused:
        render(ambient_stack(tmp_path, "large", {"weights": {"v1": 50, "v2": 50}}, guard),
               previous_outputs={"traffic": last["traffic"]})
    assert "step guard: HTTPRoute bookinfo/reviews route '#0 default' moves reviews v2 10% → 50% (+40 points), " \
           "more than the maximum step of 20 points" in str(refused.value)
    small = render(ambient_stack(tmp_path, "small", {"weights": {"v1": 75, "v2": 25}}, guard),
                   previous_outputs={"traffic": last["traffic"]})
    assert small.outputs["rolloutGuard"] == "within 20 points"
