"""`python -m meshplan`: the command line.

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
from pathlib import Path

from model.errors import ConfigError, printable

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_INTERRUPTED = 0, 1, 2, 130  # 130: as interrupts.EXIT_INTERRUPTED


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line and exit 1: argparse's exit 2 means "changes" to a
    CI job reading `meshplan diff`."""

    def error(self, message: str):
        self.exit(EXIT_ERROR, f"error: {self.prog}: {printable(message)} (see {self.prog} --help)\n")


def _stack_source(args: argparse.Namespace) -> tuple[Path, str]:
    """The stack file and stack name a command works on. `--stack` may name the stack
    as the CLI does, `org/stack` or `org/project/stack`; its file and the name the
    program sees are the last segment's."""
    from meshplan.engine import PROJECT_DIR, stack_file

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


def _add_stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", help="stack name, or org/project/stack: renders Pulumi.<stack>.yaml (default dev)")
    parser.add_argument("--config", metavar="FILE",
                        help="any file in the Pulumi.<stack>.yaml format (stack name = file stem)")
    from meshplan import references  # layered stacks: the outputs of the stacks below
    references.add_option(parser)


def _warn_secrets_not_set(*renders) -> None:
    """One warning per secret a rendered stack file does not hold yet (each once)."""
    from meshplan import formats

    lines = dict.fromkeys(line for rendered in renders for line in formats.secrets_not_set_warnings(rendered))
    sys.stderr.write("".join(lines))


def _render(args: argparse.Namespace) -> int:
    from meshplan import formats
    from meshplan.check import check_rendered
    from meshplan.engine import render

    path, stack = _stack_source(args)
    rendered = render(path, stack=stack, ref_files=args.ref_files)
    _warn_secrets_not_set(rendered)
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


def _check(args: argparse.Namespace) -> int:
    from meshplan import formats
    from meshplan.check import check_manifests, check_rendered, parse_gateway

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
        from meshplan.engine import render

        path, stack = _stack_source(args)
        rendered = render(path, stack=stack, ref_files=args.ref_files)
        _warn_secrets_not_set(rendered)
        findings = check_rendered(rendered, schemas=schemas)
    if args.format == "json":
        sys.stdout.write(formats.findings_json(findings))
    else:
        sys.stdout.write(formats.findings_text(findings) or "no findings\n")
    return EXIT_ERROR if any(f.level == "error" for f in findings) else EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    from meshplan import diff_formats, formats, states
    from meshplan.diff import diff_states
    from meshplan.check import check_rendered
    from meshplan.engine import render
    from model.traffic_changes import step_violations
    from model.rollout_plan import change_plans

    bases = [b for b in (args.base_config, args.base_ref, args.against_state) if b]
    if len(bases) != 1:
        raise ConfigError(file="meshplan diff", path="",
                          message="give exactly one base: --base-config FILE, --base-ref GITREF or --against-state FILE")
    path, stack = _stack_source(args)
    proposed_rendered = render(path, stack=stack, ref_files=args.ref_files)
    proposed = states.state_from_rendered(proposed_rendered)
    renders = [proposed_rendered]
    if args.base_config:
        renders.append(render(Path(args.base_config), stack=stack, ref_files=args.ref_files))
        base = states.state_from_rendered(renders[-1])
    elif args.base_ref:
        base = states.render_at_ref(args.base_ref, str(path), stack)
    else:
        base = states.state_from_export(args.against_state)
    _warn_secrets_not_set(*renders)
    result = diff_states(base, proposed, lenient=bool(args.against_state))
    result.secrets = _secret_changes(args, path)
    findings = check_rendered(proposed_rendered)

    max_step = args.max_step if args.max_step is not None else proposed_rendered.settings.rollout.max_step
    if not args.allow_jump:  # make before break is never waived; the step guard is
        result.refused += step_violations(result.traffic, max_step)
    errors = [f for f in findings if f.level == "error"]
    plans = change_plans(result.changed_traffic, max_step, before=base.objects, after=proposed.objects)
    stack_args = diff_formats.stack_arguments(stack=args.stack, config=args.config, default=stack)

    if args.format == "json":
        sys.stdout.write(diff_formats.diff_json(result))
        sys.stderr.write(formats.findings_text(findings))
    elif args.format == "markdown":
        sys.stdout.write(diff_formats.diff_markdown(result, findings=findings,
                                                    title=f"meshplan diff · stack {diff_formats.code_span(stack)}",
                                                    plans=plans, stack_args=stack_args))
    else:
        sys.stdout.write(diff_formats.diff_text(result, findings=findings, colour=diff_formats.use_colour(sys.stdout),
                                                plans=plans, stack_args=stack_args))
    for line in result.refused:
        print(f"error: {line}", file=sys.stderr)
    if result.refused or errors:
        return EXIT_ERROR
    return EXIT_CHANGES if result.has_changes else EXIT_OK


