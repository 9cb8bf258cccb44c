"""The ambient data plane's waypoint: when the namespace needs one and its Gateway.

A waypoint is the namespace's Envoy for Layer 7: ztunnel alone enforces only L4. Any
HTTPRoute, DestinationRule traffic policy or L7 AuthorizationPolicy needs one, and a
namespace labelled `istio.io/use-waypoint` sends its services' traffic through it.
The Gateway is what `istioctl waypoint apply --enroll-namespace` creates (istio
1.30.3 `istioctl/pkg/waypoint/waypoint.go makeGateway`). Imports only the settings,
so the namespace builder and the routing and security builders can all ask."""
from __future__ import annotations

from model.settings import Settings
from model.vocabulary import GATEWAY_API

WAYPOINT_NAME = "waypoint"
"""istioctl's default name (`constants.DefaultNamespaceWaypoint`)."""
WAYPOINT_CLASS = "istio-waypoint"
HBONE_PORT = 15008
WAYPOINT_ACCOUNT = WAYPOINT_NAME
"""The waypoint's pods run as a ServiceAccount of the Gateway's name (istio-waypoint
class: the bare name, `gateway_utils.go GetDefaultName`)."""


def l7_service(settings: Settings, service_name: str) -> bool:
    """Whether the service speaks HTTP, so its authorization names methods (L7)."""
    return settings.app.application.service(service_name).port_name == "http"


def l7_authorization(settings: Settings) -> bool:
    """Whether least-privilege authorization writes any policy with L7 attributes."""
    if settings.security.authorization != "least-privilege":
        return False
    app = settings.app.application
    return any(name in app.callers and l7_service(settings, name) for name in settings.services)


def waypoint_needed(settings: Settings) -> bool:
    """Ambient and some L7 feature configured: a route (every routed service gets an
    HTTPRoute), a DestinationRule traffic policy, or L7 authorization."""
    if not settings.ambient:
        return False
    services = settings.services.values()
    policies = any(s.traffic_policy is not None or s.subset_policies for s in services)
    return bool(settings.routed_services) or policies or settings.security.istio_mutual or l7_authorization(settings)


def namespace_waypoint(settings: Settings) -> str | None:
    """The waypoint the app namespace is enrolled in (`istio.io/use-waypoint`), or None."""
    return WAYPOINT_NAME if waypoint_needed(settings) else None


def waypoint(namespace: str) -> dict:
    """Without the `istio.io/waypoint-for` label, as istioctl writes it without
    `--for`: istiod's default for an unlabelled waypoint is `service`, which is what
    the routes and policies here attach to."""
    return {"apiVersion": GATEWAY_API, "kind": "Gateway",
            "metadata": {"name": WAYPOINT_NAME, "namespace": namespace},
            "spec": {"gatewayClassName": WAYPOINT_CLASS,
                     "listeners": [{"name": "mesh", "port": HBONE_PORT, "protocol": "HBONE"}]}}


def waypoint_objects(settings: Settings) -> list[dict]:
    """The app namespace's waypoint, when it needs one."""
    return [waypoint(settings.app.namespace)] if waypoint_needed(settings) else []
