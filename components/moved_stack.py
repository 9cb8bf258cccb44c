"""A stack that gains `bookinfo-mesh:clusters` with the one cluster it always ran in
keeps its objects: every resource the one-cluster program registered is given its
former name here as an alias, so the engine renames it in place instead of deleting
and recreating the mesh, the application and its data.

The one-cluster program names the Istio install under the `mesh` component
(`mesh-istiod`) and the rest at the top (`workloads`, `routing`, ...); over
clusters the same resources start with the cluster (`east-istiod`,
`east-workloads`). A component's children follow its alias by the SDK's own rule
(a child named after its parent inherits the parent's former name). The move from
the default provider to the cluster's explicit one replaces nothing as long as the
provider's DiffConfig finds the same active cluster (pulumi `providerChanged`)."""
from __future__ import annotations

import pulumi

from model.names import component_type
from model.settings import Settings

ONE_CLUSTER_MESH = "mesh"
"""The one-cluster program's IstioMesh component, parent of the install."""


def moved_from_one_cluster(settings: Settings, cluster: str, name: str, *,
                           under_mesh: bool = False) -> pulumi.ResourceOptions:
    """Options naming what `name` was called by the one-cluster program (nothing for a
    stack over several clusters, which never was one). `under_mesh`: part of the
    Istio install, formerly a child of the `mesh` component."""
    if len(settings.multicluster.clusters) != 1:
        return pulumi.ResourceOptions()
    former = name.removeprefix(f"{cluster}-")
    if under_mesh:
        mesh = pulumi.create_urn(ONE_CLUSTER_MESH, component_type("mesh", "IstioMesh"))
        return pulumi.ResourceOptions(aliases=[pulumi.Alias(name=f"{ONE_CLUSTER_MESH}-{former}", parent=mesh)])
    return pulumi.ResourceOptions(aliases=[pulumi.Alias(name=former)])
