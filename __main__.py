"""bookinfo-mesh: Istio, the application and its traffic rules, from stack config.

Wiring only: settings → mesh → workloads → routing, security, egress → checks → exports."""
import pulumi

from components.checks import check_objects, guard_rollout
from components.config import load_secrets, settings_from_engine
from components.egress import Egress, EgressArgs
from components.mesh import IstioMesh, IstioMeshArgs
from components.routing import Routing, RoutingArgs
from components.security import Security, SecurityArgs
from components.workloads import Workloads, WorkloadsArgs

settings = settings_from_engine()

mesh = IstioMesh("mesh", IstioMeshArgs(settings=settings))
# Pods and Istio objects wait for the CRDs and istiod (its webhooks inject sidecars
# and validate objects), never for the gateways' external addresses.
workloads = Workloads("workloads", WorkloadsArgs(settings=settings, secrets=load_secrets(settings)),
                      pulumi.ResourceOptions(depends_on=mesh.control_plane))
# Istio objects need the app namespaces, not every pod: depending on the whole
# workloads component would tie each Istio object to every Deployment.
after_namespaces = pulumi.ResourceOptions(depends_on=[*mesh.control_plane, *workloads.namespace_resources])
routing = Routing("routing", RoutingArgs(settings=settings), after_namespaces)
security = Security("security", SecurityArgs(settings=settings), after_namespaces)
egress = Egress("egress", EgressArgs(settings=settings), after_namespaces)

check_objects(settings, [*workloads.objects, *routing.objects, *security.objects, *egress.objects])

pulumi.export("namespace", workloads.namespace)
pulumi.export("istioReleases", mesh.release_names)
pulumi.export("traffic", routing.traffic)
pulumi.export("securityPolicies", security.policies)
pulumi.export("externalHosts", egress.external_hosts)
pulumi.export("rolloutGuard", guard_rollout(settings, routing.objects))
