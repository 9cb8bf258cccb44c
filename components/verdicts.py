"""A judgement the objects it is about wait for, so that a refusal leaves them
unregistered.

A `pulumi.RunError` raised where an Output resolves stops the run, but only once the
resources already registered are on their way: without a preview (`pulumi up
--skip-preview`, every rollout step) their updates are dispatched and complete
before the refusal. An object whose `depends_on` holds the verdict's `gate` is not
even sent to the engine until the verdict is in, and never when it refuses."""
from __future__ import annotations

import pulumi


class Verdict:
    """`summary` says what was judged (the program exports it) and fails with the
    refusal; `gate` goes into the `depends_on` of the objects the verdict is about."""

    def __init__(self, summary: pulumi.Output[str]):
        self.summary = summary
        self.gate: pulumi.Output[None] = pulumi.Output.from_input(_settled(summary))


async def _settled(verdict: pulumi.Output) -> None:
    """None once `verdict` resolves (or stays unknown in a preview), its refusal
    otherwise. Awaited through `Output.future()` (non-public, guarded by
    tests/test_sdk_contact.py) rather than `apply`: the gate then carries none of
    the verdict's resources, so a waiting object gains no dependency on the
    StackReference the verdict read, and its recorded dependencies stay what they
    were; an Output that resolves to None adds none either."""
    await verdict.future()


def waiting_for(*verdicts: Verdict | None) -> list[pulumi.Output[None]]:
    """The `depends_on` entries that hold an object back until each verdict is in."""
    return [verdict.gate for verdict in verdicts if verdict is not None]
