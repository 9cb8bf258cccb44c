"""Applications as data.

An application is a set of services; a service has a port and one or more
versions; a version is one Deployment. The builders turn these into Kubernetes
objects and the routing builders into Istio objects, so a second application is a
second definition, not a second code path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

# Marker for "the service's own account", so a version can also opt out entirely
# (None) or name another one, as upstream's ratings-v2 does.
SERVICE_ACCOUNT = "<service>"


@dataclass(frozen=True, kw_only=True)
class ScratchVolume:
    """An emptyDir volume and where the container mounts it."""

    name: str
    mount_path: str


@dataclass(frozen=True, kw_only=True)
class Version:
    """One deployable version of a service: one Deployment labelled version=<name>."""

    name: str
    image: str
    """Image repository below the registry, without tag, e.g. examples-bookinfo-reviews-v1."""
    env: tuple[tuple[str, str], ...] = ()
    mounts: tuple[ScratchVolume, ...] = ()
    """Container volumeMounts, in the order the container lists them."""
    volume_order: tuple[str, ...] = ()
    """Pod volumes (emptyDirs), in the order the pod lists them; defaults to mount order."""
    service_account: str | None = SERVICE_ACCOUNT
    annotations: tuple[tuple[str, str], ...] = ()
    """Pod template annotations."""
    args: tuple[str, ...] = ()
    container_extras: Mapping = field(default_factory=dict)
    """Further container fields in Kubernetes spelling (probes, resources, envFrom)."""
    requires: tuple[str, ...] = ()
    """Backing services this version needs deployed with it (e.g. ratings v2 → mongodb)."""


@dataclass(frozen=True, kw_only=True)
class Service:
    """A Kubernetes Service and the versions behind it."""

    name: str
    port: int
    port_name: str = "http"
    versions: tuple[Version, ...]
    default_versions: tuple[str, ...]
    """Versions deployed when the stack does not say otherwise."""
    account: str | None = None
    """ServiceAccount name; None means the service runs without its own account."""
    routed: bool = True
    """Whether the mesh routes to this service by version (VirtualService + DestinationRule)."""
    backing: bool = False
    """A backing store deployed only when a version requires it (e.g. mongodb)."""

    def version(self, name: str) -> Version:
        for candidate in self.versions:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    @property
    def version_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.versions)


@dataclass(frozen=True, kw_only=True)
class IngressRoute:
    """Requests entering through the ingress gateway and the service they go to."""

    uris: tuple[tuple[str, str], ...]
    """URI matches in order, each (kind, value) with kind exact, prefix or regex."""
    service: str
    by_version: bool = False
    """Split these requests over the service's versions with its configured weights
    (the route then names subsets); otherwise one destination, the Service itself."""


@dataclass(frozen=True, kw_only=True)
class Application:
    """Everything the builders need to know about one application."""

    name: str
    default_namespace: str
    image_registry: str
    image_tag: str
    services: tuple[Service, ...]
    ingress_routes: tuple[IngressRoute, ...]
    callers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Who calls whom: service → the services allowed to call it ('*' = anyone).
    Least-privilege authorization admits exactly these callers' service accounts."""

    def service(self, name: str) -> Service:
        for candidate in self.services:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)


def _bookinfo() -> Application:
    tmp = ScratchVolume(name="tmp", mount_path="/tmp")
    wlp_output = ScratchVolume(name="wlp-output", mount_path="/opt/ibm/wlp/output")

    def reviews(version: str) -> Version:
        return Version(
            name=version,
            image=f"examples-bookinfo-reviews-{version}",
            env=(("LOG_DIR", "/tmp/logs"),),
            mounts=(tmp, wlp_output),
            volume_order=("wlp-output", "tmp"),
        )

    return Application(
        name="bookinfo",
        default_namespace="bookinfo",
        image_registry="registry.istio.io/release",
        image_tag="1.20.3",
        services=(
            Service(
                name="details",
                port=9080,
                account="bookinfo-details",
                default_versions=("v1",),
                versions=(
                    Version(name="v1", image="examples-bookinfo-details-v1"),
                    # Upstream's details-v2 manifest omits serviceAccountName; here it
                    # runs as bookinfo-details so authorization by principal covers it.
                    Version(
                        name="v2",
                        image="examples-bookinfo-details-v2",
                        env=(("DO_NOT_ENCRYPT", "true"),),
                    ),
                ),
            ),
            Service(
                name="ratings",
                port=9080,
                account="bookinfo-ratings",
                default_versions=("v1",),
                versions=(
                    Version(name="v1", image="examples-bookinfo-ratings-v1"),
                    # Keeps upstream's own account: ratings v2 alone talks to MongoDB,
                    # so with least-privilege authorization MongoDB admits exactly
                    # bookinfo-ratings-v2 and ratings v1 gets no path to the database.
                    Version(
                        name="v2",
                        image="examples-bookinfo-ratings-v2",
                        env=(("MONGO_DB_URL", "mongodb://mongodb:27017/test"),),
                        service_account="bookinfo-ratings-v2",
                        requires=("mongodb",),
                    ),
                ),
            ),
            Service(
                name="reviews",
                port=9080,
                account="bookinfo-reviews",
                default_versions=("v1", "v2", "v3"),
                versions=(reviews("v1"), reviews("v2"), reviews("v3")),
            ),
            Service(
                name="productpage",
                port=9080,
                account="bookinfo-productpage",
                default_versions=("v1",),
                versions=(
                    Version(
                        name="v1",
                        image="examples-bookinfo-productpage-v1",
                        mounts=(tmp,),
                        annotations=(
                            ("prometheus.io/scrape", "true"),
                            ("prometheus.io/port", "9080"),
                            ("prometheus.io/path", "/metrics"),
                        ),
                    ),
                ),
            ),
            Service(
                name="mongodb",
                port=27017,
                port_name="mongo",
                routed=False,
                backing=True,
                default_versions=(),
                versions=(
                    Version(
                        name="v1",
                        image="examples-bookinfo-mongodb",
                        args=("--ipv6", "--bind_ip_all"),
                        mounts=(ScratchVolume(name="data-db", mount_path="/data/db"),),
                        service_account=None,
                    ),
                ),
            ),
        ),
        ingress_routes=(
            IngressRoute(
                uris=(
                    ("exact", "/productpage"),
                    ("prefix", "/static"),
                    ("exact", "/login"),
                    ("exact", "/logout"),
                    ("prefix", "/api/v1/products"),
                ),
                service="productpage",
            ),
        ),
        callers={
            "productpage": ("*",),
            "details": ("productpage",),
            "reviews": ("productpage",),
            "ratings": ("reviews",),
            # Only the caller versions that require a backing store are admitted to it.
            "mongodb": ("ratings",),
        },
    )


BOOKINFO = _bookinfo()

APPLICATIONS: Mapping[str, Application] = {BOOKINFO.name: BOOKINFO}
"""Every application the project can deploy, by the name stack config uses."""
