"""What each cluster of a multi-cluster mesh gets (design: objects per cluster):
Pulumi names carry the cluster (`east-istiod`), Kubernetes names are upstream's."""
from __future__ import annotations

from dataclasses import dataclass

from model.mesh import BASE_RELEASE, ISTIO_NAMESPACE, ISTIOD_RELEASE, HelmRelease, istio_install
from model.multicluster.objects import (EASTWEST_RELEASE, cross_network_gateway, istiod_gateway,
                                        istiod_virtual_service, system_namespace)
from model.multicluster.secrets import reader_token_secret, remote_secret
from model.multicluster.values import base_values, eastwest_values, istiod_values
from model.names import SECRET_SHOWN
from model.settings import Settings
from model.settings.cluster_types import TRUST_PROVIDED, ClusterSettings, MultiClusterSettings

GATEWAY_RELEASES = ("ingress", "egress")
CACERTS_SECRET = "cacerts"
"""The plug-in CA Secret istiod mounts (optionally) at start."""


@dataclass(frozen=True, kw_only=True)
class ClusterPlan:
    cluster: ClusterSettings
    namespace: dict
    releases: tuple[HelmRelease, ...]
    reader_token: dict | None
    """The reader token Secret, when some other cluster's istiod reads this one."""
    cacerts: bool
    expose: tuple[dict, ...]
    """cross-network-gateway, istiod-gateway and istiod-vs, as this cluster needs them."""
    remote_secrets: tuple[dict, ...]
    """One per other cluster (primaries only); token and CA shown as placeholders
    until the program fills them from that cluster's token Secret."""

    @property
    def name(self) -> str:
        return self.cluster.name

    def pulumi_name(self, thing: str) -> str:
        """Two clusters' `istiod` would share a URN: every logical name carries the cluster."""
        return f"{self.cluster.name}-{thing}"

    def release(self, key: str) -> HelmRelease | None:
        return next((r for r in self.releases if r.key == key), None)


def needs_eastwest(mc: MultiClusterSettings, cluster: ClusterSettings) -> bool:
    return len(mc.networks) > 1 or bool(cluster.is_primary and mc.remotes_of(cluster.name))


def _skip_await_eastwest(cluster: ClusterSettings) -> bool:
    """A LoadBalancer may never get an address (local clusters), so its release does
    not wait for one, unless the program reads that address (`discover`): then Helm
    waits until the load balancer has it."""
    return cluster.east_west.service_type == "LoadBalancer" and not cluster.east_west.discover


def cluster_plans(settings: Settings, mc: MultiClusterSettings) -> tuple[ClusterPlan, ...]:
    return tuple(cluster_plan(settings, mc, cluster) for cluster in mc.clusters)


def cluster_plan(settings: Settings, mc: MultiClusterSettings, cluster: ClusterSettings) -> ClusterPlan:
    istio = settings.istio

    def release(key: str, name: str, chart: str, values: dict, after: tuple[str, ...], **extra) -> HelmRelease:
        return HelmRelease(key=key, name=name, chart=chart, version=istio.version, repository=istio.chart_repository,
                           namespace=ISTIO_NAMESPACE, values=values, after=after, **extra)

    releases = [release("base", BASE_RELEASE, "base", base_values(settings, cluster), (), protect=istio.protect_crds),
                release("istiod", ISTIOD_RELEASE, "istiod", istiod_values(settings, mc, cluster), ("base",))]
    if needs_eastwest(mc, cluster):
        releases.append(release("eastwest", EASTWEST_RELEASE, "gateway", eastwest_values(settings, cluster),
                                ("istiod",), skip_await=_skip_await_eastwest(cluster)))
    if cluster.is_primary:
        # The ingress (and egress) gateway of the one-cluster install, on every primary:
        # the traffic objects applied there select it.
        releases += [r for r in istio_install(settings).releases if r.key in GATEWAY_RELEASES]
    expose: list[dict] = []
    remote_secrets: list[dict] = []
    if cluster.is_primary:
        if len(mc.networks) > 1:
            expose.append(cross_network_gateway())
        if mc.remotes_of(cluster.name):
            expose += [istiod_gateway(), istiod_virtual_service(istio.revision)]
        remote_secrets = [remote_secret(other.name, server=other.api_server, ca_data=SECRET_SHOWN, token=SECRET_SHOWN)
                          for other in mc.clusters if other.name != cluster.name]
    read_by_another = any(p.name != cluster.name for p in mc.primaries)
    return ClusterPlan(
        cluster=cluster,
        namespace=system_namespace(cluster.network, cluster.control_plane),
        releases=tuple(releases),
        reader_token=reader_token_secret() if read_by_another else None,
        cacerts=cluster.is_primary and mc.mesh.trust_mode == TRUST_PROVIDED,
        expose=tuple(expose),
        remote_secrets=tuple(remote_secrets),
    )
