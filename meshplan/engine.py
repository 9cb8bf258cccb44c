"""Run the Pulumi program in-process under the SDK's mock monitor and record every
registration as the real engine would see it: URN, type, name, parent, inputs,
dependencies and protect.

The mock monitor answers every registration with the inputs as outputs, so the
program runs exactly as under `pulumi up` with nothing sent anywhere."""
from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.names import HELM_RELEASE_TYPE, STACK_TYPE
from model.errors import ConfigError
from model.settings import PROJECT, SecretValue, Settings, parse_settings, read_stack_file

PROJECT_DIR = Path(__file__).resolve().parent.parent

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SECRET_KEY = "4dabf18193072939515e22adb298388d"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET_SHOWN = "[secret]"
REPORT_ONLY_ENV = "MESHPLAN_REPORT_ONLY"
"""Tells the program's checks to leave findings to meshplan (see components/checks.py)."""


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict
    depends_on: list[str]
    protect: bool
    custom: bool

    def as_json(self) -> dict:
        return {"urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent,
                "inputs": self.inputs, "dependsOn": self.depends_on, "protect": self.protect}

    @property
    def is_kubernetes_object(self) -> bool:
        return self.custom and "apiVersion" in self.inputs and "kind" in self.inputs


@dataclass
class Rendered:
    project: str
    stack: str
    source: str
    settings: Settings
    resources: list[Registration]
    outputs: dict = field(default_factory=dict)
    reads: list[dict] = field(default_factory=list)
    """Resources the program read rather than registered (a StackReference):
    `{"type", "name", "id"}`."""

    def objects(self) -> list[dict]:
        """The Kubernetes objects (Helm releases excluded), as manifests."""
        return [r.inputs for r in self.resources if r.is_kubernetes_object]

    def releases(self) -> list[Registration]:
        return [r for r in self.resources if r.type == HELM_RELEASE_TYPE]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.resources}

    def as_json(self) -> dict:
        return {"project": self.project, "stack": self.stack,
                "resources": [r.as_json() for r in self.resources]}


