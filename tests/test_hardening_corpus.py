"""Malformed input and misuse, case by case: every stack file, manifest and exported
state in `tests/corpus/cases.py` ends in exactly the one line expected (or is
accepted where it should be), within a time box, and generated YAML never gets
anything but one of those lines out of a reader. CLI misuse runs in subprocesses,
where a hang, a traceback or an exit code would show."""
from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from meshplan.check import check_manifests
from meshplan.diff.states import state_from_export
from model.errors import ConfigError
from model.settings import parse_settings, read_stack_file
from tests.conftest import ROOT
from tests.upstream import missing_tool
from tests.corpus import request_cases
from tests.corpus.cases import MANIFESTS, OK, STACK_FILES, STATES

STACK_FILES = {**STACK_FILES, **request_cases.STACK_FILES}

TIME_BOX_SECONDS = 3


class TimedOut(Exception):
    pass


@contextlib.contextmanager
def time_box(seconds: float = TIME_BOX_SECONDS):
    """Fail a case that runs longer than `seconds` (a hang), in this process."""
    def expire(signum, frame):
        raise TimedOut(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def outcome(path, read) -> str:
    with time_box():
        try:
            read(str(path))
        except ConfigError as error:
            text = str(error)
            assert "\n" not in text
            return text.replace(str(path), "{file}")
    return OK


def _write(path, content) -> None:
    path.write_bytes(content if isinstance(content, bytes) else content.encode())


def _stack(path: str) -> None:
    parse_settings(read_stack_file(path), stack="test", source=path)


@pytest.mark.parametrize("name", list(STACK_FILES))
def test_stack_file_case_ends_in_its_one_line(name, tmp_path):
    content, expected = STACK_FILES[name]
    path = tmp_path / "Pulumi.test.yaml"
    _write(path, content)
    assert outcome(path, _stack) == expected


@pytest.mark.parametrize("name", list(MANIFESTS))
def test_manifest_case_ends_in_its_one_line(name, tmp_path):
    content, expected = MANIFESTS[name]
    path = tmp_path / "objects.yaml"
    _write(path, content)
    assert outcome(path, lambda p: check_manifests([p])) == expected


@pytest.mark.parametrize("name", list(STATES))
def test_state_case_ends_in_its_one_line(name, tmp_path):
    content, expected = STATES[name]
    path = tmp_path / "state.json"
    _write(path, content)
    assert outcome(path, state_from_export) == expected


def test_the_corpus_covers_every_class_of_input():
    assert len(STACK_FILES) + len(MANIFESTS) + len(STATES) + len(CLI_CASES) >= 150
    for table in (STACK_FILES, MANIFESTS, STATES):
        assert any(expected == OK for _, expected in table.values())
        assert any("given twice" in str(expected) for _, expected in table.values())
        assert any("nested deeper" in str(expected) for _, expected in table.values())


def test_the_limits_refuse_50_mb_inputs_quickly(tmp_path):
    for name in ("50 MB value", "50 MB of other projects' keys"):
        path = tmp_path / "Pulumi.big.yaml"
        _write(path, STACK_FILES[name][0])
        started = time.perf_counter()
        assert "1 MiB limit" in outcome(path, _stack)
        assert time.perf_counter() - started < 0.5


# ----------------------------------------------------------------- generated YAML

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                     st.text(max_size=12))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
_yaml_text = st.one_of(
    _values.map(lambda v: yaml.safe_dump(v)),
    st.dictionaries(st.sampled_from(["environment", "app", "services", "istio", "ingress", "rollout", "x"]),
                    _values, max_size=3).map(
        lambda d: yaml.safe_dump({"config": {f"bookinfo-mesh:{k}": v for k, v in d.items()}})),
    st.text(alphabet="{}[]:-,&*!|>'\"#%@` \n\tabc01", max_size=60),
)


