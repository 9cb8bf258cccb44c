"""The components' contract: what a component's children receive of the options its
caller gives it (`components.kubernetes.child_options`), as the engine sees each
registration, and the outputs each declares."""
from __future__ import annotations

import pulumi
import pytest
from pulumi.runtime import mocks as sdk_mocks

from components.args import StackArgs
from components.mesh import IstioMesh
from meshplan.render import sdk
from tests.conftest import settings_from


@pytest.fixture
def registrations():
    """Every RegisterResource request the program sends, in order."""
    requests: list = []

    class Recording(sdk_mocks.MockMonitor):
        def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
            requests.append(request)
            return super().RegisterResource(request)

    echo = sdk.echo_mocks()
    sdk.start_mocks(echo, project="bookinfo-mesh", stack="options", monitor=Recording(echo))
    return requests


def build_mesh(environment: str, opts_of) -> None:
    """An IstioMesh under the mocks, given the options `opts_of(earlier)` where
    `earlier` is a resource registered before it."""
    @pulumi.runtime.test
    def program():
        earlier = pulumi.CustomResource("test:index:Earlier", "earlier")
        IstioMesh("mesh", StackArgs(settings=settings_from({"environment": environment})), opts_of(earlier))

    program()


def children(requests) -> dict:
    return {r.name: r for r in requests if r.parent.endswith("bookinfo-mesh:mesh:IstioMesh::mesh")}


def test_every_child_gets_the_options_its_component_was_given(registrations):
    build_mesh("dev", lambda earlier: pulumi.ResourceOptions(
        depends_on=[earlier], protect=True, ignore_changes=["metadata.annotations"], retain_on_delete=True,
        delete_before_replace=True, custom_timeouts=pulumi.CustomTimeouts(create="7m")))
    found = children(registrations)
    assert len(found) == 7  # two namespaces and five releases
    for name, child in found.items():
        assert (child.protect, list(child.ignoreChanges), child.retainOnDelete, child.deleteBeforeReplace,
                child.customTimeouts.create) == (True, ["metadata.annotations"], True, True, "7m"), name
        assert any(d.endswith("test:index:Earlier::earlier") for d in child.dependencies), name
    # The child's own order comes on top of the component's: istiod still waits for the CRDs.
    assert any(d.endswith("::mesh-base") for d in found["mesh-istiod"].dependencies)


def test_a_child_is_protected_by_its_own_rule_or_its_components(registrations):
    build_mesh("prod", lambda earlier: None)
    assert {name for name, child in children(registrations).items() if child.protect} == {"mesh-base"}


def test_what_names_the_component_itself_or_reaches_children_through_it_is_not_repeated(registrations):
    transformed: list[str] = []

    def note(args):
        transformed.append(args.name)

    build_mesh("dev", lambda earlier: pulumi.ResourceOptions(aliases=[pulumi.Alias(name="old-mesh")],
                                                             transformations=[note]))
    # An alias names the component's former name; the engine derives its children's.
    assert [list(child.aliases) for child in children(registrations).values()] == [[]] * 7
    # The SDK runs a component's transformations on each child already: once each.
    assert sorted(transformed) == sorted(["mesh", *children(registrations)])



def test_each_component_declares_exactly_the_outputs_it_registers():
    # STYLE 5: register_outputs mirrors the declared outputs.
    import ast

    from tests.conftest import ROOT

    for path in sorted((ROOT / "components").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ClassDef) and any("ComponentResource" in ast.unparse(b) for b in node.bases)):
                continue
            declared = {s.target.id for s in node.body if isinstance(s, ast.AnnAssign)
                        and ast.unparse(s.annotation).startswith("pulumi.Output")}
            [registered] = [call.args[0] for call in ast.walk(node) if isinstance(call, ast.Call)
                            and ast.unparse(call.func) == "self.register_outputs"]
            assert declared == {key.value for key in registered.keys}, f"{path.name}: {node.name}"
            assert declared, f"{path.name}: {node.name}"
