"""Who acts on the findings of the program's own checks (components/checks.py).

Under `pulumi preview/up` the program does: errors stop the run. meshplan renders a
stack to report every finding itself (`meshplan check` exits 1 on the same errors),
so it runs the program inside `findings_left_to_caller()`. The choice is made by the
code that runs the program, for that run only; nothing in the process environment
can switch the program's checks off."""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Iterator

_LEFT_TO_CALLER: ContextVar[bool] = ContextVar("bookinfo_mesh_findings_left_to_caller", default=False)


def findings_stop_the_run() -> bool:
    """Whether the program's checks act on their findings (the default)."""
    return not _LEFT_TO_CALLER.get()


@contextlib.contextmanager
def findings_left_to_caller(left: bool = True) -> Iterator[None]:
    """Run the program with its checks reporting nothing themselves (`left=False`:
    enforcing, as under the engine)."""
    token = _LEFT_TO_CALLER.set(left)
    try:
        yield
    finally:
        _LEFT_TO_CALLER.reset(token)
