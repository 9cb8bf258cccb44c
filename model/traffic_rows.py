"""The rows every traffic reader fills, whichever route object it reads (Istio's
VirtualService, the Gateway API's HTTPRoute): a destination's share, a delivery for
make before break, a route aspect; and the few helpers both readers need. Kept apart
so that `model.traffic` and `model.httproute_traffic` both build on it without
importing each other."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from model.bodies import is_list
from model.names import SECRET_SHOWN

EPSILON = 1e-6
"""Shares at or below this many percent count as no traffic."""

ROUTE_KINDS = ("VirtualService", "HTTPRoute")
"""The route objects whose weights the traffic readers read (Istio's and the Gateway API's)."""

ObjectKey = tuple[str, str, str]
"""(kind, namespace, name) of a Kubernetes object."""


def object_key(obj: Mapping) -> ObjectKey:
    metadata = obj.get("metadata") or {}
    return str(obj.get("kind", "")), str(metadata.get("namespace", "")), str(metadata.get("name", ""))


@dataclass(frozen=True, kw_only=True)
class Share:
    virtual_service: str
    """The name of the route object: a VirtualService's, or an HTTPRoute's (`kind`)."""
    namespace: str
    route: str
    """Which HTTP route of the VirtualService (rule of the HTTPRoute): its name, or
    `#<index>` and its match."""
    host: str
    subset: str
    percent: float
    kind: str = "VirtualService"
    """VirtualService or HTTPRoute: shown, not part of a route's identity."""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.namespace, self.virtual_service, self.route, self.host, self.subset)


def hidden_by_secret(value: object) -> bool:
    """Whether a secret hides part of `value`: an exported state shows each secret,
    whatever its shape, as the one string SECRET_SHOWN."""
    if isinstance(value, Mapping):
        return any(hidden_by_secret(v) for v in value.values())
    if is_list(value):
        return any(hidden_by_secret(v) for v in value)
    return value == SECRET_SHOWN


def format_percent(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value - round(value)) < 0.05:
        return f"{round(value)}%"
    return f"{value:.1f}%"


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """Requests one rule of a VirtualService or HTTPRoute sends, or mirrors, to one
    destination."""

    virtual_service: ObjectKey
    """The route object's key (a VirtualService's or an HTTPRoute's)."""
    route: str
    host: str
    """As the VirtualService writes it (a short name resolves in its namespace)."""
    subset: str
    percent: float
    """Of the rule's requests: the destination's share, or the mirror's percentage."""
    mirrored: bool = False
    service: tuple[str, str] | None = None
    """(namespace, name) of the Service an HTTPRoute backendRef names: what must exist
    before the route sends there (None for a VirtualService destination)."""

    @property
    def destination(self) -> str:
        return f"{self.host} {self.subset}" if self.subset else self.host


@dataclass(frozen=True, kw_only=True)
class RouteAspect:
    """One thing an HTTP route does to its requests besides splitting them: a fault
    (`delay`, `abort`), a mirror (`mirror to <destination>`), a `timeout` or `retries`,
    with how it reads, e.g. `delay 7s on 100%`."""

    virtual_service: str
    """The name of the route object: a VirtualService's, or an HTTPRoute's (`kind`)."""
    namespace: str
    route: str
    aspect: str
    reading: str
    kind: str = "VirtualService"
