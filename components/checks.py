"""The program's own gates, run on every preview and update: the offline analyzers
over every object the settings imply, before any component registers one (errors
stop the run with nothing sent), and the rollout step guard against the traffic the
stack last exported (a verdict the routing objects wait for: `components.verdicts`).

Both rules live in `model/`; this module only feeds them and turns a refusal into a
`pulumi.RunError`, whose message the engine prints alone, without a traceback."""
from __future__ import annotations

from typing import Sequence

import pulumi

from components.check_enforcement import findings_stop_the_run
from components.stack_reads import StackReads
from components.verdicts import Verdict
from model.analysis import errors
from model.observability import observability_objects
from model.traffic_changes import shares_from_output, step_violations, traffic_changes
from model.routing import routing_objects
from model.settings import Settings
from model.stack_analysis import analyze_stack, installed_releases
from model.traffic import traffic_table

TRAFFIC_OUTPUT = "traffic"


def check_objects(settings: Settings, objects: Sequence[dict]) -> None:
    """Run the analyzers over `objects` and the Istio releases the settings install
    (what this stack is about to register); raise RunError listing the errors, warn
    about the rest."""
    findings = analyze_stack(settings, objects, installed_releases(settings))
    if not findings_stop_the_run():
        return
    for finding in findings:
        if finding.level != "error":
            pulumi.log.warn(str(finding))
    failed = errors(findings)
    if failed:
        raise pulumi.RunError(f"{len(failed)} analysis error(s): " + "; ".join(str(f) for f in failed))


def self_reference_name() -> str:
    """`<org>/<project>/<stack>`: this very stack, as a StackReference names it."""
    return f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"


def guard_rollout(settings: Settings, reads: StackReads) -> Verdict:
    """With `rollout.guardPreviews` and `rollout.maxStep` set, compare the traffic
    about to be applied with the `traffic` output of the last deployment and fail
    (preview included) on a larger step. The verdict's summary says what was judged;
    the routing objects wait for it (see `__main__.py`)."""
    rollout = settings.rollout
    if not settings.layers.holds("traffic") or not rollout.guard_previews or rollout.max_step is None:
        return Verdict(pulumi.Output.from_input("off"))
    # The bodies the Routing component registers, built from the same settings: the
    # guard judges them before that component exists, since it waits for the verdict.
    current = traffic_table(routing_objects(settings) + observability_objects(settings))
    previous = reads.output(self_reference_name(), TRAFFIC_OUTPUT)

    def judge(rows) -> str:
        if not rows:
            return "no previous traffic"
        refused = step_violations(traffic_changes(shares_from_output(rows), current), rollout.max_step)
        if refused:
            raise pulumi.RunError("; ".join(refused))
        return f"within {rollout.max_step:g} points"

    return Verdict(previous.apply(judge))
