"""One mesh over several clusters: a Kubernetes provider per cluster and, on each,
what its plan (`model.multicluster.plan`) lists: the istio-system namespace, the
Istio releases, the reader token, `cacerts`, the expose objects and the remote
Secrets; then the application in every cluster (the versions placed there) and the
traffic objects on every primary.

Every resource is given its cluster's provider (a child inherits it from its
component): none falls back to the ambient default provider, which would deploy to
whatever cluster the local kubeconfig names. Every Pulumi name starts with the
cluster (two clusters' `istiod` would share a URN); Kubernetes names stay upstream's.
The order is `model.multicluster.graph.dependency_edges` turned into `depends_on`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import pulumi
import pulumi_kubernetes as kubernetes
from pulumi_kubernetes.helm.v3 import Release, RepositoryOptsArgs

from components.args import StackArgs
from components.eastwest_address import DiscoveredAddresses
from components.egress import Egress
from components.kubernetes import register
from components.moved_stack import moved_from_one_cluster
from components.routing import Routing, RoutingArgs
from components.security import Security, SecurityArgs
from components.workloads import Workloads, WorkloadsArgs
from model.mesh import ISTIO_NAMESPACE, HelmRelease
from model.multicluster.graph import dependency_edges, in_order, node
from model.multicluster.placement import settings_in_cluster
from model.multicluster.plan import CACERTS_SECRET, ClusterPlan, cluster_plans
from model.multicluster.secrets import cacerts_bundle, kubeconfig_context, remote_secret, remote_secret_data
from model.names import SECRET_NOT_SET_SHOWN, SECRET_SHOWN
from model.settings import PROJECT, Settings
from model.settings.cluster_types import layers_deploy_to
from model.settings.parse_clusters import CACERTS_KEYS, cacerts_key

RELEASE_NODES = {"base": "istio-base", "istiod": "istiod", "eastwest": "istio-eastwestgateway"}
"""A release's key in the plan → its node in the dependency graph."""


@dataclass(frozen=True, kw_only=True)
class MultiClusterMesh:
    """What the program registered, for the exports and the program's checks."""

    providers: Mapping[str, kubernetes.Provider]
    resources: Mapping[str, pulumi.Resource | list]
    """Graph node → what was registered for it."""
    workloads: Mapping[str, Workloads]
    routings: Mapping[str, Routing]


def kubernetes_provider(settings: Settings, cluster_name: str,
                        secrets: Mapping[str, pulumi.Output[str]]) -> kubernetes.Provider:
    """The cluster's provider: its kubeconfig a secret Output (from a secret key or a
    stack output), or a context of the local kubeconfig (dev). `cluster_identifier`
    keeps a kubeconfig rotation from replacing the provider and all on it."""
    cluster = settings.multicluster.cluster(cluster_name)
    source = cluster.kubeconfig
    if source.secret:
        kubeconfig = secrets[source.secret]
    elif source.stack_ref:
        reference = pulumi.StackReference(f"{cluster_name}-kubeconfig", stack_name=source.stack_ref)
        kubeconfig = pulumi.Output.secret(reference.require_output(source.output))
    else:
        return kubernetes.Provider(cluster_name, context=source.context, cluster_identifier=cluster_name)
    where = f"{PROJECT}:{source.secret}" if source.secret else f"{source.stack_ref} output {source.output}"

    def context(text: str) -> str:
        if text in (SECRET_NOT_SET_SHOWN, SECRET_SHOWN):  # an offline render's stand-ins
            return text
        return kubeconfig_context(text, file=settings.source, path=where)
    # Strict mode (kubernetes:strictMode) requires the context as well as the kubeconfig.
    return kubernetes.Provider(cluster_name, kubeconfig=kubeconfig, context=kubeconfig.apply(context),
                               cluster_identifier=cluster_name)


def _cacerts_body(settings: Settings, cluster_name: str, secrets: Mapping[str, pulumi.Output[str]]) -> dict:
    key = cacerts_key(cluster_name)

    def files(text: str) -> dict:
        if text in (SECRET_NOT_SET_SHOWN, SECRET_SHOWN):  # an offline render's stand-ins
            return {name: text for name in CACERTS_KEYS}
        return cacerts_bundle(text, file=settings.source, path=f"{PROJECT}:{key}")
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": CACERTS_SECRET, "namespace": ISTIO_NAMESPACE},
            "stringData": pulumi.Output.secret(secrets[key].apply(files))}


def _remote_secret_body(source: str, server: str, token_secret: pulumi.CustomResource) -> dict:
    """The remote Secret for `source`, its kubeconfig built from the source's token
    Secret once Kubernetes has filled it; secret from end to end."""
    body = remote_secret(source, server=server, ca_data=SECRET_SHOWN, token=SECRET_SHOWN)
    body["stringData"] = pulumi.Output.secret(pulumi.Output.all(token_secret.data).apply(
        lambda d: remote_secret_data(source, server=server, token_data=d[0], shown=SECRET_SHOWN)))
    return body


def _release(settings: Settings, plan: ClusterPlan, release: HelmRelease, opts: pulumi.ResourceOptions) -> Release:
    name = plan.pulumi_name(release.key)
    return Release(name, name=release.name, chart=release.chart, version=release.version,
                   namespace=release.namespace, repository_opts=RepositoryOptsArgs(repo=release.repository),
                   values=release.values, skip_await=release.skip_await or None,
                   opts=pulumi.ResourceOptions.merge(
                       pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=release.protect or None)),
                       moved_from_one_cluster(settings, plan.name, name, under_mesh=True)))


