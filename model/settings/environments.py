"""Environment presets: the posture (replicas, security, addons) a stack starts
from; each value can still be set explicitly in stack config."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


from model.settings.types import ResourceRequirements


@dataclass(frozen=True)
class Environment:
    """The posture a stack starts from; each value can still be set explicitly."""

    name: str
    replicas: int
    restricted_pods: bool
    addons: bool
    protect_crds: bool
    ingress_service_type: str
    istiod_replicas: int
    access_log: bool
    outbound_traffic_policy: str
    mtls_mode: str
    """PeerAuthentication mode for the app namespace; NONE creates none."""
    istio_mutual: bool
    """DestinationRules carry `trafficPolicy.tls.mode: ISTIO_MUTUAL`."""
    authorization: str
    """`least-privilege`: allow-nothing plus one viewer policy per service."""
    resources: ResourceRequirements | None
    """Requests/limits of application containers that state none of their own."""


# Anything not marked dev or staging gets the production posture: a stack that
# forgets to say what it is must not come up open. dev and staging create no
# security objects, so their render stays upstream Bookinfo.
ENVIRONMENTS: Mapping[str, Environment] = {
    "dev": Environment(
        name="dev", replicas=1, restricted_pods=False, addons=True, protect_crds=False,
        ingress_service_type="NodePort", istiod_replicas=1, access_log=True,
        outbound_traffic_policy="ALLOW_ANY", mtls_mode="NONE", istio_mutual=False,
        authorization="none", resources=None),
    "staging": Environment(
        name="staging", replicas=2, restricted_pods=False, addons=False, protect_crds=True,
        ingress_service_type="LoadBalancer", istiod_replicas=1, access_log=True,
        outbound_traffic_policy="ALLOW_ANY", mtls_mode="NONE", istio_mutual=False,
        authorization="none", resources=None),
    "prod": Environment(
        name="prod", replicas=3, restricted_pods=True, addons=False, protect_crds=True,
        ingress_service_type="LoadBalancer", istiod_replicas=2, access_log=True,
        outbound_traffic_policy="REGISTRY_ONLY", mtls_mode="STRICT", istio_mutual=True,
        authorization="least-privilege",
        # Sized for Bookinfo's heaviest container (reviews, a Liberty JVM); the
        # scheduler needs requests, and limits keep one pod from starving a node.
        resources=ResourceRequirements(requests={"cpu": "100m", "memory": "256Mi"},
                                       limits={"cpu": "1", "memory": "1Gi"})),
}
DEFAULT_ENVIRONMENT = "prod"
