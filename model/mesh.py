"""Builders for the Istio installation: the Helm releases (base → istiod →
gateways, plus the optional Kiali and Prometheus addons), their values and the
order they must come up in."""
from __future__ import annotations

from dataclasses import dataclass, field

from model.ambient import (AMBIENT_PROFILE, CNI_RELEASE, ZTUNNEL_RELEASE, cni_values, gateway_api_crds_url,
                           gke_resource_quota, node_agent_namespace, platform_values, ztunnel_values)
from model.settings import Settings
from model.names import gateway_label, service_fqdn

ISTIO_NAMESPACE = "istio-system"
INGRESS_NAMESPACE = "istio-ingress"

# The gateway chart labels its pods `istio=<release name without "istio-">`; these
# release names are what make `istio=ingressgateway` / `istio=egressgateway` true.
BASE_RELEASE = "istio-base"
ISTIOD_RELEASE = "istiod"
INGRESS_RELEASE = "istio-ingressgateway"
EGRESS_RELEASE = "istio-egressgateway"

KIALI_REPOSITORY = "https://kiali.org/helm-charts"
KIALI_CHART_VERSION = "2.24.0"
PROMETHEUS_REPOSITORY = "https://prometheus-community.github.io/helm-charts"
PROMETHEUS_CHART_VERSION = "27.23.0"


INGRESS_GATEWAY_LABELS = gateway_label(INGRESS_RELEASE)
EGRESS_GATEWAY_LABELS = gateway_label(EGRESS_RELEASE)
EGRESS_GATEWAY_HOST = service_fqdn(EGRESS_RELEASE, ISTIO_NAMESPACE)
# Ports of the gateway chart's Service (it maps 80→80 and 443→443).
GATEWAY_HTTP_PORT = 80
GATEWAY_HTTPS_PORT = 443


@dataclass(frozen=True, kw_only=True)
class HelmRelease:
    """One Helm release, named explicitly (no random suffix), with what it waits for."""

    key: str
    """Logical name within the mesh component."""
    name: str
    chart: str
    version: str
    repository: str
    namespace: str
    values: dict = field(default_factory=dict)
    after: tuple[str, ...] = ()
    """Keys of what must be installed first: releases, and `PREREQUISITES`. A release
    that waits for no other release waits for the mesh's namespaces."""
    protect: bool = False
    skip_await: bool = False
    """Don't wait for the release's resources to become ready (a LoadBalancer
    gateway, whose address may never come)."""


GATEWAY_API_CRDS = "gateway-api-crds"
CRITICAL_PODS_QUOTA = "critical-pods-quota"
PREREQUISITES = (GATEWAY_API_CRDS, CRITICAL_PODS_QUOTA)
"""Keys of what the mesh installs besides releases: the Gateway API CRDs (istiod
watches only the kinds whose CRDs exist when it starts) and GKE's quota for the
node agents' node-critical pods."""

CONTROL_PLANE = ("base", "istiod", "cni", "ztunnel")
"""Keys of the releases everything else in the mesh waits for (cni and ztunnel only
in ambient mode: a pod enrolled before its node's agents are up is not captured)."""


@dataclass(frozen=True, kw_only=True)
class IstioInstall:
    namespaces: tuple[str, ...]
    releases: tuple[HelmRelease, ...]


def _istiod_values(settings: Settings) -> dict:
    istio = settings.istio
    mesh_config: dict = {"outboundTrafficPolicy": {"mode": istio.outbound_traffic_policy}}
    if istio.access_log:
        mesh_config["accessLogFile"] = "/dev/stdout"
    values: dict = {
        "meshConfig": mesh_config,
        "replicaCount": istio.istiod_replicas,
        # A fixed replica count only holds with the autoscaler off.
        "autoscaleEnabled": False,
    }
    if istio.revision:
        values["revision"] = istio.revision
    if istio.istiod_resources is not None:
        values["resources"] = istio.istiod_resources.as_kubernetes()
    if settings.ambient:
        values["profile"] = AMBIENT_PROFILE
    values.update(platform_values(settings))
    return values


def gateway_values(settings: Settings, service_type: str) -> dict:
    values: dict = {"service": {"type": service_type}}
    if settings.istio.revision:
        values["revision"] = settings.istio.revision
    return values


