"""meshplan's contact with the Pulumi SDK: everything it does to run the program
offline under the SDK's mock monitor, in one place.

Public SDK surface used: `pulumi.runtime.set_mocks`, `pulumi.runtime.Mocks`,
`pulumi.runtime.set_all_config`, `pulumi.runtime.test`, `pulumi.Output`,
`pulumi.RunError`.

Non-public names this module (and only this module) relies on; each is checked by
`tests/test_sdk_contact.py`, which fails with the name and what changed when an SDK
upgrade removes or alters one:

- `pulumi.runtime.settings.ROOT` (a ContextVar): reset before each run, or a second
  render in one process parents its resources to the first run's stack.
- `pulumi.runtime.settings.get_root_resource().outputs`: under mocks the root stack
  finishes before the program runs, so its exports never reach the monitor; they are
  read off the stack resource instead.
- `pulumi.runtime.mocks.MockMonitor`, subclassed by gRPC method name:
  `RegisterResource(request)` and `ReadResource(request)`, and its `make_urn(parent,
  type_, name)`, overridden to give the URNs the engine gives (the SDK's own keeps
  only the parent's last type and counts the root stack's); requests are
  `pulumi.runtime.proto.resource_pb2` messages (`RegisterResourceRequest`: type,
  name, parent, dependencies, protect, retainOnDelete, custom, object;
  `ReadResourceRequest`: type, name, parent, id, provider).
- `pulumi.runtime.proto.resource_pb2.RegisterResourceResponse(urn, id, object)`: the
  recording monitor answers with the request's own inputs, which is what the echo
  mocks would return, without a deserialize/serialize round trip per resource.
- `pulumi.runtime.resource._get_stack_trace()`: called once per registration to
  capture a Python stack trace for source positions in the engine's UI. Offline no
  engine reads it (the recording keeps no source positions), and it costs about a
  tenth of a render, so it is replaced by an empty `source_pb2.StackTrace` for the
  duration of a run and restored afterwards.
- Event loops: the SDK leaves an asyncio loop open in every executor thread it
  awaited from; they are found through `gc` and closed at exit.
- `pulumi.runtime.config.CONFIG` (a ContextVar): read by the program itself
  (`components/config.py`), not here, because the program cannot depend on meshplan;
  it is the only way to enumerate all config `set_all_config` installed, and the same
  test guards it.
- `pulumi.runtime.config.is_config_secret(key)` and `get_config_secret_keys_env()`:
  also read by the program itself, to refuse a secret config key (the database
  password) the engine does not mark secret; guarded by the same test.
- `pulumi.Output.future()`: awaited by the program itself (`components/verdicts.py`)
  to turn a verdict into a `depends_on` entry that raises its refusal and carries
  none of its resources (an Output resolving to None, or the refusal, without the
  StackReference as a dependency); guarded by the same test.
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

from model.names import STACK_REFERENCE_TYPE, STACK_TYPE


@dataclass
class Captured:
    """What the recording monitor saw, under the URNs the engine gives: registrations
    in arrival order and reads (a StackReference)."""

    records: list[dict]
    reads: list[dict]


DUPLICATE_URN = "Duplicate resource URN '{urn}'; try giving it a unique name"
"""The engine's refusal of a second registration or read of one URN, word for word
(pulumi/pulumi: `GetDuplicateResourceURNError` in sdk/go/common/diag/errors.go,
raised by `generateURN` in pkg/resource/deploy/step_generator.go, which registrations
and reads share). The SDK's mock monitor has no such check."""


READ_MISSING = "resource '{id}' does not exist"
"""The engine's failure of a read whose object the cluster does not have (the
provider answers a 404 with no object)."""


