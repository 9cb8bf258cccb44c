"""`python -m meshplan`: the command line.

    meshplan render --stack dev [--format text|json|yaml]
    meshplan render --config examples/istio-tasks/reviews-80-20.yaml

Exit codes: 0 done, 1 bad input (one line on stderr, nothing registered)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.errors import ConfigError


def _stack_source(args: argparse.Namespace) -> tuple[Path, str]:
    """The stack file and stack name a command works on."""
    from meshplan.engine import PROJECT_DIR, stack_file

    if args.config:
        path = Path(args.config)
        return path, args.stack or path.stem.removeprefix("Pulumi.")
    stack = args.stack or "dev"
    return stack_file(stack, PROJECT_DIR), stack


def _add_stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", help="stack name: renders Pulumi.<stack>.yaml (default dev)")
    parser.add_argument("--config", metavar="FILE",
                        help="any file in the Pulumi.<stack>.yaml format (stack name = file stem)")


def _render(args: argparse.Namespace) -> int:
    from meshplan import formats
    from meshplan.engine import render

    path, stack = _stack_source(args)
    rendered = render(path, stack=stack)
    printer = {"text": formats.summary, "json": formats.as_json, "yaml": formats.as_yaml}[args.format]
    sys.stdout.write(printer(rendered))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meshplan", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    render = commands.add_parser("render", help="render a stack offline through the Pulumi program")
    _add_stack_options(render)
    render.add_argument("--format", choices=("text", "json", "yaml"), default="text")
    render.set_defaults(run=_render)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
