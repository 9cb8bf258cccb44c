"""Istio traffic objects for the application: ingress Gateway and VirtualService,
per routed service a DestinationRule and a VirtualService from stack config, and
the optional ingress routes to the telemetry addons.

Make before break: each VirtualService waits for the DestinationRules defining the
subsets it sends traffic to and for the Deployments of those versions that this
stack registers (`model.traffic.make_before_break`), so within one update a route
never reaches Envoy before its subset and its pods. A stack without the app layer
registers no Deployments; its check of the app layer's contract stands in."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi

from model.names import component_type

from components.args import StackArgs
from components.kubernetes import child_options, logical_name, register
from components.workloads import Workloads
from model.observability import observability_objects
from model.gateway_api_routing import route_waits
from model.routing import routing_objects
from model.traffic import ObjectKey, needed_before, object_key, traffic_table
from model.traffic_changes import output_row
from model.traffic_rows import ROUTE_KINDS


@dataclass(frozen=True, kw_only=True)
class RoutingArgs(StackArgs):
    workloads: Workloads | None = None
    """The application's workloads when this stack holds them (None: a stack without
    the app layer): routes wait for the Deployments of the versions they send to."""


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
        workloads = args.workloads
        # Which Deployment runs which version is read from labels, as Istio reads it.
        waits = needed_before([*objects, *(workloads.objects if workloads else [])])
        if args.settings.gateway_api_routes:
            # An HTTPRoute waits for its per-version Services and their Deployments.
            waits = {**waits, **route_waits(args.settings)}
        registered: dict[ObjectKey, pulumi.Resource] = dict(workloads.resources if workloads else {})
        # What a route waits for is found among these objects, so each is registered by now
        # (routes last); one of another layer's objects is that layer's contract to keep.
        here = {object_key(b) for b in [*objects, *(workloads.objects if workloads else [])]}
        for body in sorted(objects, key=lambda b: b["kind"] in ROUTE_KINDS):
            key = object_key(body)
            before = [registered[k] for k in waits.get(key, ()) if k in here]
            registered[key] = register(logical_name(name, body), body,
                                       child_options(self, opts, depends_on=before))
        self.traffic = pulumi.Output.from_input([output_row(share) for share in traffic_table(objects)])
        self.register_outputs({"traffic": self.traffic})
