"""`meshplan rollout`: progressive delivery of a canary version from stack config.

    meshplan rollout --stack [org/project/]staging --service reviews --to v3 --steps 10,25,50,100 \\
        --interval 5m --prometheus http://prometheus.istio-system:9090 [--max-failures N]
        [--policy-pack DIR ...] [--dry-run | --rehearse] [--format text|json]

The plan first (every step as the `meshplan diff` of that step); `--dry-run` stops
there. Then each step is applied (`pulumi up` through the Automation API, targeting
the step's objects, with the policy pack; or with `--rehearse` rendered through the
program instead), judged by the gates after the interval, and promoted or, after
--max-failures, rolled back. Exit 0 promoted, 1 rolled back, refused or failed (the
reason in one line on stderr), 130 interrupted (Ctrl-C or SIGTERM: a running
`pulumi up` is cancelled and finishes first; the line says where the stack is)."""
from __future__ import annotations

import argparse
import contextlib
import json
import sys

from meshplan.commands.shared import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, add_stack_options, described, stack_source
from model.errors import ConfigError

EXIT_PROMOTED, EXIT_FAILED = EXIT_OK, EXIT_ERROR
DEFAULT_INTERVAL = "1m"
DEFAULT_MAX_FAILURES = 3


def _steps(text: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected canary percentages like 10,25,50,100, got {text!r}") from None
    if any(not 0 < s <= 100 for s in steps) or list(steps) != sorted(set(steps)):
        raise argparse.ArgumentTypeError(f"expected rising whole percentages above 0 and at most 100, got {text!r}")
    return steps


def _duration(text: str) -> float:
    from meshplan.rollout.loop import parse_duration

    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def add_parser(commands) -> None:
    rollout = commands.add_parser("rollout", help="step a canary through its weights with metric gates", **described(
        examples=("meshplan rollout --config examples/istio-tasks/reviews-50-v3.yaml --service reviews --to v3 "
                  "--steps 75,100 --dry-run",
                  "meshplan rollout --stack staging --service reviews --to v3 --steps 10,25,50,100 --interval 5m "
                  "--prometheus http://prometheus.istio-system:9090"),
        exits=((EXIT_PROMOTED, "promoted (with --dry-run: the plan is printed)"),
               (EXIT_FAILED, "rolled back, refused or failed, or bad input or usage (the reason in one line on "
                             "stderr)"))))
    add_stack_options(rollout)
    rollout.add_argument("--service", required=True, help="the routed service whose default route moves")
    rollout.add_argument("--to", required=True, metavar="VERSION", help="the canary version traffic moves to")
    rollout.add_argument("--steps", type=_steps, metavar="P,P,...",
                         help="the canary's share after each step, e.g. 10,25,50,100 "
                              "(default: steps of the stack's rollout.maxStep up to 100)")
    rollout.add_argument("--interval", type=_duration, default=_duration(DEFAULT_INTERVAL), metavar="DURATION",
                         help=f"wait before judging each step, e.g. 2s, 5m (default {DEFAULT_INTERVAL})")
    rollout.add_argument("--prometheus", metavar="URL", help="Prometheus base URL (not needed with --dry-run)")
    rollout.add_argument("--max-failures", type=_positive, default=DEFAULT_MAX_FAILURES, metavar="N",
                         help=f"analyses in a row that do not pass before rolling back (default {DEFAULT_MAX_FAILURES})")
    rollout.add_argument("--policy-pack", action="append", default=[], metavar="DIR", dest="policy_packs",
                         help="a CrossGuard pack every preview and up runs (repeatable; default: the project's policy/)")
    mode = rollout.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    mode.add_argument("--rehearse", action="store_true",
                      help="run the loop against Prometheus, rendering each step instead of pulumi up")
    rollout.add_argument("--format", choices=("text", "json"), default="text",
                         help="text for people; json: the plan, then one event a line (default text)")
    rollout.set_defaults(run=run)


def plan_text(plan) -> str:
    from meshplan.diff import formats as diff_formats
    from meshplan.rollout.loop import weights_text

    out = [f"meshplan rollout plan · stack {plan.stack} · {plan.service} → {plan.canary.version}",
           f"weights now: {weights_text(plan.current)}; a rollback returns to: {weights_text(plan.start)}"
           + (" (recorded in rollout.startedFrom: resuming)" if plan.resumed else ""),
           *(["a rollback did not finish (rollout.startedFrom.rollingBack): this run finishes it, no step is taken"]
             if plan.rolling_back else []),
           "gates, for destination_version " + f"{plan.canary.version} in {plan.canary.namespace}:"]
    out += [f"  {g.name:<22} {g.bounds():<12} {g.query}" for g in plan.gates]
    if not plan.steps and not plan.rolling_back:
        out.append("nothing to do: the canary already has its final share")
    elif plan.steps and plan.steps[0].planned.number > 1 and not plan.steps[0].planned.resumed:
        first = plan.steps[0].planned.number
        done = "step 1 is" if first == 2 else f"steps 1-{first - 1} are"
        out.append(f"starting at step {first}: {done} done already ({plan.canary.version} has "
                   f"{plan.current.get(plan.canary.version, 0)}% now)")
    for step in plan.steps:
        head = f"step {step.planned.number}: {weights_text(step.planned.weights)}"
        out += ["", head + ("  (recorded step, applied again and judged)" if step.planned.resumed else "")]
        out += [f"  {line}" for line in step.edit.lines()]
        if not step.planned.resumed:
            out += [f"  {line}" if line else "" for line in diff_formats.diff_text(step.diff).rstrip("\n").splitlines()]
    return "\n".join(out) + "\n"


def run(args: argparse.Namespace) -> int:
    from meshplan import interrupts
    from meshplan.render.engine import PROJECT_DIR
    from meshplan.rollout.prometheus import Prometheus
    from meshplan.rollout.loop import RolloutInterrupted, human_line, run_rollout
    from meshplan.rollout.apply import AutomationApplier, RehearsalApplier, RolloutApplyError
    from meshplan.rollout.plan import build_plan

    path, stack = stack_source(args)
    real = not (args.dry_run or args.rehearse)
    if not args.dry_run and not args.prometheus:
        raise ConfigError(file="meshplan rollout", path="--prometheus",
                          message="required to judge the steps (or give --dry-run)")
    prometheus = None
    if args.prometheus:
        try:
            prometheus = Prometheus(args.prometheus)
        except ValueError as error:
            raise ConfigError(file="meshplan rollout", path="--prometheus", message=str(error)) from None
    policy_packs = None
    if real:
        from meshplan.rollout.pulumi_cli import policy_pack_dirs

        policy_packs = policy_pack_dirs(args.policy_packs, PROJECT_DIR)
    plan = build_plan(path, stack=stack, service=args.service, to=args.to, steps=args.steps)

    def emit(event: dict) -> None:
        sys.stdout.write(json.dumps(event, default=str) + "\n" if args.format == "json" else human_line(event) + "\n")
        sys.stdout.flush()

    if args.format == "json":
        emit(plan.as_json())
    else:
        sys.stdout.write(plan_text(plan))
    if args.dry_run:
        if args.format == "text":
            count = len(plan.steps)
            sys.stdout.write(f"\ndry run: nothing was applied; {count} step{'s' if count != 1 else ''} planned "
                             "(run without --dry-run, with --prometheus, to take them)\n")
        return EXIT_PROMOTED
    target = args.stack or stack
    if args.format == "text":
        mode = "rehearsal: nothing is applied" if args.rehearse else f"applying with pulumi up on stack {target}"
        sys.stdout.write(f"\nrollout ({mode}); analysis every {args.interval:g}s against {args.prometheus}\n")
        sys.stdout.flush()
    if args.rehearse:
        applier = RehearsalApplier(path, stack=stack, max_step=plan.settings.rollout.max_step)
    else:
        # The CLI's own output goes to stderr, where it never mixes with --format json.
        applier = AutomationApplier(target, project_dir=PROJECT_DIR, config_file=path if args.config else None,
                                    policy_packs=policy_packs, on_output=_cli_line)
    try:
        with interrupts.deferred() if real else contextlib.nullcontext():
            outcome = run_rollout(plan, applier=applier, prometheus=prometheus, interval=args.interval,
                                  max_failures=args.max_failures, emit=emit)
    except RolloutApplyError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except RolloutInterrupted as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not outcome.promoted:
        print(f"error: {outcome.reason}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_PROMOTED


def _cli_line(line: str) -> None:
    print(f"    {line}", file=sys.stderr, flush=True)
