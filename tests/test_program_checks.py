"""The program runs the analyzers itself and stops a preview on errors; meshplan
renders in report-only mode so it can list every finding instead."""
from __future__ import annotations

import logging

import pulumi
import pytest

from components.checks import check_objects
from components.findings_mode import findings_left_to_caller
from meshplan.engine import read_stack_settings, run_program
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
        settings, raw = read_stack_settings(path, stack)
        rendered = run_program(raw, settings=settings, stack=stack, source=str(path), report_only=False)
        assert len(rendered.resources) > 10


def test_program_enforcing_its_checks_logs_each_warning_to_the_engine(caplog):
    # Under the mock monitor the engine's log is the SDK's MockEngine, which hands
    # each pulumi.log.warn to Python logging; `pulumi preview` prints the same lines.
    path = ROOT / "examples" / "istio-tasks" / "egress-google-apis.yaml"
    settings, raw = read_stack_settings(path, "dev")
    with caplog.at_level(logging.WARNING):
        run_program(raw, settings=settings, stack="dev", source=str(path), report_only=False)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("warning [BM121] DestinationRule bookinfo/originate-tls-for-googleapis: host "
                            "www.googleapis.com port 443: TLS mode SIMPLE without caCertificates") for m in warned), warned
