"""Names the whole project shares, stated once: API groups, type tokens, the cluster
domain and the names derived from it, the gateway chart's label rule, and the one
builder of Istio object bodies. Imports nothing from the rest of `model/`, so every
module (and components, meshplan, policy) can use it without a cycle."""
from __future__ import annotations

PROJECT = "bookinfo-mesh"
"""The Pulumi project name: config key prefix, URN part and component type prefix."""

NETWORKING_API = "networking.istio.io/v1"
SECURITY_API = "security.istio.io/v1"

CLUSTER_DOMAIN = "cluster.local"
"""Kubernetes' default cluster domain; also Istio's default trust domain."""

HELM_RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
CONFIG_FILE_TYPE = "kubernetes:yaml/v2:ConfigFile"
STACK_TYPE = "pulumi:pulumi:Stack"
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"


def component_type(module: str, component: str) -> str:
    """`bookinfo-mesh:<module>:<Class>`: the one type-token scheme of the components."""
    return f"{PROJECT}:{module}:{component}"


def service_fqdn(service: str, namespace: str) -> str:
    """The cluster-local FQDN of a Service (`reviews.bookinfo.svc.cluster.local`)."""
    return f"{service}.{namespace}.svc.{CLUSTER_DOMAIN}"


DEFAULT_PROVIDER_PREFIX = "default"


def is_default_provider(name: str) -> bool:
    """Whether the engine takes a provider of this name for one it made itself: it names
    those `default` or `default_<version>` and tells them apart by that prefix alone
    (pulumi/pulumi `providers.IsDefaultProvider`), an explicit provider's name included."""
    return name.startswith(DEFAULT_PROVIDER_PREFIX)


def service_of(host: str) -> str:
    """The Service a host names, short or fully qualified: its first label (`reviews`
    of `reviews` and of `reviews.bookinfo.svc.cluster.local`)."""
    return host.split(".")[0]


def fqdn(host: str, namespace: str) -> str:
    """Istio's short-name rule: a host without a dot lives in the namespace of the
    object naming it."""
    if "." in host or "*" in host:
        return host
    return service_fqdn(host, namespace)


def gateway_label(release_name: str) -> dict[str, str]:
    """The `istio=` pod label the gateway chart derives from its release name."""
    return {"istio": release_name.removeprefix("istio-")}


def istio_object(api_version: str, kind: str, name: str, namespace: str, spec: dict) -> dict:
    """An Istio object body, camelCase as the Istio API spells it."""
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


SECRET_SHOWN = "[secret]"
"""How a secret value is shown wherever a value would be."""

UNKNOWN_SHOWN = "[unknown: known once deployed]"
"""How a render shows a value the engine learns only while deploying (an Output
still unknown, such as an east-west gateway address read from the cluster). A
builder's values hold it where the program puts that Output."""

SECRET_NOT_SET_SHOWN = "[secret: not set]"
"""How an offline render shows a secret the stack file does not hold yet. It is
also the value of the stand-in secret Output the program registers in its place
offline; the engine never gets that far (components/config.py)."""
