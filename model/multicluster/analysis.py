"""The analysis of a stack with `clusters`: the one-cluster rules on what each
cluster gets (its application objects with the versions placed there, and on a
primary the traffic objects and the gateways installed there), then the
multi-cluster checks (MC1xx) on the cluster plans. Called through
`model.stack_analysis.analyze_stack`, so program, `meshplan check` and the policy
pack judge a multi-cluster stack alike.

Without settings (the policy pack without the stack's file) a stack whose Kubernetes
resources go through several explicit providers is judged per provider instead
(`analyze_provider_clusters`): the same one-cluster judgement and the MC checks that
need nothing but objects."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from model.analysis import CATALOGUE, Finding
from model.egress import egress_objects
from model.multicluster import check_traffic, checks
from model.multicluster.checks import ClusterFinding
from model.multicluster.graph import dependency_edges
from model.multicluster.objects import is_expose_object
from model.multicluster.placement import settings_in_cluster
from model.multicluster.plan import GATEWAY_RELEASES, cluster_plans
from model.observability import observability_objects
from model.routing import routing_objects
from model.security import security_objects
from model.settings import SECRET_SHOWN, Settings
from model.stores import store_objects
from model.traffic_rows import object_key
from model.workloads import application_objects

CLUSTER_KIND = "Cluster"
"""The kind a multi-cluster finding names: it is about a cluster, not one object."""
DEFAULT_PROVIDER_CLUSTER = "(default provider)"
"""The cluster of resources on no explicit provider: whatever the ambient kubeconfig names."""


def is_traffic_object(obj: Mapping) -> bool:
    """An Istio config object: what a primary's istiod reads from its own API server."""
    return "istio.io" in str(obj.get("apiVersion", ""))


def cluster_objects(settings: Settings, cluster: str) -> list[Mapping]:
    """What the program applies in `cluster`: the application (its placed versions,
    every Service) everywhere; traffic, security and egress objects on primaries. A
    primary's istiod serves the pods of every cluster, so its rules are judged
    against all of them: the application as one cluster would run it."""
    primary = settings.multicluster.cluster(cluster).is_primary
    here = settings if primary else settings_in_cluster(settings, cluster)
    placeholders = {ref.config_key: SECRET_SHOWN for ref in settings.app.application.secrets}
    objects = [*application_objects(here), *store_objects(here, placeholders, cluster=cluster)]
    if primary:
        objects += [*routing_objects(settings), *observability_objects(settings), *security_objects(settings),
                    *egress_objects(settings)]
    return objects


def as_finding(found: ClusterFinding) -> Finding:
    rule = CATALOGUE[found.code]
    return Finding(rule.level, found.code, CLUSTER_KIND, "", found.cluster, f"{found.what}: {found.message}",
                   istio=rule.istio)


