"""Istio's Bookinfo (samples/bookinfo, release 1.20.3 images) as data: four services,
six versions, MongoDB as the backing store ratings v2 requires."""
from __future__ import annotations

from model.apps.types import Application, IngressRoute, ScratchVolume, Service, Version


TMP = ScratchVolume(name="tmp", mount_path="/tmp")
WLP_OUTPUT = ScratchVolume(name="wlp-output", mount_path="/opt/ibm/wlp/output")


def reviews(version: str) -> Version:
    """reviews v1–v3 differ only in their image."""
    return Version(
        name=version,
        image=f"examples-bookinfo-reviews-{version}",
        env=(("LOG_DIR", "/tmp/logs"),),
        mounts=(TMP, WLP_OUTPUT),
        volume_order=("wlp-output", "tmp"),
    )


SERVICES = (
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
                mounts=(TMP,),
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
)


def bookinfo() -> Application:
    return Application(
        name="bookinfo",
        default_namespace="bookinfo",
        image_registry="registry.istio.io/release",
        image_tag="1.20.3",
        services=SERVICES,
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
