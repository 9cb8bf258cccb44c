"""Ctrl-C and SIGTERM.

Most commands end at once with one line and exit 130, after undoing what is
registered here (a --base-ref worktree, its render process). An exception raised
from a signal handler can surface anywhere, including inside a finalizer, where
Python prints it as "Exception ignored" with a traceback and carries on; so the
handler cleans up and leaves itself instead.

A real rollout must not end at once: the `pulumi` CLI it runs holds the stack's lock
while it updates, answers SIGINT by cancelling and finishing, and installs no SIGPIPE
handler, so a parent that exits (closing its pipes) kills it at its next write and
leaves the stack locked. Inside `deferred()` a signal is only recorded, and forwarded
as SIGINT (the one signal the CLI cancels gracefully on) to the CLI child registered
with `forwarding()`; the rollout keeps reading the child's output until it exits and
stops at its next safe point (`raise_if_requested`, `sleep`). The child runs in a
process group of its own, so a terminal's Ctrl-C, sent to meshplan's whole group,
reaches it exactly once: through meshplan."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator

EXIT_INTERRUPTED = 130
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_cleanups: list[Callable[[], None]] = []


@contextlib.contextmanager
def undo_on_interrupt(cleanup: Callable[[], None]) -> Iterator[None]:
    """Run `cleanup` if the process is interrupted inside the block."""
    _cleanups.append(cleanup)
    try:
        yield
    finally:
        _cleanups.remove(cleanup)


def _stop(signum, frame) -> None:
    for cleanup in reversed(_cleanups):
        try:
            cleanup()
        except Exception:  # the next cleanup and the exit matter more
            pass
    try:
        sys.stderr.write("error: interrupted; nothing was applied\n")
        sys.stderr.flush()
    finally:
        os._exit(EXIT_INTERRUPTED)


@contextlib.contextmanager
def _handlers(handler) -> Iterator[None]:
    try:
        previous = {sig: signal.signal(sig, handler) for sig in _SIGNALS}
    except ValueError:  # not the main thread: an embedding program keeps its handlers
        previous = {}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def handled():
    """SIGINT and SIGTERM end the process as above inside the block (main thread only)."""
    return _handlers(_stop)


# --------------------------------------------------------------------------- deferred


class Interrupted(Exception):
    """A signal received inside `deferred()`, raised at a safe point."""

    def __init__(self, signum: int, *, applied: bool | None = None, repeated: bool = False):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.applied = applied
        """For an interrupted `pulumi up`: whether the objects it targeted were updated."""
        self.repeated = repeated
        """A CLI child got a second SIGINT, which makes it terminate at once rather
        than finish, as its own Ctrl-C twice does."""


class _Deferral:
    def __init__(self):
        self.signum: int | None = None
        self.children: list = []
        self.forwarded: dict[int, int] = {}
        """Signals forwarded, by child pid."""

    def handle(self, signum, frame) -> None:
        self.signum = self.signum or signum
        for child in list(self.children):
            self.forward(child)

    def forward(self, child) -> None:
        if child.poll() is None:
            _forward(child)
            self.forwarded[child.pid] = self.forwarded.get(child.pid, 0) + 1

    @property
    def repeated(self) -> bool:
        return any(count > 1 for count in self.forwarded.values())


_deferral: _Deferral | None = None


def _forward(child) -> None:
    try:
        os.killpg(child.pid, signal.SIGINT)
    except (ProcessLookupError, PermissionError):  # already gone
        pass


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Inside the block, SIGINT and SIGTERM are recorded and forwarded, not acted on."""
    global _deferral
    outer, _deferral = _deferral, _Deferral()
    try:
        with _handlers(_deferral.handle):
            yield
    finally:
        _deferral = outer


@contextlib.contextmanager
def forwarding(child) -> Iterator[None]:
    """Forward deferred signals to `child` (a Popen leading its own process group)
    while the block runs; one that arrived just before it started is forwarded now."""
    if _deferral is None:
        yield
        return
    _deferral.children.append(child)
    if _deferral.signum is not None:
        _deferral.forward(child)
    try:
        yield
    finally:
        _deferral.children.remove(child)


def requested() -> int | None:
    """The deferred signal received so far, if any."""
    return _deferral.signum if _deferral is not None else None


def raise_if_requested(*, applied: bool | None = None) -> None:
    if requested() is not None:
        raise Interrupted(requested(), applied=applied, repeated=_deferral.repeated)


def sleep(seconds: float) -> None:
    """`time.sleep`, cut short by a deferred signal (a returning handler does not
    interrupt `time.sleep`, so it sleeps in slices)."""
    deadline = time.monotonic() + seconds
    while True:
        raise_if_requested()
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.1))
