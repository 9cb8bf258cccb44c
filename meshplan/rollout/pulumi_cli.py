"""Where a real rollout meets the `pulumi` CLI, which the Automation API drives.

- `ForwardingPulumiCommand`: the Automation API's `PulumiCommand` with the CLI started
  in a process group of its own and registered with `meshplan.interrupts`, so a
  Ctrl-C or SIGTERM reaches an engine operation (preview, up) once, as SIGINT, and
  never reaches a config edit, which always runs to its end.
- `select_stack`: the stack, or one line naming it and the fix (no such stack, another
  organization, no login).
- `policy_pack_dirs`: the CrossGuard packs every preview and up runs with.
- `changes_in` / `applied_in`: what the engine's events say was pending or done.

`PulumiCommand.run` offers no hook to start the child differently or to reach it, so
`run` is written again here, keeping the library's contract: `--non-interactive`
first, `PULUMI_AUTOMATION_API=true`, the CLI's directory first on PATH for an
absolute command, every output line handed to the callbacks, `create_command_error`
on a non-zero exit."""
from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from pathlib import Path
from typing import Iterable

import yaml
from pulumi import automation as auto
from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation.errors import create_command_error

from meshplan import interrupts
from model.errors import ConfigError
from model.settings import PROJECT

ENGINE_OPERATIONS = ("preview", "up")
"""Commands the CLI cancels gracefully on SIGINT (it finishes what is in flight)."""
NO_CHANGE = {"same", "read", "read-replacement", "refresh", "discard", "discard-replaced"}
"""Step kinds the CLI's `--expect-no-changes` does not count as changes."""


class ForwardingPulumiCommand(PulumiCommand):
    def run(self, args, cwd, additional_env, on_output=None, on_error=None) -> CommandResult:
        operation = args[0] if args else ""
        separator = args.index("--") if "--" in args else len(args)
        if "--non-interactive" not in args[:separator]:
            args.insert(0, "--non-interactive")
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        if os.path.isabs(self.command):
            env["PATH"] = os.pathsep.join([os.path.dirname(self.command), env.get("PATH", "")])
        lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        with subprocess.Popen([self.command, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, cwd=cwd, env=env, encoding="utf-8",
                              process_group=0) as process:
            forwarded = interrupts.forwarding(process) if operation in ENGINE_OPERATIONS \
                else contextlib.nullcontext()
            with forwarded:
                readers = [threading.Thread(target=_drain, args=(process.stdout, on_output, lines["stdout"])),
                           threading.Thread(target=_drain, args=(process.stderr, on_error, lines["stderr"]))]
                for reader in readers:
                    reader.start()
                for reader in readers:
                    reader.join()
                process.wait()
        result = CommandResult(stdout="\n".join(lines["stdout"]), stderr="\n".join(lines["stderr"]),
                               code=process.returncode)
        if result.code != 0:
            raise create_command_error(result)
        return result


def _drain(stream, callback, lines: list[str]) -> None:
    for line in iter(stream.readline, ""):
        stripped = line.rstrip()
        if callback:
            callback(stripped)
        lines.append(stripped)
    stream.close()


def pulumi_command() -> ForwardingPulumiCommand:
    try:
        return ForwardingPulumiCommand()
    except FileNotFoundError:
        raise ConfigError(file="meshplan rollout", path="",
                          message="the pulumi CLI is not installed; the Automation API runs it "
                                  "(use --rehearse or --dry-run without it)") from None
    except auto.InvalidVersionError as error:
        raise ConfigError(file="meshplan rollout", path="", message=f"pulumi CLI: {error}") from None
    except subprocess.CalledProcessError as error:  # `pulumi version`, run in meshplan's own process group
        interrupts.raise_if_requested()
        raise ConfigError(file="meshplan rollout", path="",
                          message=f"pulumi version failed with exit code {error.returncode}") from None


# --------------------------------------------------------------------------- stacks


def select_stack(stack: str, *, work_dir: Path, command: PulumiCommand) -> auto.Stack:
    try:
        return auto.select_stack(stack_name=stack, work_dir=str(work_dir),
                                 opts=auto.LocalWorkspaceOptions(pulumi_command=command))
    except auto.CommandError as error:
        raise ConfigError(file="meshplan rollout", path="--stack", value=stack,
                          message=_selection_problem(error, stack)) from None


def _selection_problem(error: auto.CommandError, stack: str) -> str:
    said = last_error_line(error)
    name = stack.rsplit("/", 1)[-1]
    if isinstance(error, auto.StackNotFoundError):
        return (f"{said}: not on the backend you are logged in to (pulumi stack ls --all lists the stacks "
                f"you can reach; name a stack of another organization as <org>/{PROJECT}/{name})")
    if "PULUMI_ACCESS_TOKEN" in said or "pulumi login" in said or "not logged in" in said:
        return (f"{said}: log in first (pulumi login, or PULUMI_ACCESS_TOKEN for Pulumi Cloud, "
                f"PULUMI_BACKEND_URL for a self-managed backend)")
    if "403" in said or "Forbidden" in said:
        return f"{said}: your login cannot reach that organization's stacks (pulumi whoami --verbose lists yours)"
    return said


def last_error_line(error: Exception) -> str:
    """The last `error:` line of a failed CLI command (stderr, else stdout), without
    the prefix; else its last line. `str(CommandError)` is the CommandResult's
    ` code: ... stdout: ... stderr: ...` text."""
    lines = []
    for line in str(error).splitlines():
        text = line.strip()
        for label in ("code:", "stdout:", "stderr:"):
            text = text.removeprefix(label).strip() if text.startswith(label) else text
        if text and not line.strip().startswith("code:"):
            lines.append(text)
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["no message"])[-1].removeprefix("error:").strip()


