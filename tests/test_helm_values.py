"""Every `values` key of every Helm release in every stack and example is one its
chart reads, with the type of the chart's own default, and the chart's values
schema accepts the whole: Helm silently ignores a key no template reads, so this
is the only place a mistyped or misplaced key shows before a real install.

Charts, defaults and schemas come from ../shared/upstream/charts (see its
SOURCES.md). Istio's charts keep their defaults under `_internal_defaults_do_not_set`
and read the same keys from the top level. Kiali's chart writes its values into the
Kiali CR, so a key absent from its values.yaml may still be one of the CR's fields."""
from __future__ import annotations

import copy
import json
from functools import cache
from numbers import Number

import pytest
import yaml
from jsonschema import Draft7Validator

from model.bodies import merged
from tests.conftest import EXAMPLES, ROOT, STACKS, render_file
from tests.helm_profiles import as_read, profile_problems
from tests.upstream import upstream

STACK_FILES = [ROOT / f"Pulumi.{s}.yaml" for s in STACKS] + sorted(EXAMPLES.rglob("*.yaml"))
CHART_DIRS = {"base": "charts/istio-base", "istiod": "charts/istiod", "gateway": "charts/istio-gateway",
              "kiali-server": "charts/kiali-server", "prometheus": "charts/prometheus",
              "cni": "istio-ambient/charts/cni", "ztunnel": "istio-ambient/charts/ztunnel"}
ISTIO_DEFAULTS = "_internal_defaults_do_not_set"
FREE_FORM = {"meshConfig", "resources", "podAnnotations", "podLabels", "pod_labels", "labels",
             "annotations", "nodeSelector", "env", "selectorLabels"}
"""Maps whose keys are the user's own (labels, annotations, MeshConfig fields)."""


def releases(path) -> list[dict]:
    return [r.inputs for r in render_file(path).resources if r.type == "kubernetes:helm.sh/v3:Release"]


@cache
def chart(name: str) -> tuple[dict, dict, dict | None, dict | None]:
    """(Chart.yaml, default values, values schema, Kiali CR spec schema) of one chart."""
    folder = upstream(CHART_DIRS[name])
    meta = yaml.safe_load((folder / "Chart.yaml").read_text())
    defaults = yaml.safe_load((folder / "values.yaml").read_text()) or {}
    schema_file = folder / "values.schema.json"
    schema = json.loads(schema_file.read_text()) if schema_file.exists() else None
    cr_spec = None
    if (folder / "kiali-crd.yaml").exists():
        crd = yaml.safe_load((folder / "kiali-crd.yaml").read_text())
        cr_spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return meta, defaults, schema, cr_spec


def readable_defaults(defaults: dict) -> dict:
    """The keys a chart reads at the top level, with their defaults."""
    return {**defaults.get(ISTIO_DEFAULTS, {}), **{k: v for k, v in defaults.items() if k != ISTIO_DEFAULTS}}


def _same_kind(value, default) -> bool:
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, Number):
        return isinstance(value, Number)
    return isinstance(value, type(default))


def _cr_field(cr_spec: dict | None, path: tuple[str, ...]) -> dict | None:
    node = cr_spec
    for key in path:
        if node is None or key not in node.get("properties", {}):
            return None
        node = node["properties"][key]
    return node


def unknown_or_mistyped(values: dict, defaults: dict, cr_spec: dict | None, path=()) -> list[str]:
    problems = []
    for key, value in values.items():
        here = (*path, key)
        shown = ".".join(here)
        if key in defaults:
            default = defaults[key]
            if not _same_kind(value, default):
                problems.append(f"{shown}: {type(value).__name__} where the chart's default is "
                                f"{type(default).__name__} ({default!r})")
            elif isinstance(value, dict) and isinstance(default, dict) and default and key not in FREE_FORM:
                problems += unknown_or_mistyped(value, default, _cr_field(cr_spec, here) and cr_spec, here)
        elif _cr_field(cr_spec, here) is None:
            problems.append(f"{shown}: no such key in the chart's values")
    return problems


def coalesced(defaults: dict, values: dict) -> dict:
    """Values as Helm merges them before validating against the chart's schema."""
    return merged(defaults, values)


PROFILE_KEYS = ("profile", "platform", "compatibilityVersion")
"""Read by the Istio charts' `zzz_profile.yaml` (at the top level and under `global`)
to merge a profile's values before the chart's own: no values.yaml declares them."""
ISTIO_CHARTS = ("base", "istiod", "gateway", "cni", "ztunnel")


