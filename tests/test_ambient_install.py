"""The install half of ambient mode and the Gateway API: the Gateway API CRDs from
their pinned release (or the cluster's, judged), the releases and their values, the
order everything comes up in, the app namespaces' enrolment, and the refusals."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from meshplan.render.engine import render
from meshplan.render.formats import as_json, as_yaml, summary
from model.ambient import GATEWAY_API_PROBE_CRD, crd_mismatch
from model.errors import ConfigError
from model.names import CONFIG_FILE_TYPE, HELM_RELEASE_TYPE
from model.settings import parse_settings
from model.workloads import namespaces
from tests.conftest import ROOT
from tests.test_verdicts import monitor_saw  # noqa: F401 (a fixture)
from tests.upstream import manifest, upstream

AMBIENT = "  bookinfo-mesh:istio: {{dataPlane: ambient{istio}}}\n  bookinfo-mesh:traffic: {{api: gateway-api}}\n"
SIDECAR_GATEWAY_API = "  bookinfo-mesh:traffic: {api: gateway-api}\n"
CRD_OBJECT = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"


def stack_file(tmp_path: Path, body: str, *, environment: str = "dev", name: str = "amb") -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(f"config:\n  bookinfo-mesh:environment: {environment}\n{body}")
    return path


def ambient(tmp_path: Path, istio: str = "", extra: str = "", **kwargs) -> Path:
    return stack_file(tmp_path, AMBIENT.format(istio=istio) + extra, **kwargs)


def releases(rendered) -> dict[str, dict]:
    return {r.inputs["name"]: r.inputs for r in rendered.releases()}


def by_name(rendered) -> dict:
    return {r.name: r for r in rendered.resources}


def waits_for(rendered, name: str, other: str) -> bool:
    """Whether `name`'s recorded dependencies name `other`."""
    found = by_name(rendered)
    return found[other].urn in found[name].depends_on


# --------------------------------------------------------------------------- releases and values


def test_an_ambient_stack_installs_base_istiod_cni_and_ztunnel_and_no_ingress_gateway_chart(tmp_path):
    rendered = render(ambient(tmp_path))
    mesh = [(i["name"], i["chart"], i["namespace"]) for i in releases(rendered).values()
            if i["chart"] not in ("kiali-server", "prometheus")]
    assert mesh == [("istio-base", "base", "istio-system"), ("istiod", "istiod", "istio-system"),
                    ("istio-cni", "cni", "istio-system"), ("ztunnel", "ztunnel", "istio-system")]
    values = {name: inputs["values"] for name, inputs in releases(rendered).items()}
    assert values["istiod"]["profile"] == "ambient"
    assert values["istio-cni"] == {"profile": "ambient"}
    assert values["ztunnel"] == {"profile": "ambient", "resourceName": "ztunnel"}
    assert "istio-base" in values and values["istio-base"] == {}


def test_a_sidecar_stack_with_gateway_api_routes_keeps_base_and_istiod_without_the_ingress_chart(tmp_path):
    rendered = render(stack_file(tmp_path, SIDECAR_GATEWAY_API))
    charts = [i["chart"] for i in releases(rendered).values()]
    assert charts == ["base", "istiod", "kiali-server", "prometheus"]
    assert "profile" not in releases(rendered)["istiod"]["values"]
    assert not any(o["kind"] == "Namespace" and o["metadata"]["name"] == "istio-ingress" for o in rendered.objects())


@pytest.mark.parametrize("platform, agents", [("gke", "istio-system"), ("k3d", "istio-system"),
                                              ("openshift", "kube-system")])