def analyze_multicluster(settings: Settings, *, judge: Callable[..., list[Finding]], schemas=None,
                         registrations: Iterable[tuple[str, str, str | None]] | None = None) -> list[Finding]:
    """`judge`: the entry point's one-cluster judgement (`model.stack_analysis.judge`,
    handed in: this module is what that entry point calls). `registrations`: (Pulumi
    name, type, its provider's cluster or None) of what was registered, when known (a
    render): MC116 checks them."""
    mc = settings.multicluster
    plans = cluster_plans(settings, mc)
    edges = dependency_edges(mc, plans)
    found: list[Finding] = []
    placeholders = {ref.config_key: SECRET_SHOWN for ref in settings.app.application.secrets}
    objects = {p.name: cluster_objects(settings, p.name) for p in plans}
    for plan in plans:
        releases = [{"name": r.name, "chart": r.chart, "namespace": r.namespace, "values": r.values}
                    for r in plan.releases if r.key in GATEWAY_RELEASES]
        found += judge(objects[plan.name], releases, default_namespace=settings.app.namespace, schemas=schemas)
    traffic = {name: [o for o in objs if is_traffic_object(o)] for name, objs in objects.items()}
    # Services as each cluster defines them (all the application's, whatever is placed
    # there, and the stores'), and the workloads placed there.
    in_cluster = {p.name: settings_in_cluster(settings, p.name) for p in plans}
    placed = {name: [*application_objects(here), *store_objects(here, placeholders, cluster=name)]
              for name, here in in_cluster.items()}
    services = {name: [o for o in objs if o["kind"] == "Service"] for name, objs in placed.items()}
    store_names = {store.name for store in settings.app.application.stores}
    # A cluster holding only a store serves other networks' clients too.
    running = [c.name for c in mc.clusters
               if any(c.name in mc.clusters_running(s, v) for s, svc in settings.services.items() for v in svc.versions)
               or c.name in mc.store_placement.values()]
    cluster_found = [
        *checks.mc101_cluster_names(p.name for p in plans), *checks.mc102_remote_secret_names(plans),
        *checks.mc103_remote_secrets_complete(plans), *checks.mc104_mesh_id(plans), *checks.mc105_trust(plans, edges),
        *checks.mc106_networks(plans), *checks.mc107_exposure(plans, running), *checks.mc108_gateway_port(plans),
        *checks.mc109_remotes(plans), *checks.mc110_remote_kubeconfigs(plans),
        *check_traffic.mc111_traffic_drift(plans, traffic),
        *check_traffic.mc112_services_defined(
            {name: {o["metadata"]["name"] for o in objs} for name, objs in services.items()},
            {cluster: called & (set(settings.services) | store_names)
             for cluster, called in check_traffic.consumed_services(mc, settings.app.application).items()},
            dns_capture=False,
            headless_elsewhere={name: check_traffic.headless_without_pods(objs) for name, objs in placed.items()}),
        *check_traffic.mc114_unreachable_versions(mc, plans, traffic),
        *check_traffic.mc115_inconsistent_services(services),
        *(check_traffic.mc116_providers(registrations) if registrations is not None else ()),
    ]
    found += [as_finding(f) for f in cluster_found]
    # A finding about objects every primary holds alike is one finding, not one per primary.
    return list(dict.fromkeys(found))


def analyze_provider_clusters(clusters: Mapping[str | None, tuple[Sequence[Mapping], Sequence[Mapping]]], *,
                              judge: Callable[..., list[Finding]], default_namespace: str,
                              registrations: Iterable[tuple[str, str, str | None]], schemas=None) -> list[Finding]:
    """A stack whose settings are unknown, by what each Kubernetes provider deploys:
    `clusters` maps a provider's name (None: the default provider) to its objects and
    Helm release inputs. Each is judged as `analyze_multicluster` judges a cluster: a
    cluster holding traffic objects is taken for a primary, whose istiod serves the
    pods of every cluster, so it is judged with every cluster's workloads and Services;
    the expose objects are left to the install checks (MC107, MC109). Then
    the MC checks objects alone can decide: MC111 among the clusters holding traffic
    objects (a remote is known only from settings, so none is one here), MC115 on each
    cluster's Services, MC116 on `registrations`. The rest need the settings: cluster
    roles, networks, placements and the application's callers (MC101–MC110, MC112, MC114)."""
    named = {DEFAULT_PROVIDER_CLUSTER if name is None else name: ([o for o in objects if not is_expose_object(o)],
                                                                  releases)
             for name, (objects, releases) in clusters.items()}
    traffic = {name: [o for o in objects if is_traffic_object(o)] for name, (objects, _) in named.items()}
    primaries = [name for name, objects in traffic.items() if objects]
    workloads: dict[tuple, Mapping] = {}
    for objects, _ in named.values():
        for obj in objects:
            if not is_traffic_object(obj):
                workloads.setdefault(object_key(obj), obj)
    found: list[Finding] = []
    for name, (objects, releases) in named.items():
        if name in primaries:
            own = {object_key(o) for o in objects}
            objects = [*objects, *(o for identity, o in workloads.items() if identity not in own)]
        found += judge(objects, releases, default_namespace=default_namespace, schemas=schemas)
    services = {name: [o for o in objects if o.get("kind") == "Service"] for name, (objects, _) in named.items()}
    cluster_found = [*check_traffic.traffic_drift(primaries, {}, traffic),
                     *check_traffic.mc115_inconsistent_services(services),
                     *check_traffic.mc116_providers(registrations)]
    found += [as_finding(f) for f in cluster_found]
    # A finding about objects every primary holds alike is one finding, not one per primary.
    return list(dict.fromkeys(found))
