"""The rollout plan `meshplan diff` suggests is runnable as printed: it names the stack
as the diff was given it, parses as a `meshplan rollout` command, and, run on the
base's stack config, ends at the change's weights; where no rollout can, it says why.
And the README's walkthrough and rollout examples, run offline, are accepted."""
from __future__ import annotations

import json
import re
import shlex

import yaml

from meshplan.cli import build_parser, main
from tests.conftest import ROOT, docs_text

README = docs_text()
PROGRAM = ["meshplan"]

BASE = ("config:\n  bookinfo-mesh:environment: staging\n  bookinfo-mesh:services:\n"
        "    reviews:\n      versions: [{versions}]\n      weights: {{{weights}}}\n")


def stack_text(weights: str, versions: str = "v1, v2, v3") -> str:
    return BASE.format(versions=versions, weights=weights)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def suggested(out: str) -> list[str]:
    """The arguments of the rollout command the diff printed (after the program)."""
    [line] = [line.strip() for line in out.splitlines() if line.strip().startswith("meshplan rollout")]
    words = shlex.split(line)
    assert words[:1] == PROGRAM
    return words[1:]


def test_the_command_names_the_file_given_with_config_and_ends_at_the_weights_written(capsys, tmp_path):
    folder = tmp_path / "stack files"  # a space: the printed path must be quoted
    folder.mkdir()
    head, base = folder / "Pulumi.canary.yaml", folder / "base.yaml"
    head.write_text(stack_text("v1: 40, v2: 10, v3: 50"))
    base.write_text(stack_text("v1: 80, v2: 20"))
    code, out, _ = run(capsys, "diff", "--config", str(head), "--base-config", str(base), "--max-step", "25")
    assert code == 1  # the jump itself is refused by the step guard
    assert ("Rollout plan (instead of this change, from the base's weights: steps of at most 25 points, "
            "gated on metrics)") in out
    assert "bookinfo/reviews → v3 in 2 steps: 1) v1 60%, v2 15%, v3 25%; 2) v1 40%, v2 10%, v3 50%" in out
    argv = suggested(out)
    args = build_parser().parse_args(argv)
    assert (args.command, args.config, args.stack, args.service, args.to, args.steps) == (
        "rollout", str(head), None, "reviews", "v3", (25, 50))

    head.write_text(base.read_text())  # where the stack config still holds the base's weights
    code, out, err = run(capsys, *argv, "--dry-run", "--format", "json")
    assert (code, err) == (0, "")
    plan = json.loads(out.splitlines()[0])
    assert [step["weights"] for step in plan["steps"]] == [{"v1": 60, "v2": 15, "v3": 25},
                                                          {"v1": 40, "v2": 10, "v3": 50}]


def test_without_a_step_limit_the_plan_is_one_step_and_says_so(capsys, tmp_stack):
    head = tmp_stack(stack_text("v1: 40, v2: 10, v3: 50"), "Pulumi.canary.yaml")
    base = tmp_stack(stack_text("v1: 80, v2: 20"), "base.yaml")
    code, out, _ = run(capsys, "diff", "--config", str(head), "--base-config", str(base))
    assert code == 2
    assert "maxStep" not in out
    assert "(instead of this change, from the base's weights: one step, as no step limit is set, gated on metrics)" in out
    assert build_parser().parse_args(suggested(out)).steps == (50,)
    code, out, _ = run(capsys, "diff", "--config", str(head), "--base-config", str(base), "--format", "markdown")
    assert "maxStep" not in out
    assert "Instead of this change, from the base's weights: one step, as no step limit is set, gated on metrics:" in out


def test_a_stack_given_by_name_is_named_by_name(capsys, tmp_stack):
    base = tmp_stack(stack_text("v1: 100", versions="v1, v2"), "base.yaml")
    code, out, _ = run(capsys, "diff", "--stack", "staging", "--base-config", str(base))
    assert code == 2
    args = build_parser().parse_args(suggested(out))
    assert (args.stack, args.config, args.to, args.steps) == ("staging", None, "v2", (20,))


