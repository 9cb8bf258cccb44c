"""The bms stack as the repository holds it, without its database password: offline
(`meshplan render`, `diff`, `check`, and so CI) it renders with the Secret shown as
`[secret: not set]`, one warning naming the command that sets it, and exit 0; the
stand-in is still a Pulumi secret; where the value would be deployed (the program
under the engine) the same line is an error, and a plaintext value is one everywhere."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from meshplan.cli import main
from meshplan.render.recording import SECRET_KEY, SECRET_SIG
from model.settings import read_stack_file
from tests.conftest import ROOT

NOT_SET = "[secret: not set]"
WARNING = ("warning: Pulumi.bms.yaml: bookinfo-mesh:databasePassword: not set; set it with "
           "pulumi config set --secret databasePassword <value> --stack bms")
SECRET_URN_NAME = "workloads-secret-bookinfo-db"


@pytest.fixture
def at_root(monkeypatch):
    """Commands run where a user runs them, so files are named as the user typed them."""
    monkeypatch.chdir(ROOT)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_stack_file_holds_no_password():
    assert "databasePassword" not in read_stack_file(str(ROOT / "Pulumi.bms.yaml"))


# ----------------------------------------------------------------- render


def test_render_warns_once_with_the_command_that_sets_the_password_and_exits_0(capsys, at_root):
    code, out, err = run(capsys, "render", "--stack", "bms")
    assert (code, err) == (0, WARNING + "\n")
    secret_lines = [line for line in out.splitlines() if NOT_SET in line]
    assert len(secret_lines) == 1
    assert "kubernetes:core/v1:Secret  workloads-secret-bookinfo-db  (bookinfo/bookinfo-db)" in secret_lines[0]
    assert secret_lines[0].endswith(f"  {NOT_SET}")


def test_render_json_registers_every_object_with_the_secret_shown_as_not_set(capsys, at_root):
    code, out, err = run(capsys, "render", "--stack", "bms", "--format", "json")
    assert code == 0
    assert err.splitlines()[0] == WARNING and err.count("warning: ") == 1
    resources = json.loads(out)["resources"]
    (secret,) = [r for r in resources if r["name"] == SECRET_URN_NAME]
    assert secret["inputs"]["stringData"] == NOT_SET
    assert [r["name"] for r in resources if NOT_SET in json.dumps(r)] == [SECRET_URN_NAME]
    # The consumers still read it by reference, as with the password set.
    assert sum('"secretKeyRef"' in json.dumps(r) for r in resources) == 5


def test_render_yaml_shows_the_secret_as_not_set(capsys, at_root):
    code, out, err = run(capsys, "render", "--stack", "bms", "--format", "yaml")
    assert code == 0 and err.splitlines()[0] == WARNING
    secrets = [d for d in yaml.safe_load_all(out) if d and d.get("kind") == "Secret"]
    assert [(s["metadata"]["name"], s["stringData"]) for s in secrets] == [("bookinfo-db", NOT_SET)]


def test_a_stack_that_sets_the_password_renders_without_a_warning(capsys, tmp_path):
    # The `secure:` value offline: set, never decrypted, shown as [secret].
    stack = tmp_path / "Pulumi.bms.yaml"
    stack.write_text((ROOT / "Pulumi.bms.yaml").read_text() + "  bookinfo-mesh:databasePassword:\n    secure: v1:AAAA\n")
    code, out, err = run(capsys, "render", "--config", str(stack), "--format", "json")
    assert (code, err.count("warning: ")) == (0, 0)
    (secret,) = [r for r in json.loads(out)["resources"] if r["name"] == SECRET_URN_NAME]
    assert secret["inputs"]["stringData"] == "[secret]"


# ----------------------------------------------------------------- still a secret
# (the program's own edge, and its refusal under the engine: tests/test_bms_secrets.py)


def test_the_stand_in_the_program_hands_its_workloads_is_a_secret_output(monkeypatch):
    """The Output the program's config edge gives for the unset password during an
    offline render of the stack file, read through the SDK's own secret flag."""
    import pulumi

    import components.config
    from meshplan.render import engine

    seen = {}
    read = components.config.load_secrets

    def load_secrets(settings):
        values = read(settings)
        for key, value in values.items():
            pulumi.Output.all(value.is_secret(), value).apply(lambda flag_and_value, key=key: seen.update(
                {key: tuple(flag_and_value)}))
        return values

    monkeypatch.setattr(components.config, "load_secrets", load_secrets)  # __main__ imports it afresh
    engine.render(ROOT / "Pulumi.bms.yaml", stack="bms")
    assert seen == {"databasePassword": (True, NOT_SET)}


