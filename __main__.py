"""bookinfo-mesh: Istio, the application and its traffic rules, from stack config.

Wiring only: settings → mesh → workloads → routing → checks → exports."""
import pulumi

from components.checks import check_objects, guard_rollout
from components.config import load_settings
from components.mesh import IstioMesh, IstioMeshArgs
from components.routing import Routing, RoutingArgs
from components.workloads import Workloads, WorkloadsArgs

settings = load_settings()

mesh = IstioMesh("mesh", IstioMeshArgs(settings=settings))
workloads = Workloads("workloads", WorkloadsArgs(settings=settings),
                      pulumi.ResourceOptions(depends_on=[mesh]))
routing = Routing("routing", RoutingArgs(settings=settings),
                  pulumi.ResourceOptions(depends_on=[mesh, workloads]))

check_objects(settings, [*workloads.objects, *routing.objects])

pulumi.export("namespace", workloads.namespace)
pulumi.export("istioReleases", mesh.release_names)
pulumi.export("traffic", routing.traffic)
pulumi.export("rolloutGuard", guard_rollout(settings, routing.objects))
