"""Ctrl-C and SIGTERM end meshplan with one line and exit 130, after undoing what
is registered here (a --base-ref worktree, its render process).

An exception raised from a signal handler can surface anywhere, including inside a
finalizer, where Python prints it as "Exception ignored" with a traceback and
carries on; so the handler cleans up and leaves itself instead."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Callable, Iterator

EXIT_INTERRUPTED = 130
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
def handled() -> Iterator[None]:
    """SIGINT and SIGTERM handled as above inside the block (main thread only)."""
    try:
        previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: an embedding program keeps its handlers
        previous = {}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
