"""Layered stacks over several clusters: each layer's file repeats the mesh stack's
`clusters` map; the mesh stack exports it (without where each kubeconfig comes from)
and a layer whose map differs is refused in one line naming the first difference; a
layer needs the kubeconfigs of the clusters it deploys to only (the traffic layer:
the primaries'); the step guard and `meshplan rollout` work on a multi-cluster
traffic layer as on one cluster."""
from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from model.errors import ConfigError
from tests.conftest import ROOT, render_file

EXAMPLE = ROOT / "examples" / "multicluster" / "primary-remote-multi-network.yaml"
MESH_REF, APP_REF = "organization/bookinfo-mesh/mc-mesh", "organization/bookinfo-mesh/mc-app"
SECRET = {"secure": "v1:c2VjcmV0"}  # as `pulumi config set --secret` writes it


def layer_config(layer: str, *, secrets: tuple[str, ...] = ()) -> dict:
    """The example split three ways, each file repeating its clusters map."""
    config = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text())["config"])
    config["bookinfo-mesh:layers"] = [layer]
    if layer == "mesh":
        config.pop("bookinfo-mesh:services")
        config.pop("bookinfo-mesh:app")
    elif layer == "app":
        config.pop("bookinfo-mesh:services")
        config["bookinfo-mesh:stackRefs"] = {"mesh": MESH_REF}
    else:
        config["bookinfo-mesh:stackRefs"] = {"mesh": MESH_REF, "app": APP_REF}
    config.update({f"bookinfo-mesh:{key}": SECRET for key in secrets})
    return config


def write_layers(tmp_path, traffic: dict | None = None) -> dict[str, str]:
    paths = {}
    for layer in ("mesh", "app", "traffic"):
        config = traffic if layer == "traffic" and traffic is not None else layer_config(layer)
        path = tmp_path / f"Pulumi.mc-{layer}.yaml"
        path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        paths[layer] = str(path)
    return paths


def render(path: str, **kwargs):
    from meshplan.render.engine import render as render_stack_file

    return render_stack_file(path, **kwargs)


def test_the_mesh_stack_exports_the_clusters_map_without_its_kubeconfig_sources(tmp_path):
    outputs = render(write_layers(tmp_path)["mesh"]).outputs
    assert outputs["clusters"] == {
        "east": {"role": "primary", "network": "net-east", "apiServer": "https://10.0.0.10:6443",
                 "eastWest": {"serviceType": "LoadBalancer", "address": "34.75.71.237"}},
        "west": {"role": "remote", "network": "net-west", "apiServer": "https://10.1.0.10:6443",
                 "eastWest": {"serviceType": "LoadBalancer"}, "controlPlane": "east"}}


def test_a_layer_needs_the_kubeconfigs_of_the_clusters_it_deploys_to_and_only_the_mesh_cacerts(tmp_path):
    paths = write_layers(tmp_path)
    not_set = {layer: render(path).settings.secrets_not_set for layer, path in paths.items()}
    assert not_set == {"mesh": ("kubeconfig-east", "kubeconfig-west", "cacerts-east"),
                       "app": ("kubeconfig-east", "kubeconfig-west"),
                       "traffic": ("kubeconfig-east",)}
    traffic = render(paths["traffic"])
    assert [p.name for p in traffic.providers()] == ["east"]  # a remote gets no traffic: no provider there
    assert {cluster for _, _, cluster in traffic.provider_clusters()} == {"east"}


def test_a_traffic_layer_with_only_the_primarys_kubeconfig_set_renders_with_none_missing(tmp_path):
    paths = write_layers(tmp_path, traffic=layer_config("traffic", secrets=("kubeconfig-east",)))
    assert render(paths["traffic"]).settings.secrets_not_set == ()


@pytest.mark.parametrize("change, message", [
    (lambda c: c["bookinfo-mesh:clusters"]["west"].update(network="net-w2"),
     'bookinfo-mesh:clusters.west.network = "net-w2": the mesh stack organization/bookinfo-mesh/mc-mesh has '
     "'net-west': every layer repeats its clusters map"),
    (lambda c: c["bookinfo-mesh:clusters"]["west"]["eastWest"].update(serviceType="NodePort"),
     "bookinfo-mesh:clusters.west.eastWest.serviceType = \"NodePort\": the mesh stack "
     "organization/bookinfo-mesh/mc-mesh has 'LoadBalancer'"),
    (lambda c: [c.pop(k) for k in ("bookinfo-mesh:clusters", "bookinfo-mesh:mesh", "bookinfo-mesh:app")],
     "bookinfo-mesh:clusters: not set; the mesh stack organization/bookinfo-mesh/mc-mesh has clusters east, west"),
])
def test_a_layer_whose_clusters_map_differs_from_the_mesh_stacks_is_refused_naming_the_first_difference(
        tmp_path, change, message):
    config = layer_config("traffic")
    change(config)
    paths = write_layers(tmp_path, traffic=config)
    with pytest.raises(ConfigError) as refused:
        render(paths["traffic"])
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_layer_with_clusters_over_a_one_cluster_mesh_stack_is_refused(tmp_path):
    from model.layers import clusters_mismatch
    from model.settings import SECRET_SHOWN, SecretValue
    from tests.conftest import settings_from

    settings = settings_from({"layers": ["traffic"], "stackRefs": {"mesh": MESH_REF, "app": APP_REF},
                              **{k.removeprefix("bookinfo-mesh:"): v for k, v in layer_config("traffic").items()
                                 if k.removeprefix("bookinfo-mesh:") in ("clusters", "mesh", "app")},
                              "kubeconfig-east": SecretValue(SECRET_SHOWN)})
    refused = clusters_mismatch(settings, {"revision": ""})
    assert "bookinfo-mesh:clusters = " in str(refused)
    assert str(refused).endswith(f"the mesh stack {MESH_REF} has no such clusters: every layer repeats its clusters map")


