"""The command line of `meshplan` (also `python -m meshplan`).

    meshplan render --stack dev [--format text|json|yaml]
    meshplan render --config examples/istio-tasks/reviews-80-20.yaml
    meshplan diff --stack dev --base-ref origin/main [--format text|markdown|json]
    meshplan check --stack prod            meshplan check bookinfo.yaml gateway.yaml dir/ ...
    meshplan check --crds crd-all.gen.yaml ...   (adds schema validation, IST0106)
    meshplan render --stack prod-traffic --ref-outputs prod-app=app.json   (layered stacks)
    meshplan rbac --stack prod-traffic     (the RBAC a CI deployer of the stack needs)
    meshplan rollout --stack staging --service reviews --to v3 --steps 10,25,50,100 --prometheus URL

Exit codes: 0 done (diff: no changes), 2 diff found changes, 1 bad input or usage,
analysis errors (check, diff) or a refused step (one line each on stderr), 130
interrupted (Ctrl-C or SIGTERM; a --base-ref worktree is removed first)."""
from __future__ import annotations

import argparse
import os
import sys

from meshplan.commands.shared import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from model.errors import ConfigError, printable


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line and exit 1: argparse's exit 2 means "changes" to a
    CI job reading `meshplan diff`."""

    def error(self, message: str):
        self.exit(EXIT_ERROR, f"error: {self.prog}: {printable(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from meshplan.commands import check, diff, rbac, render, rollout

    parser = _Parser(prog="meshplan", description="The bookinfo-mesh Pulumi program, offline: render, diff and check "
                     "stacks, roll a canary out, derive a deployer's RBAC.",
                     epilog="meshplan COMMAND --help shows the command's examples and exit codes.")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in (render, diff, check, rollout, rbac):
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    # A terminal or pipe that cannot encode `→` or `·` gets escapes, not a traceback.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    from meshplan import interrupts

    try:
        with interrupts.handled():
            parser = build_parser()
            args = parser.parse_args(argv)
            return args.run(args)
    except ConfigError as error:
        print(f"error: {printable(error)}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:  # raised by an embedding program's own handler
        print("error: interrupted; nothing was applied", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (RecursionError, MemoryError):
        print("error: the input is too large or too deeply nested to process", file=sys.stderr)
        return EXIT_ERROR
    except Exception:
        # Every known bad input has its own line above; this one is a bug in meshplan.
        if os.environ.get("MESHPLAN_DEBUG"):
            raise
        print("error: meshplan stopped on an internal error (a bug; rerun with MESHPLAN_DEBUG=1 "
              "to see where, and report it)", file=sys.stderr)
        return EXIT_ERROR
