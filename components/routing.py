"""Istio traffic objects for the application: ingress Gateway and VirtualService,
per routed service a DestinationRule and a VirtualService from stack config, and
the optional ingress routes to the telemetry addons."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi

from model.names import component_type

from components.kubernetes import register_all
from model.observability import observability_objects
from model.routing import routing_objects
from model.settings import Settings
from model.traffic import traffic_table


@dataclass(frozen=True, kw_only=True)
class RoutingArgs:
    settings: Settings
    """The stack's settings; the objects are built from them."""


class Routing(pulumi.ComponentResource):
    """The traffic rules of the application."""

    objects: list[dict]
    """The object bodies registered, for the program's checks."""

    traffic: pulumi.Output[list]
    """Effective share of every destination of every route, in percent."""

    def __init__(self, name: str, args: RoutingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(component_type("routing", "Routing"), name, None, opts)
        objects = routing_objects(args.settings) + observability_objects(args.settings)
        self.objects = objects
        register_all(self, name, objects, opts)
        self.traffic = pulumi.Output.from_input([
            {"virtualService": s.virtual_service, "namespace": s.namespace, "route": s.route,
             "host": s.host, "subset": s.subset, "percent": s.percent}
            for s in traffic_table(objects)
        ])
        self.register_outputs({"traffic": self.traffic})