def echo_mocks(previous_outputs: dict | None = None, reference_outputs: dict[str, dict] | None = None,
               cluster_objects: Mapping[str, dict | None] | None = None):
    """Mocks whose every resource has its inputs as outputs and its name + `-id` as ID;
    a StackReference reads the outputs `reference_outputs` holds under its fully
    qualified stack name (a layer below), else `previous_outputs` (the stack's own
    last deployment). A cluster object read by ID is not read offline (no object
    comes back) unless `cluster_objects` stands in for the cluster: ID → the object,
    or None for one the cluster does not have (the read then fails as the engine's does).
    A read whose ID is still unknown (a preview, before what names the object exists)
    reads nothing and leaves every output unknown, as the engine's read step does."""
    import pulumi

    from meshplan.render.recording import UNKNOWN

    class EchoMocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            if args.typ == STACK_REFERENCE_TYPE:
                outputs = (reference_outputs or {}).get(args.name, previous_outputs)
                return [f"{args.name}-id", {**args.inputs, "outputs": outputs or {}}]
            if args.resource_id == UNKNOWN:
                return ["", {}]
            if args.resource_id and cluster_objects is not None:
                found = cluster_objects.get(args.resource_id)
                if found is None:
                    raise pulumi.RunError(READ_MISSING.format(id=args.resource_id))
                return [args.resource_id, found]
            return [f"{args.name}-id", args.inputs]

        def call(self, args):
            return {}

    return EchoMocks()


def recording_monitor(mocks, captured: Captured):
    """A MockMonitor that gives the engine's URNs, refuses a URN registered or read
    before as the engine does, records each registration with what
    `MockResourceArgs` leaves out (parent, dependencies, protect) and answers with the
    inputs."""
    import threading

    import pulumi
    from google.protobuf import json_format
    from pulumi.runtime import mocks as sdk_mocks
    from pulumi.runtime.proto import resource_pb2

    from meshplan.render.recording import UNKNOWN, UNKNOWN_SHOWN

    class RecordingMonitor(sdk_mocks.MockMonitor):
        def __init__(self, mocks):
            super().__init__(mocks)
            self._seen: set[str] = set()
            self._seen_lock = threading.Lock()  # the SDK calls the monitor from several threads

        def make_urn(self, parent: str, type_: str, name: str) -> str:
            """`urn:pulumi:<stack>::<project>::<ancestor types $-joined>$<type>::<name>`,
            where the root stack's own type is no part of its children's chain."""
            parent_chain = parent.split("::")[2] if parent else STACK_TYPE
            chain = type_ if parent_chain == STACK_TYPE else f"{parent_chain}${type_}"
            return super().make_urn("", chain, name)

        def _claim(self, request) -> str:
            urn = self.make_urn(request.parent, request.type, request.name)
            with self._seen_lock:
                if urn in self._seen:
                    raise pulumi.RunError(DUPLICATE_URN.format(urn=urn))
                self._seen.add(urn)
            return urn

        def ReadResource(self, request):  # noqa: N802 (gRPC method name)
            urn = self._claim(request)
            response = super().ReadResource(request)
            read = {"urn": urn, "type": request.type, "name": request.name,
                    "id": UNKNOWN_SHOWN if request.id == UNKNOWN else request.id}
            if request.provider:
                # `<provider urn>::<id>` as for a registration: which cluster it is read from.
                read["provider"] = request.provider
            captured.reads.append(read)
            return response

        def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
            urn = self._claim(request)
            if request.type in (STACK_TYPE, STACK_REFERENCE_TYPE):
                response = super().RegisterResource(request)
            else:
                # What the echo mocks return, minus the round trip through Python values.
                response = resource_pb2.RegisterResourceResponse(urn=urn, id=f"{request.name}-id",
                                                                 object=request.object)
            captured.records.append({
                "urn": urn, "type": request.type, "name": request.name,
                "parent": request.parent or None, "deps": list(request.dependencies),
                "protect": bool(request.protect), "custom": request.custom,
                "retain_on_delete": request.HasField("retainOnDelete") and request.retainOnDelete,
                "inputs": json_format.MessageToDict(request.object),
                # `<provider urn>::<provider id>`, the reference form the engine records.
                "provider": request.provider or None,
            })
            return response

    return RecordingMonitor(mocks)