def _only_one_line_or_nothing(tmp_path, text: str, name: str, read) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = outcome(path, read)
    assert result == OK or result.startswith("{file}")


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_yaml_text)
def test_generated_yaml_stack_files_end_in_one_line_or_parse(tmp_path, text):
    _only_one_line_or_nothing(tmp_path, text, "Pulumi.gen.yaml", _stack)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(_yaml_text, _values.map(lambda v: yaml.safe_dump(
    {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "v"}, "spec": v}))))
def test_generated_yaml_manifests_end_in_one_line_or_are_analysed(tmp_path, text):
    _only_one_line_or_nothing(tmp_path, text, "gen.yaml", lambda p: check_manifests([p]))


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(_values.map(json.dumps), _values.map(lambda v: json.dumps({"deployment": {"resources": v}})),
                 _values.map(lambda v: json.dumps({"deployment": {"resources": [
                     {"urn": "u::t::n", "type": "kubernetes:networking.istio.io/v1:VirtualService",
                      "inputs": {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "spec": v}}]}}))))
def test_generated_states_end_in_one_line_or_load(tmp_path, text):
    _only_one_line_or_nothing(tmp_path, text, "gen.json", state_from_export)


# ----------------------------------------------------------------- the CLI

PYTHON = sys.executable
CATCH_ALL = """config:
  bookinfo-mesh:environment: dev
  bookinfo-mesh:rollout: {maxStep: 25}
  bookinfo-mesh:services:
    reviews:
      versions: [v1, v3]
      routes:
        - match: {uri: %s}
          to: v3
      to: v1
"""
BASE = """config:
  bookinfo-mesh:environment: dev
  bookinfo-mesh:rollout: {maxStep: 25}
  bookinfo-mesh:services:
    reviews: {versions: [v1, v3], to: v1}
"""
EVIL = """config:
  bookinfo-mesh:environment: dev
  bookinfo-mesh:services:
    reviews:
      versions: [v1, v2]
      routes:
        - match: {headers: {end-user: {exact: "a`b<!-- meshplan-diff --><img src=x>"}}, uri: {prefix: "/a|b"}}
          to: v2
      to: v1
"""
ESCAPE = EVIL.replace('"/a|b"', '"/\\e[31m"')
"""An escape sequence where a request path cannot hold one."""


