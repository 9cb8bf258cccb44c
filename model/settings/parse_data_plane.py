"""Parsing the data plane and the traffic API: `istio.dataPlane` and `istio.platform`
(read with the rest of `istio` in `parse`), `traffic.api` and `gatewayApi`, and the
combinations Istio 1.30.3 cannot run, each refused in one line naming the setting and
the reason."""
from __future__ import annotations

import re
from typing import Mapping

from model.apps import Application
from model.settings.reader import Cursor, Keys
from model.settings.types import GatewayApiSettings, IngressSettings, IstioSettings, Route, ServiceSettings
from model.vocabulary import (DEFAULT_ISTIO_VERSION, DURATION_UNIT_MS, GATEWAY_API_CHANNELS, GATEWAY_API_VERSION,
                              ISTIO_PLATFORMS, TRAFFIC_APIS, duration_ms)

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


GATEWAY_API_DURATION_RE = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}\Z")
"""HTTPRoute's Duration (GEP-2257): whole numbers only, so 0.5s is written 500ms."""
RETRY_STATUS_RE = re.compile(r"[45][0-9][0-9]")
"""HTTPRouteRetryStatusCode's range in the v1.5.1 CRD."""
FAULT_REFUSED = ("fault injection cannot be expressed in Gateway API (no filter; Istio 1.30 rejects ExtensionRef) "
                 "— use traffic.api=istio with dataPlane=sidecar")
RETRIES_NEED_EXPERIMENTAL = ("retries need gatewayApi.channel=experimental "
                             "(HTTPRoute.retry is not in the standard v1.5.1 CRD)")
RETRY_ON_REFUSED = ("HTTPRoute.retry takes HTTP status codes only; "
                    "Istio always adds connect-failure,refused-stream,unavailable,cancelled")


def check_gateway_api_traffic(root: Cursor, traffic_api: str, gateway_api: GatewayApiSettings,
                              services: Mapping[str, ServiceSettings], ingress: IngressSettings) -> None:
    """Refuse, in one line naming the setting, what an HTTPRoute cannot say: nothing a
    gateway-api stack configures is dropped on the way to the cluster."""
    if traffic_api != "gateway-api":
        return
    if ingress.observability:
        raise root["ingress"]["observability"].fail(
            "the addons are exposed through the Istio ingress gateway's Gateway and VirtualService, which "
            "traffic.api=gateway-api does not render; use traffic.api=istio, or kubectl port-forward",
            dict(ingress.observability))
    for name, configured in services.items():
        service = root["services"][name]
        match_routes = service["routes"].elements(what="a list of routes") if "routes" in service else []
        for route, at in zip(configured.routes, [*match_routes, service]):
            _check_route(route, at, gateway_api)


def _check_route(route: Route, at: Cursor, gateway_api: GatewayApiSettings) -> None:
    if route.fault is not None:
        raise at["fault"].fail(FAULT_REFUSED, at["fault"].raw)
    for match, match_at in zip(route.matches, _match_cursors(at["match"])):
        for header in match.headers:
            if header.kind == "prefix":
                condition = match_at["headers"][header.name]["prefix"]
                raise condition.fail("a header prefix match cannot be expressed in HTTPRoute (Exact or "
                                     "RegularExpression only); write it as regex", header.value)
    if route.timeout is not None:
        _check_duration(at["timeout"], route.timeout)
    if route.retries is not None:
        retries = at["retries"]
        if gateway_api.channel != "experimental":
            raise retries.fail(RETRIES_NEED_EXPERIMENTAL, retries.raw)
        for condition in route.retries.retry_on.split(",") if route.retries.retry_on else ():
            if not condition.isdigit():
                raise retries["retryOn"].fail(RETRY_ON_REFUSED, route.retries.retry_on)
            if not RETRY_STATUS_RE.fullmatch(condition):
                raise retries["retryOn"].fail(f"HTTPRoute.retry codes are HTTP statuses 400 to 599, not {condition}",
                                              route.retries.retry_on)
        per_try = route.retries.per_try_timeout
        if per_try is not None:
            _check_duration(retries["perTryTimeout"], per_try)
            if route.timeout is not None and duration_ms(per_try) > duration_ms(route.timeout):
                raise retries["perTryTimeout"].fail(
                    f"HTTPRoute timeouts.backendRequest must not exceed timeouts.request ({route.timeout})", per_try)


def _match_cursors(at: Cursor) -> list[Cursor]:
    return at.elements(what="a list") if isinstance(at.raw, list) else [at]


def _check_duration(at: Cursor, text: str) -> None:
    if gateway_api_duration(text) is None:
        raise at.fail("HTTPRoute durations count whole milliseconds; write it in ms", text)


def gateway_api_duration(text: str) -> str | None:
    """An Istio duration (0.5s, 7s, 1.5m) as HTTPRoute writes it (500ms, 7s, 1m30s);
    None when it is not a whole number of milliseconds."""
    if GATEWAY_API_DURATION_RE.match(text):
        return text
    ms = duration_ms(text)
    if ms is None or ms != int(ms):
        return None
    parts, rest = [], int(ms)
    for unit in ("h", "m", "s", "ms"):
        count, rest = divmod(rest, DURATION_UNIT_MS[unit])
        if count:
            parts.append(f"{count}{unit}")
    written = "".join(parts)
    return written if GATEWAY_API_DURATION_RE.match(written) else None


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