OFFLINE_ORGANIZATION = "organization"
"""What `pulumi.get_organization()` answers offline: the organization of every stack
on a self-managed backend, as the repository's stack references name it (the SDK's
mocks would answer None, and the program's reference to its own stack would read
`None/bookinfo-mesh/<stack>`)."""


def start_mocks(mocks, *, project: str, stack: str, preview: bool = False, monitor=None,
                config: dict[str, str] | None = None, secret_keys: list[str] | None = None) -> None:
    """Install mocks (and config) for one program run, forgetting any earlier run's
    root stack."""
    import pulumi
    from pulumi.runtime import settings as runtime_settings

    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor,
                             organization=OFFLINE_ORGANIZATION)
    pulumi.runtime.set_all_config(config or {}, secret_keys or [])


def root_exports() -> dict:
    """The `pulumi.export`s of the program that just ran (see the module docstring)."""
    from pulumi.runtime import settings as runtime_settings

    return runtime_settings.get_root_resource().outputs


LARGE_RUN_OBJECTS = 500_000
"""Objects a run may leave tracked (about 200 services' worth) before they are
frozen instead of collected."""
_frozen_run = False
"""Whether the last run's objects are frozen and not yet collected."""


@contextlib.contextmanager
def offline_registration() -> Iterator[None]:
    """Skip per-registration work that means nothing offline (the stack trace for
    source positions), and leave the cyclic garbage collector off for the run: the
    SDK builds hundreds of thousands of short-lived futures whose repeated gen-2
    scans made render time grow faster than the resource count. Both are restored
    on exit. After a large run (more than `LARGE_RUN_OBJECTS` objects left), they
    are frozen (`gc.freeze`) rather than scanned: one full collection over a
    1,000-service render's objects costs a third of the render, and a render's
    process usually ends soon after it (objects still go as soon as nothing refers
    to them; only reference cycles stay). A further render in the same process
    collects them first; small runs leave the collector to its own rhythm."""
    from pulumi.runtime import resource as sdk_resource
    from pulumi.runtime.proto import source_pb2

    global _frozen_run
    if _frozen_run:
        # A further render in this process: the last large one's garbage goes first.
        _frozen_run = False
        gc.unfreeze()
        gc.collect()
    saved_trace = sdk_resource._get_stack_trace
    collecting = gc.isenabled()
    sdk_resource._get_stack_trace = source_pb2.StackTrace
    gc.disable()
    try:
        yield
    finally:
        sdk_resource._get_stack_trace = saved_trace
        if collecting:
            if gc.get_count()[0] > LARGE_RUN_OBJECTS:
                gc.freeze()
                _frozen_run = True
            gc.enable()


def run_test_program(body: Callable[[], object]) -> None:
    """Run `body` as `@pulumi.runtime.test` does: every RPC and output drained.

    The asyncio logger is turned down for good, as the Python language host does
    before it runs a program (pulumi/pulumi: sdk/python/cmd/pulumi-language-python-exec):
    a refused run leaves futures whose exception nobody retrieves (the refusal itself,
    in every object that waited for it), and asyncio would print each one's traceback
    whenever the collector finds it, long after meshplan has printed the one line."""
    import logging

    import pulumi

    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    pulumi.runtime.test(body)()


def _close_event_loops() -> None:
    """The SDK leaves an asyncio loop open in every executor thread it awaited from.
    Closed before interpreter teardown, their finalizers no longer race the teardown
    of their own self-pipes, which otherwise prints a stray "Invalid file
    descriptor" traceback after a successful render now and then."""
    for candidate in gc.get_objects():
        if isinstance(candidate, asyncio.AbstractEventLoop) and not candidate.is_closed() \
                and not candidate.is_running():
            candidate.close()


atexit.register(_close_event_loops)
