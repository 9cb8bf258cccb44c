"""`meshplan rbac --stack prod-traffic`: the ServiceAccount, Roles, ClusterRole and
bindings a CI deployer of one stack needs (`meshplan.rbac` says how they are
derived), as a multi-document manifest for `kubectl apply -f -` by a cluster admin."""
from __future__ import annotations

import argparse
import sys

import yaml

from meshplan.commands.shared import EXIT_ERROR, EXIT_OK, add_stack_options, described, stack_source


def add_parser(commands) -> None:
    rbac = commands.add_parser("rbac", help="least-privilege RBAC for a CI deployer of a stack", **described(
        examples=("meshplan rbac --stack prod-traffic",
                  "meshplan rbac --stack prod-app --namespace ci | kubectl apply -f -   # by a cluster admin",
                  "meshplan rbac --config examples/multicluster/primary-remote-multi-network.yaml --cluster west"),
        exits=((EXIT_OK, "the manifest is printed"),
               (EXIT_ERROR, "bad input or usage, or a kind meshplan rbac knows no resource for (one line on "
                            "stderr)"))))
    add_stack_options(rbac)
    rbac.add_argument("--namespace", default="pulumi-deployers",
                      help="namespace of the deployer's ServiceAccount (default pulumi-deployers; it must exist)")
    rbac.add_argument("--cluster", metavar="NAME",
                      help="of a stack with `clusters`, the cluster whose deployer to print (required there)")
    rbac.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from meshplan.render.engine import render
    from meshplan.rbac import deployer_manifests

    path, stack = stack_source(args)
    manifests = deployer_manifests(render(path, stack=stack, ref_files=args.ref_files), namespace=args.namespace,
                                   cluster=args.cluster)
    where = f" in cluster {args.cluster}" if args.cluster else ""
    sys.stdout.write(f"# Deployer of stack {stack}{where}: what its objects need, nothing more.\n")
    sys.stdout.write("---\n".join(yaml.safe_dump(m, sort_keys=False) for m in manifests))
    return EXIT_OK
