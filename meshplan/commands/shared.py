"""What every command shares: the exit codes and the options that name the stack a
command works on (`--stack`, `--config`, `--ref-outputs`)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from meshplan.interrupts import EXIT_INTERRUPTED  # noqa: F401 (every exit code here; the signal handler's is 130)
from model.errors import ConfigError

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


def stack_source(args: argparse.Namespace) -> tuple[Path, str]:
    """The stack file and stack name a command works on. `--stack` may name the stack
    as the CLI does, `org/stack` or `org/project/stack`; its file and the name the
    program sees are the last segment's."""
    from meshplan.render.engine import PROJECT_DIR, stack_file

    name = _stack_name(args.stack) if args.stack else None
    if args.config:
        path = Path(args.config)
        return path, name or path.stem.removeprefix("Pulumi.")
    stack = name or "dev"
    return stack_file(stack, PROJECT_DIR), stack


def _stack_name(stack: str) -> str:
    """`stack`, `org/stack` or `org/project/stack` (this project) → `stack`."""
    from model.settings import PROJECT

    parts = stack.split("/")
    if len(parts) > 3 or not all(parts):
        raise ConfigError(file="meshplan", path="--stack", value=stack,
                          message="expected a stack name, org/stack or org/project/stack")
    if len(parts) == 3 and parts[1] != PROJECT:
        raise ConfigError(file="meshplan", path="--stack", value=stack,
                          message=f"the project is {PROJECT} (Pulumi.yaml), not {parts[1]}")
    return parts[-1]


def add_stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", help="stack name, or org/project/stack: renders Pulumi.<stack>.yaml (default dev)")
    parser.add_argument("--config", metavar="FILE",
                        help="any file in the Pulumi.<stack>.yaml format (stack name = file stem)")
    from meshplan.render import references  # layered stacks: the outputs of the stacks below
    references.add_option(parser)


def warn_secrets_not_set(*renders) -> None:
    """One warning per secret a rendered stack file does not hold yet (each once)."""
    from meshplan.render import formats

    lines = dict.fromkeys(line for rendered in renders for line in formats.secrets_not_set_warnings(rendered))
    sys.stderr.write("".join(lines))


def described(*, examples: tuple[str, ...], exits: tuple[tuple[int, str], ...]) -> dict:
    """`add_parser` keywords for a command's --help: after its options, examples and
    exit codes (130, interrupted, is every command's), printed as written. The first
    example runs offline on the repository's own files (tests/test_meshplan_help.py)."""
    codes = (*exits, (EXIT_INTERRUPTED, "interrupted (Ctrl-C or SIGTERM): one line on stderr"))
    epilog = "\n".join(["examples:", *(f"  {example}" for example in examples), "", "exit codes:",
                        *(f"  {code:<4} {meaning}" for code, meaning in codes)])
    return {"epilog": epilog, "formatter_class": argparse.RawDescriptionHelpFormatter}
