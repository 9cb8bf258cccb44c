"""`meshplan render`: a stack rendered offline through the Pulumi program, as a
summary, the JSON record of every registration, or a multi-document manifest."""
from __future__ import annotations

import argparse
import sys

from meshplan.commands.shared import EXIT_ERROR, EXIT_OK, add_stack_options, described, stack_source, warn_secrets_not_set


def add_parser(commands) -> None:
    render = commands.add_parser("render", help="render a stack offline through the Pulumi program", **described(
        examples=("meshplan render --stack dev",
                  "meshplan render --config examples/istio-tasks/reviews-80-20.yaml --format yaml",
                  "meshplan render --stack prod-traffic --ref-outputs prod-app=app.json   # a layered stack"),
        exits=((EXIT_OK, "rendered (analysis findings are printed, not failed: see meshplan check)"),
               (EXIT_ERROR, "bad input or usage: one line on stderr naming the file, key path and value"))))
    add_stack_options(render)
    render.add_argument("--format", choices=("text", "json", "yaml"), default="text",
                        help="text: the resource tree, stacks read and traffic shares; json: every registration "
                             "and read; yaml: a multi-document manifest for kubectl or GitOps (default text)")
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
