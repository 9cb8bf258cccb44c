"""The application's workloads: its namespaces (labelled for sidecar injection unless
outside the mesh) and, in ambient mode, the waypoint its namespace label enrolls it in,
Services, ServiceAccounts, ConfigMaps and one Deployment per deployed version, plus
its stateful stores (StatefulSets with their Services) and the Secrets its pods read."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pulumi

from model.names import component_type

from components.args import StackArgs
from components.kubernetes import child_options, logical_name, register
from model.stores import protected, store_objects
from model.traffic import ObjectKey, object_key
from model.waypoint import namespace_waypoint, waypoint_objects
from model.workloads import application_objects


@dataclass(frozen=True, kw_only=True)
class WorkloadsArgs(StackArgs):
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Values of the secret config keys the application needs, by key, as Pulumi
    secrets (read at the config edge); they are written into Kubernetes Secrets."""
    cluster: str | None = None
    """In a stack with clusters, the cluster these workloads go to (`settings` narrowed
    to the versions placed there): it decides where each store runs."""


class Workloads(pulumi.ComponentResource):
    """Everything of the application that runs pods."""

    objects: list[dict]
    """The object bodies registered, for the program's checks."""

    namespace: pulumi.Output[str]
    """The application namespace, once it exists."""
    namespace_resources: list[pulumi.CustomResource]
    """The application's Namespaces, for others that only need them to exist."""
    waypoint: list[pulumi.CustomResource]
    """The namespace's waypoint Gateway (ambient, with an L7 feature), else empty:
    the routes and policies it applies wait for it."""
    deployments: dict[ObjectKey, pulumi.CustomResource]
    """One Deployment per deployed version, by (kind, namespace, name): the routes
    sending traffic to a version wait for its pods (make before break)."""
    resources: dict[ObjectKey, pulumi.CustomResource]
    """Every object registered, by (kind, namespace, name): an HTTPRoute also waits for
    the application's Services it names (make before break)."""

    def __init__(self, name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(component_type("workloads", "Workloads"), name, None, opts)
        objects = (application_objects(args.settings, waypoint=namespace_waypoint(args.settings))
                   + store_objects(args.settings, dict(args.secrets), cluster=args.cluster))
        self.objects = objects
        namespace_bodies = [b for b in objects if b["kind"] == "Namespace"]
        namespaces = [register(logical_name(name, b), b, child_options(self, opts)) for b in namespace_bodies]
        # Registered with the namespace label that sends traffic through it, by the same layer.
        self.waypoint = [register(logical_name(name, b), b, child_options(self, opts, depends_on=namespaces))
                         for b in waypoint_objects(args.settings)]
        self.deployments = {}
        self.resources = {object_key(b): r for b, r in zip(namespace_bodies, namespaces)}
        for body in objects:
            if body["kind"] == "Namespace":
                continue
            resource = register(logical_name(name, body), body,
                                child_options(self, opts, depends_on=namespaces,
                                              protect=protected(args.settings, body)))
            self.resources[object_key(body)] = resource
            if body["kind"] == "Deployment":
                self.deployments[object_key(body)] = resource
        self.namespace_resources = namespaces
        self.namespace = namespaces[0].metadata.apply(lambda m: m["name"])
        self.register_outputs({"namespace": self.namespace})
