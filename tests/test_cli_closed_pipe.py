"""`meshplan render | head`: a reader that stops reading is the reader's choice, not
an error. meshplan ends quietly with exit 0 instead of a BrokenPipeError traceback."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_meshplan_ends_quietly_with_exit_0_when_its_reader_has_closed_the_pipe():
    # The reader is gone before meshplan writes anything, and the output (tens of
    # kilobytes) is larger than Python's stdout buffer, so the write inside the
    # command itself meets the closed pipe.
    process = subprocess.Popen([sys.executable, "-m", "meshplan", "render", "--stack", "dev", "--format", "json"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "internal error" not in err
