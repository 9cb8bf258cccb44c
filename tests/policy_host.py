"""The policy pack as the Pulumi CLI runs it, for tests.

The CLI starts a Python pack through its `pulumi-analyzer-policy-python` shim: in the
pack's directory, `<virtualenv>/bin/python -u -m pulumi.policy <engine address> .`,
which runs `policy/__main__.py`; the `PolicyPack` it builds prints its port and
serves the Analyzer gRPC service. The engine then sends each resource's properties
as a `google.protobuf.Struct` marshalled with secrets and unknowns kept (secrets as
the `4dabf18193072939515e22adb298388d` signature map) to `Analyze`, and every
resource to `AnalyzeStack`; pulumi_policy turns each into
`unknown_checking_proxy(deserialize_properties(MessageToDict(struct)))` before a
policy sees it. `PackServer` does the same: it starts the pack that way and speaks
gRPC to it, so every step after the engine's marshalling is pulumi_policy's own.

The properties sent are what the program sent the monitor while rendering
(`wire_render`): the SDK's own serialization of the resource's inputs (secrets
marked, numbers as floats), which is what the engine unmarshals, keeps and
marshals again for the analyzer. Each custom resource goes with its provider as the
engine sends it (`stateToAnalyzerResource`, step_generator's `getProviderResource`):
the explicit provider the program gave it, else the default provider the engine
made for its package (`default_<version>`, itself one of the stack's resources)."""
from __future__ import annotations

import contextlib
import copy
import functools
import os
import select
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from meshplan.render.recording import PROVIDER_TYPE_PREFIX
from tests.conftest import ROOT, with_secrets_set

ENGINE_ADDRESS = "127.0.0.1:1"
"""Where the pack would log to the engine; the policies here never log."""
START_TIMEOUT = 120
CALL_TIMEOUT = 120


@dataclass(frozen=True)
class WireProvider:
    """A resource's provider as the analyzer gets it: URN, type, name, inputs."""

    urn: str
    type: str
    name: str
    properties: dict


@dataclass(frozen=True)
class WireResource:
    """One registration as the engine holds it: URN, type, name, parent and its
    properties in wire form (the Struct's JSON)."""

    urn: str
    type: str
    name: str
    parent: str
    properties: dict
    provider: WireProvider | None = None

    def changed(self, edit) -> "WireResource":
        """A copy whose properties `edit(properties)` changed in place."""
        properties = copy.deepcopy(self.properties)
        edit(properties)
        return replace(self, properties=properties)


@dataclass(frozen=True)
class Diagnostic:
    policy: str
    level: str
    """MANDATORY, ADVISORY, ... as the diagnostic carries it to the engine."""
    urn: str
    message: str


@functools.cache
def wired(path: Path, stack: str) -> list[WireResource]:
    """`wire_render` once per stack file for the whole run: a render takes a while."""
    return wire_render(path, stack)


def wire_render(path: Path, stack: str | None = None) -> list[WireResource]:
    """Render a stack file (its secrets set) and keep what the program sent the
    monitor for each registration, in construction order."""
    from meshplan.render import sdk
    from meshplan.render.engine import run_program
    from model.settings import parse_settings, read_stack_file

    stack = stack or path.stem.removeprefix("Pulumi.")
    raw = with_secrets_set(read_stack_file(str(path)))
    settings = parse_settings(raw, stack=stack, source=str(path))
    captured = []
    recording_monitor = sdk.recording_monitor

    def keeping_records(mocks, records):
        captured.append(records)
        return recording_monitor(mocks, records)

    sdk.recording_monitor = keeping_records
    try:
        rendered = run_program(raw, settings=settings, stack=stack, source=str(path))
    finally:
        sdk.recording_monitor = recording_monitor
    records = {(r["type"], r["name"]): r for r in captured[-1].records}
    assert len(records) == len(captured[-1].records), "a type and name registered twice"
    explicit = {r.urn: WireProvider(urn=r.urn, type=r.type, name=r.name, properties=records[(r.type, r.name)]["inputs"])
                for r in rendered.providers()}
    defaults: dict[str, WireProvider] = {}

    def provider_of(registration) -> WireProvider | None:
        if not registration.custom or registration.type.startswith(PROVIDER_TYPE_PREFIX):
            return None
        if registration.provider:
            return explicit[registration.provider.rsplit("::", 1)[0]]
        package = registration.type.split(":", 1)[0]
        if package not in defaults:
            defaults[package] = default_provider(rendered.stack, package)
        return defaults[package]

    resources = [WireResource(urn=r.urn, type=r.type, name=r.name, parent=r.parent or "",
                              properties=records[(r.type, r.name)]["inputs"], provider=provider_of(r))
                 for r in rendered.resources]
    return [*resources, *(WireResource(urn=p.urn, type=p.type, name=p.name, parent="", properties=p.properties)
                          for p in defaults.values())]


