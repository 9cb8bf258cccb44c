"""`meshplan check`: the project's analyzers over a rendered stack, or over plain
manifest files and directories like `istioctl analyze --use-kube=false`."""
from __future__ import annotations

import argparse
import sys

from meshplan.commands.shared import (EXIT_ERROR, EXIT_OK, add_stack_options, described, stack_source,
                                      warn_secrets_not_set)
from model.errors import ConfigError


def add_parser(commands) -> None:
    check = commands.add_parser("check", help="offline analysis of a stack or of manifest files", **described(
        examples=("meshplan check --stack prod",
                  "meshplan check app.yaml gateway.yaml manifests/   # plain manifests, like istioctl analyze",
                  "meshplan check manifests/ --crds crd-all.gen.yaml   # adds schema validation (IST0106)",
                  "meshplan check manifests/ --crds crd-all.gen.yaml --crds standard-install.yaml   # and Gateway API"),
        exits=((EXIT_OK, "no analysis error (warnings and infos are printed)"),
               (EXIT_ERROR, "an analysis error, or bad input or usage (one line on stderr)"))))
    check.add_argument("files", nargs="*", metavar="FILE",
                       help="manifest files or directories of them (instead of a stack)")
    add_stack_options(check)
    check.add_argument("--format", choices=("text", "json"), default="text",
                       help="text: one finding a line; json: a list of findings for machines (default text)")
    check.add_argument("--namespace", default="default",
                       help="namespace of manifest objects that name none (default: default)")
    check.add_argument("--gateway", action="append", default=[], metavar="LABELS[@NS/SERVICE][:PORTS]",
                       help="a gateway workload outside the files, e.g. istio=ingress@istio-ingress/istio-ingress:80,443 "
                            "(repeatable; default: istioctl's assumed istio=ingressgateway in istio-system, "
                            "ports 80, 443, 31400, 15443)")
    check.add_argument("--crds", metavar="FILE", action="append", default=[],
                       help="a CRD file: also validate every object of its kinds against its schema and CEL rules "
                            "(IST0106); repeatable, e.g. Istio's crd-all.gen.yaml and Gateway API's "
                            "standard-install.yaml or experimental-install.yaml")
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from meshplan.check import check_manifests, check_rendered, parse_gateway
    from meshplan.render import formats

    schemas = None
    if args.crds:
        from model.analysis.schema import load_crds

        schemas = load_crds(args.crds)
    if args.files:
        if args.stack or args.config:
            raise ConfigError(file="meshplan check", path="", message="give manifest files or --stack/--config, not both")
        gateways = [parse_gateway(g) for g in args.gateway] or None
        findings = check_manifests(args.files, namespace=args.namespace, gateways=gateways, schemas=schemas)
    else:
        from meshplan.render.engine import render

        path, stack = stack_source(args)
        rendered = render(path, stack=stack, ref_files=args.ref_files)
        warn_secrets_not_set(rendered)
        findings = check_rendered(rendered, schemas=schemas)
    if args.format == "json":
        sys.stdout.write(formats.findings_json(findings))
    else:
        sys.stdout.write(formats.findings_text(findings) or "no findings\n")
    return EXIT_ERROR if any(f.level == "error" for f in findings) else EXIT_OK
