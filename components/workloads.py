"""The application's workloads: its namespace (labelled for sidecar injection),
Services, ServiceAccounts and one Deployment per deployed version."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.kubernetes import child_options, logical_name, register
from model.settings import Settings
from model.workloads import application_objects


@dataclass(frozen=True, kw_only=True)
class WorkloadsArgs:
    settings: Settings
    """The stack's settings; the objects are built from them."""


class Workloads(pulumi.ComponentResource):
    """Everything of the application that runs pods."""

    namespace: pulumi.Output[str]
    """The application namespace, once it exists."""
    namespace_resource: pulumi.CustomResource
    """The Namespace itself, for others that only need it to exist."""

    def __init__(self, name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("bookinfo-mesh:workloads:Workloads", name, None, opts)
        objects = application_objects(args.settings)
        namespace_body, rest = objects[0], objects[1:]
        ns = register(logical_name(name, namespace_body), namespace_body, child_options(self, opts))
        for body in rest:
            register(logical_name(name, body), body, child_options(self, opts, depends_on=[ns]))
        self.namespace_resource = ns
        self.namespace = ns.metadata.apply(lambda m: m["name"])
        self.register_outputs({"namespace": self.namespace})
