"""bookinfo-mesh: Istio, the application and its traffic rules, from stack config.

Wiring only: settings → mesh → workloads → routing, security, egress → exports."""
import pulumi

from components.config import load_settings
from components.egress import Egress, EgressArgs
from components.mesh import IstioMesh, IstioMeshArgs
from components.routing import Routing, RoutingArgs
from components.security import Security, SecurityArgs
from components.workloads import Workloads, WorkloadsArgs

settings = load_settings()

mesh = IstioMesh("mesh", IstioMeshArgs(settings=settings))
workloads = Workloads("workloads", WorkloadsArgs(settings=settings),
                      pulumi.ResourceOptions(depends_on=[mesh]))
routing = Routing("routing", RoutingArgs(settings=settings),
                  pulumi.ResourceOptions(depends_on=[mesh, workloads]))
security = Security("security", SecurityArgs(settings=settings),
                    pulumi.ResourceOptions(depends_on=[mesh, workloads]))
egress = Egress("egress", EgressArgs(settings=settings),
                pulumi.ResourceOptions(depends_on=[mesh, workloads]))

pulumi.export("namespace", workloads.namespace)
pulumi.export("istioReleases", mesh.release_names)
pulumi.export("traffic", routing.traffic)
pulumi.export("securityPolicies", security.policies)
pulumi.export("externalHosts", egress.external_hosts)