def test_a_platform_reaches_every_chart_that_needs_it(tmp_path, platform, agents):
    rendered = render(ambient(tmp_path, istio=f", platform: {platform}"))
    found = releases(rendered)
    for name in ("istiod", "istio-cni", "ztunnel"):
        assert found[name]["values"]["global"] == {"platform": platform}, name
    assert (found["istio-base"]["values"].get("global") == {"platform": "openshift"}) == (platform == "openshift")
    assert found["istio-cni"]["namespace"] == found["ztunnel"]["namespace"] == agents
    quotas = [o for o in rendered.objects() if o["kind"] == "ResourceQuota"]
    assert bool(quotas) == (platform == "gke")
    if quotas:
        assert quotas[0]["metadata"] == {"name": "gcp-critical-pods", "namespace": "istio-system"}
        assert quotas[0]["spec"]["scopeSelector"]["matchExpressions"][0]["values"] == ["system-node-critical"]
        assert waits_for(rendered, "mesh-cni", "mesh-resourcequota-gcp-critical-pods")


def test_a_revision_reaches_the_node_agents(tmp_path):
    found = releases(render(ambient(tmp_path, istio=", revision: canary")))
    assert found["istio-cni"]["values"]["revision"] == found["ztunnel"]["values"]["revision"] == "canary"


# --------------------------------------------------------------------------- Gateway API CRDs


def crd_files(rendered) -> list:
    return [r for r in rendered.resources if r.type == CONFIG_FILE_TYPE]


@pytest.mark.parametrize("channel", ["standard", "experimental"])
def test_the_gateway_api_crds_come_from_the_pinned_release_of_the_stacks_channel(tmp_path, channel):
    rendered = render(ambient(tmp_path, extra=f"  bookinfo-mesh:gatewayApi: {{channel: {channel}}}\n"))
    [crds] = crd_files(rendered)
    assert crds.inputs == {"file": "https://github.com/kubernetes-sigs/gateway-api/releases/download/"
                                   f"v1.5.1/{channel}-install.yaml"}
    assert f"{channel}-install.yaml" in as_yaml(rendered) and crds.inputs["file"] in summary(rendered)


def test_the_release_url_names_the_install_file_pinned_among_the_upstream_artifacts(tmp_path):
    rendered = render(ambient(tmp_path, extra="  bookinfo-mesh:gatewayApi: {channel: experimental}\n"))
    url = crd_files(rendered)[0].inputs["file"]
    found = re.fullmatch(r"https://github\.com/(?P<repo>[^/]+/[^/]+)/releases/download/(?P<tag>[^/]+)/"
                         r"(?P<channel>standard|experimental)-install\.yaml", url)
    assert found, url
    local = f"istio-ambient/gateway-api/{found['tag']}/{found['channel']}-install.yaml"
    entry = manifest()["artifacts"][local]
    assert entry["channel"] == found["channel"]
    sources = {manifest()["artifacts"][i]["source"] for i in entry["inputs"]}
    assert [(manifest()["sources"][s]["repository"], manifest()["sources"][s]["tag"]) for s in sources] == [
        (found["repo"], found["tag"])]
    documents = [d for d in yaml.safe_load_all(upstream(local).read_text()) if d]
    [httproutes] = [d for d in documents if d["metadata"]["name"] == GATEWAY_API_PROBE_CRD]
    annotations = httproutes["metadata"]["annotations"]
    assert annotations["gateway.networking.k8s.io/bundle-version"] == found["tag"]
    assert annotations["gateway.networking.k8s.io/channel"] == found["channel"]


@pytest.mark.parametrize("environment, kept", [("prod", True), ("dev", False)])
def test_the_gateway_api_crds_are_protected_and_kept_on_delete_as_istios_are(tmp_path, environment, kept):
    rendered = render(ambient(tmp_path, environment=environment))
    [crds] = crd_files(rendered)
    assert crds.protect is kept and crds.retain_on_delete is kept
    assert by_name(rendered)["mesh-base"].protect is kept
    assert ("retainOnDelete" in crds.as_json()) is kept
    assert json.loads(as_json(rendered))["resources"][[r.name for r in rendered.resources].index(crds.name)] \
        .get("retainOnDelete", False) is kept


def test_istio_routing_installs_no_gateway_api_crds():
    rendered = render(ROOT / "Pulumi.dev.yaml")
    assert crd_files(rendered) == [] and rendered.reads == []


