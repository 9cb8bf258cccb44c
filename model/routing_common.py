"""What the Istio API routing (`model.routing`) and the Gateway API routing
(`model.gateway_api_routing`) share: the names of the ingress objects, and a
DestinationRule's traffic policy."""
from __future__ import annotations

from model.settings import TrafficPolicy

GATEWAY_NAME = "bookinfo-gateway"
INGRESS_VIRTUAL_SERVICE = "bookinfo"
"""The ingress route's name: a VirtualService, or an HTTPRoute (as in Istio's samples)."""

ISTIO_MUTUAL = {"mode": "ISTIO_MUTUAL"}


def traffic_policy(policy: TrafficPolicy | None, *, istio_mutual: bool = False) -> dict:
    """A DestinationRule trafficPolicy; empty when there is nothing to say."""
    body = policy.as_istio() if policy is not None else {}
    if istio_mutual:
        body["tls"] = dict(ISTIO_MUTUAL)
    return body
