"""A real `meshplan rollout`, through the Automation API, against a stand-in `pulumi`
on PATH that behaves as the CLI does (tests/pulumi_standin.py): the commands and
flags each step runs, the preview before the first step, stack selection errors,
a failed rollback finished by a rerun, the order of config edits, and Ctrl-C or
SIGTERM while `pulumi up` runs, sent to meshplan alone or to its whole process group
as a terminal does."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests import pulumi_standin as standin
from tests.conftest import ROOT
from tests.prometheus_server import free_port

VS_URN = ("urn:pulumi:canary::bookinfo-mesh::bookinfo-mesh:routing:Routing$"
          "kubernetes:networking.istio.io/v1:VirtualService::routing-virtualservice-reviews")
STACK_YAML = {
    "bookinfo-mesh:environment": "staging",
    "bookinfo-mesh:app": {"namespace": "live"},
    "bookinfo-mesh:services": {"reviews": {"versions": ["v1", "v2", "v3"], "weights": {"v1": 80, "v2": 20}}},
    "bookinfo-mesh:rollout": {"maxStep": 50, "analysis": {"minRequests": 10}},
}
START = "the weights before the rollout (v1 80%, v2 20%)"
STEP_1 = "step 1 (v1 40%, v2 10%, v3 50%)"


class Cli:
    """The stand-in installed in a temporary directory, and meshplan run against it."""

    def __init__(self, tmp_path: Path, **settings):
        self.state = tmp_path / "state"
        self.bin = tmp_path / "bin"
        standin.install(self.bin, self.state, **{"stacks": ["canary"], **settings})
        self.stack_file = tmp_path / "Pulumi.canary.yaml"
        self.stack_file.write_text(yaml.safe_dump({"config": STACK_YAML}, sort_keys=False))
        self.env = {**os.environ, "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
                    "PULUMI_STANDIN_STATE": str(self.state), "NO_COLOR": "1"}

    def args(self, *extra: str, prometheus: str | None = None) -> list[str]:
        return [sys.executable, "-m", "meshplan", "rollout", "--config", str(self.stack_file), "--service", "reviews",
                "--to", "v3", "--steps", "50,100", "--interval", "1s", "--max-failures", "1",
                "--prometheus", prometheus or f"http://127.0.0.1:{free_port()}", *extra]

    def run(self, *extra: str, prometheus: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.args(*extra, prometheus=prometheus), cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=300)

    def start(self, *extra: str) -> subprocess.Popen:
        """meshplan as a terminal starts it: leading a process group of its own."""
        return subprocess.Popen(self.args(*extra), cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    def config(self) -> dict:
        return yaml.safe_load(self.stack_file.read_text())["config"]

    def ups(self) -> list[list[str]]:
        return [c for c in standin.calls(self.state) if c[:1] == ["up"]]

    def deployed_weights(self) -> dict[str, int]:
        vs = standin.deployed(self.state, "canary")["resources"][VS_URN]["inputs"]
        return {d["destination"]["subset"]: d.get("weight", 100) for d in vs["spec"]["http"][-1]["route"]}


def option(call: list[str], name: str) -> list[str]:
    return [call[i + 1] for i, a in enumerate(call) if a == name]


@pytest.fixture
def cli(tmp_path) -> Cli:
    made = Cli(tmp_path)
    standin.deploy(made.state, made.stack_file, "canary")
    return made


# --------------------------------------------------------------------------- each step's commands


def test_each_step_runs_up_on_only_its_objects_with_the_policy_pack_and_the_given_config_file(cli):
    done = cli.run()  # Prometheus unreachable: step 1 holds, then rolls back
    assert done.returncode == 1, done.stderr
    calls = standin.calls(cli.state)
    assert calls[:2] == [["version"], ["stack", "select", "--stack", "canary"]]
    preview = calls[2]
    assert preview[0] == "preview" and "--expect-no-changes" in preview
    for call in [preview, *cli.ups()]:
        assert option(call, "--policy-pack") == [str(ROOT / "policy")]
        assert option(call, "--config-file") == [str(cli.stack_file)]
        assert option(call, "--exec-kind") == ["auto.local"] and option(call, "--event-log")[0].startswith("tcp://")
    assert [option(up, "--message") for up in cli.ups()] == [["meshplan rollout: reviews v3 50% (step 1)"],
                                                             ["meshplan rollout: reviews rolled back from v3"]]
    for up in cli.ups():
        assert up[:3] == ["up", "--yes", "--skip-preview"]
        assert option(up, "--target") == [VS_URN] and "--target-dependents" not in up
    assert cli.deployed_weights() == {"v1": 80, "v2": 20, "v3": 0}
    # meshplan wrote the --config file as `pulumi config set --path` stores values: numbers as numbers.
    assert cli.config()["bookinfo-mesh:services"]["reviews"]["weights"] == {"v1": 80, "v2": 20, "v3": 0}
    assert "startedFrom" not in cli.config()["bookinfo-mesh:rollout"]


def drift(cli: Cli) -> None:
    """The stack as last deployed differs from its config by one Deployment's replicas."""
    drifted = {**STACK_YAML, "bookinfo-mesh:services": {**STACK_YAML["bookinfo-mesh:services"],
                                                        "details": {"replicas": 3}}}
    deployed_from = cli.stack_file.with_name("Pulumi.deployed.yaml")
    deployed_from.write_text(yaml.safe_dump({"config": drifted}))
    standin.deploy(cli.state, deployed_from, "canary")