def plain(value: Any) -> Any:
    """Wire values → JSON-ready values: integral floats back to ints, secrets masked."""
    if isinstance(value, dict):
        if value.get(SECRET_KEY) == SECRET_SIG:
            return SECRET_SHOWN
        return {k: plain(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, SecretValue):
        return SECRET_SHOWN
    return value


def stack_file(stack: str, project_dir: Path = PROJECT_DIR) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"


def _shown_path(path: Path) -> Path:
    """The path as a user would type it: relative to the working directory if inside it."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def load_settings(config_file: str | os.PathLike, stack: str) -> tuple[Settings, dict]:
    """Settings and the raw project config of a stack file; ConfigError if bad."""
    raw = read_stack_file(str(config_file))
    return parse_settings(raw, stack=stack, source=str(config_file)), raw


def render(config_file: str | os.PathLike, *, stack: str | None = None,
           project_dir: Path = PROJECT_DIR, preview: bool = False,
           previous_outputs: dict | None = None) -> Rendered:
    """Render one stack: validate its config, then run the program under mocks."""
    config_path = Path(config_file)
    stack = stack or config_path.stem.removeprefix("Pulumi.")
    config_path = _shown_path(config_path)
    settings, raw = load_settings(config_path, stack)
    return run_program(raw, settings=settings, stack=stack, source=str(config_path),
                       project_dir=project_dir, preview=preview, previous_outputs=previous_outputs)


def run_program(raw_config: dict, *, settings: Settings, stack: str, source: str,
                project_dir: Path = PROJECT_DIR, preview: bool = False,
                previous_outputs: dict | None = None, report_only: bool = True) -> Rendered:
    """Run the program under mocks. `previous_outputs`: what a StackReference (the
    program's reference to its own last deployment) reads; none by default.
    `report_only`: let the program's analyzers report instead of failing the run."""
    import pulumi

    from meshplan import sdk

    captured = sdk.Captured(records=[], reads=[])
    outputs: dict = {}
    engine_config, secret_keys = {}, []
    for key, value in raw_config.items():
        full_key = f"{PROJECT}:{key}"
        engine_config[full_key] = value if isinstance(value, str) else json.dumps(value)
        if _contains_secret(value):
            secret_keys.append(full_key)

    echo = sdk.echo_mocks(previous_outputs)
    sdk.start_mocks(echo, project=PROJECT, stack=stack, preview=preview,
                    monitor=sdk.recording_monitor(echo, captured),
                    config=engine_config, secret_keys=secret_keys)

    main = project_dir / "__main__.py"
    added = str(project_dir) not in sys.path
    if added:
        sys.path.insert(0, str(project_dir))

    def program():
        runpy.run_path(str(main), run_name="__main__")
        exports = sdk.root_exports()
        collected = [
            pulumi.Output.all(pulumi.Output.from_input(value), pulumi.Output.from_input(value).is_secret())
            .apply(lambda pair, key=key: outputs.__setitem__(key, SECRET_SHOWN if pair[1] else pair[0]))
            for key, value in exports.items()
        ]
        return pulumi.Output.all(*collected)

    saved_mode = os.environ.get(REPORT_ONLY_ENV)
    os.environ[REPORT_ONLY_ENV] = "1" if report_only else "0"
    try:
        with contextlib.redirect_stdout(io.StringIO()), sdk.offline_registration():
            sdk.run_test_program(program)
    except pulumi.RunError as error:
        raise ConfigError(file=source, path="", message=str(error)) from None
    finally:
        if saved_mode is None:
            os.environ.pop(REPORT_ONLY_ENV, None)
        else:
            os.environ[REPORT_ONLY_ENV] = saved_mode
        if added:
            sys.path.remove(str(project_dir))
    return Rendered(project=PROJECT, stack=stack, source=source, settings=settings,
                    resources=_registrations(captured.records, stack), outputs=plain(outputs),
                    reads=captured.reads)


def _contains_secret(value: Any) -> bool:
    if isinstance(value, SecretValue):
        return True
    if isinstance(value, dict):
        return any(_contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_secret(v) for v in value)
    return False


def _construction_order(records: list[dict]) -> list[dict]:
    """Registrations arrive in whatever order their inputs resolve. Put them in a
    stable order instead: parents before children, dependencies before dependents,
    otherwise by type and name."""
    import heapq

    present = {r["mock_urn"] for r in records}
    waiting_on = {r["mock_urn"]: {d for d in [r["parent"], *r["deps"]] if d in present} for r in records}
    dependents: dict[str, list[str]] = {}
    for urn, needs in waiting_on.items():
        for need in needs:
            dependents.setdefault(need, []).append(urn)
    by_urn = {r["mock_urn"]: r for r in records}
    ready = [(by_urn[u]["type"], by_urn[u]["name"], u) for u, needs in waiting_on.items() if not needs]
    heapq.heapify(ready)
    ordered = []
    while ready:
        *_, urn = heapq.heappop(ready)
        ordered.append(by_urn[urn])
        for dependent in dependents.get(urn, []):
            waiting_on[dependent].discard(urn)
            if not waiting_on[dependent]:
                heapq.heappush(ready, (by_urn[dependent]["type"], by_urn[dependent]["name"], dependent))
    return ordered


def _registrations(records: list[dict], stack: str) -> list[Registration]:
    """Translate the mock's URNs into the ones the real engine assigns:
    `urn:pulumi:<stack>::<project>::<ancestor types $-joined>$<type>::<name>`, where
    the root Stack's own type is not part of its children's chain."""
    by_mock = {r["mock_urn"]: r for r in records}
    chains: dict[str, str] = {}
    real: dict[str, str] = {}

    def chain(record: dict) -> str:
        mock_urn = record["mock_urn"]
        if mock_urn not in chains:
            parent = by_mock.get(record["parent"] or "")
            if parent is None or parent["type"] == STACK_TYPE:
                chains[mock_urn] = record["type"]
            else:
                chains[mock_urn] = f"{chain(parent)}${record['type']}"
        return chains[mock_urn]

    for record in records:
        real[record["mock_urn"]] = f"urn:pulumi:{stack}::{PROJECT}::{chain(record)}::{record['name']}"
    found = []
    for record in _construction_order(records):
        deps = sorted({real.get(d, d) for d in record["deps"]})
        found.append(Registration(
            urn=real[record["mock_urn"]], type=record["type"], name=record["name"],
            parent=real.get(record["parent"]) if record["parent"] else None,
            inputs=plain(record["inputs"]), depends_on=deps, protect=record["protect"],
            custom=record["custom"],
        ))
    return found
