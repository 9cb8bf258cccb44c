"""The program runs the analyzers itself and stops a preview on errors; meshplan
renders in report-only mode so it can list every finding instead."""
from __future__ import annotations

import logging

import pulumi
import pytest

from components.checks import check_objects
from components.check_enforcement import findings_left_to_caller
from meshplan.render.engine import read_stack_settings, run_program
from tests.conftest import ROOT, settings_from
from tests.manifests import bookinfo, find


def test_program_check_raises_one_run_error_naming_every_error():
    objects = bookinfo()
    find(objects, "VirtualService", "reviews")["spec"]["http"][0]["route"][0]["destination"]["subset"] = "v9"
    find(objects, "VirtualService", "bookinfo")["spec"]["gateways"] = ["nowhere"]
    with pytest.raises(pulumi.RunError) as stopped:
        check_objects(settings_from({"app": {"namespace": "default"}}), objects)
    message = str(stopped.value)
    assert message.startswith("2 analysis error(s): error [BM102] VirtualService default/reviews")
    assert "error [BM104] VirtualService default/bookinfo: gateway default/nowhere is not defined" in message


def test_program_check_passes_clean_objects_and_leaves_reporting_to_meshplan(monkeypatch):
    objects = bookinfo()
    check_objects(settings_from({"app": {"namespace": "default"}}), objects)
    find(objects, "VirtualService", "reviews")["spec"]["http"][0]["route"][0]["destination"]["subset"] = "v9"
    monkeypatch.setenv("MESHPLAN_REPORT_ONLY", "1")  # the environment no longer decides
    with pytest.raises(pulumi.RunError):
        check_objects(settings_from({"app": {"namespace": "default"}}), objects)
    with findings_left_to_caller():
        check_objects(settings_from({}), objects)


def test_program_enforcing_its_checks_renders_every_stack_file():
    for stack in ("dev", "staging", "prod"):
        path = ROOT / f"Pulumi.{stack}.yaml"
        settings, raw, _ = read_stack_settings(path, stack)
        rendered = run_program(raw, settings=settings, stack=stack, source=str(path), report_only=False)
        assert len(rendered.resources) > 10


def test_program_enforcing_its_checks_logs_each_warning_to_the_engine(caplog):
    # Under the mock monitor the engine's log is the SDK's MockEngine, which hands
    # each pulumi.log.warn to Python logging; `pulumi preview` prints the same lines.
    path = ROOT / "examples" / "istio-tasks" / "egress-google-apis.yaml"
    settings, raw, _ = read_stack_settings(path, "dev")
    with caplog.at_level(logging.WARNING):
        run_program(raw, settings=settings, stack="dev", source=str(path), report_only=False)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("warning [BM121] DestinationRule bookinfo/originate-tls-for-googleapis: host "
                            "www.googleapis.com port 443: TLS mode SIMPLE without caCertificates") for m in warned), warned


def test_an_analysis_error_stops_the_program_before_it_registers_anything(monkeypatch):
    # Under `pulumi up --skip-preview` (every rollout step) whatever was registered
    # before a refusal is sent: the analyzers must judge before the first registration.
    import model.stack_analysis
    from meshplan.render import sdk

    seen: list = []
    recording_monitor = sdk.recording_monitor
    monkeypatch.setattr(sdk, "recording_monitor", lambda mocks, captured: seen.append(captured)
                        or recording_monitor(mocks, captured))
    implied = model.stack_analysis.objects_implied

    def with_a_missing_subset(settings):
        objects = [dict(o) for o in implied(settings)]
        reviews = find(objects, "VirtualService", "reviews")
        reviews["spec"] = {**reviews["spec"], "http": [{"route": [{"destination": {"host": "reviews", "subset": "v9"}}]}]}
        return objects

    monkeypatch.setattr(model.stack_analysis, "objects_implied", with_a_missing_subset)
    path = ROOT / "Pulumi.dev.yaml"
    settings, raw, _ = read_stack_settings(path, "dev")
    with pytest.raises(Exception, match=r"1 analysis error\(s\): error \[BM102\] VirtualService bookinfo/reviews"):
        run_program(raw, settings=settings, stack="dev", source=str(path), report_only=False)
    assert [record["type"] for record in seen[-1].records] == ["pulumi:pulumi:Stack"]


def test_the_program_judges_exactly_the_objects_its_components_register():
    import json
    import model.stack_analysis
    from tests.conftest import EXAMPLES, render_file

    def key(o):
        return o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]

    for path in [*sorted(ROOT.glob("Pulumi.*.yaml")), *sorted(EXAMPLES.glob("*/*.yaml"))]:
        rendered = render_file(path)
        if rendered.settings.layers.layered:
            continue  # a layered stack judges what the whole environment implies
        if rendered.settings.multicluster is not None:
            _judges_what_the_clusters_register(rendered, key)
            continue
        implied = {key(o): json.dumps(o, sort_keys=True) for o in model.stack_analysis.objects_implied(rendered.settings)}
        mesh_namespaces = {("Namespace", "", "istio-system"), ("Namespace", "", "istio-ingress")}
        registered = {key(o): json.dumps(o, sort_keys=True) for o in rendered.objects() if key(o) not in mesh_namespaces}
        assert implied.keys() == registered.keys(), path.name
        # Registered numbers come back from the wire as integers where whole.
        assert [k for k in implied if json.loads(implied[k]) != json.loads(registered[k])
                and k[0] != "Secret"] == [], path.name


def _judges_what_the_clusters_register(rendered, key):
    """Over several clusters each cluster's objects are judged (a primary's against the
    pods of every cluster, which its istiod serves): together they are what the
    clusters register, the install objects aside (the MC checks judge those)."""
    import json
    from model.multicluster.analysis import cluster_objects
    from model.multicluster.plan import cluster_plans

    settings = rendered.settings
    install = set()
    for plan in cluster_plans(settings, settings.multicluster):
        bodies = [plan.namespace, *plan.expose, *plan.remote_secrets, *([plan.reader_token] if plan.reader_token else [])]
        install |= {key(b) for b in bodies} | {("Secret", "istio-system", "cacerts"), ("Namespace", "", "istio-ingress")}
    implied = {key(o): json.dumps(o, sort_keys=True) for c in settings.multicluster.clusters
               for o in cluster_objects(settings, c.name)}
    registered = {key(o): json.dumps(o, sort_keys=True) for o in rendered.objects() if key(o) not in install}
    assert implied.keys() == registered.keys(), rendered.source
