"""The `meshplan` command (pyproject.toml's console script, installed into the
virtualenv by `make plan` and `make test`): it works on the project of the working
directory, its `--config` paths are the working directory's, and it ends as
`python -m meshplan` does."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import meshplan.__main__ as entry
from meshplan import project
from tests.conftest import ROOT

COMMAND = Path(sys.executable).parent / "meshplan"
EXAMPLE = ROOT / "examples" / "istio-tasks" / "reviews-80-20.yaml"
needs_command = pytest.mark.skipif(
    not COMMAND.exists(), reason=f"no meshplan command beside {sys.executable}: `make test` installs it")


def python_m_meshplan(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m meshplan` with this checkout importable from anywhere, as an
    editable install makes it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "meshplan", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- finding the project


def test_the_project_is_the_nearest_pulumi_yaml_naming_bookinfo_mesh(tmp_path):
    write(tmp_path / "outer" / "Pulumi.yaml", "name: bookinfo-mesh\nruntime: python\n")
    write(tmp_path / "outer" / "other" / "Pulumi.yaml", "name: another-project\nruntime: python\n")
    write(tmp_path / "outer" / "broken" / "Pulumi.yaml", "name: [bookinfo-mesh\n")
    write(tmp_path / "outer" / "huge" / "Pulumi.yaml", "name: bookinfo-mesh\n" + "#\n" * project.PROJECT_FILE_LIMIT)
    write(tmp_path / "outer" / "inner" / "Pulumi.yaml", 'name: "bookinfo-mesh"  # quoted, commented\n')
    (tmp_path / "outer" / "other" / "deep" / "er").mkdir(parents=True)
    (tmp_path / "outer" / "inner" / "sub").mkdir()

    assert project.find_project(tmp_path / "outer") == tmp_path / "outer"
    assert project.find_project(tmp_path / "outer" / "other" / "deep" / "er") == tmp_path / "outer"
    assert project.find_project(tmp_path / "outer" / "broken") == tmp_path / "outer"
    assert project.find_project(tmp_path / "outer" / "huge") == tmp_path / "outer"
    assert project.find_project(tmp_path / "outer" / "inner" / "sub") == tmp_path / "outer" / "inner"
    assert project.find_project(tmp_path) is None


def test_this_checkout_is_the_project_of_its_own_directories():
    assert project.REPOSITORY == ROOT
    assert project.find_project(ROOT / "examples" / "istio-tasks") == ROOT


def test_meshplan_renders_from_a_subdirectory_with_config_paths_relative_to_it():
    here = EXAMPLE.parent
    done = python_m_meshplan("render", "--config", EXAMPLE.name, "--format", "json", cwd=here)
    assert done.returncode == 0, done.stderr
    from_root = python_m_meshplan("render", "--config", str(EXAMPLE.relative_to(ROOT)), "--format", "json", cwd=ROOT)
    assert json.loads(done.stdout) == json.loads(from_root.stdout)
    summary = python_m_meshplan("render", "--config", EXAMPLE.name, cwd=here)
    assert summary.stdout.startswith(f"bookinfo-mesh · stack reviews-80-20 · {EXAMPLE.name} · ")
    # --stack names the project's stack file, wherever meshplan runs in it
    by_stack = python_m_meshplan("render", "--stack", "staging", cwd=here)
    assert by_stack.returncode == 0, by_stack.stderr
    assert by_stack.stdout.startswith(f"bookinfo-mesh · stack staging · {ROOT / 'Pulumi.staging.yaml'} · ")


def test_outside_any_project_meshplan_uses_the_checkout_it_was_installed_from(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "mine.yaml")
    done = python_m_meshplan("render", "--config", "mine.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("bookinfo-mesh · stack mine · mine.yaml · ")
    by_stack = python_m_meshplan("render", "--stack", "dev", cwd=tmp_path)
    assert by_stack.stdout.startswith(f"bookinfo-mesh · stack dev · {ROOT / 'Pulumi.dev.yaml'} · ")
    missing = python_m_meshplan("render", "--config", "absent.yaml", cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (1, "error: absent.yaml: no such stack file\n")


def test_another_checkout_runs_its_own_meshplan(tmp_path):
    """A clone or worktree sharing the virtualenv runs its own code, not the code the
    virtualenv was installed from: its program and its meshplan belong together."""
    other = tmp_path / "other-checkout"
    write(other / "Pulumi.yaml", "name: bookinfo-mesh\nruntime: python\n")
    write(other / "meshplan" / "__init__.py", "")
    write(other / "meshplan" / "__main__.py",
          "import sys, meshplan\nprint('other checkout', meshplan.__file__, sys.argv[1:])\n")
    (other / "sub").mkdir()
    done = python_m_meshplan("render", "--stack", "dev", cwd=other / "sub")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"other checkout {other / 'meshplan' / '__init__.py'} ['render', '--stack', 'dev']\n"


def test_a_project_without_meshplan_is_one_line_and_exit_1(tmp_path):
    write(tmp_path / "Pulumi.yaml", "name: bookinfo-mesh\n")
    done = python_m_meshplan("render", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (f"error: meshplan: {tmp_path / 'Pulumi.yaml'} is project bookinfo-mesh, "
                           f"but {tmp_path} holds no meshplan to run\n")


def test_no_project_anywhere_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(project, "REPOSITORY", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        project.run_in_working_project()
    assert stopped.value.code == 1
    assert capsys.readouterr().err == (f"error: meshplan: no bookinfo-mesh project at or above {tmp_path}, and "
                                       "meshplan is not installed from one (install it with `pip install -e` "
                                       "from a checkout)\n")


# --------------------------------------------------------------------------- the console script


@needs_command
def test_the_installed_command_shows_its_help():
    done = subprocess.run([str(COMMAND), "--help"], cwd=ROOT / "examples", capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("usage: meshplan ")
    for command in ("render", "diff", "check", "rollout", "rbac"):
        assert command in done.stdout


@needs_command
def test_the_installed_command_renders_as_python_m_meshplan_does():
    here = ROOT / "examples" / "istio-tasks"
    done = subprocess.run([str(COMMAND), "render", "--config", EXAMPLE.name, "--format", "yaml"], cwd=here,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == python_m_meshplan("render", "--config", EXAMPLE.name, "--format", "yaml", cwd=here).stdout


class _Exited(Exception):
    def __init__(self, code: int):
        self.code = code


@pytest.fixture
def exits(monkeypatch):
    """The entry point's `os._exit`, caught: the code it ends the process with."""
    def exit_now(code: int):
        raise _Exited(code)

    monkeypatch.setattr(os, "_exit", exit_now)
    monkeypatch.chdir(ROOT)