def test_the_secret_reaches_the_monitor_as_a_secret_holding_the_stand_in(monkeypatch):
    """What the SDK sent the monitor for the Secret's stringData: the engine's secret
    signature around the stand-in (pulumi-kubernetes also marks stringData secret)."""
    from meshplan.render import engine

    sent: list[dict] = []
    registrations = engine.registrations_of
    monkeypatch.setattr(engine, "registrations_of",
                        lambda records: sent.extend(records) or registrations(records))
    engine.render(ROOT / "Pulumi.bms.yaml", stack="bms")
    (secret,) = [r["inputs"] for r in sent if r["name"] == SECRET_URN_NAME]
    assert secret["stringData"] == {SECRET_KEY: SECRET_SIG, "value": {"password": NOT_SET}}


# ----------------------------------------------------------------- plaintext


PLAINTEXT_ERROR = ("error: {file}: bookinfo-mesh:databasePassword: holds plaintext; a password must be a "
                   "Pulumi secret: set it with `pulumi config set --secret databasePassword <value> --stack bms`")


@pytest.mark.parametrize("command", [["render"], ["check"], ["diff", "--base-config", "{file}"]])
def test_a_plaintext_password_stays_an_error_offline(capsys, tmp_path, command):
    stack = tmp_path / "Pulumi.bms.yaml"
    stack.write_text((ROOT / "Pulumi.bms.yaml").read_text() + "  bookinfo-mesh:databasePassword: hunter2\n")
    code, out, err = run(capsys, *[a.replace("{file}", str(stack)) for a in command], "--config", str(stack))
    assert (code, out, err) == (1, "", PLAINTEXT_ERROR.format(file=stack) + "\n")


# ----------------------------------------------------------------- check and diff


def test_check_analyses_the_stack_warns_and_exits_0(capsys, at_root):
    code, out, err = run(capsys, "check", "--stack", "bms")
    assert (code, err) == (0, WARNING + "\n")
    assert "[BM" in out and "error [" not in out


def test_diff_of_bms_against_itself_is_no_change_with_one_warning(capsys, at_root):
    code, out, err = run(capsys, "diff", "--stack", "bms", "--base-config", "Pulumi.bms.yaml")
    assert (code, err) == (0, WARNING + "\n")
    assert "no resource changes" in out


def test_diff_shows_the_secret_changing_once_it_is_set(capsys, tmp_path, at_root):
    set_file = tmp_path / "Pulumi.bms.yaml"
    set_file.write_text((ROOT / "Pulumi.bms.yaml").read_text() + "  bookinfo-mesh:databasePassword:\n"
                                                                   "    secure: v1:AAAA\n")
    code, out, err = run(capsys, "diff", "--config", str(set_file), "--base-config", "Pulumi.bms.yaml",
                         "--format", "json")
    assert code == 2 and err.splitlines()[0] == WARNING and err.count("warning: ") == 1
    (change,) = json.loads(out)["changes"]
    assert change["name"] == SECRET_URN_NAME and NOT_SET in json.dumps(change) and "[secret]" in json.dumps(change)


def _git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.com",
                           *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_ci_diffs_bms_for_a_code_change_against_the_base_branch(tmp_path):
    """What the workflow does on a pull request that changes shared code: bms is
    among the changed stacks, and its `meshplan diff --base-ref` (base rendered in a
    worktree) succeeds with the warning on stderr, for a repository holding this code."""
    from ci.changed_stacks import touched_stacks

    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(
        ".git", "venv", "__pycache__", ".pytest_cache", ".hypothesis"))
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    code_file = repo / "model" / "settings" / "parse.py"
    code_file.write_text(code_file.read_text() + "\n")
    _git(repo, "commit", "-qam", "a change to shared code")

    changed = _git(repo, "diff", "--name-only", "HEAD~1...HEAD").splitlines()
    assert "bms" in touched_stacks(changed, root=repo)
    done = subprocess.run([sys.executable, "-m", "meshplan", "diff", "--stack", "bms", "--base-ref", "HEAD~1",
                           "--format", "markdown"], cwd=repo, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(repo), "NO_COLOR": "1"})
    assert (done.returncode, done.stderr.splitlines()[0]) == (0, WARNING), done.stderr
    assert done.stderr.count("warning: ") == 1


def test_the_workflow_diff_step_treats_bms_like_any_stack():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "preview.yml").read_text())
    (step,) = [s for s in workflow["jobs"]["meshplan"]["steps"] if s.get("id") == "diff"]
    assert "bms" not in step["run"] and "databasePassword" not in step["run"]