# --------------------------------------------------------------------------- order


def test_crds_base_istiod_cni_ztunnel_namespace_workloads_come_up_in_that_order(tmp_path):
    rendered = render(ambient(tmp_path))
    chain = ["mesh-gateway-api-crds", "mesh-base", "mesh-istiod", "mesh-cni", "mesh-ztunnel",
             "workloads-namespace-bookinfo", "workloads-deployment-reviews-v1"]
    for earlier, later in zip(chain, chain[1:]):
        assert waits_for(rendered, later, earlier), (later, earlier)
    # istiod watches only the kinds whose CRDs exist when it starts.
    assert waits_for(rendered, "mesh-istiod", "mesh-gateway-api-crds")
    # Istio objects and mesh pods wait for the node agents too.
    assert waits_for(rendered, "workloads-namespace-bookinfo", "mesh-cni")


# --------------------------------------------------------------------------- namespace labels


def test_an_ambient_app_namespace_is_enrolled_and_never_injected(tmp_path):
    for istio in ("", ", revision: canary"):
        rendered = render(ambient(tmp_path, istio=istio, name=f"amb{len(istio)}"))
        [app] = [o for o in rendered.objects() if o["kind"] == "Namespace" and o["metadata"]["name"] == "bookinfo"]
        # Enrolled in the waypoint too: its routes need one (model/waypoint.py).
        assert app["metadata"]["labels"] == {"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint"}


def test_a_sidecar_app_namespace_keeps_its_injection_label(tmp_path):
    rendered = render(stack_file(tmp_path, SIDECAR_GATEWAY_API))
    [app] = [o for o in rendered.objects() if o["kind"] == "Namespace" and o["metadata"]["name"] == "bookinfo"]
    assert app["metadata"]["labels"] == {"istio-injection": "enabled"}


def test_a_waypoint_adds_the_use_waypoint_label_in_ambient_mode_only():
    raw = {"istio": {"dataPlane": "ambient"}, "traffic": {"api": "gateway-api"}}
    enrolled = namespaces(parse_settings(raw, stack="t", source="t"), waypoint="waypoint")
    assert enrolled[0]["metadata"]["labels"] == {"istio.io/dataplane-mode": "ambient",
                                                 "istio.io/use-waypoint": "waypoint"}
    injected = namespaces(parse_settings({}, stack="t", source="t"), waypoint="waypoint")
    assert injected[0]["metadata"]["labels"] == {"istio-injection": "enabled"}


# --------------------------------------------------------------------------- CRDs a cluster admin owns

OWNED = "  bookinfo-mesh:gatewayApi: {{installCrds: false, channel: {channel}}}\n"


def cluster_crd(version: str | None, channel: str | None) -> dict:
    annotations = {}
    if version:
        annotations["gateway.networking.k8s.io/bundle-version"] = version
    if channel:
        annotations["gateway.networking.k8s.io/channel"] = channel
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": GATEWAY_API_PROBE_CRD, "annotations": annotations}}


def test_with_crds_owned_by_the_cluster_the_render_shows_the_read_and_installs_none(tmp_path):
    rendered = render(ambient(tmp_path, extra=OWNED.format(channel="standard")))
    assert crd_files(rendered) == []
    assert rendered.reads == [{"urn": f"urn:pulumi:amb::bookinfo-mesh::{CRD_OBJECT}::{GATEWAY_API_PROBE_CRD}",
                               "type": CRD_OBJECT, "name": GATEWAY_API_PROBE_CRD, "id": GATEWAY_API_PROBE_CRD}]
    assert rendered.outputs["gatewayApiCrdsChecked"].startswith("not read (offline render")
    assert f"CustomResourceDefinition {GATEWAY_API_PROBE_CRD}" in summary(rendered)
    assert f"CustomResourceDefinition {GATEWAY_API_PROBE_CRD}" in as_yaml(rendered)


