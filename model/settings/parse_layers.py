"""Parsing `layers` and `stackRefs`: which of mesh, app and traffic a stack deploys,
and which stacks hold the layers it builds on but does not hold itself.

An environment is one stack of all three layers (the default) or several stacks of
the same project, each naming the ones below it: the app layer needs the mesh, the
traffic layer needs the app and the mesh."""
from __future__ import annotations

import re

from model.settings.reader import Cursor
from model.settings.types import LAYERS, LayerSettings

NEEDS = {"mesh": (), "app": ("mesh",), "traffic": ("mesh", "app")}
"""Layer → the layers whose stack outputs it reads."""

_STACK_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+\Z")


def parse_layers(root: Cursor) -> LayerSettings:
    """`layers` (default all three) and `stackRefs` (exactly the layers needed and not held)."""
    at = root["layers"]
    named = LAYERS if at.raw is None else at.strings(choices=LAYERS)
    layers = tuple(layer for layer in LAYERS if layer in named)
    needed = tuple(dict.fromkeys(n for layer in layers for n in NEEDS[layer] if n not in layers))
    refs = root["stackRefs"].mapping()
    for layer in refs.keys():
        if layer not in needed:
            held = "holds that layer itself" if layer in layers else "does not build on it"
            raise refs[layer].fail(f"not needed: this stack ({', '.join(layers)}) {held}; "
                                   f"references it needs: {', '.join(needed) or 'none'}", refs[layer].raw)
    stack_refs = {}
    for layer in needed:
        if layer not in refs:
            raise refs[layer].fail(f"required: the fully qualified name (<org>/<project>/<stack>) of the stack "
                                   f"that holds the {layer} layer, which this stack ({', '.join(layers)}) builds on")
        stack_refs[layer] = refs[layer].string(pattern=_STACK_NAME_RE,
                                               what="a fully qualified stack name <org>/<project>/<stack>")
    return LayerSettings(layers=layers, stack_refs=stack_refs)
