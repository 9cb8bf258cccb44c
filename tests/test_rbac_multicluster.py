"""`meshplan rbac --cluster NAME`: of a stack with `clusters`, each cluster's deployer
may do what the program registers through that cluster's provider and nothing of the
other clusters'; without a cluster named, or with one a stack does not have, one line."""
from __future__ import annotations

import kubernetes_validate
import pytest

from meshplan.cli import main
from meshplan.rbac import CHART_KINDS, deployer_manifests
from model.vocabulary import REGISTERED_KINDS
from tests.conftest import ROOT, render_file
from tests.test_rbac import WRITE, allows
from tests.test_stacks import KUBERNETES_VERSION

EXAMPLES = ROOT / "examples" / "multicluster"
STACKS = ("primary-remote-multi-network", "multi-primary-multi-network")


def rendered_example(name: str):
    return render_file(EXAMPLES / f"{name}.yaml")


def roles(name: str, cluster: str) -> dict[str | None, list[dict]]:
    """Rules by namespace (None: the ClusterRole) of one cluster's deployer."""
    return {m["metadata"].get("namespace"): m["rules"]
            for m in deployer_manifests(rendered_example(name), cluster=cluster) if m["kind"] in ("Role", "ClusterRole")}


def provider_names(rendered) -> dict[str, str]:
    return {p.urn: p.name for p in rendered.providers()}


@pytest.mark.parametrize("name", STACKS)
def test_each_clusters_deployer_may_manage_every_object_registered_through_its_provider(name):
    rendered = rendered_example(name)
    names = provider_names(rendered)
    granted = {c: roles(name, c) for c in names.values()}
    for r in rendered.resources:
        cluster = names.get((r.provider or "").rsplit("::", 1)[0])
        if r.is_kubernetes_object:
            group, resource, namespaced = REGISTERED_KINDS[(r.inputs["apiVersion"], r.inputs["kind"])]
            scope = r.inputs["metadata"]["namespace"] if namespaced else None
            assert allows(granted[cluster].get(scope, []), group, resource, WRITE), (cluster, r.name)
        elif r in rendered.releases():
            assert allows(granted[cluster][r.inputs["namespace"]], "", "secrets", WRITE), (cluster, r.name)
            for group, resource in CHART_KINDS[r.inputs["chart"]]["cluster"]:
                assert allows(granted[cluster][None], group, resource, WRITE), (cluster, r.name)


def test_a_remotes_deployer_gets_no_traffic_kinds_and_no_namespace_only_the_primary_has():
    west, east = roles("primary-remote-multi-network", "west"), roles("primary-remote-multi-network", "east")
    assert "istio-ingress" in east and "istio-ingress" not in west  # the ingress gateway runs on the primary
    for rules in west.values():
        assert not any("networking.istio.io" in rule["apiGroups"] for rule in rules)
    assert allows(east["bookinfo"], "networking.istio.io", "virtualservices", WRITE)
    assert allows(west["bookinfo"], "apps", "deployments", WRITE)  # reviews-v3 runs there


def test_the_cluster_holding_a_remote_secret_may_create_secrets_in_istio_system():
    east = roles("primary-remote-multi-network", "east")
    assert allows(east["istio-system"], "", "secrets", {"create"})
    for cluster in ("east", "west"):  # each primary holds the other's remote Secret
        assert allows(roles("multi-primary-multi-network", cluster)["istio-system"], "", "secrets", {"create"})


@pytest.mark.parametrize("name", STACKS)
def test_the_per_cluster_manifests_pass_strict_kubernetes_validation(name):
    for cluster in ("east", "west"):
        for manifest in deployer_manifests(rendered_example(name), cluster=cluster):
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_meshplan_rbac_names_the_cluster_it_prints(capsys):
    path = str(EXAMPLES / "primary-remote-multi-network.yaml")
    assert main(["rbac", "--config", path, "--cluster", "west"]) == 0
    assert capsys.readouterr().out.startswith(
        "# Deployer of stack primary-remote-multi-network in cluster west: what its objects need")


@pytest.mark.parametrize("argv, expected", [
    (["--config", str(EXAMPLES / "multi-primary-multi-network.yaml")],
     "multi-primary-multi-network.yaml: --cluster: this stack deploys to several clusters: "
     "name one with --cluster (east, west)"),
    (["--config", str(EXAMPLES / "multi-primary-multi-network.yaml"), "--cluster", "north"],
     'multi-primary-multi-network.yaml: --cluster = "north": not a cluster of this stack; one of east, west'),
    (["--stack", "prod-traffic", "--cluster", "east"],
     'Pulumi.prod-traffic.yaml: --cluster = "east": this stack has no `clusters`: its deployer is for its one '
     "cluster; drop --cluster"),
])
def test_a_missing_unknown_or_needless_cluster_is_one_line_and_exit_1(capsys, argv, expected):
    assert main(["rbac", *argv]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(expected), captured.err
