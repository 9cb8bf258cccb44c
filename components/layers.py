"""A layered stack's edges: reading the stacks it builds on through StackReferences
and refusing to go on when it does not fit them, and what it exports for the stacks
above it. The rules themselves are `model.layers`; this module feeds them.

A refusal is a `pulumi.RunError` raised where the referenced outputs resolve, so
`pulumi preview` fails with the one-line message, as the rollout guard does."""
from __future__ import annotations

from typing import Any, Callable, Mapping

import pulumi

from model.layers import app_mismatch, layer_outputs, mesh_mismatch
from model.observability import observability_objects
from model.routing import routing_objects
from model.security import security_objects
from model.egress import egress_objects
from model.settings import SECRET_SHOWN, Settings
from model.stores import store_objects
from model.workloads import application_objects

_JUDGES: dict[str, Callable[[Settings, Mapping], Any]] = {"mesh": mesh_mismatch, "app": app_mismatch}


def check_references(settings: Settings) -> pulumi.Output[str] | None:
    """Read each referenced stack's outputs and judge this stack against them; None
    for a stack that references none. The result says what was judged."""
    refs = settings.layers.stack_refs
    if not refs:
        return None
    outputs = {layer: pulumi.StackReference(name).outputs for layer, name in refs.items()}

    def judge(resolved: dict) -> str:
        for layer, found in resolved.items():
            refused = _JUDGES[layer](settings, found or {})
            if refused is not None:
                raise pulumi.RunError(str(refused))
        return "fits " + ", ".join(f"{layer} {refs[layer]}" for layer in resolved)

    return pulumi.Output.all(**outputs).apply(judge)


def export_contract(settings: Settings, checked: pulumi.Output[str] | None) -> None:
    """Export what the stacks above this one read (nothing new for a stack of all
    layers), and the verdict on the stacks below it."""
    for key, value in layer_outputs(settings).items():
        pulumi.export(key, value)
    if checked is not None:
        pulumi.export("stackRefsChecked", checked)


def objects_to_check(settings: Settings, registered: list[dict]) -> list[dict]:
    """What the analyzers judge: in a stack of all layers, what it registered; in a
    layered stack, every object the environment's settings imply, so a traffic stack
    still has the Services and Deployments its routes refer to (they are built from
    its settings, not registered). A mesh-only stack registers nothing to analyze."""
    layers = settings.layers
    if not layers.layered:
        return registered
    if not (layers.holds("app") or layers.holds("traffic")):
        return []
    placeholders = {ref.config_key: SECRET_SHOWN for ref in settings.app.application.secrets}
    return [*application_objects(settings), *store_objects(settings, placeholders), *routing_objects(settings),
            *observability_objects(settings), *security_objects(settings), *egress_objects(settings)]

