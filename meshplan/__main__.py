import os
import sys

from meshplan.cli import main

code = main()
# The Pulumi SDK leaves executor threads and event loops behind after a mock run;
# tearing them down takes about 0.2 s and finalizes nothing meshplan needs (its
# temporary worktrees are already removed), so leave at once once output is out.
try:
    sys.stdout.flush()
    sys.stderr.flush()
except BrokenPipeError:
    pass
os._exit(code)
