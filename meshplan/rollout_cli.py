"""`meshplan rollout`: progressive delivery of a canary version from stack config.

    meshplan rollout --stack staging --service reviews --to v3 --steps 10,25,50,100 \\
        --interval 5m --prometheus http://prometheus.istio-system:9090 [--max-failures N]
        [--dry-run | --rehearse] [--format text|json]

The plan first (every step as the `meshplan diff` of that step); `--dry-run` stops
there. Then each step is applied (`pulumi up` through the Automation API, or with
`--rehearse` rendered through the program instead), judged by the gates after the
interval, and promoted or, after --max-failures, rolled back. Exit 0 promoted, 1
rolled back, refused or failed (the reason in one line on stderr)."""
from __future__ import annotations

import argparse
import json
import sys

from model.errors import ConfigError

EXIT_PROMOTED, EXIT_FAILED = 0, 1
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
    from meshplan.rollout import parse_duration

    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def add_parser(commands, add_stack_options) -> None:
    rollout = commands.add_parser("rollout", help="step a canary through its weights with metric gates")
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
    mode = rollout.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    mode.add_argument("--rehearse", action="store_true",
                      help="run the loop against Prometheus, rendering each step instead of pulumi up")
    rollout.add_argument("--format", choices=("text", "json"), default="text")
    rollout.set_defaults(run=run)


def plan_text(plan) -> str:
    from meshplan import diff_formats
    from meshplan.rollout import _weights

    out = [f"meshplan rollout plan · stack {plan.stack} · {plan.service} → {plan.canary.version}",
           f"weights now: {_weights(plan.current)}; a rollback returns to: {_weights(plan.start)}"
           + (" (recorded in rollout.startedFrom: resuming)" if plan.resumed else ""),
           "gates, for destination_version " + f"{plan.canary.version} in {plan.canary.namespace}:"]
    out += [f"  {g.name:<22} {g.bounds():<12} {g.query}" for g in plan.gates]
    if not plan.steps:
        out.append("nothing to do: the canary already has its final share")
    for step in plan.steps:
        head = f"step {step.planned.number}: {_weights(step.planned.weights)}"
        out += ["", head + ("  (recorded step, applied again and judged)" if step.planned.resumed else "")]
        out += [f"  {line}" for line in step.edit.lines()]
        if not step.planned.resumed:
            out += [f"  {line}" if line else "" for line in diff_formats.diff_text(step.diff).rstrip("\n").splitlines()]
    return "\n".join(out) + "\n"


def run(args: argparse.Namespace) -> int:
    from meshplan.cli import _stack_source
    from meshplan.engine import PROJECT_DIR, stack_file
    from meshplan.prometheus import Prometheus
    from meshplan.rollout import human_line, run_rollout
    from meshplan.rollout_apply import AutomationApplier, RehearsalApplier, RolloutApplyError
    from meshplan.rollout_plan import build_plan

    path, stack = _stack_source(args)
    if args.config and not (args.dry_run or args.rehearse) and path.resolve() != stack_file(stack).resolve():
        raise ConfigError(file="meshplan rollout", path="--config",
                          message=f"a rollout edits the stack's own Pulumi.{stack}.yaml; --config is for --dry-run "
                                  "and --rehearse")
    if not args.dry_run and not args.prometheus:
        raise ConfigError(file="meshplan rollout", path="--prometheus",
                          message="required to judge the steps (or give --dry-run)")
    prometheus = None
    if args.prometheus:
        try:
            prometheus = Prometheus(args.prometheus)
        except ValueError as error:
            raise ConfigError(file="meshplan rollout", path="--prometheus", message=str(error)) from None
    plan = build_plan(path, stack=stack, service=args.service, to=args.to, steps=args.steps)

    def emit(event: dict) -> None:
        sys.stdout.write(json.dumps(event, default=str) + "\n" if args.format == "json" else human_line(event) + "\n")
        sys.stdout.flush()

    if args.format == "json":
        emit(plan.as_json())
    else:
        sys.stdout.write(plan_text(plan))
    if args.dry_run:
        return EXIT_PROMOTED
    if args.format == "text":
        mode = "rehearsal: nothing is applied" if args.rehearse else f"applying with pulumi up on stack {stack}"
        sys.stdout.write(f"\nrollout ({mode}); analysis every {args.interval:g}s against {args.prometheus}\n")
    if args.rehearse:
        applier = RehearsalApplier(path, stack=stack, max_step=plan.settings.rollout.max_step)
    else:
        applier = AutomationApplier(stack, project_dir=PROJECT_DIR,
                                    on_output=lambda line: print(f"    {line}", file=sys.stderr))
    try:
        outcome = run_rollout(plan, applier=applier, prometheus=prometheus, interval=args.interval,
                              max_failures=args.max_failures, emit=emit)
    except RolloutApplyError as error:
        print(f"error: {error}; the stack config holds the last step written: run the same command to resume",
              file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("error: interrupted; the stack config holds the last step written: run the same command to resume",
              file=sys.stderr)
        return EXIT_FAILED
    if not outcome.promoted:
        print(f"error: {outcome.reason}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_PROMOTED
