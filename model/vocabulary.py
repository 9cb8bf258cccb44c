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
DNS_LABEL_RE = re.compile(rf"^{_DNS_LABEL}\Z")
# Host names as the API server checks them (DNS-1123 subdomains): labels of at most
# 63 characters, at most 253 in all; an external host has at least two labels, a
# Gateway or VirtualService host may be `*` or start with `*.`.
EXTERNAL_HOST_RE = re.compile(rf"^(?=.{{1,253}}\Z){_DNS_LABEL}(\.{_DNS_LABEL})+\Z")
HOST_RE = re.compile(rf"^(\*|(?=.{{1,253}}\Z)(\*\.)?{_DNS_LABEL}(\.{_DNS_LABEL})*)\Z")
_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
DNS_SUBDOMAIN_RE = re.compile(rf"^(?=.{{1,{DNS_SUBDOMAIN_MAX}}}\Z){_SUBDOMAIN}\Z")
"""Kubernetes' DNS-1123 subdomain: the names of most objects (Deployments, ConfigMaps,
Secrets, ServiceAccounts, Istio's kinds): DNS-1123 labels joined by '.', at most 253."""
DNS_1035_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")
"""Kubernetes' DNS-1035 label: Service names. A DNS-1123 label that starts with a letter."""
_QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]"
LABEL_KEY_RE = re.compile(rf"^((?=[^/]{{1,{DNS_SUBDOMAIN_MAX}}}/){_SUBDOMAIN}/)?{_QUALIFIED_NAME}\Z")
"""A label key: an optional DNS-1123 subdomain prefix and '/', then a name of at most
63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit."""
LABEL_VALUE_RE = re.compile(rf"^({_QUALIFIED_NAME})?\Z")
"""A label value: empty, or at most 63 letters, digits, '-', '_' and '.', starting and
ending with a letter or digit."""
PORT_NAME_MAX = 15
PORT_NAME_RE = re.compile(rf"^(?=.{{1,{PORT_NAME_MAX}}}\Z)(?!.*--)(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
"""A container port name (IANA_SVC_NAME): at most 15 lowercase letters, digits and '-',
at least one letter, no '--', not starting or ending with '-'."""
CONTAINER_NAME_RE = DNS_LABEL_RE
"""A container name: a DNS-1123 label."""
HELM_RELEASE_MAX = 53
HELM_RELEASE_RE = re.compile(rf"^(?=.{{1,{HELM_RELEASE_MAX}}}\Z){_SUBDOMAIN}\Z")
"""A Helm release name: a DNS-1123 subdomain of at most 53 characters (Helm's own limit)."""


def bounded_label(name: str, limit: int = DNS_LABEL_MAX) -> str:
    """`name` as a DNS-1123 label of at most `limit` characters, valid by construction:
    unchanged when it fits, otherwise cut and given a stable hash suffix of the whole
    name (so two long names that share a prefix stay apart), never ending in '-'."""
    if len(name) <= limit and DNS_LABEL_RE.match(name):
        return name
    import hashlib

    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    head = name[:limit - len(digest) - 1].strip("-")
    return f"{head}-{digest}" if head else digest


# Names the Istio charts derive from values the program passes them (Istio 1.30.3,
# `manifests/charts/...` in istio/istio). The tightest rule on each value is the one a
# stack's value must meet before it reaches `helm install`:
#   value          chart    derived name                             kind, rule                       template
#   revision       istiod   istiod-<revision>                        Service, DNS-1035 label (63)     istio-control/istio-discovery/templates/service.yaml
#   revision       istiod   istiod-<revision>                        Deployment, subdomain (253)      istio-control/istio-discovery/templates/deployment.yaml
#   revision       istiod   istiod-<revision>, istio-reader-<rev>    ServiceAccount, subdomain (253)  istio-control/istio-discovery/templates/serviceaccount.yaml
#   revision       istiod   istio-sidecar-injector-<revision>        ConfigMap, subdomain (253)       istio-control/istio-discovery/templates/istiod-injector-configmap.yaml
#   revision       istiod   label istio.io/rev=<revision>            label value (63)                 istio-control/istio-discovery/templates/service.yaml
#   revision       gateway  label istio.io/rev=<revision>            label value (63)                 gateway/templates/_helpers.tpl
#   release name   gateway  <release> Deployment/Service/SA          Service, DNS-1035 label (63)     gateway/templates/service.yaml (gateway.name)
#   release name   gateway  labels app=, istio= (trimPrefix istio-)  label value (63)                 gateway/templates/_helpers.tpl
# The release names are the program's own constants (model/mesh.py); the revision is
# the stack's, so its limit is the Service's: 63 less the length of "istiod-".
ISTIOD_SERVICE_PREFIX = "istiod-"
REVISION_MAX = DNS_LABEL_MAX - len(ISTIOD_SERVICE_PREFIX)
HEADER_RE = re.compile(r"^[a-z0-9][-a-z0-9_.]*\Z")
"""An HTTP header name as Istio matches it: lowercase."""
HEADER_VALUE_RE = re.compile(r"^[^\x00-\x08\x0a-\x1f\x7f]*\Z")
"""What an HTTP header value can hold (RFC 9110 field-value; Envoy refuses the rest):
no control characters but the tab."""
IMAGE_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
"""A container image tag (the OCI distribution spec's tag grammar)."""
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?\Z")
"""A semantic version such as Istio's `1.30.3` (or `1.31.0-beta.1`)."""

# --------------------------------------------------------------------------- durations

DURATION_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)\Z")
"""A duration as Istio's API takes it (timeouts, delays, intervals) and `meshplan
rollout --interval` too: a decimal number and one unit."""
DURATION_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000}

