"""The program's refusals hold back what they are about: the objects built on the
referenced stacks wait for the layer check, the routing waits for the rollout step
guard, so a refusal reaches the engine before any of them does (under `pulumi up
--skip-preview` nothing of them is dispatched). When nothing is refused, the
recording is what it was without the waits, dependencies included."""
from __future__ import annotations

import pytest

from meshplan.render import engine, sdk
from meshplan.render.engine import render
from model.errors import ConfigError
from model.observability import observability_objects
from model.routing import routing_objects
from model.traffic import traffic_table
from tests.conftest import STACKS, render_stack
from tests.test_layers import APP_REF, MESH_REF, layered_environment
from tests.test_rollout import GUARDED, PREVIOUS

ISTIO_OBJECT = ("kubernetes:networking.istio.io/", "kubernetes:security.istio.io/")


@pytest.fixture
def monitor_saw(monkeypatch):
    """What the recording monitor of the stack rendered last (after the stacks it
    references) received, even when the render is refused: its registrations
    (type, name) and its reads."""
    seen: list[sdk.Captured] = []
    recording_monitor = sdk.recording_monitor

    def recording(mocks, captured):
        seen.append(captured)
        return recording_monitor(mocks, captured)

    monkeypatch.setattr(sdk, "recording_monitor", recording)

    def received() -> tuple[list[tuple[str, str]], list[str]]:
        captured = seen[-1]
        return [(r["type"], r["name"]) for r in captured.records], [r["name"] for r in captured.reads]
    return received


def program_judges_alone(monkeypatch):
    """Skip meshplan's own reference check, which refuses before the program runs, so
    the program's check (through its StackReferences) is the one that refuses."""
    monkeypatch.setattr(engine, "reference_mismatch", lambda settings, outputs: None)


def test_a_traffic_stack_refused_by_its_app_stack_registers_none_of_its_traffic(tmp_path, monkeypatch, monitor_saw):
    traffic_file = layered_environment(tmp_path, app_versions="[v1, v2]", traffic="{versions: [v3], to: v3}")
    program_judges_alone(monkeypatch)
    with pytest.raises(ConfigError, match=r"services.reviews.to = \"v3\": version not deployed by the app stack"):
        render(traffic_file)
    registered, read = monitor_saw()
    assert registered == [("pulumi:pulumi:Stack", "bookinfo-mesh-prod-traffic")]
    assert sorted(read) == [APP_REF, MESH_REF]


def test_an_app_stack_refused_by_its_mesh_stack_registers_no_workload_or_policy(tmp_path, monkeypatch, monitor_saw):
    traffic_file = layered_environment(tmp_path, app_versions="[v1]", traffic="{to: v1}",
                                       app_extra="  bookinfo-mesh:istio: {revision: canary}\n")
    program_judges_alone(monkeypatch)
    with pytest.raises(ConfigError, match="bookinfo-mesh:istio.revision = \"canary\": the mesh stack"):
        render(traffic_file.with_name("Pulumi.prod-app.yaml"))
    registered, read = monitor_saw()
    assert registered == [("pulumi:pulumi:Stack", "bookinfo-mesh-prod-app")]
    assert read == [MESH_REF]


def test_a_refused_step_registers_no_routing_object_and_the_rest_of_the_stack_as_usual(tmp_stack, monitor_saw):
    with pytest.raises(ConfigError, match=r"step guard: VirtualService bookinfo/reviews .* \(\+50 points\)"):
        render(tmp_stack(GUARDED.format(guard="true")), previous_outputs=PREVIOUS)
    registered, read = monitor_saw()
    types = {type_ for type_, _ in registered}
    assert not any(t.startswith("kubernetes:networking.istio.io/") for t in types)
    assert "bookinfo-mesh:routing:Routing" not in types
    # The guard judges weights: the workloads, the mesh and the policies are not its
    # business (the layer check holds those back in a layered stack).
    assert {"bookinfo-mesh:workloads:Workloads", "kubernetes:apps/v1:Deployment", "kubernetes:helm.sh/v3:Release",
            "bookinfo-mesh:security:Security"} <= types
    assert read == ["organization/bookinfo-mesh/test"]


def without_waits(monkeypatch):
    """The program as it was before its objects waited for the verdicts."""
    from components import verdicts

    monkeypatch.setattr(verdicts, "waiting_for", lambda *judged: [])


@pytest.mark.parametrize("case", ["prod-traffic", "prod-app", "guarded-within", "guarded-first"])
def test_a_verdict_that_passes_leaves_the_recording_as_it_was_dependencies_included(case, tmp_stack, monkeypatch):
    within = {"traffic": [{**row, "percent": p} for row, p in zip(PREVIOUS["traffic"], (10.0, 90.0))]}
    path, previous = {
        "prod-traffic": (engine.stack_file("prod-traffic"), None),
        "prod-app": (engine.stack_file("prod-app"), None),
        "guarded-within": (tmp_stack(GUARDED.format(guard="true")), within),
        "guarded-first": (tmp_stack(GUARDED.format(guard="true")), None),
    }[case]
    waiting = render(path, previous_outputs=previous)
    with monkeypatch.context() as patched:
        without_waits(patched)
        before = render(path, previous_outputs=previous)
    mine, theirs = waiting.as_json(), before.as_json()
    assert [r["urn"] for r in mine["resources"]] == [r["urn"] for r in theirs["resources"]]
    # Named, not dumped: a failure shows which registrations differ.
    assert [a["urn"] for a, b in zip(mine["resources"], theirs["resources"]) if a != b] == []
    assert mine == theirs
    assert waiting.outputs == before.outputs
    # Not vacuous: the objects that waited were registered.
    assert any(r.type.startswith(ISTIO_OBJECT) for r in waiting.resources)


@pytest.mark.parametrize("stack", STACKS)
def test_the_step_guard_judges_the_traffic_the_routing_component_exports(stack):
    """The guard builds the routing bodies itself (the component waits for it): they
    must be the ones the component registers."""
    rendered = render_stack(stack)
    if not rendered.settings.layers.holds("traffic"):
        assert "traffic" not in rendered.outputs and "rolloutGuard" not in rendered.outputs
        return
    judged = traffic_table(routing_objects(rendered.settings) + observability_objects(rendered.settings))
    exported = [(row["virtualService"], row["route"], row["host"], row["subset"], row["percent"])
                for row in rendered.outputs["traffic"]]
    assert [(s.virtual_service, s.route, s.host, s.subset, s.percent) for s in judged] == exported