def test_pending_changes_not_made_by_the_rollout_stop_it_before_anything_is_written(cli):
    drift(cli)
    before = cli.stack_file.read_text()
    done = cli.run()
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == ("error: stack canary has 1 pending change not made by this rollout; "
                                            "run pulumi up (or pulumi refresh) first")
    assert cli.stack_file.read_text() == before
    assert cli.ups() == [] and [c for c in standin.calls(cli.state) if c[0] == "config"] == []


def test_a_resumed_rollout_refuses_pending_changes_beyond_the_recorded_step(cli):
    record = {**STACK_YAML["bookinfo-mesh:rollout"], "startedFrom": {"service": "reviews", "to": "v3",
                                                                     "weights": {"v1": 80, "v2": 20}}}
    cli.stack_file.write_text(yaml.safe_dump({"config": {
        **STACK_YAML, "bookinfo-mesh:rollout": record,
        "bookinfo-mesh:services": {"reviews": {"versions": ["v1", "v2", "v3"],
                                               "weights": {"v1": 40, "v2": 10, "v3": 50}},
                                   "details": {"replicas": 3}}}}))
    done = cli.run()
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == ("error: stack canary has 1 pending change not made by this rollout; "
                                            "run pulumi up (or pulumi refresh) first")
    assert cli.ups() == []


# --------------------------------------------------------------------------- stacks


@pytest.mark.parametrize("settings, stack, message", [
    ({"stacks": ["canary"]}, "prod",
     "--stack = \"prod\": no stack named 'prod' found: not on the backend you are logged in to (pulumi stack ls "
     "--all lists the stacks you can reach; name a stack of another organization as <org>/bookinfo-mesh/prod)"),
    ({"stacks": ["acme/bookinfo-mesh/canary"]}, "canary",
     "--stack = \"canary\": no stack named 'canary' found: not on the backend you are logged in to (pulumi stack "
     "ls --all lists the stacks you can reach; name a stack of another organization as <org>/bookinfo-mesh/canary)"),
    ({"logged_in": False}, "canary",
     "--stack = \"canary\": PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions: log in "
     "first (pulumi login, or PULUMI_ACCESS_TOKEN for Pulumi Cloud, PULUMI_BACKEND_URL for a self-managed backend)"),
])
def test_stack_selection_errors_are_one_line_naming_the_stack_and_the_fix(cli, settings, stack, message):
    standin.configure(cli.state, **settings)
    done = cli.run("--stack", stack)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"error: meshplan rollout: {message}"]


def test_a_stack_of_another_organization_is_named_in_full(cli):
    standin.configure(cli.state, stacks=["acme/bookinfo-mesh/canary"])
    drift(cli)  # stops the rollout at its first preview
    done = cli.run("--stack", "acme/bookinfo-mesh/canary")
    assert done.stderr.splitlines()[-1].startswith("error: stack acme/bookinfo-mesh/canary has 1 pending change")
    assert [c[:2] for c in standin.calls(cli.state)[1:]] == [["stack", "select"], ["preview", "--expect-no-changes"]]
    assert {tuple(option(c, "--stack")) for c in standin.calls(cli.state)[1:]} == {("acme/bookinfo-mesh/canary",)}
    wrong = cli.run("--stack", "acme/other/canary")
    assert wrong.stderr.splitlines() == [
        "error: meshplan: --stack = \"acme/other/canary\": the project is bookinfo-mesh (Pulumi.yaml), not other"]


