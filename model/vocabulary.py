"""The project's vocabulary, each word stated once: the shapes names, versions and
durations must have, the Prometheus windows the rollout gates read over, the values
stack config allows, and the Kubernetes kinds the program registers.

The settings parser checks config against these, the rollout gates and `meshplan
rollout` read durations by them, the components pick a registration for each kind and
`meshplan rbac` grants access to the same kinds. Imports nothing else from `model/`
but `model.names`, so any module (settings, builders, components, meshplan, policy)
can use it without a cycle. Where a rule has a Kubernetes or Istio name, the name
says which: one regular expression per rule in the project."""
from __future__ import annotations

import re
from typing import NamedTuple

from model.names import NETWORKING_API, SECURITY_API

# --------------------------------------------------------------------------- names

DNS_LABEL_MAX = 63
DNS_SUBDOMAIN_MAX = 253

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
# Kubernetes' DNS-1123 label (namespaces, Service and port names, revisions): lowercase
# letters, digits and '-', starting and ending with a letter or digit, at most 63.
DNS_LABEL_RE = re.compile(rf"^{_DNS_LABEL}$")
# Host names as the API server checks them (DNS-1123 subdomains): labels of at most
# 63 characters, at most 253 in all; an external host has at least two labels, a
# Gateway or VirtualService host may be `*` or start with `*.`.
EXTERNAL_HOST_RE = re.compile(rf"^(?=.{{1,253}}$){_DNS_LABEL}(\.{_DNS_LABEL})+$")
HOST_RE = re.compile(rf"^(\*|(?=.{{1,253}}$)(\*\.)?{_DNS_LABEL}(\.{_DNS_LABEL})*)$")
HEADER_RE = re.compile(r"^[a-z0-9][-a-z0-9_.]*$")
"""An HTTP header name as Istio matches it: lowercase."""
IMAGE_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
"""A container image tag (the OCI distribution spec's tag grammar)."""
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
"""A semantic version such as Istio's `1.30.3` (or `1.31.0-beta.1`)."""

# --------------------------------------------------------------------------- durations

DURATION_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$")
"""A duration as Istio's API takes it (timeouts, delays, intervals) and `meshplan
rollout --interval` too: a decimal number and one unit."""
DURATION_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000}

PROMETHEUS_WINDOW_RE = re.compile(r"^[1-9][0-9]*(s|m|h)$")
"""The range of a rollout gate's `rate()` windows: a whole number of seconds, minutes
or hours (the part of Prometheus' duration syntax the gates accept)."""


def duration_ms(text: str) -> float | None:
    """`250ms`, `0.5s`, `2m` → milliseconds; None for anything else."""
    found = DURATION_RE.match(text)
    return float(found.group(1)) * DURATION_UNIT_MS[found.group(2)] if found else None


def duration_seconds(text: str) -> float | None:
    """`250ms`, `30s`, `5m`, `1h` → seconds; None for anything else."""
    ms = duration_ms(text)
    return None if ms is None else ms / 1_000


# --------------------------------------------------------------------------- config values

ISTIO_CHART_REPOSITORY = "https://istio-release.storage.googleapis.com/charts"
DEFAULT_ISTIO_VERSION = "1.30.3"

OUTBOUND_POLICIES = ("ALLOW_ANY", "REGISTRY_ONLY")
MTLS_MODES = ("NONE", "PERMISSIVE", "STRICT", "DISABLE")
"""PeerAuthentication modes; NONE means the stack creates no PeerAuthentication."""
AUTHORIZATION_MODES = ("none", "least-privilege")
LOAD_BALANCERS = ("ROUND_ROBIN", "LEAST_REQUEST", "RANDOM")
RESOLUTIONS = ("DNS", "NONE")
PORT_PROTOCOLS = ("HTTP", "HTTPS", "HTTP2", "GRPC", "TLS", "TCP", "MONGO")
# Envoy's retry conditions as Istio accepts them in retryOn (besides status codes).
RETRY_CONDITIONS = (
    "5xx", "gateway-error", "reset", "connect-failure", "envoy-ratelimited", "retriable-4xx",
    "refused-stream", "retriable-status-codes", "retriable-headers", "cancelled",
    "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
)
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
MATCH_KINDS = ("exact", "prefix", "regex")
MAX_WEIGHT = 1_000_000

# --------------------------------------------------------------------------- registered kinds


class Kind(NamedTuple):
    """Where the API server serves a kind: what an RBAC rule names it by."""

    group: str
    """The API group; "" for the core group."""
    resource: str
    """The plural resource name."""
    namespaced: bool


def _istio(api_version: str, kinds: tuple[tuple[str, str], ...]) -> dict[tuple[str, str], Kind]:
    group = api_version.split("/")[0]
    return {(api_version, kind): Kind(group, resource, True) for kind, resource in kinds}


REGISTERED_KINDS: dict[tuple[str, str], Kind] = {
    ("v1", "Namespace"): Kind("", "namespaces", False),
    ("v1", "Service"): Kind("", "services", True),
    ("v1", "ServiceAccount"): Kind("", "serviceaccounts", True),
    ("v1", "ConfigMap"): Kind("", "configmaps", True),
    ("v1", "Secret"): Kind("", "secrets", True),
    ("apps/v1", "Deployment"): Kind("apps", "deployments", True),
    ("apps/v1", "StatefulSet"): Kind("apps", "statefulsets", True),
    **_istio(NETWORKING_API, (("Gateway", "gateways"), ("VirtualService", "virtualservices"),
                              ("DestinationRule", "destinationrules"), ("ServiceEntry", "serviceentries"),
                              ("Sidecar", "sidecars"))),
    **_istio(SECURITY_API, (("PeerAuthentication", "peerauthentications"),
                            ("AuthorizationPolicy", "authorizationpolicies"),
                            ("RequestAuthentication", "requestauthentications"))),
}
"""(apiVersion, kind) → where it is served: every kind the program registers besides
Helm releases (components/kubernetes.py registers these and refuses any other;
`meshplan rbac` grants a deployer access to exactly these)."""


def is_istio(kind: Kind) -> bool:
    """An Istio kind: registered as a CustomResource, its spec passed verbatim."""
    return kind.group.endswith(".istio.io")