def _secret_changes(args: argparse.Namespace, path: Path) -> list[dict]:
    """Secret config changes between the two stack files, where a passphrase opens
    both (PULUMI_CONFIG_PASSPHRASE); an exported state's secrets are not compared."""
    from meshplan import passphrase, states

    if args.against_state:
        return []
    if args.base_config:
        base_text, base_source = _read_text(Path(args.base_config)), args.base_config
    else:
        base_text, base_source = states.stack_file_at_ref(args.base_ref, str(path)), f"{args.base_ref}:{path}"
    proposed = passphrase.secret_fingerprints(_read_text(path), str(path))
    base = passphrase.secret_fingerprints(base_text, base_source) if base_text is not None else {}
    return passphrase.secret_changes(base, proposed)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""  # rendering the same file has already said what is wrong with it


def _percentage_points(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected percentage points, got {text!r}") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"expected percentage points above 0 and at most 100, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="meshplan", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    render = commands.add_parser("render", help="render a stack offline through the Pulumi program")
    _add_stack_options(render)
    render.add_argument("--format", choices=("text", "json", "yaml"), default="text")
    render.set_defaults(run=_render)

    diff = commands.add_parser("diff", help="compare a proposed stack with a base: resources and traffic shares")
    _add_stack_options(diff)
    diff.add_argument("--base-config", metavar="FILE", help="base: another stack file, same program")
    diff.add_argument("--base-ref", metavar="GITREF",
                      help="base: program and stack file as they are at a git ref (rendered in a temporary worktree)")
    diff.add_argument("--against-state", metavar="FILE", help="base: a `pulumi stack export` JSON file")
    diff.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    diff.add_argument("--max-step", type=_percentage_points, metavar="N",
                      help="largest allowed shift of any destination's share, in percentage points "
                           "(default: the stack's rollout.maxStep)")
    diff.add_argument("--allow-jump", action="store_true", help="do not refuse a shift larger than the step")
    diff.set_defaults(run=_diff)

    check = commands.add_parser("check", help="offline analysis of a stack or of manifest files")
    check.add_argument("files", nargs="*", metavar="FILE",
                       help="manifest files or directories of them (instead of a stack)")
    _add_stack_options(check)
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument("--namespace", default="default",
                       help="namespace of manifest objects that name none (default: default)")
    check.add_argument("--gateway", action="append", default=[], metavar="LABELS[@NS/SERVICE][:PORTS]",
                       help="a gateway workload outside the files, e.g. istio=ingress@istio-ingress/istio-ingress:80,443 "
                            "(repeatable; default: istioctl's assumed istio=ingressgateway in istio-system, "
                            "ports 80, 443, 31400, 15443)")
    check.add_argument("--crds", metavar="FILE",
                       help="Istio's CRD file (crd-all.gen.yaml of your release): also validate every Istio object "
                            "against its schema and CEL rules (IST0106)")
    check.set_defaults(run=_check)

    from meshplan import rollout_cli  # progressive delivery with metric gates: its own module
    rollout_cli.add_parser(commands, _add_stack_options)
    from meshplan import rbac_cli  # least-privilege deployers of layered stacks: its own module
    rbac_cli.add_parser(commands, _add_stack_options)
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
