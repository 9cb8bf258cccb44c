"""Builders for the application's security objects: mTLS as PeerAuthentication
`default` in the app namespace, least-privilege authorization (the istio.io
authorization-for-HTTP task: `allow-nothing`, then one `<service>-viewer` per
service admitting exactly its callers), and the ingress gateway's TLS Secret.

Principals are computed, never written: `cluster.local/ns/<namespace>/sa/<account>`
for the accounts of the caller's deployed versions, callers taken from
`Application.callers`. In ambient mode an HTTP service's viewer is attached to its
Service for the waypoint, and `<service>-ztunnel` lets the waypoint through ztunnel."""
from __future__ import annotations

from model.apps import Application
from model.mesh import INGRESS_NAMESPACE
from model.settings import Settings
from model.waypoint import WAYPOINT_ACCOUNT, l7_service
from model.workloads import labels, version_account
from model.names import CLUSTER_DOMAIN, SECURITY_API, istio_object

ANYONE = "*"
TRUST_DOMAIN = CLUSTER_DOMAIN
ALLOW_NOTHING = "allow-nothing"


def _object(kind: str, name: str, namespace: str, spec: dict) -> dict:
    return istio_object(SECURITY_API, kind, name, namespace, spec)


def principal(namespace: str, account: str) -> str:
    return f"{TRUST_DOMAIN}/ns/{namespace}/sa/{account}"


def peer_authentication(namespace: str, mode: str) -> dict:
    """Namespace-wide mTLS mode (PERMISSIVE accepts plain text too; STRICT does not)."""
    return _object("PeerAuthentication", "default", namespace, {"mtls": {"mode": mode}})


def allow_nothing(namespace: str) -> dict:
    """An ALLOW policy that matches nothing: with it, whatever no other ALLOW policy
    admits is denied in the namespace."""
    return _object("AuthorizationPolicy", ALLOW_NOTHING, namespace, {})


def caller_principals(settings: Settings, target: str) -> tuple[str, ...] | None:
    """Principals allowed to call `target`, or None for anyone. Callers that are not
    deployed contribute nothing; a backing store admits only the caller versions
    that require it (ratings v2 for MongoDB, not ratings v1)."""
    app: Application = settings.app.application
    callers = app.callers.get(target, ())
    if ANYONE in callers:
        return None
    backing = app.service(target).backing
    found: list[str] = []
    for caller in callers:
        if caller not in settings.services:
            continue
        svc = app.service(caller)
        for version_name in settings.service(caller).versions:
            version = svc.version(version_name)
            if backing and target not in version.requires:
                continue
            account = version_account(svc, version)
            if account is not None:
                found.append(principal(settings.app.namespace, account))
    return tuple(dict.fromkeys(found))


def viewer(settings: Settings, service_name: str) -> dict:
    """`<service>-viewer`: ALLOW GET from the service's callers (HTTP services), or
    any connection from them (TCP backing stores, where no method is seen). In
    ambient mode a policy naming methods is attached to the Service (`targetRefs`),
    so the waypoint enforces it: ztunnel sees no methods and would turn it into a DENY."""
    principals = caller_principals(settings, service_name)
    rule: dict = {}
    if principals is not None:
        rule["from"] = [{"source": {"principals": list(principals)}}]
    layer7 = l7_service(settings, service_name)
    if layer7:
        rule["to"] = [{"operation": {"methods": ["GET"]}}]
    return _object("AuthorizationPolicy", f"{service_name}-viewer", settings.app.namespace, {
        **(_attached(service_name) if layer7 and settings.ambient
           else {"selector": {"matchLabels": labels(service_name)}}),
        "action": "ALLOW",
        "rules": [rule],
    })


def _attached(service_name: str) -> dict:
    return {"targetRefs": [{"kind": "Service", "group": "", "name": service_name}]}


def ztunnel_viewer(settings: Settings, service_name: str) -> dict:
    """`<service>-ztunnel` (ambient): what the service's ztunnel admits under
    allow-nothing, L4 only. The waypoint, which enforces the L7 viewer and
    connects with its own identity, and, for a service anyone may call, anyone
    (the ingress gateway reaches it directly, not through the waypoint)."""
    principals = caller_principals(settings, service_name)
    rule: dict = {}
    if principals is not None:
        rule["from"] = [{"source": {"principals": [principal(settings.app.namespace, WAYPOINT_ACCOUNT)]}}]
    return _object("AuthorizationPolicy", f"{service_name}-ztunnel", settings.app.namespace, {
        "selector": {"matchLabels": labels(service_name)},
        "action": "ALLOW",
        "rules": [rule],
    })


def ingress_tls_secret(settings: Settings) -> dict | None:
    """The kubernetes.io/tls Secret the ingress gateway serves, without its data:
    the certificate and key are Pulumi secrets that the component attaches as
    secret Outputs. It lives where the gateway pods run, where credentialName is
    looked up. None when the Secret is managed outside this stack."""
    tls = settings.ingress.tls
    if tls is None or tls.certificate is None:
        return None
    # A Gateway API listener reads its certificateRefs in the Gateway's own namespace.
    namespace = settings.app.namespace if settings.gateway_api_routes else INGRESS_NAMESPACE
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": tls.credential_name, "namespace": namespace}}


def security_objects(settings: Settings) -> list[dict]:
    """PeerAuthentication (unless mode NONE), then, with least-privilege
    authorization, allow-nothing and one viewer per deployed service with callers."""
    ns = settings.app.namespace
    security = settings.security
    objects = []
    if security.mtls_mode != "NONE":
        objects.append(peer_authentication(ns, security.mtls_mode))
    if security.authorization == "least-privilege":
        objects.append(allow_nothing(ns))
        app = settings.app.application
        for name in settings.services:
            if name in app.callers:
                objects.append(viewer(settings, name))
                if settings.ambient and l7_service(settings, name):
                    objects.append(ztunnel_viewer(settings, name))
    return objects
