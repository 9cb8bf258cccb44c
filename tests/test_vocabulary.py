"""The vocabulary is stated once (model/vocabulary.py) and every user reads it from
there: names, durations, Prometheus windows and the kinds the program registers."""
from __future__ import annotations

import re

import pulumi
import pytest

from components.kubernetes import TYPED_CLASSES, register
from meshplan.rollout.loop import parse_duration
from model.errors import ConfigError
from model.settings.validators import dns_label_problem, duration_problem
from model.vocabulary import (DNS_LABEL_RE, PROMETHEUS_WINDOW_RE, REGISTERED_KINDS, REVISION_MAX, duration_ms,
                              duration_seconds, is_custom_resource)
from tests.conftest import ROOT, settings_from

# Spellings of a rule that must appear in model/vocabulary.py and nowhere else.
RESTATED = {
    "a DNS-1123 label": re.compile(r"\[a-z0-9\]\(\[-a-z0-9\]"),
    "a duration's units": re.compile(r"\(ms\|s\|m\|h\)|\"ms\":|'ms':"),
    "a Prometheus window": re.compile(r"\(s\|m\|h\)"),
    "a registered kind": re.compile(r'\("(v1|apps/v1)", "(Namespace|Secret|Deployment|StatefulSet)"\)'
                                    r'|"virtualservices"'),
}


def test_each_rule_of_the_vocabulary_is_spelled_only_in_the_vocabulary():
    sources = [ROOT / "__main__.py", *(path for package in ("model", "components", "meshplan", "policy")
                                       for path in (ROOT / package).rglob("*.py") if "venv" not in path.parts)]
    restated = sorted((rule, str(path.relative_to(ROOT))) for path in sources
                      if path != ROOT / "model" / "vocabulary.py"
                      for rule, spelling in RESTATED.items() if spelling.search(path.read_text()))
    assert restated == []


def test_every_spelling_the_check_looks_for_is_in_the_vocabulary():
    # Otherwise the test above would pass whatever the other modules say.
    vocabulary = (ROOT / "model" / "vocabulary.py").read_text()
    assert [rule for rule, spelling in RESTATED.items() if not spelling.search(vocabulary)] == []


@pytest.mark.parametrize("name, allowed", [
    ("a" * 63, True), ("a" * 64, False), ("reviews-v2", True), ("-reviews", False), ("reviews-", False),
    ("Reviews", False), ("r", True), ("", False), ("re.views", False),
])
def test_a_dns_label_is_lowercase_letters_digits_and_dashes_of_at_most_63(name, allowed):
    assert bool(DNS_LABEL_RE.match(name)) is allowed
    assert (dns_label_problem(name) is None) is allowed


def test_every_dns_label_of_stack_config_is_held_to_the_same_rule():
    # A namespace and a rollout gate's name: 63 characters pass, 64 do not. A revision
    # also names the istiod chart's `istiod-<revision>` Service: 56 pass, 57 do not.
    gate = {"query": "up", "max": 1}
    for config in ({"app": {"namespace": "n" * 63}}, {"istio": {"revision": "r" * REVISION_MAX}},
                   {"rollout": {"analysis": {"metrics": [{**gate, "name": "g" * 63}]}}}):
        settings_from(config)
    for config, key in (({"app": {"namespace": "n" * 64}}, "app.namespace"),
                        ({"istio": {"revision": "r" * 64}}, "istio.revision"),
                        ({"istio": {"revision": "r" * (REVISION_MAX + 1)}}, "istio.revision"),
                        ({"rollout": {"analysis": {"metrics": [{**gate, "name": "g" * 64}]}}},
                         r"rollout.analysis.metrics\[0\].name")):
        with pytest.raises(ConfigError, match=f"bookinfo-mesh:{key} = "):
            settings_from(config)


@pytest.mark.parametrize("text, ms", [("250ms", 250), ("0.5s", 500), ("7s", 7_000), ("2m", 120_000),
                                      ("1h", 3_600_000), ("1.5h", 5_400_000), ("5 minutes", None), ("1d", None),
                                      (".5s", None), ("-1s", None)])
def test_a_duration_is_a_decimal_number_and_one_unit(text, ms):
    assert duration_ms(text) == ms
    assert duration_seconds(text) == (None if ms is None else ms / 1000)


def test_the_settings_and_meshplan_rollout_read_durations_alike():
    assert (parse_duration("2s"), parse_duration("0.5m"), parse_duration("250ms")) == (2, 30, 0.25)
    assert duration_problem("0.5ms") == "below 1ms, which Istio refuses"
    ratings = settings_from({"services": {"ratings": {"to": "v1", "timeout": "1.5s"}}}).services["ratings"]
    assert ratings.routes[-1].timeout == "1.5s"
    with pytest.raises(ConfigError, match=r"services.ratings.timeout = \"1d\": expected a duration"):
        settings_from({"services": {"ratings": {"to": "v1", "timeout": "1d"}}})
    with pytest.raises(ValueError, match="expected a duration like 30s"):
        parse_duration("1d")


@pytest.mark.parametrize("window, allowed", [("30s", True), ("1m", True), ("12h", True), ("0m", False),
                                             ("500ms", False), ("1.5m", False), ("1d", False)])
def test_a_prometheus_window_is_a_whole_number_of_seconds_minutes_or_hours(window, allowed):
    assert bool(PROMETHEUS_WINDOW_RE.match(window)) is allowed
    if allowed:
        assert settings_from({"rollout": {"analysis": {"window": window}}}).rollout.analysis.window == window
    else:
        with pytest.raises(ConfigError, match="rollout.analysis.window"):
            settings_from({"rollout": {"analysis": {"window": window}}})


def test_the_program_registers_each_core_kind_of_the_table_with_its_typed_class():
    core = {key for key, kind in REGISTERED_KINDS.items() if not is_custom_resource(kind)}
    assert set(TYPED_CLASSES) == core
    assert {key: cls.__name__ for key, cls in TYPED_CLASSES.items()} == {key: key[1] for key in core}
    assert {cls.__module__.split(".")[1] for cls in TYPED_CLASSES.values()} == {"core", "apps"}


@pytest.mark.parametrize("api_version, kind", [("networking.istio.io/v1alpha3", "EnvoyFilter"),
                                               ("telemetry.istio.io/v1", "Telemetry"), ("batch/v1", "Job")])
def test_the_program_refuses_to_register_a_kind_outside_the_table(api_version, kind):
    # `meshplan rbac` grants a deployer the table's kinds only: a kind registered
    # outside it would fail the real deployment for want of access.
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "namespace": "bookinfo"}}
    with pytest.raises(ValueError, match=f"no registration for {re.escape(api_version)} {kind}"):
        register("x", body, pulumi.ResourceOptions())
