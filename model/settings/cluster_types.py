"""The parsed `mesh`, `clusters` and `app.placement` settings of a multi-cluster
stack: one mesh (ID, trust domain, trust mode) over named clusters, each a primary
(its own istiod) or a remote (served by a primary's istiod)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

PRIMARY, REMOTE = "primary", "remote"
ROLES = (PRIMARY, REMOTE)
TRUST_PROVIDED, TRUST_SELF_SIGNED = "provided", "selfSigned"
TRUST_MODES = (TRUST_PROVIDED, TRUST_SELF_SIGNED)
EAST_WEST_SERVICE_TYPES = ("LoadBalancer", "NodePort")
"""How another network reaches the east-west gateway: a ClusterIP is reachable from
no other cluster."""


def layers_deploy_to(role: str, holds: Callable[[str], bool]) -> bool:
    """Whether a stack holding these layers registers anything in a cluster of this
    role (and so needs its provider and kubeconfig): the mesh and the application go
    to every cluster, the traffic objects to the primaries only."""
    return holds("mesh") or holds("app") or (holds("traffic") and role == PRIMARY)


@dataclass(frozen=True, kw_only=True)
class KubeconfigSource:
    """Where the program reads a cluster's kubeconfig: exactly one of an undeclared
    secret config key, a stack output, or a context of the local kubeconfig (dev)."""

    secret: str | None = None
    """Config key (without the project prefix) holding the kubeconfig as a Pulumi secret."""
    stack_ref: str | None = None
    output: str | None = None
    context: str | None = None


@dataclass(frozen=True, kw_only=True)
class EastWest:
    service_type: str = "LoadBalancer"
    address: str | None = None
    """The gateway's address as the other clusters reach it; a remote's istiod is
    pointed at its primary's (`global.remotePilotAddress`)."""
    discover: bool = False
    """Read the address from the gateway's LoadBalancer Service once its release
    exists, instead of `address` (unknown in a first preview)."""


@dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    name: str
    """The key: `global.multiCluster.clusterName`, the remote-secret data key."""
    role: str
    network: str
    """'' only in a mesh of one cluster (no network label, no `global.network`)."""
    kubeconfig: KubeconfigSource
    api_server: str
    """The API server URL as the other clusters' istiod reach it."""
    east_west: EastWest
    control_plane: str | None = None
    """The primary whose istiod serves this cluster (remotes only)."""

    @property
    def is_primary(self) -> bool:
        return self.role == PRIMARY


@dataclass(frozen=True, kw_only=True)
class MeshSettings:
    id: str
    trust_domain: str
    trust_mode: str


@dataclass(frozen=True, kw_only=True)
class MultiClusterSettings:
    mesh: MeshSettings
    clusters: tuple[ClusterSettings, ...]
    placement: Mapping[str, Mapping[str, tuple[str, ...]]]
    """Service → version → the clusters it runs in; a version not named runs everywhere."""
    store_placement: Mapping[str, str] = field(default_factory=dict)
    """Store → the one cluster it runs in (every store of the application is named:
    the parser fills in the default, the first primary). A store keeps one copy of
    its data; its client Service is in every cluster."""
    secrets_not_set: tuple[str, ...] = ()
    """Secret config keys (kubeconfigs, cacerts) the file does not hold yet."""

    def cluster(self, name: str) -> ClusterSettings:
        return next(c for c in self.clusters if c.name == name)

    @property
    def primaries(self) -> tuple[ClusterSettings, ...]:
        return tuple(c for c in self.clusters if c.is_primary)

    @property
    def networks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.network for c in self.clusters))

    def remotes_of(self, primary: str) -> tuple[ClusterSettings, ...]:
        return tuple(c for c in self.clusters if c.control_plane == primary)

    def clusters_running(self, service: str, version: str) -> tuple[str, ...]:
        return self.placement.get(service, {}).get(version, tuple(c.name for c in self.clusters))

    def store_cluster(self, store: str) -> str:
        return self.store_placement[store]