def test_weights_no_rollout_reaches_get_the_reason_not_a_command(capsys, tmp_stack):
    base = tmp_stack(stack_text("v1: 80, v2: 20"), "base.yaml")
    head = tmp_stack(stack_text("v1: 50, v2: 20, v3: 50"), "Pulumi.head.yaml")
    code, out, _ = run(capsys, "diff", "--config", str(head), "--base-config", str(base))
    assert code == 2
    assert ("bookinfo/reviews → v3: no rollout plan: meshplan rollout cannot reach this change's weights "
            "(v1 50, v2 20, v3 50) from the base's (v1 80, v2 20): it moves v3 in whole percentages and keeps "
            "the other versions in their proportions") in out
    assert "meshplan rollout --" not in out


def test_a_canary_the_base_does_not_deploy_gets_no_command(capsys, tmp_stack):
    base = tmp_stack(stack_text("v1: 80, v2: 20", versions="v1, v2"), "base.yaml")
    head = tmp_stack(stack_text("v1: 40, v2: 10, v3: 50"), "Pulumi.head.yaml")
    code, out, _ = run(capsys, "diff", "--config", str(head), "--base-config", str(base), "--format", "markdown")
    assert code == 2
    assert ("- bookinfo/reviews → v3: no rollout plan: v3 is not deployed in the base; deploy it in a change of "
            "its own, then roll traffic to it\n") in out
    assert "meshplan rollout --" not in out


# ------------------------------------------------------------ the README, run offline


def test_the_walkthrough_weight_change_is_accepted_by_meshplan_diff(capsys, tmp_path):
    """Step 6 of "From zero to `pulumi up`", made to a copy of the stack file the way
    `pulumi config set --path` makes it (a number stays a number)."""
    block = README.split("6. Change a weight, preview, deploy", 1)[1].split("```", 2)[1]
    edits = re.findall(r"pulumi config set --path '([\w.]+)' (\S+) --stack (\S+)", block)
    assert len(edits) == 2 and {stack for *_, stack in edits} == {"staging"}
    document = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    for path, value, _ in edits:
        head, *rest = path.split(".")
        node = document["config"].setdefault(f"bookinfo-mesh:{head}", {})
        for key in rest[:-1]:
            node = node.setdefault(key, {})
        node[rest[-1]] = yaml.safe_load(value)
    changed = tmp_path / "Pulumi.staging.yaml"
    changed.write_text(yaml.safe_dump(document))
    code, out, err = run(capsys, "diff", "--config", str(changed), "--base-config", str(ROOT / "Pulumi.staging.yaml"))
    assert code == 2 and "error" not in err
    assert "traffic: reviews v1 80% → 50%, v2 20% → 50%" in out


def test_the_rollout_headline_command_plans_offline_on_its_stack(capsys, monkeypatch):
    block = docs_text("rollout.md").split("## Progressive delivery: meshplan rollout", 1)[1].split("```\n", 2)[1]
    words = shlex.split(block.split("\\\n", 1)[0])
    assert words[:2] == [*PROGRAM, "rollout"] and "--stack" in words
    monkeypatch.chdir(ROOT)
    code, out, err = run(capsys, *words[1:], "--dry-run")
    assert (code, err) == (0, "")
    assert "meshplan rollout plan · stack staging · reviews → v2" in out and "\nstep 1: " in out


def test_the_readme_rollout_plan_sample_is_what_diff_prints(capsys, monkeypatch):
    sample = README.split("`tests/test_rollout_suggestion.py`)\n\n```\n", 1)[1].split("```", 1)[0]
    command, printed = sample.split("\n...\n", 1)
    words = shlex.split(command.removeprefix("$ ").replace("\\\n", " "))
    assert words[:2] == [*PROGRAM, "diff"]
    monkeypatch.chdir(ROOT)
    code, out, _ = run(capsys, *words[1:])
    assert code == 1  # the jump is refused; the plan is the way to make it
    assert printed in out