def istio_install(settings: Settings) -> IstioInstall:
    """The releases to install, or none when Istio is already on the cluster."""
    istio = settings.istio
    if not istio.install:
        return IstioInstall(namespaces=(), releases=())

    def istio_release(key: str, name: str, chart: str, namespace: str, values: dict,
                      after: tuple[str, ...], protect: bool = False, skip_await: bool = False) -> HelmRelease:
        return HelmRelease(key=key, name=name, chart=chart, version=istio.version,
                           repository=istio.chart_repository, namespace=namespace,
                           values=values, after=after, protect=protect, skip_await=skip_await)

    base_values = {"defaultRevision": istio.revision} if istio.revision else {}
    if istio.platform == "openshift":
        base_values.update(platform_values(settings))
    crds = (GATEWAY_API_CRDS,) if gateway_api_crds_url(settings) else ()
    releases = [
        # The base chart owns the CRDs: deleting it deletes every Istio object.
        istio_release("base", BASE_RELEASE, "base", ISTIO_NAMESPACE, base_values, crds,
                      protect=istio.protect_crds),
        istio_release("istiod", ISTIOD_RELEASE, "istiod", ISTIO_NAMESPACE, _istiod_values(settings),
                      ("base", *crds)),
    ]
    namespaces = [ISTIO_NAMESPACE]
    if settings.ambient:
        # The node agents: the CNI agent captures enrolled pods' traffic, ztunnel carries it.
        agents = node_agent_namespace(settings, ISTIO_NAMESPACE)
        quota = (CRITICAL_PODS_QUOTA,) if gke_resource_quota(settings, ISTIO_NAMESPACE) else ()
        releases += [istio_release("cni", CNI_RELEASE, "cni", agents, cni_values(settings), ("istiod", *quota)),
                     istio_release("ztunnel", ZTUNNEL_RELEASE, "ztunnel", agents, ztunnel_values(settings),
                                   ("cni",))]
    if not settings.gateway_api_routes:
        # With the Gateway API, istiod deploys the ingress for the Gateway of class istio.
        releases.append(istio_release("ingress", INGRESS_RELEASE, "gateway", INGRESS_NAMESPACE,
                                      gateway_values(settings, istio.ingress_service_type), ("istiod",),
                                      skip_await=istio.ingress_service_type == "LoadBalancer"))
        namespaces.append(INGRESS_NAMESPACE)
    if istio.egress_gateway:
        releases.append(istio_release("egress", EGRESS_RELEASE, "gateway", ISTIO_NAMESPACE,
                                      gateway_values(settings, "ClusterIP"), ("istiod",)))
    releases += _addon_releases(settings)
    return IstioInstall(namespaces=tuple(namespaces), releases=tuple(releases))


def _addon_releases(settings: Settings) -> list[HelmRelease]:
    """Prometheus and Kiali (dev), outside the mesh, after istiod, fit for a plain
    local cluster: no volume claims, no load balancer."""
    istio = settings.istio
    addon_pods = {"sidecar.istio.io/inject": "false"}
    addons: list[HelmRelease] = []
    if istio.prometheus:
        addons.append(HelmRelease(
            key="prometheus", name="prometheus", chart="prometheus", version=PROMETHEUS_CHART_VERSION,
            repository=PROMETHEUS_REPOSITORY, namespace=ISTIO_NAMESPACE, after=("istiod",),
            values={
                # The chart names its server `<release>-server` unless this is set on the
                # server (no template reads a top-level fullnameOverride); Kiali looks for
                # prometheus.istio-system:9090, as Istio's own addon does.
                "server": {
                    "fullnameOverride": "prometheus",
                    "service": {"servicePort": 9090},
                    "podLabels": addon_pods,
                    # No volume claim: a plain local cluster has no default StorageClass,
                    # and Helm would wait for the claim forever (Istio's addon does the same).
                    "persistentVolume": {"enabled": False},
                },
                "alertmanager": {"enabled": False},
                "prometheus-pushgateway": {"enabled": False},
                "kube-state-metrics": {"enabled": False},
                "prometheus-node-exporter": {"enabled": False},
            },
        ))
    if istio.kiali:
        addons.append(HelmRelease(
            key="kiali", name="kiali-server", chart="kiali-server", version=KIALI_CHART_VERSION,
            repository=KIALI_REPOSITORY, namespace=ISTIO_NAMESPACE, after=("istiod",),
            values={
                "auth": {"strategy": "anonymous"},
                "deployment": {"pod_labels": addon_pods},
                "external_services": {
                    "prometheus": {"url": "http://prometheus.istio-system:9090"},
                    # Kiali does not start while its tracing backend is unreachable, and
                    # the program installs none.
                    "tracing": {"enabled": False},
                },
            },
        ))
    return addons
