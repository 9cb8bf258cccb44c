"""Step appliers of `meshplan rollout`: what "apply this step" means.

- `AutomationApplier`: the real one. Writes the step's weights into the stack's
  config and runs `pulumi up` through the Automation API, the project directory as
  the workspace (so `Pulumi.<stack>.yaml` is the config it edits).
- `RehearsalApplier`: renders each step through the program under the mock monitor
  instead, checks it with the step guard and the analyzers, and says what the real
  applier would have run. It applies nothing; given `write_to`, it also writes the
  step's config into that stack file as `pulumi config set` would (the tests use a
  copy of a stack file to interrupt and resume a rollout)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

import yaml

from meshplan.check import check_rendered
from meshplan.engine import PROJECT_DIR, Rendered, run_program
from meshplan.rollout_plan import ConfigEdit
from model.errors import ConfigError
from model.traffic_changes import shares_from_output, step_violations, traffic_changes
from model.settings import PROJECT, Settings, parse_settings, read_stack_file


class StepApplier(Protocol):
    def apply(self, edit: ConfigEdit, *, up: bool, message: str) -> str:
        """Write `edit` into the stack config and, with `up`, bring the stack to it.
        Returns one line saying what was done."""


# --------------------------------------------------------------------------- Automation API


def config_value(value: Any) -> str:
    """`pulumi config set --path` stores a value that reads as a number or a boolean
    as one, so weights go in as their decimal text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class AutomationApplier:
    """`pulumi config set-all --path` / `config rm --path` and `pulumi up` on the stack,
    through `pulumi.automation` with the project directory as the workspace."""

    def __init__(self, stack: str, *, project_dir: Path = PROJECT_DIR, pulumi_command: Any = None,
                 on_output: Callable[[str], None] | None = None):
        self.stack_name = stack
        self.project_dir = project_dir
        self.pulumi_command = pulumi_command
        self.on_output = on_output
        self._stack = None

    def stack(self):
        if self._stack is None:
            from pulumi import automation as auto

            options = auto.LocalWorkspaceOptions(pulumi_command=self.pulumi_command) if self.pulumi_command else None
            try:
                self._stack = auto.select_stack(stack_name=self.stack_name, work_dir=str(self.project_dir),
                                                opts=options)
            except FileNotFoundError:
                raise ConfigError(file="meshplan rollout", path="",
                                  message="the pulumi CLI is not installed; the Automation API runs it "
                                          "(use --rehearse or --dry-run without it)") from None
        return self._stack

    def apply(self, edit: ConfigEdit, *, up: bool, message: str) -> str:
        from pulumi import automation as auto

        stack = self.stack()
        try:
            for path in edit.removals:
                stack.remove_config(f"{PROJECT}:{path}", path=True)
            if edit.sets:
                stack.set_all_config({f"{PROJECT}:{path}": auto.ConfigValue(value=config_value(value))
                                      for path, value in edit.sets.items()}, path=True)
            if up:
                stack.up(message=message, on_output=self.on_output, color="never")
        except auto.CommandError as error:
            lines = [line for line in str(error).splitlines() if line.strip()]
            raise RolloutApplyError(f"pulumi failed: {lines[-1] if lines else 'no message'}") from None
        return f"pulumi up on stack {self.stack_name}" if up else f"stack {self.stack_name} config updated"


class RolloutApplyError(Exception):
    """A step could not be applied; `str()` is one line."""


# --------------------------------------------------------------------------- rehearsal


class RehearsalApplier:
    """Each step rendered through the program (mock monitor), never deployed."""

    def __init__(self, config_file: Path, *, stack: str, write_to: Path | None = None,
                 max_step: float | None = None):
        self.source = str(config_file)
        self.stack = stack
        self.config = read_stack_file(self.source)
        self.write_to = write_to
        self.max_step = max_step
        self.last = self._render(self.config, parse_settings(self.config, stack=stack, source=self.source))
        self.renders = 0

    def _render(self, config: dict, settings: Settings) -> Rendered:
        return run_program(config, settings=settings, stack=self.stack, source=self.source)

    def apply(self, edit: ConfigEdit, *, up: bool, message: str) -> str:
        config = edit.apply_to(self.config)
        settings = parse_settings(config, stack=self.stack, source=self.source)
        if self.write_to is not None:
            write_config(self.write_to, edit)
        self.config = config
        if not up:
            return "rehearsal: would update the stack config only"
        rendered = self._render(config, settings)
        self.renders += 1
        moved = traffic_changes(shares_from_output(self.last.outputs.get("traffic") or []),
                                shares_from_output(rendered.outputs.get("traffic") or []))
        refused = step_violations(moved, self.max_step)
        errors = [f for f in check_rendered(rendered) if f.level == "error"]
        if refused or errors:
            raise RolloutApplyError(f"rendered step refused: {(refused or [str(e) for e in errors])[0]}")
        self.last = rendered
        return f"rehearsal: rendered through the program ({len(rendered.resources)} resources); " \
               f"would run pulumi up on stack {self.stack}"


def write_config(stack_file: Path, edit: ConfigEdit) -> None:
    """Edit a `Pulumi.<stack>.yaml` as `pulumi config set --path`/`rm --path` would
    (comments are not kept)."""
    document = yaml.safe_load(stack_file.read_text()) or {}
    config = document.setdefault("config", {})
    project = {}
    for key in list(config):
        namespace, _, name = str(key).rpartition(":")
        if namespace in ("", PROJECT):
            project[name] = config.pop(key)
    edited = edit.apply_to(project)
    for key, value in edited.items():
        if value != {}:
            config[f"{PROJECT}:{key}"] = value
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