PROMETHEUS_WINDOW_RE = re.compile(r"^[1-9][0-9]*(s|m|h)\Z")
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
DATA_PLANES = ("sidecar", "ambient")
ISTIO_PLATFORMS = ("gke", "k3d", "k3s", "microk8s", "minikube", "openshift")
"""`global.platform` values Istio 1.30.3's charts have a `files/profile-platform-<name>.yaml` for."""
TRAFFIC_APIS = ("istio", "gateway-api")
"""How traffic is routed: Istio's VirtualService and DestinationRule subsets, or the
Kubernetes Gateway API's HTTPRoutes over per-version Services."""
GATEWAY_API_VERSION = "v1.5.1"
"""The Gateway API release Istio 1.30.3 is built and tested against."""
GATEWAY_API_CHANNELS = ("standard", "experimental")
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


GATEWAY_API = "gateway.networking.k8s.io/v1"
"""The Kubernetes Gateway API's version the program registers Gateways and HTTPRoutes in."""


def _custom(api_version: str, kinds: tuple[tuple[str, str], ...]) -> dict[tuple[str, str], Kind]:
    group = api_version.split("/")[0]
    return {(api_version, kind): Kind(group, resource, True) for kind, resource in kinds}


REGISTERED_KINDS: dict[tuple[str, str], Kind] = {
    ("v1", "Namespace"): Kind("", "namespaces", False),
    ("v1", "Service"): Kind("", "services", True),
    ("v1", "ServiceAccount"): Kind("", "serviceaccounts", True),
    ("v1", "ResourceQuota"): Kind("", "resourcequotas", True),
    ("v1", "ConfigMap"): Kind("", "configmaps", True),
    ("v1", "Secret"): Kind("", "secrets", True),
    ("apps/v1", "Deployment"): Kind("apps", "deployments", True),
    ("apps/v1", "StatefulSet"): Kind("apps", "statefulsets", True),
    **_custom(NETWORKING_API, (("Gateway", "gateways"), ("VirtualService", "virtualservices"),
                               ("DestinationRule", "destinationrules"), ("ServiceEntry", "serviceentries"),
                               ("Sidecar", "sidecars"))),
    **_custom(SECURITY_API, (("PeerAuthentication", "peerauthentications"),
                             ("AuthorizationPolicy", "authorizationpolicies"),
                             ("RequestAuthentication", "requestauthentications"))),
    **_custom(GATEWAY_API, (("Gateway", "gateways"), ("HTTPRoute", "httproutes"))),
}
"""(apiVersion, kind) → where it is served: every kind the program registers besides
Helm releases (components/kubernetes.py registers these and refuses any other;
`meshplan rbac` grants a deployer access to exactly these)."""


CUSTOM_RESOURCE_GROUPS = (GATEWAY_API.split("/")[0],)
"""API groups besides Istio's whose kinds are custom resources (their CRDs are
installed, not built into the API server)."""


def is_custom_resource(kind: Kind) -> bool:
    """A kind defined by a CRD (Istio's, the Gateway API's): registered as a
    CustomResource, its spec passed verbatim."""
    return kind.group.endswith(".istio.io") or kind.group in CUSTOM_RESOURCE_GROUPS

