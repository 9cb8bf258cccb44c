"""What a route does to its requests besides splitting them: the faults, mirrors,
timeouts and retries of every HTTP route of a VirtualService and of every rule of a
Gateway API HTTPRoute, each as it reads (`delay 7s on 100%`), for the render summary
and for `meshplan diff`, which shows the ones a change adds, removes or alters."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from model.traffic import ordered_rules, route_label, route_mirrors
from model.traffic_rows import RouteAspect, format_percent, hidden_by_secret, object_key


def route_aspects(objects: Iterable[Mapping]) -> list[RouteAspect]:
    """The faults, mirrors, timeouts and retries of every HTTP route of every
    VirtualService, and of every rule of every HTTPRoute, among `objects`, in route
    order; none for one whose rules a secret hides (as for its shares)."""
    found = []
    for obj in objects:
        if obj.get("kind") == "HTTPRoute":
            from model.httproute_traffic import http_route_aspects  # it builds on this module

            found.extend(http_route_aspects(obj))
            continue
        spec = obj.get("spec") or {}
        if obj.get("kind") != "VirtualService" or not isinstance(spec, Mapping) \
                or hidden_by_secret(obj.get("metadata")) or hidden_by_secret(spec.get("http")):
            continue
        _, namespace, name = object_key(obj)
        for index, route, _ in ordered_rules(obj, "http"):
            label = route_label(index, route)
            found.extend(RouteAspect(virtual_service=name, namespace=namespace, route=label, aspect=aspect,
                                     reading=reading) for aspect, reading in _aspects(route))
    return found


def _aspects(route: Mapping) -> list[tuple[str, str]]:
    found = []
    fault = route.get("fault") if isinstance(route.get("fault"), Mapping) else {}
    delay, abort = fault.get("delay"), fault.get("abort")
    if isinstance(delay, Mapping):
        found.append(("delay", f"delay {delay.get('fixedDelay', '?')} on {_fault_percent(delay)}"))
    if isinstance(abort, Mapping):
        status = next((f"{abort[k]}" if k == "httpStatus" else f"{k} {abort[k]}"
                       for k in ("httpStatus", "grpcStatus", "http2Error") if k in abort), "?")
        found.append(("abort", f"abort {status} on {_fault_percent(abort)}"))
    for target, percent in route_mirrors(route):
        destination = " ".join(str(p) for p in (target.get("host", "?"), target.get("subset")) if p)
        found.append((f"mirror to {destination}", f"mirror to {destination} ({format_percent(percent)})"))
    if route.get("timeout") is not None:
        found.append(("timeout", f"timeout {route['timeout']}"))
    retries = route.get("retries")
    if isinstance(retries, Mapping):
        reading = f"retries {retries.get('attempts', '?')}"
        if retries.get("perTryTimeout") is not None:
            reading += f" × {retries['perTryTimeout']}"
        if retries.get("retryOn"):
            reading += f" on {retries['retryOn']}"
        found.append(("retries", reading))
    return found


def _fault_percent(fault: Mapping) -> str:
    """A fault's `percentage.value`, else its deprecated integer `percent`."""
    percentage = fault.get("percentage")
    value = percentage.get("value") if isinstance(percentage, Mapping) else fault.get("percent")
    return "no percentage set" if value is None else format_percent(float(value))
