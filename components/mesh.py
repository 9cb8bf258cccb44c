"""The Istio installation: namespaces, the Gateway API CRDs (gateway-api stacks) and
the Helm releases base (CRDs) → istiod → cni → ztunnel (ambient) or gateways, plus
the optional addons. Owns nothing when the stack says Istio is already installed, so
everything that depends on it still works."""
from __future__ import annotations

import pulumi

from model.names import component_type
from pulumi_kubernetes.helm.v3 import Release, RepositoryOptsArgs

from components.args import StackArgs
from components.gateway_api import install_gateway_api_crds
from components.kubernetes import child_options, logical_name, register
from model.ambient import gke_resource_quota
from model.mesh import (CONTROL_PLANE, CRITICAL_PODS_QUOTA, GATEWAY_API_CRDS, ISTIO_NAMESPACE, IstioInstall,
                        istio_install)


class IstioMesh(pulumi.ComponentResource):
    """Istio, installed from its Helm charts in dependency order."""

    releases: dict[str, Release]
    """Releases by key (base, istiod, ingress, egress, prometheus, kiali)."""
    control_plane: list[pulumi.Resource]
    """What Istio objects and mesh pods need before they are created: the CRDs (base,
    and the Gateway API's), istiod, whose webhooks validate the objects and inject the
    sidecars, and in ambient mode the node agents (cni, ztunnel) that capture and
    carry an enrolled pod's traffic. Not the gateways: their Services may wait for an
    external address that never comes."""
    release_names: pulumi.Output[dict]
    """Helm release name by key, as the stack exports them (`istioReleases`)."""

    def __init__(self, name: str, args: StackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(component_type("mesh", "IstioMesh"), name, None, opts)
        plan: IstioInstall = istio_install(args.settings)
        namespaces = [
            register(f"{name}-namespace-{ns}",
                     {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                     child_options(self, opts))
            for ns in plan.namespaces
        ]
        ready: dict[str, pulumi.Resource] = {}
        gateway_api_crds = install_gateway_api_crds(f"{name}-gateway-api-crds", args.settings,
                                                    child_options(self, opts))
        if gateway_api_crds is not None:
            ready[GATEWAY_API_CRDS] = gateway_api_crds
        quota = gke_resource_quota(args.settings, ISTIO_NAMESPACE) if plan.releases else None
        if quota is not None:
            ready[CRITICAL_PODS_QUOTA] = register(logical_name(name, quota), quota,
                                                  child_options(self, opts, depends_on=namespaces))
        self.releases = {}
        for release in plan.releases:
            # Source order does not serialize Pulumi resources: each release waits for
            # what it needs (the CRDs before istiod's webhook, istiod before gateways
            # and node agents, GKE's quota before the node agents' pods).
            after = [ready[key] for key in release.after]
            if not any(key in self.releases for key in release.after):
                after = [*namespaces, *after]
            self.releases[release.key] = ready[release.key] = Release(
                f"{name}-{release.key}",
                name=release.name,
                chart=release.chart,
                version=release.version,
                namespace=release.namespace,
                repository_opts=RepositoryOptsArgs(repo=release.repository),
                values=release.values,
                # Helm waits for a LoadBalancer Service's external address, which a
                # cluster without a load-balancer implementation never assigns.
                skip_await=release.skip_await or None,
                opts=child_options(self, opts, depends_on=after, protect=release.protect),
            )
        self.control_plane = [ready[key] for key in (GATEWAY_API_CRDS, *CONTROL_PLANE) if key in ready]
        self.release_names = pulumi.Output.from_input(
            {key: release.name for key, release in zip(self.releases, plan.releases)}
        )
        self.register_outputs({"release_names": self.release_names})
