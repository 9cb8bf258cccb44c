"""Registering one Kubernetes object body with the right pulumi-kubernetes class.

The kinds are `model.vocabulary.REGISTERED_KINDS` (the table `meshplan rbac` grants
access by), and no others. Core kinds go through the typed classes (so the provider
knows their schema and which changes force a replacement); Istio kinds through
CustomResource, whose spec reaches the cluster verbatim. Only the API groups the
program uses are imported: every extra pulumi_kubernetes group costs import time on
every preview."""
from __future__ import annotations

import re

import pulumi
import pulumi_kubernetes.apps.v1 as apps_v1
import pulumi_kubernetes.core.v1 as core_v1
from pulumi_kubernetes.apiextensions import CustomResource

from model.vocabulary import REGISTERED_KINDS, is_custom_resource

_GROUPS = {"": core_v1, "apps": apps_v1}
"""API group → the pulumi_kubernetes module of its typed classes."""
TYPED_CLASSES = {(api_version, name): getattr(_GROUPS[kind.group], name)
          for (api_version, name), kind in REGISTERED_KINDS.items() if not is_custom_resource(kind)}


def register(logical_name: str, body: dict, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """Register `body` (a whole Kubernetes object) under `logical_name`."""
    api_version, kind = body["apiVersion"], body["kind"]
    if (api_version, kind) not in REGISTERED_KINDS:
        raise ValueError(f"no registration for {api_version} {kind}")
    fields = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
    typed = TYPED_CLASSES.get((api_version, kind))
    if typed is not None:
        # The typed classes take top-level fields in snake_case (stringData →
        # string_data); nested dicts keep the API's camelCase.
        return typed(logical_name, opts=opts, **{_snake(k): v for k, v in fields.items()})
    return CustomResource(logical_name, api_version=api_version, kind=kind, opts=opts, **fields)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_COMPONENT_ONLY = ("parent", "id", "import_", "urn", "aliases", "hooks", "state_migrations",
                   "transformations", "transforms", "provider", "providers")
"""Options the caller gives a component that are not handed to its children: the
ones naming the component itself (its parent, an existing resource to read or import,
its former names, its lifecycle hooks and state migrations), and the ones the SDK
already hands every child through `parent` (transformations and transforms would
run twice; providers are inherited from the parent)."""


def child_options(component: pulumi.ComponentResource, opts: pulumi.ResourceOptions | None,
                  *, depends_on: list | None = None, protect: bool = False) -> pulumi.ResourceOptions:
    """Options for a component's child: the caller's options for the component
    (`_COMPONENT_ONLY` aside), merged with the child's own by the SDK's
    `ResourceOptions.merge` (its depends_on after the component's, as a child is held
    back only by what it is told to wait for; `protect=True` protects the child,
    otherwise it is protected as its component is)."""
    handed_down = pulumi.ResourceOptions.merge(opts, None)  # a copy: the caller's stays as it was
    for option in _COMPONENT_ONLY:
        setattr(handed_down, option, None)
    # A component given its former name passes it on: a child's own (empty) alias list
    # is what makes the SDK derive the child's former URN from its parent's even where
    # the engine takes alias URNs rather than specs (it derives them itself from specs).
    inherited = [] if opts is not None and opts.aliases else None
    return pulumi.ResourceOptions.merge(handed_down, pulumi.ResourceOptions(
        parent=component, depends_on=list(depends_on or []), protect=True if protect else None, aliases=inherited))


def register_all(component: pulumi.ComponentResource, name: str, bodies: list[dict],
                 opts: pulumi.ResourceOptions | None) -> list[pulumi.CustomResource]:
    """Register each body as a child of `component` (named `<name>-<kind>-<name>`)."""
    return [register(logical_name(name, body), body, child_options(component, opts)) for body in bodies]


def logical_name(component: str, body: dict) -> str:
    """`<component>-<kind>-<metadata.name>`: unique within the stack even where two
    kinds share a name (Service and VirtualService `reviews`)."""
    return f"{component}-{body['kind'].lower()}-{body['metadata']['name']}"
