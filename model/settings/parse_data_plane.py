"""Parsing the data plane and the traffic API: `istio.dataPlane` and `istio.platform`
(read with the rest of `istio` in `parse`), `traffic.api` and `gatewayApi`, and the
combinations Istio 1.30.3 cannot run, each refused in one line naming the setting and
the reason."""
from __future__ import annotations

from model.apps import Application
from model.settings.reader import Cursor, Keys
from model.settings.types import GatewayApiSettings, IstioSettings
from model.vocabulary import (DEFAULT_ISTIO_VERSION, GATEWAY_API_CHANNELS, GATEWAY_API_VERSION, ISTIO_PLATFORMS,
                              TRAFFIC_APIS)

TRAFFIC_KEYS = Keys("traffic", "api")
GATEWAY_API_KEYS = Keys("gatewayApi", "version", "channel", "installCrds")

AMBIENT_APPLICATIONS_REFUSED = {
    "bms": "its two-hop egress gateway (sidecar to egress gateway to the external payment API) has no "
           "ambient twin; use istio.dataPlane=sidecar",
}
"""Applications whose traffic pattern ambient mode cannot reproduce, and why."""


def platform(at: Cursor) -> str | None:
    """`istio.platform`: a `global.platform` the charts have a profile for, or empty."""
    if at.raw in ("", None):
        return None
    if not isinstance(at.raw, str) or at.raw not in ISTIO_PLATFORMS:
        raise at.fail(f"global.platform={at.raw} does not exist in Istio {DEFAULT_ISTIO_VERSION} "
                      f"({', '.join(ISTIO_PLATFORMS)}); leave platform empty on kind/EKS", at.raw)
    return at.raw


def parse_traffic_api(root: Cursor) -> str:
    return root["traffic"].mapping(TRAFFIC_KEYS).get("api", "istio", lambda c: c.string(choices=TRAFFIC_APIS))


def parse_gateway_api(root: Cursor) -> GatewayApiSettings:
    gateway_api = root["gatewayApi"].mapping(GATEWAY_API_KEYS)
    return GatewayApiSettings(
        version=gateway_api.get("version", GATEWAY_API_VERSION, _gateway_api_version),
        channel=gateway_api.get("channel", "standard", lambda c: c.string(choices=GATEWAY_API_CHANNELS)),
        install_crds=gateway_api.get("installCrds", True, Cursor.boolean),
    )


def _gateway_api_version(at: Cursor) -> str:
    if at.raw != GATEWAY_API_VERSION:
        raise at.fail(f"Istio {DEFAULT_ISTIO_VERSION} is built and tested against Gateway API {GATEWAY_API_VERSION} "
                      f"(older TLSRoute/BackendTLSPolicy CRDs are silently ignored by istiod)", at.raw)
    return GATEWAY_API_VERSION


def check_data_plane(root: Cursor, istio: IstioSettings, traffic_api: str, application: Application) -> None:
    """Refuse what ambient mode cannot run in Istio 1.30.3."""
    if istio.data_plane != "ambient":
        return
    data_plane = root["istio"]["dataPlane"]
    if traffic_api != "gateway-api":
        raise data_plane.fail("istio.dataPlane=ambient needs traffic.api=gateway-api: VirtualService with "
                              "waypoints is Alpha in Istio 1.30 and mixing it with HTTPRoute is undefined",
                              istio.data_plane)
    reason = AMBIENT_APPLICATIONS_REFUSED.get(application.name)
    if reason:
        raise data_plane.fail(f"istio.dataPlane=ambient cannot run app.name={application.name}: {reason}",
                              istio.data_plane)


AMBIENT_EGRESS_REFUSED = ("{what} needs sidecars (istio.dataPlane=sidecar): in ambient mode it takes an egress "
                          "waypoint in namespace istio-egress, which is not built yet")
"""Egress settings whose objects only sidecars and the egress gateway carry out, refused
rather than rendered to no effect in ambient mode."""


def check_ambient_egress(root: Cursor, istio: IstioSettings) -> None:
    """Refuse the egress settings ambient mode would silently drop: the egress gateway
    (no chart in ambient mode) and, per external service, routing through it or TLS
    origination (a DestinationRule only a sidecar or waypoint applies). Read before
    `egress` is parsed, so the egress gateway's own checks do not ask to enable it."""
    if istio.data_plane != "ambient":
        return
    if istio.egress_gateway:
        raise root["istio"]["egressGateway"]["enabled"].fail(
            AMBIENT_EGRESS_REFUSED.format(what="the egress gateway"), True)
    listed = root["egress"]["externalServices"]
    if not isinstance(listed.raw, list):
        return  # not a list: parsing `egress` refuses it
    for item in listed.elements(what="a list of external services"):
        for key, what in (("egressGateway", "routing through the egress gateway"),
                          ("tlsOrigination", "TLS origination")):
            if key in item:
                raise item[key].fail(AMBIENT_EGRESS_REFUSED.format(what=what), item[key].raw)