def values_problems(chart_name: str, values: dict) -> list[str]:
    """`unknown_or_mistyped` as the chart reads the values (`tests/helm_profiles.py`):
    the profile meta-keys of the Istio charts set aside (they must be strings), `cni.*`
    descoped and `global.*` flattened where the chart does so, istiod's `pilot.*` read
    as the top level (`zzy_descope_legacy.yaml` merges `.Values.pilot` into it); plus
    the named profile and platform must have their files in the chart."""
    _, defaults, _, cr_spec = chart(chart_name)
    readable = readable_defaults(defaults)
    values, problems = copy.deepcopy(values), []
    if chart_name in ISTIO_CHARTS:
        for where, at in ((values, ""), (values.get("global") if isinstance(values.get("global"), dict) else {},
                                         "global.")):
            problems += [f"{at}{key}: expected a string" for key in PROFILE_KEYS
                         if key in where and not isinstance(where[key], str)]
    # A profile that is not a name has no file to look for: its type is the problem.
    problems += profile_problems(chart_name, values) if not problems else []
    if chart_name == "istiod" and isinstance(values.get("pilot"), dict):
        problems += [f"pilot.{p}" for p in unknown_or_mistyped(values.pop("pilot"), readable, cr_spec)]
    checked, read_problems = as_read(chart_name, values, readable)
    return problems + read_problems + unknown_or_mistyped(checked, readable, cr_spec)


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_every_values_key_is_read_by_its_chart_with_the_default_type(path):
    for release in releases(path):
        assert values_problems(release["chart"], release["values"]) == [], release["name"]


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_every_release_passes_its_charts_values_schema(path):
    for release in releases(path):
        _, defaults, schema, _ = chart(release["chart"])
        if schema is not None:
            errors = [e.message for e in Draft7Validator(schema).iter_errors(coalesced(defaults, release["values"]))]
            assert errors == [], release["name"]


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_every_release_pins_the_chart_version_the_defaults_come_from(path):
    for release in releases(path):
        meta, *_ = chart(release["chart"])
        # Istio's Chart.yaml says 1.0.0 at the tag; the release build stamps the Istio version.
        expected = "1.30.3" if meta["version"] == "1.0.0" else meta["version"]
        assert release["version"] == expected, release["name"]


# The check catches what it exists for.

def test_a_top_level_key_the_chart_does_not_read_is_reported():
    _, defaults, _, _ = chart("prometheus")
    assert unknown_or_mistyped({"fullnameOverride": "prometheus"}, readable_defaults(defaults), None) == [
        "fullnameOverride: no such key in the chart's values"]


def test_a_nested_typo_and_a_wrong_type_are_reported():
    _, defaults, _, cr_spec = chart("kiali-server")
    problems = unknown_or_mistyped({"auth": {"stratgy": "anonymous"}, "deployment": {"replicas": "2"}},
                                   readable_defaults(defaults), cr_spec)
    assert problems == ["auth.stratgy: no such key in the chart's values",
                        "deployment.replicas: str where the chart's default is int (1)"]


def test_istio_chart_keys_are_read_at_the_top_level_and_kiali_keys_from_its_cr():
    _, istiod, _, _ = chart("istiod")
    assert unknown_or_mistyped({"replicaCount": 2, "meshConfig": {"anything": 1}}, readable_defaults(istiod), None) == []
    _, kiali, _, cr_spec = chart("kiali-server")
    assert unknown_or_mistyped({"external_services": {"prometheus": {"url": "http://p:9090"}}},
                               readable_defaults(kiali), cr_spec) == []


def test_the_gateway_schema_refuses_a_service_type_that_is_not_a_string():
    _, defaults, schema, _ = chart("gateway")
    assert list(Draft7Validator(schema).iter_errors(coalesced(defaults, {"service": {"type": 3}})))


def test_dev_addons_need_neither_a_storage_class_nor_a_load_balancer():
    dev = {r["chart"]: r for r in releases(ROOT / "Pulumi.dev.yaml")}
    assert {"prometheus", "kiali-server"} <= set(dev)
    prometheus = coalesced(chart("prometheus")[1], dev["prometheus"]["values"])
    assert prometheus["server"]["persistentVolume"]["enabled"] is False
    assert prometheus["server"]["fullnameOverride"] == "prometheus"
    assert prometheus["server"]["service"]["servicePort"] == 9090
    for subchart in ("alertmanager", "prometheus-pushgateway", "kube-state-metrics", "prometheus-node-exporter"):
        assert prometheus[subchart]["enabled"] is False, subchart
    kiali = coalesced(chart("kiali-server")[1], dev["kiali-server"]["values"])
    assert kiali["deployment"]["service_type"] in ("", "ClusterIP", "NodePort")
    assert kiali["external_services"]["prometheus"]["url"] == "http://prometheus.istio-system:9090"
    assert dev["gateway"]["values"]["service"]["type"] == "NodePort"


def test_the_profile_keys_and_istiods_pilot_keys_are_read_as_the_charts_read_them():
    assert values_problems("istiod", {"profile": "remote", "global": {"platform": "gke"},
                                      "pilot": {"env": {"EXTERNAL_ISTIOD": "true"}, "replicaCount": 2}}) == []
    assert values_problems("base", {"profile": "remote"}) == []
    assert values_problems("gateway", {"compatibilityVersion": "1.29"}) == []
    # pilot.enabled (older docs) is read by no template; a profile is a name.
    assert values_problems("istiod", {"pilot": {"enabled": False}, "profile": True}) == [
        "profile: expected a string", "pilot.enabled: no such key in the chart's values"]
    # base has no externalIstiod (older docs set it there): a no-op, flagged.
    assert values_problems("base", {"global": {"externalIstiod": True}}) == [
        "global.externalIstiod: no such key in the chart's values"]
