"""The words stack config is checked against: the project name, allowed values and
the shapes of names, versions and durations."""
from __future__ import annotations

import re



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

_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HEADER_RE = re.compile(r"^[a-z0-9][-a-z0-9_.]*$")
_IMAGE_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DURATION_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(ms|s|m|h)$")
# Host names as the API server checks them (DNS-1123 subdomains): labels of at most
# 63 characters, at most 253 in all.
_EXTERNAL_HOST_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$")
_HOST_RE = re.compile(r"^(\*|(?=.{1,253}$)(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*)$")