def default_provider(stack: str, package: str) -> WireProvider:
    """The provider the engine makes for a package no explicit provider serves: named
    `default_<version>` for a plugin (dots and dashes as underscores), `default` for the
    engine's own `pulumi` package."""
    from importlib.metadata import version

    if package == "pulumi":
        name, properties = "default", {}
    else:
        pinned = version(f"pulumi_{package}")
        name, properties = "default_" + pinned.replace(".", "_").replace("-", "_"), {"version": pinned}
    type_ = f"{PROVIDER_TYPE_PREFIX}{package}"
    return WireProvider(urn=f"urn:pulumi:{stack}::bookinfo-mesh::{type_}::{name}", type=type_, name=name,
                        properties=properties)


def _provider(provider: WireProvider | None):
    from pulumi.runtime import proto

    if provider is None:
        return None
    return proto.AnalyzerProviderResource(urn=provider.urn, type=provider.type, name=provider.name,
                                          properties=_struct(provider.properties))


def _struct(properties: dict):
    from google.protobuf import json_format, struct_pb2

    return json_format.ParseDict(properties, struct_pb2.Struct())


class PackServer:
    """The pack started as the CLI starts it, with `python` (a virtualenv's), from
    `pack_dir`; closed by `close()`."""

    def __init__(self, python: Path | str, pack_dir: Path = ROOT / "policy"):
        import grpc
        from pulumi.runtime.proto import analyzer_pb2_grpc

        env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "PYTHON"))}
        self.process = subprocess.Popen([str(python), "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, "."],
                                        cwd=pack_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            port = self._read_port()
            self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            grpc.channel_ready_future(self.channel).result(timeout=START_TIMEOUT)
        except BaseException:
            self.process.kill()
            self.process.wait()
            raise
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def _read_port(self) -> int:
        ready, _, _ = select.select([self.process.stdout], [], [], START_TIMEOUT)
        line = self.process.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            self.process.kill()
            _, stderr = self.process.communicate()
            raise RuntimeError(f"the policy pack did not start (printed {line!r}):\n{stderr.decode()}")
        return int(line)

    def close(self) -> None:
        self.channel.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()

    # ------------------------------------------------------------------ the engine's calls

    def policy_levels(self) -> dict[str, str]:
        """Each policy's enforcement level as the pack tells the engine (GetAnalyzerInfo)."""
        from google.protobuf import empty_pb2
        from pulumi.runtime import proto

        info = self.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=CALL_TIMEOUT)
        return {p.name: proto.EnforcementLevel.Name(p.enforcementLevel) for p in info.policies}

    def configure_stack(self, stack: str, *, tags: dict[str, str] | None = None) -> None:
        from pulumi.runtime import proto

        self.stub.ConfigureStack(proto.AnalyzerStackConfigureRequest(
            stack=stack, project="bookinfo-mesh", organization="organization", tags=tags or {}),
            timeout=CALL_TIMEOUT)

    def analyze(self, resource: WireResource) -> list[Diagnostic]:
        """The resource policies' diagnostics about one resource (Analyze); the
        engine files them under that resource."""
        from pulumi.runtime import proto

        response = self.stub.Analyze(proto.AnalyzeRequest(
            urn=resource.urn, type=resource.type, name=resource.name, properties=_struct(resource.properties),
            provider=_provider(resource.provider)),
            timeout=CALL_TIMEOUT)
        return _diagnostics(response, resource.urn)

    def analyze_each(self, resources: list[WireResource]) -> list[Diagnostic]:
        return [d for r in resources for d in self.analyze(r)]

    def analyze_stack(self, resources: list[WireResource]) -> list[Diagnostic]:
        """The stack policies' diagnostics (AnalyzeStack over every resource); the
        engine files one naming no resource of the stack under the root stack."""
        from pulumi.runtime import proto

        response = self.stub.AnalyzeStack(proto.AnalyzeStackRequest(resources=[
            proto.AnalyzerResource(urn=r.urn, type=r.type, name=r.name, parent=r.parent,
                                   properties=_struct(r.properties), provider=_provider(r.provider))
            for r in resources]),
            timeout=CALL_TIMEOUT)
        urns = {r.urn for r in resources}
        root = next((r.urn for r in resources if r.type == "pulumi:pulumi:Stack"), "")
        return [d if d.urn in urns else replace(d, urn=root) for d in _diagnostics(response, root)]

    def everything(self, resources: list[WireResource]) -> list[Diagnostic]:
        """What a preview of these resources reports: Analyze on each, then AnalyzeStack."""
        return self.analyze_each(resources) + self.analyze_stack(resources)


def _diagnostics(response, default_urn: str) -> list[Diagnostic]:
    from pulumi.runtime import proto

    return [Diagnostic(policy=d.policyName, level=proto.EnforcementLevel.Name(d.enforcementLevel),
                       urn=d.urn or default_urn, message=d.message) for d in response.diagnostics]


@contextlib.contextmanager
def pack_server(python: Path | str, pack_dir: Path = ROOT / "policy") -> Iterator[PackServer]:
    server = PackServer(python, pack_dir)
    try:
        yield server
    finally:
        server.close()


def main_python() -> str:
    """The project's own virtualenv's Python (it holds pulumi-policy too)."""
    return sys.executable
