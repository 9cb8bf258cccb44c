"""The ambient releases' values hold up as the charts read them: every key is one the
chart reads (profile meta-keys aside, `cni.*` descoped, ztunnel's `global.*`
flattened), every profile and platform named has its file in the chart, and the
merged result turns ambient mode on where Istio's own ambient profile and umbrella
chart do."""
from __future__ import annotations

import pytest
import yaml

from model.vocabulary import ISTIO_PLATFORMS
from tests.conftest import render_file
from tests.helm_profiles import merged_values, profile_problems
from tests.test_helm_values import chart, values_problems, readable_defaults
from tests.upstream import upstream

VARIANTS = {"ambient": "{dataPlane: ambient}", "ambient-canary": "{dataPlane: ambient, revision: canary}",
            **{f"ambient-{p}": f"{{dataPlane: ambient, platform: {p}}}" for p in ISTIO_PLATFORMS},
            "sidecar-gateway-api": "{}", "sidecar-gke": "{platform: gke}"}


@pytest.fixture(scope="module")
def rendered_variants(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stacks")
    found = {}
    for name, istio in VARIANTS.items():
        path = folder / f"Pulumi.{name}.yaml"
        path.write_text("config:\n  bookinfo-mesh:environment: prod\n"
                        f"  bookinfo-mesh:istio: {istio}\n  bookinfo-mesh:traffic: {{api: gateway-api}}\n")
        found[name] = {r.inputs["chart"]: r.inputs for r in render_file(path).releases()}
    return found


def merged(release: dict) -> dict:
    return merged_values(release["chart"], readable_defaults(chart(release["chart"])[1]), release["values"])


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_release_of_every_variant_passes_the_key_and_profile_check(rendered_variants, variant):
    for release in rendered_variants[variant].values():
        assert values_problems(release["chart"], release["values"]) == [], (variant, release["name"])
        meta, *_ = chart(release["chart"])
        assert release["version"] == ("1.30.3" if meta["version"] == "1.0.0" else meta["version"])


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.startswith("ambient")])
def test_the_merged_values_turn_ambient_mode_on(rendered_variants, variant):
    releases = rendered_variants[variant]
    assert merged(releases["cni"])["ambient"]["enabled"] is True
    assert merged(releases["istiod"])["pilot"]["env"]["PILOT_ENABLE_AMBIENT"] == "true"
    ztunnel = merged(releases["ztunnel"])
    assert ztunnel["variant"] == "distroless" and ztunnel["resourceName"] == "ztunnel"
    assert merged(releases["istiod"])["meshConfig"]["defaultConfig"]["proxyMetadata"]["ISTIO_META_ENABLE_HBONE"] == "true"


def test_a_platform_profile_reaches_the_cni_charts_top_level_through_descoping(rendered_variants):
    assert merged(rendered_variants["ambient-k3d"]["cni"])["cniBinDir"] == "/bin"
    assert merged(rendered_variants["ambient-openshift"]["cni"])["provider"] == "multus"
    assert merged(rendered_variants["ambient-openshift"]["istiod"])["trustedZtunnelNamespace"] == "kube-system"
    assert merged(rendered_variants["ambient"]["cni"])["cniBinDir"] == "/opt/cni/bin"


def test_sidecar_mode_leaves_ambient_off(rendered_variants):
    releases = rendered_variants["sidecar-gateway-api"]
    assert set(releases) == {"base", "istiod"}
    assert "PILOT_ENABLE_AMBIENT" not in (merged(releases["istiod"]).get("pilot") or {}).get("env", {})


def test_the_releases_pass_what_istios_own_ambient_umbrella_chart_passes(rendered_variants):
    umbrella = yaml.safe_load(upstream("istio-ambient/sample-charts/ambient/values.yaml").read_text())
    releases = rendered_variants["ambient"]
    for dependency, release_chart in (("istiod", "istiod"), ("cni", "cni"), ("ztunnel", "ztunnel")):
        passed = {k: v for k, v in umbrella[dependency].items() if k != "enabled"}
        assert passed.items() <= releases[release_chart]["values"].items(), dependency


def test_every_charts_ambient_profile_is_istios_helm_profile():
    original = yaml.safe_load(upstream("istio-ambient/helm-profiles/ambient.yaml").read_text())
    for release_chart in ("istiod", "cni", "ztunnel"):
        copy = yaml.safe_load(upstream(f"istio-ambient/charts/{release_chart}/files/profile-ambient.yaml").read_text())
        assert copy == original, release_chart


# The check catches what helm install would fail on or silently ignore.

def test_an_unknown_profile_or_platform_is_what_helm_install_fails_on():
    assert profile_problems("cni", {"profile": "ambiant"}) == [
        "profile ambiant: no files/profile-ambiant.yaml in chart cni (unknown profile)"]
    assert profile_problems("ztunnel", {"global": {"platform": "kind"}}) == [
        "platform kind: no files/profile-platform-kind.yaml in chart ztunnel (unknown platform)"]
    assert profile_problems("gateway", {"profile": "ambient"}) == ["gateway reads no profiles"]


def test_meta_keys_pass_and_misplaced_keys_do_not():
    assert values_problems("cni", {"profile": "ambient", "platform": "k3s", "compatibilityVersion": "1.29",
                                        "global": {"platform": "k3s"}, "cni": {"cniBinDir": "/x"}}) == []
    assert values_problems("cni", {"cni": {"cniBinDri": "/x"}}) == ["cniBinDri: no such key in the chart's values"]
    assert values_problems("ztunnel", {"global": {"hub": "example.com", "networkPolicy": {"enabled": True}}}) == []
    assert values_problems("ztunnel", {"global": {"hubb": "example.com"}}) == [
        "hubb: no such key in the chart's values"]
    assert values_problems("istiod", {"global": {"platform": "gke", "plattform": "gke"}}) == [
        "global.plattform: no such key in the chart's values"]
