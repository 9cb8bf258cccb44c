"""A layered stack's edges: reading the stacks it builds on through StackReferences
and refusing to go on when it does not fit them, and what it exports for the stacks
above it. The rules themselves are `model.layers`; this module feeds them.

A refusal is a `pulumi.RunError` raised where the referenced outputs resolve, so
`pulumi preview` fails with the one-line message, as the rollout guard does; the
objects that build on the referenced stacks wait for that verdict
(`components.verdicts`), so a refused `pulumi up` registers none of them."""
from __future__ import annotations

import pulumi

from components.stack_reads import StackReads
from components.verdicts import Verdict
from model.layers import layer_outputs, reference_mismatch
from model.settings import Settings


def check_references(settings: Settings, reads: StackReads) -> Verdict | None:
    """Read each referenced stack's outputs (once per stack, however many layers it
    holds) and judge this stack against them; None for a stack that references
    none. The verdict's summary says what was judged."""
    refs = settings.layers.stack_refs
    if not refs:
        return None
    outputs = {name: reads.outputs(name) for name in refs.values()}

    def judge(resolved: dict) -> str:
        refused = reference_mismatch(settings, resolved)
        if refused is not None:
            raise pulumi.RunError(str(refused))
        return "fits " + ", ".join(f"{layer} {name}" for layer, name in refs.items())

    return Verdict(pulumi.Output.all(**outputs).apply(judge))


def export_contract(settings: Settings, checked: Verdict | None) -> None:
    """Export what the stacks above this one read (nothing new for a stack of all
    layers), and the verdict on the stacks below it."""
    for key, value in layer_outputs(settings).items():
        pulumi.export(key, value)
    if checked is not None:
        pulumi.export("stackRefsChecked", checked.summary)
