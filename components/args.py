"""What every component is built from: the stack's settings. A component that needs
more (the routing: the workloads its routes wait for; the workloads: the secret
values) extends `StackArgs` with its own fields, so each keeps the one signature
`Component(name, args, opts=None)`."""
from __future__ import annotations

from dataclasses import dataclass

from model.settings import Settings


@dataclass(frozen=True, kw_only=True)
class StackArgs:
    settings: Settings
    """The stack's settings; the component's objects are built from them."""
