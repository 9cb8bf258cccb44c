"""A primary's east-west gateway address read from its cluster (`eastWest.discover`),
for its remotes' `global.remotePilotAddress`: the gateway's Service, read through the
primary's provider, once per primary.

The read's ID is an Output of the gateway's release, so it is unknown until the
release exists: in a first preview the engine skips a read whose ID is unknown and
leaves its outputs unknown (pulumi/pulumi `ReadStep.Apply`), the address stays unknown
and nothing fails on an object that is not there yet. `model.multicluster.discovery`
judges what the Service says."""
from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

import pulumi
import pulumi_kubernetes as kubernetes
from pulumi_kubernetes.core.v1 import Service

from model.errors import ConfigError
from model.mesh import HelmRelease
from model.multicluster.discovery import discovered_address, gateway_service_id
from model.multicluster.plan import ClusterPlan
from model.settings import Settings


class DiscoveredAddresses:
    """The primaries' gateway addresses this run reads, each Service read once however
    many remotes a primary serves (the engine refuses a second read of one URN)."""

    def __init__(self, settings: Settings, plans: tuple[ClusterPlan, ...], *,
                 gateway: Callable[[str], pulumi.Resource], provider: Callable[[str], kubernetes.Provider]) -> None:
        self._settings = settings
        self._plans = {p.name: p for p in plans}
        self._gateway = gateway
        self._provider = provider
        self._addresses: dict[str, pulumi.Output] = {}

    def release(self, plan: ClusterPlan, release: HelmRelease) -> HelmRelease:
        """`release` with the read address in place, for a remote's istiod whose primary
        discovers its gateway's; any other release as it is."""
        primary = plan.cluster.control_plane
        if release.key != "istiod" or primary is None or not self._plans[primary].cluster.east_west.discover:
            return release
        values = dict(release.values)
        values["global"] = {**values["global"], "remotePilotAddress": self.address(primary)}
        return dataclasses.replace(release, values=values)

    def address(self, primary: str) -> pulumi.Output:
        if primary not in self._addresses:
            self._addresses[primary] = self._read(primary)
        return self._addresses[primary]

    def _read(self, primary: str) -> pulumi.Output:
        plan = self._plans[primary]
        service_name = plan.release("eastwest").values["name"]
        gateway = self._gateway(primary)
        service = Service.get(plan.pulumi_name("eastwest-service"),
                              gateway.status.apply(lambda _status: gateway_service_id(service_name)),
                              opts=pulumi.ResourceOptions(provider=self._provider(primary), depends_on=[gateway]))

        def judged(status) -> object:
            try:
                address = discovered_address(self._settings, primary, service_name, _status_body(status),
                                             deploying=not pulumi.runtime.is_dry_run())
            except ConfigError as refused:
                raise pulumi.RunError(str(refused)) from None
            # Still unknown: pulumi's unknown value, so no stand-in string reaches the chart.
            return address if address is not None else pulumi.output.UNKNOWN

        return service.status.apply(judged)


def _status_body(status) -> Mapping | None:
    """The typed ServiceStatus as the API spells it (only what the address needs)."""
    if status is None:
        return None
    balancer = getattr(status, "load_balancer", None)
    ingress = (getattr(balancer, "ingress", None) or []) if balancer is not None else []
    return {"loadBalancer": {"ingress": [{"ip": getattr(i, "ip", None), "hostname": getattr(i, "hostname", None)}
                                         for i in ingress]}}
