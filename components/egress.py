"""Traffic leaving the mesh: ServiceEntries for external hosts, TLS origination and
routes through the egress gateway."""
from __future__ import annotations

import pulumi

from model.names import component_type

from components.args import StackArgs
from components.kubernetes import register_all
from model.egress import egress_objects


class Egress(pulumi.ComponentResource):
    """The external hosts the application may reach, and how."""

    objects: list[dict]
    """The object bodies registered, for the program's checks."""

    external_hosts: pulumi.Output[list]
    """Hosts with a ServiceEntry (the only ones reachable under REGISTRY_ONLY)."""

    def __init__(self, name: str, args: StackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(component_type("egress", "Egress"), name, None, opts)
        self.objects = egress_objects(args.settings)
        register_all(self, name, self.objects, opts)
        self.external_hosts = pulumi.Output.from_input(
            [host for body in self.objects if body["kind"] == "ServiceEntry" for host in body["spec"]["hosts"]])
        self.register_outputs({"external_hosts": self.external_hosts})