def meshplan(*argv, env=None, cwd=ROOT, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "meshplan", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


# (argv, exit code, the whole of stderr) — `{tmp}` is the test's temporary directory.
CLI_CASES = {
    "misspelt option": (["render", "--frmat", "json"], 1,
                        "error: meshplan: unrecognized arguments: --frmat json (see meshplan --help)"),
    "max-step not a number": (["diff", "--max-step", "abc", "--base-config", "x"], 1,
                              "error: meshplan diff: argument --max-step: expected percentage points, got 'abc' "
                              "(see meshplan diff --help)"),
    "unknown format": (["render", "--format", "html"], 1,
                       "error: meshplan render: argument --format: invalid choice: 'html' (choose from 'text', "
                       "'json', 'yaml') (see meshplan render --help)"),
    "no command": ([], 1, "error: meshplan: the following arguments are required: command (see meshplan --help)"),
    "ref as an option": (["diff", "--stack", "dev", "--base-ref=--lock"], 1,
                         'error: --base-ref = "--lock": expected a git ref or commit (a branch, tag or SHA; '
                         "not starting with '-')"),
    "unknown ref": (["diff", "--stack", "dev", "--base-ref", "no-such-ref-anywhere"], 1,
                    'error: --base-ref = "no-such-ref-anywhere": no such commit in this repository'),
    "two bases": (["diff", "--stack", "dev", "--base-config", "a", "--against-state", "b"], 1,
                  "error: meshplan diff: give exactly one base: --base-config FILE, --base-ref GITREF or "
                  "--against-state FILE"),
    "missing stack file": (["render", "--config", "{tmp}/none.yaml"], 1,
                           "error: {tmp}/none.yaml: no such stack file"),
    "stack file is a directory": (["render", "--config", "{tmp}"], 1, "error: {tmp}: is a directory, not a file"),
    "unreadable manifest": (["check", "{tmp}/secret.yaml"], 1, "error: {tmp}/secret.yaml: cannot read: permission denied"),
    "catch-all prefix bypasses the step guard": (
        ["diff", "--config", "{tmp}/prefix.yaml", "--base-config", "{tmp}/base.yaml"], 1,
        "error: step guard: VirtualService bookinfo/reviews route '#1 default' moves reviews v1 100% → 0% "
        "(-100 points), more than the maximum step of 25 points"),
    "catch-all regex bypasses the step guard": (
        ["diff", "--config", "{tmp}/regex.yaml", "--base-config", "{tmp}/base.yaml"], 1,
        "error: step guard: VirtualService bookinfo/reviews route '#1 default' moves reviews v1 100% → 0% "
        "(-100 points), more than the maximum step of 25 points"),
    "bad manifest shape through the CLI": (["check", "{tmp}/shape.yaml"], 1,
                                           'error: {tmp}/shape.yaml: document 1: metadata = "hello": expected a mapping'),
    "bad state through the CLI": (["diff", "--stack", "dev", "--against-state", "{tmp}/state.json"], 1,
                                  'error: {tmp}/state.json: deployment.resources = {"a": 1}: expected a list of resources'),
    "plaintext password through the CLI": (["render", "--config", "{tmp}/Pulumi.plain.yaml"], 1,
                                           "error: {tmp}/Pulumi.plain.yaml: bookinfo-mesh:databasePassword: holds "
                                           "plaintext; a password must be a Pulumi secret: set it with "
                                           "`pulumi config set --secret databasePassword <value> --stack plain`"),
}


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "prefix.yaml").write_text(CATCH_ALL % "{prefix: /}")
    (tmp / "regex.yaml").write_text(CATCH_ALL % '{regex: ".*"}')
    (tmp / "base.yaml").write_text(BASE)
    (tmp / "shape.yaml").write_text(MANIFESTS["metadata a string"][0])
    (tmp / "state.json").write_text(STATES["resources a mapping"][0])
    (tmp / "evil.yaml").write_text(EVIL)
    (tmp / "escape.yaml").write_text(ESCAPE)
    (tmp / "Pulumi.plain.yaml").write_text(STACK_FILES["plaintext database password"][0])
    (tmp / "Pulumi.unset.yaml").write_text(STACK_FILES["database password not set"][0])
    return tmp


def _unprivileged() -> list[str]:
    """The command prefix that runs meshplan as `nobody` when the tests run as root
    (root reads every file); none otherwise."""
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam("nobody")
    except KeyError:
        missing_tool("an unprivileged user", "no user nobody to run meshplan as")
    group = grp.getgrgid(user.pw_gid).gr_name
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={user.pw_name}", f"--regid={group}", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", user.pw_name, "-g", group, "--"]
    missing_tool("setpriv or runuser", "util-linux, to run meshplan as an unprivileged user")


@pytest.fixture
def unreadable_file_dir():
    """A directory anyone may enter (pytest's own is root's alone) holding a file
    no one but root may read."""
    where = Path(tempfile.mkdtemp(prefix="meshplan-unreadable-"))
    where.chmod(0o755)
    (where / "secret.yaml").write_text("kind: Service\n")
    (where / "secret.yaml").chmod(0)
    yield where
    shutil.rmtree(where)


