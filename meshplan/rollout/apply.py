"""Step appliers of `meshplan rollout`: what "write this step" and "bring the stack
to it" mean.

- `AutomationApplier`: the real one, through `pulumi.automation` with the project
  directory as the workspace. The stack's own `Pulumi.<stack>.yaml` is edited with
  `pulumi config set-all --path` / `config rm --path`; a `--config FILE` is written by
  meshplan as those commands would store it and handed to `preview` and `up` as their
  config file. Before the first step, a preview with the policy pack proves the stack
  has no pending change the rollout did not make; each step's `up` targets only the
  objects that step changes and runs the policy pack.
- `RehearsalApplier`: renders each step through the program under the mock monitor
  instead, checks it with the step guard and the analyzers, and says what the real
  applier would have run. It applies nothing; given `write_to`, it also writes the
  step's config into that stack file (the tests interrupt and resume rollouts on a
  copy of a stack file)."""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable, Protocol

import yaml

from meshplan import interrupts
from meshplan.check import check_rendered
from meshplan.render.engine import PROJECT_DIR, Rendered, run_program
from meshplan.rollout.plan import ConfigEdit, Plan
from model.traffic_changes import shares_from_output, step_violations, traffic_changes
from model.settings import PROJECT, Settings, parse_settings, read_stack_config
from model.settings.sources import config_key


class StepApplier(Protocol):
    # An applier that deploys nothing sets `rehearsal = True`; the outcome then says
    # "would roll back" / "would promote" (read with getattr: absent means it deploys).
    def prepare(self, plan: Plan) -> bool:
        """Ready the stack for the plan's first step; True when the objects an
        interrupted run left (`plan.resumed_targets`) still have changes pending."""

    def write(self, edit: ConfigEdit) -> None:
        """Write `edit` into the stack config."""

    def up(self, *, message: str, targets: tuple[str, ...]) -> str:
        """Bring the stack to its config, touching only `targets`; one line saying what was done."""


class RolloutApplyError(Exception):
    """A step could not be applied; `str()` is one line."""

    def __init__(self, message: str, *, applied: bool = False):
        super().__init__(message)
        self.applied = applied
        """For a failed up: whether the objects it targeted were updated all the same."""


# --------------------------------------------------------------------------- Automation API


def stored_by_config_set_path(value: Any) -> Any:
    """A value as `pulumi config set --path` stores it (the CLI's adjustObjectValue):
    `true`/`false` as booleans, decimal integers without a leading zero as numbers,
    anything else as its text."""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if text in ("true", "false"):
        return text == "true"
    if len(text) > 1 and text[0] == "0":
        return text
    try:
        return int(text)
    except ValueError:
        return text