def build_multicluster(settings: Settings, *, secrets: Mapping[str, pulumi.Output[str]],
                       app_secrets: Mapping[str, pulumi.Output[str]], holds: Callable[[str], bool],
                       after: list, traffic_after: list) -> MultiClusterMesh:
    mc = settings.multicluster
    plans = cluster_plans(settings, mc)
    edges = dependency_edges(mc, plans)
    providers: dict[str, kubernetes.Provider] = {}
    done: dict[str, pulumi.Resource | list] = {}
    workloads: dict[str, Workloads] = {}
    routings: dict[str, Routing] = {}
    builders: dict[str, Callable[[pulumi.ResourceOptions], pulumi.Resource | list]] = {}
    plan_of = {plan.name: plan for plan in plans}

    def moved(opts: pulumi.ResourceOptions, plan: ClusterPlan, thing: str, *,
              under_mesh: bool = False) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions.merge(opts, moved_from_one_cluster(settings, plan.name, plan.pulumi_name(thing),
                                                                         under_mesh=under_mesh))
    addresses = DiscoveredAddresses(settings, plans, gateway=lambda c: done[node(c, RELEASE_NODES["eastwest"])],
                                    provider=lambda c: providers[c])

    for plan in plans:
        c = plan.name

        def put(thing: str, build: Callable[[pulumi.ResourceOptions], object], cluster: str = c) -> None:
            builders[node(cluster, thing)] = build

        if not layers_deploy_to(plan.cluster.role, holds):
            continue  # a traffic layer registers nothing in a remote: no provider, no kubeconfig
        put("provider", lambda _o, c=c: providers.setdefault(c, kubernetes_provider(settings, c, secrets)))
        if holds("mesh"):
            put("namespace", lambda o, p=plan: register(p.pulumi_name("namespace-istio-system"), p.namespace,
                                                         moved(o, p, "namespace-istio-system", under_mesh=True)))
            for release in plan.releases:
                put(RELEASE_NODES.get(release.key, release.name),
                    lambda o, p=plan, r=release: _release(settings, p, addresses.release(p, r), o))
                if release.namespace != ISTIO_NAMESPACE and node(c, f"namespace-{release.namespace}") not in builders:
                    put(f"namespace-{release.namespace}", lambda o, p=plan, ns=release.namespace: register(
                        p.pulumi_name(f"namespace-{ns}"), {"apiVersion": "v1", "kind": "Namespace",
                                                           "metadata": {"name": ns}},
                        moved(o, p, f"namespace-{ns}", under_mesh=True)))
            if plan.reader_token is not None:
                put("reader-token", lambda o, p=plan: register(p.pulumi_name("reader-token"), p.reader_token, o))
            if plan.cacerts:
                put("cacerts", lambda o, p=plan: register(p.pulumi_name("cacerts"),
                                                           _cacerts_body(settings, p.name, secrets), o))
            for body in plan.expose:
                thing = "istiod-vs" if body["kind"] == "VirtualService" else body["metadata"]["name"]
                put(thing, lambda o, p=plan, b=body, t=thing: register(p.pulumi_name(t), b, o))
            for secret in plan.remote_secrets:
                source = next(iter(secret["stringData"]))
                server = mc.cluster(source).api_server
                put(f"remote-secret-{source}", lambda o, p=plan, s=source, url=server: register(
                    p.pulumi_name(f"remote-secret-{s}"),
                    _remote_secret_body(s, url, done[node(s, "reader-token")]), o))
        if holds("app"):
            def app(o, c=c):
                workloads[c] = Workloads(f"{c}-workloads", WorkloadsArgs(settings=settings_in_cluster(settings, c),
                                                                         secrets=app_secrets, cluster=c),
                                         moved(o, plan_of[c], "workloads"))
                return workloads[c].namespace_resources
            put("app-namespaces", app)
            put("workloads", lambda _o, c=c: workloads[c])
            if plan.cluster.is_primary:
                put("security", lambda o, c=c: Security(f"{c}-security", SecurityArgs(
                    settings=settings, secrets=app_secrets), moved(o, plan_of[c], "security")))
        if holds("traffic") and plan.cluster.is_primary:
            def traffic(o, c=c):
                routings[c] = Routing(f"{c}-routing", RoutingArgs(settings=settings, workloads=workloads.get(c)),
                                      moved(o, plan_of[c], "routing"))
                return [routings[c], Egress(f"{c}-egress", StackArgs(settings=settings), moved(o, plan_of[c], "egress"))]
            put("traffic", traffic)

    # The security policies are applied where the app runs, once its namespaces exist.
    # The gateways of the one-cluster install follow istiod in their own namespace.
    order = (*edges, *((node(p.name, "app-namespaces"), node(p.name, "security")) for p in plans),
             *((node(p.name, before), node(p.name, r.name)) for p in plans for r in p.releases
               if r.key not in RELEASE_NODES for before in ("istiod", f"namespace-{r.namespace}")))
    nodes = list(builders)
    for item in in_order(order, nodes):
        cluster = item.split("/", 1)[0]
        waits: list = [*after, *(traffic_after if item.endswith("/traffic") else ())]
        for before, later in order:
            if later == item and before in done:
                found = done[before]
                waits.extend(found if isinstance(found, list) else [found])
        if item.endswith("/provider"):
            done[item] = builders[item](pulumi.ResourceOptions())
            continue
        done[item] = builders[item](pulumi.ResourceOptions(provider=providers[cluster], depends_on=waits))
    return MultiClusterMesh(providers=providers, resources=done, workloads=workloads, routings=routings)