def test_an_unreadable_file_is_one_line_and_exit_1(unreadable_file_dir):
    argv, code, stderr = CLI_CASES["unreadable manifest"]
    argv = [a.replace("{tmp}", str(unreadable_file_dir)) for a in argv]
    done = subprocess.run([*_unprivileged(), PYTHON, "-m", "meshplan", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stderr) == (code, stderr.replace("{tmp}", str(unreadable_file_dir)) + "\n")


@pytest.mark.parametrize("name", [name for name in CLI_CASES if name != "unreadable manifest"])
def test_cli_misuse_ends_in_one_line_and_exit_1(name, cli_files):
    argv, code, stderr = CLI_CASES[name]
    if "ref" in name and (shutil.which("git") is None or not (ROOT / ".git").exists()):
        pytest.skip("needs a git checkout")
    done = meshplan(*(a.replace("{tmp}", str(cli_files)) for a in argv))
    assert (done.returncode, done.stderr) == (code, stderr.replace("{tmp}", str(cli_files)) + "\n")


@pytest.mark.parametrize("command", ["render", "check"])
def test_a_secret_not_set_is_one_warning_offline_and_exit_0(command, cli_files):
    done = meshplan(command, "--config", str(cli_files / "Pulumi.unset.yaml"))
    assert (done.returncode, done.stderr) == (
        0, f"warning: {cli_files}/Pulumi.unset.yaml: bookinfo-mesh:databasePassword: not set; "
           "set it with pulumi config set --secret databasePassword <value> --stack unset\n")


def test_an_ascii_only_terminal_gets_escapes_not_a_traceback():
    done = meshplan("diff", "--stack", "dev", "--base-config", "Pulumi.staging.yaml",
                    env={"PYTHONIOENCODING": "ascii"})
    assert done.returncode == 2 and done.stderr == ""
    assert "v1 80% \\u2192 100%" in done.stdout


def test_untrusted_values_are_neutralised_in_markdown_and_the_terminal(cli_files):
    args = ("diff", "--config", str(cli_files / "evil.yaml"), "--base-config",
            str(ROOT / "examples" / "istio-tasks" / "all-v1.yaml"))
    markdown = meshplan(*args, "--format", "markdown").stdout
    outside_code = "".join(part for n, part in enumerate(markdown.split("``")) if n % 2 == 0)
    assert "<!-- meshplan-diff -->" not in outside_code and "<img" not in outside_code
    assert "\x1b" not in markdown
    assert "| #0 uri^=/a\\|b &amp; end-user=a\\`b&lt;!-- meshplan-diff --&gt;&lt;img src=x&gt; | reviews v2 |" in markdown
    refused = meshplan("diff", "--config", str(cli_files / "escape.yaml"), *args[3:])
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (f"error: {cli_files / 'escape.yaml'}: bookinfo-mesh:services.reviews.routes[0].match.uri."
                              'prefix = "/\\u001b[31m": expected a request path (visible ASCII without spaces or #; '
                              "percent-encode the rest)\n")


def _interrupt(argv, sig, wait_for, cwd=ROOT) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([PYTHON, "-m", "meshplan", *argv], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not wait_for() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(sig)
    _, err = process.communicate(timeout=30)
    return process, err


def test_ctrl_c_prints_one_line_and_no_traceback():
    started = time.monotonic()
    process, err = _interrupt(["render", "--stack", "prod"], signal.SIGINT,
                              lambda: time.monotonic() - started > 0.3)
    assert (process.returncode, err) == (130, "error: interrupted; nothing was applied\n")


@pytest.mark.parametrize("delay", [0.02, 0.05, 0.1, 0.2, 0.4])
def test_ctrl_c_while_still_importing_prints_one_line_and_no_traceback(delay):
    """SIGINT once the interpreter has started on meshplan (its package imported:
    `-X importtime` reports each import as it completes), while the command's own
    imports (the Pulumi SDK, the program) are still running."""
    process = subprocess.Popen([PYTHON, "-X", "importtime", "-m", "meshplan", "render", "--stack", "dev"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in process.stderr:
        lines.append(line)
        if line.rstrip().endswith("| meshplan"):
            break
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    process.wait(timeout=30)
    said = [line for line in (*lines, *rest.splitlines(keepends=True)) if not line.startswith("import time:")]
    assert (process.returncode, "".join(said)) == (130, "error: interrupted; nothing was applied\n")


def _git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_sigterm_during_base_ref_removes_the_worktree(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(".git", "venv", "__pycache__", ".pytest_cache",
                                                              ".hypothesis", "policy"))
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")

    def worktree_added() -> bool:
        return "meshplan-base-" in _git(repo, "worktree", "list")

    process, err = _interrupt(["diff", "--stack", "dev", "--base-ref", "HEAD"], signal.SIGTERM, worktree_added,
                              cwd=repo)
    assert (process.returncode, err) == (130, "error: interrupted; nothing was applied\n")
    assert not worktree_added()
