"""Helm values per cluster: the one-cluster values of `model.mesh` (called, not
copied) plus what the multi-cluster Helm guides of Istio 1.30.3 set per role."""
from __future__ import annotations

import copy

from model.bodies import merged
from model.mesh import gateway_values, istio_install
from model.multicluster.objects import EASTWEST_RELEASE
from model.names import UNKNOWN_SHOWN
from model.settings import Settings
from model.settings.cluster_types import ClusterSettings, MultiClusterSettings

REMOTE_PROFILE = "remote"
"""The chart profile that replaces the removed istiod-remote chart (Istio ≥ 1.24)."""


def injection_path(cluster_name: str, network: str) -> str:
    """The remote's webhook path: the injector on the primary reads cluster and
    network from it, not from its own values."""
    return f"/inject/cluster/{cluster_name}/net/{network}"


def _one_cluster_values(settings: Settings, key: str) -> dict:
    release = next(r for r in istio_install(settings).releases if r.key == key)
    return copy.deepcopy(release.values)




def base_values(settings: Settings, cluster: ClusterSettings) -> dict:
    values = _one_cluster_values(settings, "base")
    return values if cluster.is_primary else merged(values, {"profile": REMOTE_PROFILE})


def _mesh_globals(mc: MultiClusterSettings, cluster: ClusterSettings) -> dict:
    values = {"meshID": mc.mesh.id, "multiCluster": {"clusterName": cluster.name}}
    if cluster.network:
        values["network"] = cluster.network
    return values


def istiod_values(settings: Settings, mc: MultiClusterSettings, cluster: ClusterSettings) -> dict:
    if cluster.is_primary:
        extra: dict = {"global": _mesh_globals(mc, cluster), "meshConfig": {"trustDomain": mc.mesh.trust_domain}}
        if mc.remotes_of(cluster.name):
            extra["global"]["externalIstiod"] = True
        return merged(_one_cluster_values(settings, "istiod"), extra)
    primary = mc.cluster(cluster.control_plane)
    values: dict = {
        "profile": REMOTE_PROFILE,
        # meshID is read only where injection runs (the primary); set for the equality checks.
        "global": {**_mesh_globals(mc, cluster), "configCluster": True,
                   "remotePilotAddress": remote_pilot_address(primary)},
        "istiodRemote": {"injectionPath": injection_path(cluster.name, cluster.network)},
    }
    if settings.istio.revision:
        values["revision"] = settings.istio.revision
    return values


def remote_pilot_address(primary: ClusterSettings) -> str | None:
    """Where a remote's proxies and webhook reach the primary's istiod: its east-west
    gateway's address, stated, or read from the cluster by the program (shown unknown
    here: the program puts the read's Output in its place)."""
    return UNKNOWN_SHOWN if primary.east_west.discover else primary.east_west.address


def eastwest_values(settings: Settings, cluster: ClusterSettings) -> dict:
    """The gateway chart as a network gateway: with `networkGateway` it labels the
    Service and pods with the network and exposes 15021/15443/15012/15017 itself
    (`service.ports` is then ignored, so it is not set)."""
    return merged(gateway_values(settings, cluster.east_west.service_type),
                  {"name": EASTWEST_RELEASE, "networkGateway": cluster.network})