# --------------------------------------------------------------------------- policy packs


def policy_pack_dirs(given: Iterable[Path], project_dir: Path) -> list[str]:
    """The packs each preview and up runs: `--policy-pack DIR`s, else the project's
    own `policy/`. A pack whose virtualenv is missing would fail inside the CLI after
    the step's config is written: refuse it here, in one line."""
    own = project_dir / "policy"
    packs = [Path(p) for p in given] or [own]
    for pack in packs:
        manifest = pack / "PulumiPolicy.yaml"
        if not manifest.is_file():
            raise ConfigError(file="meshplan rollout", path="--policy-pack", value=str(pack),
                              message="not a policy pack (no PulumiPolicy.yaml)")
        try:
            options = ((yaml.safe_load(manifest.read_text()) or {}).get("runtime") or {}).get("options") or {}
        except (yaml.YAMLError, AttributeError, OSError):
            options = {}
        venv = options.get("virtualenv") if isinstance(options, dict) else None
        if venv and not (pack / venv).is_dir():
            fix = "run make policy-venv" if pack.resolve() == own.resolve() else \
                f"create it from {pack / 'requirements.txt'}"
            raise ConfigError(file="meshplan rollout", path="--policy-pack", value=str(pack),
                              message=f"its virtualenv {pack / venv} is missing: {fix}")
    return [str(pack.resolve()) for pack in packs]


# --------------------------------------------------------------------------- engine events


def changes_in(events: list) -> tuple[int, set[str]]:
    """Pending changes in a preview's events: how many (as the summary counts them)
    and the URNs they touch."""
    urns = {e.resource_pre_event.metadata.urn for e in events
            if e.resource_pre_event and e.resource_pre_event.metadata.op.value not in NO_CHANGE}
    counts = [e.summary_event.resource_changes for e in events if e.summary_event]
    if counts:
        return sum(n for op, n in counts[-1].items() if str(getattr(op, "value", op)) not in NO_CHANGE), urns
    return len(urns), urns


def applied_in(events: list, targets: Iterable[str]) -> bool:
    """Whether an up's events record every target's step as done (a cancelled up
    finishes the steps in flight; the others never start)."""
    done = {e.res_outputs_event.metadata.urn for e in events if e.res_outputs_event}
    return set(targets) <= done