def test_the_entry_point_runs_the_command_line_then_leaves_at_once_with_its_code(exits, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["meshplan", "render", "--config", str(EXAMPLE), "--format", "json"])
    with pytest.raises(_Exited) as exited:
        entry.main()
    assert exited.value.code == 0
    assert json.loads(capsys.readouterr().out)["stack"] == "reviews-80-20"
    monkeypatch.setattr(sys, "argv", ["meshplan", "diff", "--config", str(EXAMPLE), "--base-config", str(EXAMPLE)])
    with pytest.raises(_Exited) as exited:
        entry.main()
    assert exited.value.code == 0
    monkeypatch.setattr(sys, "argv", ["meshplan", "render", "--stack", "absent"])
    with pytest.raises(_Exited) as exited:
        entry.main()
    assert exited.value.code == 1


def test_the_entry_point_flushes_before_it_leaves_and_a_closed_pipe_is_no_error(exits, monkeypatch):
    class Pipe(io.StringIO):
        def __init__(self, closed_reader: bool):
            super().__init__()
            self.closed_reader, self.flushed = closed_reader, False

        def flush(self):
            if self.closed_reader:
                raise BrokenPipeError
            self.flushed = True

    monkeypatch.setattr(sys, "argv", ["meshplan", "check", "--config", str(EXAMPLE)])
    for closed_reader in (False, True):
        out, err = Pipe(closed_reader), Pipe(False)
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", err)
        with pytest.raises(_Exited) as exited:
            entry.main()
        assert exited.value.code == 0
        if not closed_reader:
            assert out.flushed and err.flushed


def test_help_ends_with_exit_0_and_a_usage_error_with_exit_1(exits, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["meshplan", "diff", "--help"])
    with pytest.raises(SystemExit) as stopped:
        entry.main()
    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith("usage: meshplan diff ")
    monkeypatch.setattr(sys, "argv", ["meshplan", "render", "--format", "html"])
    with pytest.raises(SystemExit) as stopped:
        entry.main()
    assert stopped.value.code == 1


def test_a_real_second_checkout_renders_from_a_subdirectory(tmp_path):
    """A clone of this repository, run from a folder of it that holds no meshplan:
    the installed meshplan hands over to the clone's own, and the libraries already
    loaded from the virtualenv (which usually sits inside the installed checkout)
    stay usable."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    done = python_m_meshplan("render", "--config", "../Pulumi.dev.yaml", "--format", "json", cwd=clone / "examples")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stack"] == "dev"


def test_handing_over_to_another_checkout_forgets_only_the_project_packages():
    # Wherever the virtualenv sits (inside the checkout, as make puts it), its
    # libraries stay loaded; only meshplan, model and components are imported anew.
    script = ("import sys, pathlib, yaml\n"
              "import meshplan.project as p, model.names\n"
              "p.REPOSITORY = pathlib.Path(yaml.__file__).resolve().parents[3]\n"
              "p.forget_checkout_modules()\n"
              "print('yaml' in sys.modules, 'model.names' in sys.modules, 'meshplan.project' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "True False False\n"), done.stderr