def test_the_app_stack_exports_where_each_version_runs_every_default_spelled_out(tmp_path):
    placement = render(write_layers(tmp_path)["app"]).outputs["placement"]
    assert placement["reviews"] == {"v1": ["east"], "v2": ["east"], "v3": ["west"]}
    assert placement["ratings"] == {"v1": ["east", "west"]}


def test_a_traffic_layer_placing_a_version_elsewhere_than_the_app_stack_is_refused_in_one_line(tmp_path):
    config = layer_config("traffic")
    config["bookinfo-mesh:app"] = {"placement": {"reviews": {"v1": ["east"], "v2": ["east"], "v3": ["east"]}}}
    paths = write_layers(tmp_path, traffic=config)
    with pytest.raises(ConfigError) as refused:
        render(paths["traffic"])
    assert str(refused.value) == (
        f'{paths["traffic"]}: bookinfo-mesh:app.placement.reviews.v3 = ["east"]: the app stack {APP_REF} runs it '
        "in west: the traffic layer repeats the app layer's placement")


def test_a_traffic_layer_over_clusters_refuses_an_app_stack_that_does_not_say_where_versions_run():
    from model.layers import placement_mismatch
    from model.settings import SECRET_SHOWN, SecretValue
    from tests.conftest import settings_from

    settings = settings_from({"layers": ["traffic"], "stackRefs": {"mesh": MESH_REF, "app": APP_REF},
                              **{k.removeprefix("bookinfo-mesh:"): v for k, v in layer_config("traffic").items()
                                 if k.removeprefix("bookinfo-mesh:") in ("clusters", "mesh", "app", "services")},
                              "kubeconfig-east": SecretValue(SECRET_SHOWN)})
    refused = placement_mismatch(settings, {"namespace": "bookinfo", "services": {}})
    assert str(refused).endswith(f'bookinfo-mesh:stackRefs.app = "{APP_REF}": that stack does not export where '
                                 "each version runs (missing: placement); is it a stack over the same clusters, "
                                 "deployed?")


PREVIOUS = [{"virtualService": "reviews", "namespace": "bookinfo", "route": "#0 default", "host": "reviews",
             "subset": subset, "percent": percent} for subset, percent in (("v1", 90.0), ("v2", 10.0), ("v3", 0.0))]


def test_the_step_guard_refuses_a_larger_step_on_a_multicluster_traffic_layer(tmp_path):
    config = layer_config("traffic")
    config["bookinfo-mesh:rollout"] = {"maxStep": 25, "guardPreviews": True}
    paths = write_layers(tmp_path, traffic=config)
    with pytest.raises(ConfigError) as refused:
        render(paths["traffic"], previous_outputs={"traffic": PREVIOUS})
    assert "moves reviews v1 90% → 45% (-45 points), more than the maximum step of 25 points" in str(refused.value)
    within = [{**row, "percent": p} for row, p in zip(PREVIOUS, (45.0, 40.0, 15.0))]
    rendered = render(paths["traffic"], previous_outputs={"traffic": within})
    assert rendered.outputs["rolloutGuard"] == "within 25 points"
    # What the next preview compares with: the traffic the primaries carry.
    assert {(r["subset"], r["percent"]) for r in rendered.outputs["traffic"] if r["virtualService"] == "reviews"} \
        == {("v1", 45), ("v2", 45), ("v3", 10)}


def test_meshplan_rollout_plans_steps_on_a_multicluster_traffic_layer(tmp_path):
    paths = write_layers(tmp_path, traffic=layer_config("traffic", secrets=("kubeconfig-east",)))
    done = subprocess.run([sys.executable, "-m", "meshplan", "rollout", "--config", paths["traffic"], "--service",
                           "reviews", "--to", "v3", "--steps", "50,100", "--dry-run"], cwd=ROOT, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "step 1: v1 25%, v2 25%, v3 50%" in done.stdout


def test_rbac_of_a_multicluster_traffic_layer_grants_the_primary_and_refuses_the_remote_in_one_line(tmp_path):
    from meshplan.rbac import deployer_manifests

    rendered = render(write_layers(tmp_path)["traffic"])
    rules = {m["metadata"].get("namespace"): m["rules"] for m in deployer_manifests(rendered, cluster="east")
             if m["kind"] in ("Role", "ClusterRole")}
    assert set(rules) == {"bookinfo"}
    assert {r for rule in rules["bookinfo"] for r in rule["resources"]} == {
        "destinationrules", "gateways", "virtualservices"}
    with pytest.raises(ConfigError) as refused:
        deployer_manifests(rendered, cluster="west")
    assert str(refused.value).endswith('Pulumi.mc-traffic.yaml: --cluster = "west": this stack registers nothing '
                                       "in that cluster: its deployer there needs no rights")
