"""The Istio installation: namespaces and the Helm releases base (CRDs) → istiod →
gateways, plus the optional addons. Owns nothing when the stack says Istio is
already installed, so everything that depends on it still works."""
from __future__ import annotations

import pulumi

from model.names import component_type
from pulumi_kubernetes.helm.v3 import Release, RepositoryOptsArgs

from components.args import StackArgs
from components.kubernetes import child_options, register
from model.mesh import CONTROL_PLANE, IstioInstall, istio_install


class IstioMesh(pulumi.ComponentResource):
    """Istio, installed from its Helm charts in dependency order."""

    releases: dict[str, Release]
    """Releases by key (base, istiod, ingress, egress, prometheus, kiali)."""
    control_plane: list[Release]
    """What Istio objects and injected pods need before they are created: the CRDs
    (base) and istiod, whose webhooks validate the objects and inject the sidecars.
    Not the gateways: their Services may wait for an external address that never comes."""
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
        self.releases = {}
        for release in plan.releases:
            # Source order does not serialize Pulumi resources: each release waits for
            # the ones it needs (CRDs before istiod's webhook, istiod before gateways).
            after = [self.releases[key] for key in release.after] or namespaces
            self.releases[release.key] = Release(
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
        self.control_plane = [self.releases[key] for key in CONTROL_PLANE if key in self.releases]
        self.release_names = pulumi.Output.from_input(
            {key: release.name for key, release in zip(self.releases, plan.releases)}
        )
        self.register_outputs({"release_names": self.release_names})
