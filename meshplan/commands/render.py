"""`meshplan render`: a stack rendered offline through the Pulumi program, as a
summary, the JSON record of every registration, or a multi-document manifest."""
from __future__ import annotations

import argparse
import sys

from meshplan.commands.shared import EXIT_OK, add_stack_options, stack_source, warn_secrets_not_set


def add_parser(commands) -> None:
    render = commands.add_parser("render", help="render a stack offline through the Pulumi program")
    add_stack_options(render)
    render.add_argument("--format", choices=("text", "json", "yaml"), default="text")
    render.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from meshplan.check import check_rendered
    from meshplan.render import formats
    from meshplan.render.engine import render

    path, stack = stack_source(args)
    rendered = render(path, stack=stack, ref_files=args.ref_files)
    warn_secrets_not_set(rendered)
    findings = check_rendered(rendered)
    printer = {"text": formats.summary, "json": formats.as_json, "yaml": formats.as_yaml}[args.format]
    sys.stdout.write(printer(rendered))
    if findings:
        # Machine formats keep stdout parseable: findings go to stderr.
        stream = sys.stdout if args.format == "text" else sys.stderr
        if stream is sys.stdout:
            stream.write("\nFindings\n")
        stream.write(formats.findings_text(findings))
    return EXIT_OK
