"""A one-cluster stack that gains `bookinfo-mesh:clusters` with its one cluster keeps
its objects: each resource it registered is the former name (an alias) of a resource
the stack now registers, as the SDK itself computes alias URNs, so the engine renames
rather than deletes and recreates."""
from __future__ import annotations

from pathlib import Path

from pulumi.runtime.proto import resource_pb2

from meshplan.render import sdk
from meshplan.render.engine import render

ONE_CLUSTER = """config:
  bookinfo-mesh:environment: staging
  bookinfo-mesh:services:
    reviews: {versions: [v1, v2], weights: {v1: 80, v2: 20}}
"""
CLUSTERS = """  kubernetes:strictMode: "true"
  bookinfo-mesh:mesh: {id: mesh1}
  bookinfo-mesh:clusters:
    east: {role: primary, network: net-east, kubeconfig: {secret: kubeconfig-east}, apiServer: 'https://10.0.0.10:6443'}
"""
SECOND = """    west: {role: primary, network: net-west, kubeconfig: {secret: kubeconfig-west}, apiServer: 'https://10.1.0.10:6443',
           eastWest: {address: 35.1.2.3}}
"""
NEW_WITH_CLUSTERS = {"kubernetes:core/v1:Secret::east-cacerts", "pulumi:providers:kubernetes::east"}
"""What only the stack over clusters has: the plug-in CA and the cluster's provider."""


def stack_file(folder: Path, text: str) -> Path:
    folder.mkdir()
    path = folder / "Pulumi.move.yaml"
    path.write_text(text)
    return path


def render_with_aliases(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    """(URNs, URN → alias URNs) of a render, the alias URNs computed by the SDK itself
    (as for an engine without alias specs)."""
    aliases: dict[str, list[str]] = {}
    real = sdk.recording_monitor

    def recording(echo, captured):
        monitor = real(echo, captured)
        register = monitor.RegisterResource

        def register_resource(request):
            response = register(request)
            aliases[response.urn] = list(request.aliasURNs)
            return response
        monitor.RegisterResource = register_resource
        deployment_info = monitor.GetDeploymentInfo

        def without_alias_specs(request):
            info = deployment_info(request)
            kept = [f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS]
            del info.supportedFeatures[:]
            info.supportedFeatures.extend(kept)
            return info
        monitor.GetDeploymentInfo = without_alias_specs
        return monitor
    sdk.recording_monitor = recording
    try:
        rendered = render(path)
    finally:
        sdk.recording_monitor = real
    return [r.urn for r in rendered.resources], aliases


def short(urn: str) -> str:
    return f"{urn.split('::')[2].rsplit('$', 1)[-1]}::{urn.split('::')[3]}"


def test_every_resource_of_the_one_cluster_stack_is_the_former_name_of_one_over_its_cluster(tmp_path):
    before, _ = render_with_aliases(stack_file(tmp_path / "before", ONE_CLUSTER))
    after, aliases = render_with_aliases(stack_file(tmp_path / "after", ONE_CLUSTER + CLUSTERS))
    carried = {alias: urn for urn in after for alias in aliases.get(urn, ())}
    left_behind = [short(urn) for urn in before if urn not in carried and urn not in after]
    # Only the one-cluster program's grouping of the install goes; it holds nothing itself.
    assert left_behind == ["bookinfo-mesh:mesh:IstioMesh::mesh"]
    renamed = {short(urn): short(carried[urn]) for urn in before if urn in carried}
    assert renamed["kubernetes:helm.sh/v3:Release::mesh-istiod"] == "kubernetes:helm.sh/v3:Release::east-istiod"
    assert renamed["kubernetes:core/v1:Namespace::workloads-namespace-bookinfo"] == \
        "kubernetes:core/v1:Namespace::east-workloads-namespace-bookinfo"
    assert renamed["kubernetes:networking.istio.io/v1:VirtualService::routing-virtualservice-reviews"] == \
        "kubernetes:networking.istio.io/v1:VirtualService::east-routing-virtualservice-reviews"
    new = {short(urn) for urn in after if urn not in set(carried.values())}
    assert new - {"pulumi:pulumi:Stack::bookinfo-mesh-move"} == NEW_WITH_CLUSTERS


def test_a_stack_over_several_clusters_names_no_former_resources(tmp_path):
    """Only the provider package's own former types (a Deployment was once
    apps/v1beta1) are aliases there: no resource is given another name."""
    after, aliases = render_with_aliases(stack_file(tmp_path / "two", ONE_CLUSTER + CLUSTERS + SECOND))
    renamed = [(short(urn), short(alias)) for urn in after for alias in aliases.get(urn, ())
               if alias.rsplit("::", 1)[1] != urn.rsplit("::", 1)[1]]
    assert renamed == []