def test_crds_that_fit_let_everything_register(tmp_path):
    path = ambient(tmp_path, extra=OWNED.format(channel="experimental"))
    rendered = render(path, cluster_objects={GATEWAY_API_PROBE_CRD: cluster_crd("v1.5.1", "experimental")})
    assert rendered.outputs["gatewayApiCrdsChecked"] == f"{GATEWAY_API_PROBE_CRD} fits Gateway API v1.5.1 experimental"
    assert {"mesh-istiod", "mesh-ztunnel", "workloads-namespace-bookinfo"} <= set(by_name(rendered))


FIX = "install Gateway API v1.5.1 ({channel}-install.yaml) or set gatewayApi.installCrds=true"
REFUSALS = {
    "missing": ("standard", None,
                f"the cluster has no CustomResourceDefinition {GATEWAY_API_PROBE_CRD}: {FIX.format(channel='standard')}"),
    "older bundle": ("standard", cluster_crd("v1.4.0", "standard"),
                     f"the cluster's {GATEWAY_API_PROBE_CRD} has bundle-version v1.4.0; this stack needs v1.5.1 or "
                     f"later (istiod ignores the objects of older CRDs): {FIX.format(channel='standard')}"),
    "no bundle version": ("standard", cluster_crd(None, "standard"),
                          f"the cluster's {GATEWAY_API_PROBE_CRD} has no gateway.networking.k8s.io/bundle-version "
                          f"annotation; this stack needs v1.5.1 or later (istiod ignores the objects of older CRDs): "
                          f"{FIX.format(channel='standard')}"),
    "standard where experimental is needed": (
        "experimental", cluster_crd("v1.5.1", "standard"),
        f"the cluster's {GATEWAY_API_PROBE_CRD} is of channel standard; this stack needs experimental "
        f"(gatewayApi.channel): {FIX.format(channel='experimental')}"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_crds_that_do_not_fit_are_refused_in_one_line_and_nothing_built_on_them_registers(tmp_path, case,
                                                                                         monitor_saw):  # noqa: F811
    channel, crd, message = REFUSALS[case]
    path = ambient(tmp_path, extra=OWNED.format(channel=channel))
    with pytest.raises(ConfigError) as refused:
        render(path, cluster_objects={GATEWAY_API_PROBE_CRD: crd})
    assert str(refused.value) == f"{path}: bookinfo-mesh:gatewayApi.installCrds = false: {message}"
    registered, read = monitor_saw()
    assert read == ([] if crd is None else [GATEWAY_API_PROBE_CRD])  # a failed read records nothing
    types = {type_ for type_, _ in registered}
    assert HELM_RELEASE_TYPE not in types and "kubernetes:core/v1:Namespace" not in types, types


def test_newer_crds_and_experimental_where_standard_is_asked_fit():
    settings = parse_settings({"traffic": {"api": "gateway-api"}, "gatewayApi": {"installCrds": False}},
                              stack="t", source="t")
    assert crd_mismatch(settings, cluster_crd("v1.6.0", "experimental")) is None
    assert crd_mismatch(settings, cluster_crd("v1.5.1", "standard")) is None


def test_meshplan_render_of_a_stack_with_crds_it_reads_exits_0_offline(tmp_path):
    path = ambient(tmp_path, extra=OWNED.format(channel="standard"))
    done = subprocess.run([sys.executable, "-m", "meshplan", "render", "--config", str(path), "--format", "json"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["reads"][0]["id"] == GATEWAY_API_PROBE_CRD


# --------------------------------------------------------------------------- egress in ambient mode


def test_meshplan_refuses_ambient_egress_through_the_gateway_in_one_line(tmp_path):
    path = ambient(tmp_path, istio=", egressGateway: {enabled: true}")
    done = subprocess.run([sys.executable, "-m", "meshplan", "render", "--config", str(path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "bookinfo-mesh:istio.egressGateway.enabled = true: the egress gateway needs sidecars" in done.stderr
