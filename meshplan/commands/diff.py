"""`meshplan diff`: a proposed stack against a base (another stack file, the same
stack at a git ref, or an exported state): what changes, resource by resource and
share by share, refused when a step is too large or breaks before it makes.
`meshplan.diff` compares and prints; this module wires the command."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from meshplan.commands.shared import (EXIT_CHANGES, EXIT_ERROR, EXIT_OK, add_stack_options, described, stack_source,
                                      warn_secrets_not_set)
from model.errors import ConfigError


def add_parser(commands) -> None:
    diff = commands.add_parser("diff", help="compare a proposed stack with a base: resources and traffic shares",
                               **described(
        examples=("meshplan diff --config examples/istio-tasks/reviews-50-v3.yaml "
                  "--base-config examples/istio-tasks/all-v1.yaml",
                  "meshplan diff --stack staging --base-ref origin/main --format markdown",
                  "meshplan diff --stack prod --against-state prod-export.json   # pulumi stack export"),
        exits=((EXIT_OK, "no changes"),
               (EXIT_CHANGES, "changes (the diff is printed)"),
               (EXIT_ERROR, "a refused step, an analysis error, or bad input or usage (one line each on stderr)"))))
    add_stack_options(diff)
    diff.add_argument("--base-config", metavar="FILE", help="base: another stack file, same program")
    diff.add_argument("--base-ref", metavar="GITREF",
                      help="base: program and stack file as they are at a git ref (rendered in a temporary worktree)")
    diff.add_argument("--against-state", metavar="FILE", help="base: a `pulumi stack export` JSON file")
    diff.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                      help="text for a terminal; markdown for a pull request comment, with a mermaid traffic "
                           "graph when shares move; json for machines: summary, changes, traffic, findings, "
                           "rolloutPlan (default text)")
    diff.add_argument("--max-step", type=_percentage_points, metavar="N",
                      help="largest allowed shift of any destination's share, in percentage points "
                           "(default: the stack's rollout.maxStep)")
    diff.add_argument("--allow-jump", action="store_true", help="do not refuse a shift larger than the step")
    diff.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from meshplan.check import check_rendered
    from meshplan.diff import formats as diff_formats
    from meshplan.diff import states
    from meshplan.diff.compare import base_drift, diff_states
    from meshplan.render import formats
    from meshplan.render.engine import render
    from model.traffic_changes import step_violations
    from model.rollout_plan import change_plans

    bases = [b for b in (args.base_config, args.base_ref, args.against_state) if b]
    if len(bases) != 1:
        raise ConfigError(file="meshplan diff", path="",
                          message="give exactly one base: --base-config FILE, --base-ref GITREF or --against-state FILE")
    path, stack = stack_source(args)
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
    warn_secrets_not_set(*renders)
    result = diff_states(base, proposed, lenient=bool(args.against_state))
    result.secrets = _secret_changes(args, path)
    _compare_install(result, args, path, stack, proposed_rendered.settings.multicluster,
                     renders[-1].settings.multicluster if args.base_config else None)
    findings = check_rendered(proposed_rendered)
    errors = [f for f in findings if f.level == "error"]
    # A base whose primaries drifted is shown, not failed: this change is what fixes it.
    findings += base_drift(base)

    max_step = args.max_step if args.max_step is not None else proposed_rendered.settings.rollout.max_step
    if not args.allow_jump:  # make before break is never waived; the step guard is
        result.refused += step_violations(result.traffic, max_step)
    plans = change_plans(result.changed_traffic, max_step, before=base.objects, after=proposed.objects)
    stack_args = diff_formats.stack_arguments(stack=args.stack, config=args.config, default=stack)

    if args.format == "json":
        sys.stdout.write(diff_formats.diff_json(result, findings=findings, plans=plans, stack_args=stack_args))
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
    from meshplan.diff import passphrase, states

    if args.against_state:
        return []
    if args.base_config:
        base_text, base_source = _read_text(Path(args.base_config)), args.base_config
    else:
        base_text, base_source = states.stack_file_at_ref(args.base_ref, str(path)), f"{args.base_ref}:{path}"
    proposed = passphrase.secret_fingerprints(_read_text(path), str(path))
    base = passphrase.secret_fingerprints(base_text, base_source) if base_text is not None else {}
    return passphrase.secret_changes(base, proposed)


STATE_HOLDS_NO_CONFIG = "an exported state holds no stack config; --base-config or --base-ref compares it"


def _compare_install(result, args: argparse.Namespace, path: Path, stack: str, proposed, base_config) -> None:
    """The primaries and the install changes of a stack with clusters (either side):
    the mesh and clusters settings of both sides, where the base's are known."""
    from model.multicluster.install_changes import install_changes

    if proposed is not None:
        result.primaries = [c.name for c in proposed.primaries]
    if args.base_config:
        base, known = base_config, ""
    elif args.base_ref:
        from meshplan.diff.states import settings_at_ref
        base, known = settings_at_ref(args.base_ref, path, stack)
    else:
        base, known = None, STATE_HOLDS_NO_CONFIG
    if known:
        if proposed is not None:
            result.install_not_compared = known
        return
    result.install = install_changes(base, proposed)


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