def test_the_stack_file_of_org_project_stack_is_its_last_segment():
    def dry_run(stack):
        return subprocess.run([sys.executable, "-m", "meshplan", "rollout", "--stack", stack, "--service", "reviews",
                               "--to", "v2", "--steps", "50,100", "--dry-run", "--format", "json"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    full, short = dry_run("acme/bookinfo-mesh/staging"), dry_run("staging")
    assert full.returncode == 0, full.stderr
    assert full.stdout == short.stdout


# --------------------------------------------------------------------------- policy packs


def test_a_missing_policy_venv_is_one_line_naming_its_fix(tmp_path, cli):
    from meshplan.rollout.pulumi_cli import policy_pack_dirs
    from model.errors import ConfigError

    (tmp_path / "project" / "policy").mkdir(parents=True)
    (tmp_path / "project" / "policy" / "PulumiPolicy.yaml").write_text((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    with pytest.raises(ConfigError, match=r"policy/venv is missing: run make policy-venv$"):
        policy_pack_dirs([], tmp_path / "project")
    pack = tmp_path / "project" / "policy"
    done = cli.run("--policy-pack", str(pack))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"error: meshplan rollout: --policy-pack = \"{pack}\": its virtualenv "
                                        f"{pack}/venv is missing: create it from {pack}/requirements.txt"]
    assert standin.calls(cli.state) == []


# --------------------------------------------------------------------------- a failed rollback


def test_a_failed_rollback_is_finished_by_a_rerun_that_never_steps_toward_the_canary(cli):
    standin.configure(cli.state, fail_up="rolled back")
    failed = cli.run()
    assert failed.returncode == 1
    assert failed.stderr.splitlines()[-1] == (
        f"error: pulumi up of the rollback failed: update failed; the stack config holds {START} with "
        f"rollout.startedFrom.rollingBack, the stack still holds {STEP_1}; run the same command to finish the rollback")
    config = cli.config()
    assert config["bookinfo-mesh:services"]["reviews"]["weights"] == {"v1": 80, "v2": 20, "v3": 0}
    assert config["bookinfo-mesh:rollout"]["startedFrom"] == {"service": "reviews", "to": "v3",
                                                             "weights": {"v1": 80, "v2": 20}, "rollingBack": True}
    assert cli.deployed_weights() == {"v1": 40, "v2": 10, "v3": 50}

    rerun = cli.run()
    assert rerun.returncode == 1
    assert rerun.stderr.splitlines()[-1] == \
        "error: finished rolling back reviews to v1 80%, v2 20% (rollout.startedFrom.rollingBack)"
    assert [option(up, "--message")[0].removeprefix("meshplan rollout: reviews ") for up in cli.ups()] == \
        ["v3 50% (step 1)", "rolled back from v3", "rolled back from v3"]
    assert "--expect-no-changes" not in [c for c in standin.calls(cli.state) if c[0] == "preview"][-1]
    assert cli.deployed_weights() == {"v1": 80, "v2": 20, "v3": 0}
    assert "startedFrom" not in cli.config()["bookinfo-mesh:rollout"]


# --------------------------------------------------------------------------- interrupted


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def standin_runs(cli: Cli) -> dict[int, list[dict]]:
    runs: dict[int, list[dict]] = {}
    for entry in standin.log(cli.state):
        runs.setdefault(entry["pid"], []).append(entry)
    return runs


@pytest.mark.parametrize("to_group, signum, phase", [
    (True, signal.SIGINT, "before"),       # Ctrl-C in a terminal: the whole foreground group
    (False, signal.SIGINT, "before"),      # kill -INT <meshplan>
    (False, signal.SIGTERM, "during"),     # a supervisor stopping meshplan while the step is in flight
])
def test_a_signal_while_up_runs_cancels_it_and_waits_for_it_then_says_where_the_stack_is(cli, to_group, signum, phase):
    standin.configure(cli.state, slow={"match": "(step 1)", "seconds": 3 if phase == "during" else 60,
                                       "phase": phase})
    meshplan = cli.start()
    wait_for(cli.state / "up-running", meshplan)
    (os.killpg if to_group else os.kill)(meshplan.pid, signum)
    out, err = meshplan.communicate(timeout=120)
    assert meshplan.returncode == 130, err
    up_pid = int((cli.state / "up-running").read_text())
    up_run = standin_runs(cli)[up_pid]
    # A terminal's Ctrl-C goes to meshplan's process group; the CLI is in one of its own, reached only through meshplan.
    assert up_run[0]["pgid"] == up_pid != meshplan.pid
    # The CLI got one SIGINT (never SIGTERM, which it does not trap), printed its line, finished and exited.
    assert [e["signal"] for e in up_run if e["event"] == "signal"] == ["SIGINT"]
    assert up_run[-1] == {"pid": up_pid, "event": "exit", "code": 255}
    assert "    ^C received; cancelling. If you would like to terminate immediately, press ^C again." in err
    assert list(cli.state.glob("lock.*")) == []
    if phase == "before":
        assert err.splitlines()[-1] == (
            f"error: interrupted; pulumi up of {STEP_1} was cancelled; the stack config holds {STEP_1}, the stack "
            f"still holds {START}; run the same command to resume")
        assert cli.deployed_weights() == {"v1": 80, "v2": 20}
    else:
        assert err.splitlines()[-1] == \
            f"error: interrupted; the stack config and the stack hold {STEP_1}; run the same command to resume"
        assert cli.deployed_weights() == {"v1": 40, "v2": 10, "v3": 50}
    assert cli.config()["bookinfo-mesh:rollout"]["startedFrom"]["weights"] == {"v1": 80, "v2": 20}

    standin.configure(cli.state, slow=None)
    resumed = cli.run()
    assert "resumed at 1: v1 40%, v2 10%, v3 50%" in resumed.stdout, resumed.stderr
    assert option(cli.ups()[-2], "--target") == [VS_URN]
    assert cli.deployed_weights() == {"v1": 80, "v2": 20, "v3": 0}


def test_a_second_ctrl_c_lets_pulumi_terminate_and_the_line_says_how_to_unlock(cli):
    standin.configure(cli.state, slow={"match": "(step 1)", "seconds": 60, "phase": "before", "wind_down": 60})
    meshplan = cli.start()
    wait_for(cli.state / "up-running", meshplan)
    os.killpg(meshplan.pid, signal.SIGINT)
    deadline = time.monotonic() + 60
    while not [e for e in standin.log(cli.state) if e["event"] == "signal"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(meshplan.pid, signal.SIGINT)
    out, err = meshplan.communicate(timeout=120)
    assert meshplan.returncode == 130
    assert "    ^C received; terminating" in err
    # The last line that says something: once, under a loaded CI machine, the output
    # of this run ended in an empty line after it (not reproduced since).
    assert [line for line in err.splitlines() if line.strip()][-1] == (
        f"error: interrupted; pulumi up of {STEP_1} was cancelled; the stack config holds {STEP_1}, the stack still "
        f"holds {START}; run the same command to resume (interrupted twice, pulumi terminated at once: if the stack "
        "is locked, run pulumi cancel first)")
    assert [p.name for p in cli.state.glob("lock.*")] == ["lock.canary"]


def test_a_signal_between_steps_stops_the_wait_at_once(cli):
    meshplan = cli.start("--interval", "10m")
    deadline = time.monotonic() + 120
    while len([e for e in standin.log(cli.state) if e["event"] == "exit"]) < 7:  # version … up, output ×2, history
        assert meshplan.poll() is None and time.monotonic() < deadline, meshplan.communicate()
        time.sleep(0.05)
    os.killpg(meshplan.pid, signal.SIGINT)
    out, err = meshplan.communicate(timeout=30)
    assert meshplan.returncode == 130
    assert err.splitlines()[-1] == \
        f"error: interrupted; the stack config and the stack hold {STEP_1}; run the same command to resume"


# --------------------------------------------------------------------------- config edits


def test_a_first_step_cut_short_between_its_config_commands_keeps_the_true_start(tmp_path, monkeypatch):
    """The stack's own file, edited by the CLI: `set-all` (the record and the weights)
    runs before `rm ...to`, so a failure between them leaves `to` beside `weights`,
    which the program refuses, with the true start on record; a rerun finishes it."""
    from meshplan.rollout.prometheus import Prometheus
    from meshplan.rollout.loop import run_rollout
    from meshplan.rollout.apply import AutomationApplier, RolloutApplyError
    from meshplan.rollout.plan import build_plan
    from model.errors import ConfigError
    from model.settings import parse_settings, read_stack_file

    cli = Cli(tmp_path, fail_config_rm="services.reviews.to")
    cli.stack_file.write_text(yaml.safe_dump({"config": {
        **STACK_YAML, "bookinfo-mesh:services": {"reviews": {"versions": ["v1", "v2", "v3"], "to": "v2"}}}}))
    standin.deploy(cli.state, cli.stack_file, "canary")
    monkeypatch.setenv("PATH", cli.env["PATH"])
    monkeypatch.setenv("PULUMI_STANDIN_STATE", str(cli.state))

    def rollout():
        plan = build_plan(cli.stack_file, stack="canary", service="reviews", to="v3", steps=(50, 100))
        applier = AutomationApplier("canary", project_dir=tmp_path, policy_packs=[str(ROOT / "policy")])
        return run_rollout(plan, applier=applier, prometheus=Prometheus(f"http://127.0.0.1:{free_port()}", timeout=2),
                           interval=0.01, max_failures=1, emit=lambda event: None)

    with pytest.raises(RolloutApplyError) as failed:
        rollout()
    assert str(failed.value) == (
        "writing step 1 (v2 50%, v3 50%) into the stack config failed: pulumi config failed: could not save the stack "
        "configuration; the stack still holds the weights before the rollout (v2 100%); run the same command to resume")
    edits = [c[:2] + c[2:3] for c in standin.calls(cli.state) if c[0] == "config"]
    assert edits == [["config", "set-all", "--stack"], ["config", "rm", "bookinfo-mesh:services.reviews.to"]]
    cut_short = read_stack_file(str(cli.stack_file))
    assert cut_short["services"]["reviews"]["to"] == "v2"
    assert cut_short["services"]["reviews"]["weights"] == {"v2": 50, "v3": 50}
    assert cut_short["rollout"]["startedFrom"]["weights"] == {"v2": 100}
    with pytest.raises(ConfigError, match=r"services.reviews.to: give either to \(one version\) or weights"):
        parse_settings(cut_short, stack="canary", source=str(cli.stack_file))

    outcome = rollout()  # Prometheus unreachable: the resumed step holds, and rolls back to the true start
    assert outcome.reason.startswith("rolled back reviews to v2 100% at step 1")
    finished = read_stack_file(str(cli.stack_file))
    assert finished["services"]["reviews"] == {"versions": ["v1", "v2", "v3"], "weights": {"v2": 100, "v3": 0}}
    assert "startedFrom" not in finished["rollout"]
    assert cli.deployed_weights() == {"v2": 100, "v3": 0}


def test_meshplan_writes_a_config_file_as_config_set_path_stores_it(tmp_path, monkeypatch):
    from meshplan.rollout.apply import stored_by_config_set_path, write_config
    from meshplan.rollout.plan import ConfigEdit

    for text in ("90", "0", "007", "true", "false", "v3", "-5", "1.5", "reviews"):
        assert stored_by_config_set_path(text) == standin.adjust_object_value(text), text
    path = tmp_path / "Pulumi.canary.yaml"
    path.write_text(yaml.safe_dump({"config": STACK_YAML}))
    path.chmod(0o640)
    write_config(path, ConfigEdit(sets={"services.reviews.weights.v3": 10, "rollout.startedFrom.rollingBack": True,
                                        "rollout.startedFrom.to": "v3"}))
    written = yaml.safe_load(path.read_text())["config"]
    assert written["bookinfo-mesh:services"]["reviews"]["weights"] == {"v1": 80, "v2": 20, "v3": 10}
    assert written["bookinfo-mesh:rollout"]["startedFrom"] == {"rollingBack": True, "to": "v3"}
    assert path.stat().st_mode & 0o777 == 0o640
    # A write cut short leaves the file as it was: it is replaced in one step.
    before = path.read_text()
    monkeypatch.setattr(yaml, "safe_dump", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        write_config(path, ConfigEdit(removals=("rollout",)))
    assert path.read_text() == before and sorted(p.name for p in tmp_path.iterdir()) == ["Pulumi.canary.yaml"]
