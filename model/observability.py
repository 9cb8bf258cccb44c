"""Builders for exposing the telemetry addons through the ingress gateway, each on a
host of its own (Istio's "Remotely Accessing Telemetry Addons", plain HTTP): per
addon a Gateway and a VirtualService in the addons' namespace. Off unless the stack
names a host for the addon under `ingress.observability`.

Kiali is the addon this project installs (istio.addons.kiali); `tracing` expects a
Jaeger-compatible query Service `tracing` on port 80 in istio-system, as Istio's
samples/addons/jaeger.yaml creates, installed outside this program."""
from __future__ import annotations

from model.mesh import GATEWAY_HTTP_PORT, INGRESS_GATEWAY_LABELS, ISTIO_NAMESPACE
from model.settings import Settings
from model.names import NETWORKING_API, istio_object, service_fqdn


# Addon → (Service in the addons' namespace, its port).
ADDON_SERVICES = {
    "kiali": ("kiali", 20001),
    "tracing": ("tracing", 80),
}


def _object(kind: str, name: str, spec: dict) -> dict:
    return istio_object(NETWORKING_API, kind, name, ISTIO_NAMESPACE, spec)


def addon_route(addon: str, host: str) -> list[dict]:
    """Gateway `<addon>-gateway` for `host` and the VirtualService sending it to the
    addon's Service."""
    service, port = ADDON_SERVICES[addon]
    gateway = f"{addon}-gateway"
    return [
        _object("Gateway", gateway, {
            "selector": dict(INGRESS_GATEWAY_LABELS),
            "servers": [{"port": {"number": GATEWAY_HTTP_PORT, "name": "http", "protocol": "HTTP"},
                         "hosts": [host]}],
        }),
        _object("VirtualService", addon, {
            "hosts": [host],
            "gateways": [gateway],
            "http": [{"route": [{"destination": {
                "host": service_fqdn(service, ISTIO_NAMESPACE), "port": {"number": port}}}]}],
        }),
    ]


def observability_objects(settings: Settings) -> list[dict]:
    objects: list[dict] = []
    for addon, host in settings.ingress.observability.items():
        objects += addon_route(addon, host)
    return objects
