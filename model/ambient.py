"""Builders for what the ambient data plane and the Kubernetes Gateway API add to the
Istio installation: the Gateway API CRDs (installed from their release, or judged as
the cluster has them), the values of the `cni` and `ztunnel` releases, the platform
values every chart takes, and GKE's quota for node-critical pods.

Istio does not install the Gateway API CRDs (its `base` chart ships only Istio's
own); istiod watches only the kinds whose CRDs exist when it starts, and ignores
the objects of an older bundle than it was built against, so the CRDs come first
(Istio 1.30.3 `go.mod` pins gateway-api v1.5.1)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from model.errors import ConfigError
from model.names import PROJECT
from model.settings import Settings

GATEWAY_API_RELEASE_URL = ("https://github.com/kubernetes-sigs/gateway-api/releases/download/"
                           "{version}/{channel}-install.yaml")
"""The release asset Istio's docs apply (`kubectl apply -f .../<channel>-install.yaml`)."""
GATEWAY_API_PROBE_CRD = "httproutes.gateway.networking.k8s.io"
"""The CRD whose presence and annotations stand for the whole bundle: every route
the program renders is an HTTPRoute."""
BUNDLE_VERSION_ANNOTATION = "gateway.networking.k8s.io/bundle-version"
CHANNEL_ANNOTATION = "gateway.networking.k8s.io/channel"

CNI_RELEASE = "istio-cni"
ZTUNNEL_RELEASE = "ztunnel"
AMBIENT_PROFILE = "ambient"
NODE_AGENT_NAMESPACE_ON = {"openshift": "kube-system"}
"""Platforms whose node agents (cni, ztunnel) must run in kube-system: OpenShift
runs privileged pods only there, and its istiod profile trusts ztunnel only there
(`trustedZtunnelNamespace: kube-system`)."""
GKE_QUOTA_NAME = "gcp-critical-pods"


def gateway_api_crds_url(settings: Settings) -> str | None:
    """The install file the program applies, or None when it installs no CRDs
    (Istio's routing, or a cluster admin owns them: `gatewayApi.installCrds: false`).
    Installed with the mesh layer even where Istio itself already is (`istio.install:
    false`): they are the Gateway API's, not Istio's."""
    if not (settings.gateway_api_routes and settings.gateway_api.install_crds):
        return None
    return GATEWAY_API_RELEASE_URL.format(version=settings.gateway_api.version,
                                          channel=settings.gateway_api.channel)


def gateway_api_crds_checked(settings: Settings) -> bool:
    """Whether the program reads the cluster's Gateway API CRDs instead of installing them."""
    return settings.gateway_api_routes and not settings.gateway_api.install_crds


def platform_values(settings: Settings) -> dict:
    """`global.platform` for a chart's profile merge, when the stack names a platform."""
    platform = settings.istio.platform
    return {"global": {"platform": platform}} if platform else {}


def node_agent_namespace(settings: Settings, default: str) -> str:
    """Where the cni and ztunnel releases go on this platform."""
    return NODE_AGENT_NAMESPACE_ON.get(settings.istio.platform or "", default)


def cni_values(settings: Settings) -> dict:
    values: dict = {"profile": AMBIENT_PROFILE, **platform_values(settings)}
    if settings.istio.revision:
        values["revision"] = settings.istio.revision
    return values


def ztunnel_values(settings: Settings) -> dict:
    # resourceName: the DaemonSet's name, as Istio's own ambient umbrella chart sets it.
    values: dict = {"profile": AMBIENT_PROFILE, "resourceName": ZTUNNEL_RELEASE, **platform_values(settings)}
    if settings.istio.revision:
        values["revision"] = settings.istio.revision
    return values


def gke_resource_quota(settings: Settings, namespace: str) -> dict | None:
    """On GKE, pods of priority class system-node-critical (cni, ztunnel) are admitted
    outside kube-system only in a namespace with a quota for them (istio.io, ambient
    platform prerequisites, GKE)."""
    if not settings.ambient or settings.istio.platform != "gke":
        return None
    return {
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": GKE_QUOTA_NAME, "namespace": namespace},
        "spec": {"hard": {"pods": 1000},
                 "scopeSelector": {"matchExpressions": [
                     {"operator": "In", "scopeName": "PriorityClass", "values": ["system-node-critical"]}]}},
    }


def _version(text: Any) -> tuple[int, ...] | None:
    found = re.match(r"^v(\d+)\.(\d+)\.(\d+)", text) if isinstance(text, str) else None
    return tuple(int(part) for part in found.groups()) if found else None


def crd_mismatch(settings: Settings, crd: Mapping | None) -> ConfigError | None:
    """Why the cluster's Gateway API CRDs cannot serve this stack (`crd`: the
    HTTPRoute CRD as the cluster has it; None: there is none), or None when they can."""
    wanted = settings.gateway_api
    fix = (f"install Gateway API {wanted.version} ({wanted.channel}-install.yaml) or set "
           f"gatewayApi.installCrds=true")

    def refused(message: str) -> ConfigError:
        return ConfigError(file=settings.source, path=f"{PROJECT}:gatewayApi.installCrds", value=False,
                           message=message)

    if crd is None:
        return refused(f"the cluster has no CustomResourceDefinition {GATEWAY_API_PROBE_CRD}: {fix}")
    annotations = (crd.get("metadata") or {}).get("annotations") or {}
    bundle = annotations.get(BUNDLE_VERSION_ANNOTATION)
    found = _version(bundle)
    if found is None or found < _version(wanted.version):
        shown = f"bundle-version {bundle}" if bundle else f"no {BUNDLE_VERSION_ANNOTATION} annotation"
        return refused(f"the cluster's {GATEWAY_API_PROBE_CRD} has {shown}; this stack needs {wanted.version} "
                       f"or later (istiod ignores the objects of older CRDs): {fix}")
    channel = annotations.get(CHANNEL_ANNOTATION)
    if wanted.channel == "experimental" and channel != "experimental":
        return refused(f"the cluster's {GATEWAY_API_PROBE_CRD} is of channel {channel or 'unknown'}; this stack "
                       f"needs experimental (gatewayApi.channel): {fix}")
    return None