class AutomationApplier:
    def __init__(self, stack: str, *, project_dir: Path = PROJECT_DIR, config_file: Path | None = None,
                 policy_packs: list[str] | None = None, pulumi_command: Any = None,
                 on_output: Callable[[str], None] | None = None):
        self.stack_name = stack
        self.project_dir = project_dir
        self.config_file = Path(config_file).resolve() if config_file else None
        self.policy_packs = policy_packs or []
        self.pulumi_command = pulumi_command
        self.on_output = on_output
        self._stack = None

    @property
    def stack(self):
        if self._stack is None:
            from meshplan.rollout.pulumi_cli import pulumi_command, select_stack

            command = self.pulumi_command or pulumi_command()
            self._stack = select_stack(self.stack_name, work_dir=self.project_dir, command=command)
        return self._stack

    def _options(self) -> dict:
        return {"policy_packs": self.policy_packs or None,
                "config_file": str(self.config_file) if self.config_file else None,
                "on_output": self.on_output, "on_error": self.on_output, "color": "never"}

    def prepare(self, plan: Plan) -> bool:
        from pulumi import automation as auto

        from meshplan.rollout.pulumi_cli import changes_in, last_error_line

        stack = self.stack
        interrupts.raise_if_requested()
        events: list = []
        fresh = not plan.resumed
        try:
            stack.preview(expect_no_changes=fresh or None, on_event=events.append, **self._options())
            failure = None
        except auto.CommandError as error:
            failure = error
        interrupts.raise_if_requested()
        if failure is not None and "no changes were expected" not in str(failure):
            raise RolloutApplyError(f"pulumi preview of stack {self.stack_name} failed: {last_error_line(failure)}")
        count, urns = changes_in(events)
        unexpected = urns - set(plan.resumed_targets)
        if failure is not None or (fresh and count) or unexpected:
            count = count if fresh else len(unexpected)
            changes = f"{count} pending change{'s' * (count != 1)}" if count else "pending changes"
            raise RolloutApplyError(f"stack {self.stack_name} has {changes} not made by this rollout; "
                                    "run pulumi up (or pulumi refresh) first")
        return bool(urns)

    def write(self, edit: ConfigEdit) -> None:
        from pulumi import automation as auto

        from meshplan.rollout.pulumi_cli import last_error_line

        interrupts.raise_if_requested()
        if self.config_file is not None:
            write_config(self.config_file, edit)
            return
        stack = self.stack
        try:
            if edit.sets:
                stack.set_all_config({f"{PROJECT}:{path}": auto.ConfigValue(value=_text(value))
                                      for path, value in edit.sets.items()}, path=True)
            for path in edit.removals:
                stack.remove_config(f"{PROJECT}:{path}", path=True)
        except auto.CommandError as error:
            raise RolloutApplyError(f"pulumi config failed: {last_error_line(error)}") from None

    def up(self, *, message: str, targets: tuple[str, ...]) -> str:
        from pulumi import automation as auto

        from meshplan.rollout.pulumi_cli import applied_in, last_error_line

        if not targets:  # an untargeted up would deploy whatever else is pending
            return "nothing to update"
        stack = self.stack
        interrupts.raise_if_requested()
        events: list = []
        try:
            stack.up(message=message, target=list(targets), on_event=events.append, **self._options())
        except auto.CommandError as error:
            applied = applied_in(events, targets)
            interrupts.raise_if_requested(applied=applied)
            raise RolloutApplyError(last_error_line(error), applied=applied) from None
        interrupts.raise_if_requested(applied=True)
        return f"pulumi up on stack {self.stack_name} ({len(targets)} targeted)"


def _text(value: Any) -> str:
    """A config value as `config set-all` reads it from its command line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------- rehearsal


class RehearsalApplier:
    """Each step rendered through the program (mock monitor), never deployed."""

    rehearsal = True
    """What the loop reports is what would have been done (`StepApplier`)."""

    def __init__(self, config_file: Path, *, stack: str, write_to: Path | None = None,
                 max_step: float | None = None):
        self.source = str(config_file)
        self.stack = stack
        self.config, self.provider_config = read_stack_config(self.source)
        self.write_to = write_to
        self.max_step = max_step
        self.last = self._render(self.config, parse_settings(self.config, stack=stack, source=self.source))
        self.renders = 0

    def _render(self, config: dict, settings: Settings) -> Rendered:
        return run_program(config, settings=settings, stack=self.stack, source=self.source,
                           provider_config=self.provider_config)

    def prepare(self, plan: Plan) -> bool:
        return False

    def write(self, edit: ConfigEdit) -> None:
        config = edit.apply_to(self.config)
        parse_settings(config, stack=self.stack, source=self.source)
        if self.write_to is not None:
            write_config(self.write_to, edit)
        self.config = config

    def up(self, *, message: str, targets: tuple[str, ...]) -> str:
        rendered = self._render(self.config, parse_settings(self.config, stack=self.stack, source=self.source))
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
    store it, in one atomic replace (comments are not kept)."""
    document = yaml.safe_load(stack_file.read_text()) or {}
    config = document.setdefault("config", {})
    project = {}
    for key in list(config):
        split = config_key(str(key))  # the CLI's key grammar, legacy `ns:config:name` included
        if split is not None and split[0] == PROJECT:
            project[split[1]] = config.pop(key)
    stored = ConfigEdit(sets={path: stored_by_config_set_path(v) for path, v in edit.sets.items()},
                        removals=edit.removals)
    for key, value in stored.apply_to(project).items():
        if value != {}:
            config[f"{PROJECT}:{key}"] = value
    handle, temporary = tempfile.mkstemp(dir=stack_file.parent, prefix=f".{stack_file.name}.")
    try:
        os.chmod(temporary, stat.S_IMODE(os.stat(stack_file).st_mode))
        with os.fdopen(handle, "w") as out:
            yaml.safe_dump(document, out, sort_keys=False)
        os.replace(temporary, stack_file)
    except BaseException:
        os.unlink(temporary)
        raise
