"""The non-public Pulumi SDK names meshplan (and the program itself) rely on, as
listed in `meshplan/render/sdk.py`: each test names the one it guards, so an SDK upgrade
that removes or changes one fails here with that name, not somewhere downstream."""
from __future__ import annotations

import contextvars
import gc
import inspect

import pytest

from meshplan.render import sdk
from tests.conftest import render_stack


def _require(condition: bool, name: str, expected: str) -> None:
    if not condition:
        pytest.fail(f"Pulumi SDK contract broken: {name} — meshplan/render/sdk.py expects {expected}; "
                    "update meshplan/render/sdk.py and its docstring for this SDK version")


def test_root_is_a_context_variable_of_the_runtime_settings():
    from pulumi.runtime import settings

    _require(isinstance(getattr(settings, "ROOT", None), contextvars.ContextVar),
             "pulumi.runtime.settings.ROOT", "a ContextVar holding the root stack resource")
    _require(callable(getattr(settings, "get_root_resource", None)),
             "pulumi.runtime.settings.get_root_resource", "a function")


def test_the_root_stack_keeps_its_exports_in_outputs():
    from pulumi.runtime import stack

    source = inspect.getsource(stack.Stack)
    _require("self.outputs" in source, "pulumi.runtime.stack.Stack.outputs",
             "the root stack to keep its exports in an `outputs` attribute")


@pytest.mark.parametrize("method", ["RegisterResource", "ReadResource", "make_urn"])
def test_the_mock_monitor_is_subclassed_by_grpc_method_name(method):
    from pulumi.runtime import mocks

    _require(callable(getattr(mocks.MockMonitor, method, None)),
             f"pulumi.runtime.mocks.MockMonitor.{method}", "a method of that name")


def test_make_urn_takes_parent_type_and_name():
    from pulumi.runtime import mocks

    parameters = list(inspect.signature(mocks.MockMonitor.make_urn).parameters)
    _require(parameters == ["self", "parent", "type_", "name"], "pulumi.runtime.mocks.MockMonitor.make_urn",
             f"(self, parent, type_, name), found {parameters}")


@pytest.mark.parametrize("message, fields", [
    ("RegisterResourceRequest", {"type", "name", "parent", "dependencies", "protect", "retainOnDelete", "custom",
                                 "object"}),
    ("RegisterResourceResponse", {"urn", "id", "object"}),
    ("ReadResourceRequest", {"type", "name", "id", "provider"}),
])
def test_resource_messages_have_the_fields_the_monitor_reads(message, fields):
    from pulumi.runtime.proto import resource_pb2

    descriptor = getattr(resource_pb2, message).DESCRIPTOR
    missing = fields - set(descriptor.fields_by_name)
    _require(not missing, f"pulumi.runtime.proto.resource_pb2.{message}", f"fields {sorted(fields)}; "
             f"missing {sorted(missing)}")


def test_the_stack_trace_hook_is_a_module_function_returning_a_stack_trace():
    from pulumi.runtime import resource
    from pulumi.runtime.proto import source_pb2

    hook = getattr(resource, "_get_stack_trace", None)
    _require(callable(hook) and not inspect.signature(hook).parameters,
             "pulumi.runtime.resource._get_stack_trace", "a function without parameters")
    _require("_get_stack_trace()" in inspect.getsource(resource.register_resource),
             "pulumi.runtime.resource.register_resource", "to call _get_stack_trace() per registration")
    _require(isinstance(source_pb2.StackTrace(), source_pb2.StackTrace),
             "pulumi.runtime.proto.source_pb2.StackTrace", "a message type with no required fields")


def test_offline_registration_restores_what_it_replaced():
    from pulumi.runtime import resource

    before, collecting = resource._get_stack_trace, gc.isenabled()
    with sdk.offline_registration():
        assert resource._get_stack_trace is not before
        assert not gc.isenabled()
    assert resource._get_stack_trace is before and gc.isenabled() == collecting


def test_program_config_is_readable_from_the_config_context_variable():
    from pulumi.runtime import config

    _require(isinstance(getattr(config, "CONFIG", None), contextvars.ContextVar),
             "pulumi.runtime.config.CONFIG", "a ContextVar of the config set_all_config installs")
    for name in ("is_config_secret", "get_config_secret_keys_env"):
        _require(callable(getattr(config, name, None)), f"pulumi.runtime.config.{name}", "a function")
    sdk.start_mocks(sdk.echo_mocks(), project="bookinfo-mesh", stack="contract",
                    config={"bookinfo-mesh:environment": "dev", "bookinfo-mesh:databasePassword": "x"},
                    secret_keys=["bookinfo-mesh:databasePassword"])
    try:
        _require(config.CONFIG.get() == {"bookinfo-mesh:environment": "dev", "bookinfo-mesh:databasePassword": "x"},
                 "pulumi.runtime.config.CONFIG", "to hold what set_all_config set")
        _require(config.is_config_secret("bookinfo-mesh:databasePassword")
                 and not config.is_config_secret("bookinfo-mesh:environment"),
                 "pulumi.runtime.config.is_config_secret", "to tell the keys set_all_config marked secret")
        _require(config.get_config_secret_keys_env() == [], "pulumi.runtime.config.get_config_secret_keys_env",
                 "to read PULUMI_CONFIG_SECRET_KEYS (unset here)")
    finally:
        sdk.start_mocks(sdk.echo_mocks(), project="bookinfo-mesh", stack="contract")


def test_a_render_through_the_contact_module_records_parents_dependencies_and_exports():
    rendered = render_stack("dev")
    children = [r for r in rendered.resources if r.parent]
    assert children and any(r.depends_on for r in rendered.resources)
    assert rendered.outputs["namespace"] == "bookinfo"


def test_an_output_future_gives_the_value_none_when_unknown_and_raises_a_refusal():
    """`components/verdicts.py` awaits `Output.future()`: the value; None, at once,
    for a verdict not reached because its input is unknown (a preview); and the
    exception an `apply` raised."""
    import asyncio

    import pulumi

    _require(asyncio.iscoroutinefunction(getattr(pulumi.Output, "future", None)), "pulumi.Output.future",
             "a coroutine method")
    seen = {}

    async def settle(output):
        try:
            return await output.future()
        except pulumi.RunError as refused:
            return f"refused: {refused}"

    def program():
        def refuse(_):
            raise pulumi.RunError("no")
        unknown = pulumi.Output(set(), asyncio.sleep(0, "x"), asyncio.sleep(0, False))
        cases = {"known": pulumi.Output.from_input("v"), "unknown": unknown.apply(refuse),
                 "refused": pulumi.Output.from_input("v").apply(refuse)}
        return pulumi.Output.all(*[pulumi.Output.from_input(settle(o)).apply(
            lambda value, name=name: seen.__setitem__(name, value)) for name, o in cases.items()])

    sdk.start_mocks(sdk.echo_mocks(), project="bookinfo-mesh", stack="contract")
    with pytest.raises(pulumi.RunError, match="^no$"):  # the refusal still ends the run
        sdk.run_test_program(program)
    _require(seen == {"known": "v", "unknown": None, "refused": "refused: no"}, "pulumi.Output.future",
             f"the value, None when unknown and the apply's exception; found {seen}")
