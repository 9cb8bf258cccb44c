"""A primary's east-west gateway address read from the cluster (`eastWest.discover`):
what the gateway's LoadBalancer Service says, judged for a remote's
`global.remotePilotAddress`. The program reads the Service (components/eastwest_address.py);
this module decides what its status means."""
from __future__ import annotations

from typing import Mapping

from model.errors import ConfigError
from model.mesh import ISTIO_NAMESPACE
from model.settings import PROJECT, Settings


def gateway_service_id(service_name: str) -> str:
    """The provider's ID of a namespaced object: `<namespace>/<name>`."""
    return f"{ISTIO_NAMESPACE}/{service_name}"


def discovered_address(settings: Settings, primary: str, service_name: str, status: Mapping | None, *,
                       deploying: bool) -> str | None:
    """The gateway's load-balancer IP, or None while it cannot be known: no object
    came back (an offline render) or, in a preview, the load balancer has no address
    yet. `deploying` (pulumi up): an address is due, since the release waited for it.

    A hostname is refused (AWS ELBs give one): with a hostname the istiod chart makes
    the remote's `istiod` an ExternalName Service, and the API server cannot call the
    injection webhook through one ("unsupported service type ExternalName";
    istio/istio#29359, #45014; the primary-remote guide's EKS warning)."""
    ingress = ((status or {}).get("loadBalancer") or {}).get("ingress") or []
    first = ingress[0] if ingress else {}
    if first.get("ip"):
        return first["ip"]
    shown = f"Service {gateway_service_id(service_name)} in cluster {primary}"

    def refused(message: str) -> ConfigError:
        return ConfigError(file=settings.source, path=f"{PROJECT}:clusters.{primary}.eastWest.discover", value=True,
                           message=message)

    if first.get("hostname"):
        raise refused(f"the {shown} has the load-balancer hostname {first['hostname']}, and a remote's "
                      f"remotePilotAddress must be an IP (with a hostname the remote's istiod Service is an "
                      f"ExternalName, which the API server cannot send the injection webhook to: istio/istio#29359); "
                      f"set eastWest.address to a stable IP of the load balancer instead")
    if status is None or not deploying:
        return None
    raise refused(f"the {shown} has no load-balancer address; the environment gives LoadBalancer Services "
                  f"none (use serviceType NodePort with eastWest.address) or it is still pending (run pulumi up again)")
