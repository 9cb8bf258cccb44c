"""bookinfo-mesh: Istio, the application and its traffic rules, from stack config.

Wiring only: settings → checks → verdicts → the layers this stack holds (mesh →
workloads and security → routing and egress; by default all three) → exports. A
layered stack reads the layers below it through StackReferences
(components/layers.py); what a verdict is about waits for it, so a refusal
registers none of it (components/verdicts.py)."""
import pulumi

from components.checks import check_objects, guard_rollout
from components.config import load_cluster_secrets, load_secrets, settings_from_engine
from components.args import StackArgs
from components.egress import Egress
from components.gateway_api import check_gateway_api_crds
from components.layers import check_references, export_contract
from components.stack_reads import StackReads
from components.verdicts import waiting_for
from model.stack_analysis import objects_implied
from components.mesh import IstioMesh
from components.routing import Routing, RoutingArgs
from components.security import Security, SecurityArgs
from components.workloads import Workloads, WorkloadsArgs

settings = settings_from_engine()
holds = settings.layers.holds
# The analyzers judge the objects the settings imply before anything is registered:
# an error must stop the run before the first registration is sent.
check_objects(settings, objects_implied(settings))
reads = StackReads()
# Everything built on the referenced stacks waits for the verdict on them; the
# routing also waits for the rollout step guard's verdict on its weights.
references_fit = check_references(settings, reads)
step_allowed = guard_rollout(settings, reads)
# A gateway-api stack whose cluster admin owns the Gateway API CRDs: istiod and
# everything after it wait for the verdict on the CRDs the cluster has.
crds_fit = check_gateway_api_crds(settings, reads)
after_references = waiting_for(references_fit, crds_fit)

if settings.multicluster is not None:
    # One mesh over several clusters, each on its own provider; imported here only,
    # so a one-cluster preview does not pay for it.
    from components.clusters import build_multicluster
    clusters = build_multicluster(settings, secrets=load_cluster_secrets(settings),
                                  app_secrets=load_secrets(settings) if holds("app") else {}, holds=holds,
                                  after=after_references, traffic_after=waiting_for(step_allowed))
    pulumi.export("clusters", {c.name: c.role for c in settings.multicluster.clusters})
    if holds("traffic"):
        # Every primary holds the same traffic objects: the first one's table is the
        # `traffic` output the step guard compares the next preview with.
        pulumi.export("traffic", clusters.routings[settings.multicluster.primaries[0].name].traffic)
        pulumi.export("rolloutGuard", step_allowed.summary)
else:
    mesh = IstioMesh("mesh", StackArgs(settings=settings),
                     pulumi.ResourceOptions(depends_on=waiting_for(crds_fit)) if crds_fit else None) \
        if holds("mesh") else None
    control_plane = mesh.control_plane if mesh else []
    # Pods and Istio objects wait for the CRDs and istiod (its webhooks inject sidecars
    # and validate objects), never for the gateways' external addresses.
    secrets = load_secrets(settings) if holds("app") else {}
    workloads = Workloads("workloads", WorkloadsArgs(settings=settings, secrets=secrets),
                          pulumi.ResourceOptions(depends_on=[*control_plane, *after_references])) \
        if holds("app") else None
    # Istio objects need the app namespaces, not every pod: depending on the whole
    # workloads component would tie each Istio object to every Deployment.
    after_namespaces = [*control_plane, *(workloads.namespace_resources if workloads else []), *after_references]
    # HTTPRoutes and L7 policies need the waypoint that applies them (ambient only).
    after_waypoint = [*after_namespaces, *(workloads.waypoint if workloads else [])]
    routing = Routing("routing", RoutingArgs(settings=settings, workloads=workloads),
                      pulumi.ResourceOptions(depends_on=[*after_waypoint, *waiting_for(step_allowed)])) \
        if holds("traffic") else None
    security = Security("security", SecurityArgs(settings=settings, secrets=secrets),
                        pulumi.ResourceOptions(depends_on=after_waypoint)) if holds("app") else None
    egress = Egress("egress", StackArgs(settings=settings),
                    pulumi.ResourceOptions(depends_on=after_namespaces)) if holds("traffic") else None

    if workloads:
        pulumi.export("namespace", workloads.namespace)
    if mesh:
        pulumi.export("istioReleases", mesh.release_names)
    if routing:
        pulumi.export("traffic", routing.traffic)
    if security:
        pulumi.export("securityPolicies", security.policies)
    if egress:
        pulumi.export("externalHosts", egress.external_hosts)
    if routing:
        pulumi.export("rolloutGuard", step_allowed.summary)
    if crds_fit:
        pulumi.export("gatewayApiCrdsChecked", crds_fit.summary)
export_contract(settings, references_fit)
