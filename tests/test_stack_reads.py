"""Reads and URNs as the engine has them: each referenced stack is read once, the
render lists what it read, and a URN registered or read twice is refused with the
engine's own message."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from meshplan.render import sdk
from meshplan.cli import main
from meshplan.render.engine import render, run_program
from model.errors import ConfigError
from tests.conftest import ROOT, STACKS, render_stack, settings_from
from tests.test_layers import APP_REF, MESH_REF
from tests.test_rollout import PREVIOUS

BASE_REF = "organization/bookinfo-mesh/edge-base"


def read_of(stack: str, name: str) -> dict:
    """A read as the render JSON lists it."""
    return {"urn": f"urn:pulumi:{stack}::bookinfo-mesh::pulumi:pulumi:StackReference::{name}",
            "type": "pulumi:pulumi:StackReference", "name": name, "id": name}


def one_stack_below(tmp_path: Path) -> Path:
    """A traffic stack whose mesh and app references name one stack, which holds both."""
    (tmp_path / "Pulumi.edge-base.yaml").write_text(
        "config:\n  bookinfo-mesh:layers: [mesh, app]\n  bookinfo-mesh:services:\n    reviews: {versions: [v1, v3]}\n")
    path = tmp_path / "Pulumi.edge-traffic.yaml"
    path.write_text("config:\n  bookinfo-mesh:layers: [traffic]\n"
                    f"  bookinfo-mesh:stackRefs: {{mesh: {BASE_REF}, app: {BASE_REF}}}\n"
                    "  bookinfo-mesh:services:\n    reviews: {versions: [v1, v3], weights: {v1: 90, v3: 10}}\n")
    return path


def test_a_stack_referenced_as_mesh_and_app_is_read_once(tmp_path, capsys):
    traffic_file = one_stack_below(tmp_path)
    assert main(["render", "--config", str(traffic_file), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["reads"] == [read_of("edge-traffic", BASE_REF)]
    assert render(traffic_file).outputs["stackRefsChecked"] == f"fits mesh {BASE_REF}, app {BASE_REF}"


def test_reading_one_stack_twice_is_refused_as_the_engine_refuses_it(tmp_path, capsys, monkeypatch):
    """The program as it was: one StackReference per reference, not per stack."""
    import pulumi

    from components import stack_reads

    monkeypatch.setattr(stack_reads.StackReads, "_reference", lambda self, stack: pulumi.StackReference(stack))
    traffic_file = one_stack_below(tmp_path)
    assert main(["render", "--config", str(traffic_file), "--format", "json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"error: {traffic_file}: Duplicate resource URN 'urn:pulumi:edge-traffic::bookinfo-mesh::"
        f"pulumi:pulumi:StackReference::{BASE_REF}'; try giving it a unique name\n")


@pytest.mark.parametrize("stack", STACKS)
def test_every_render_lists_its_reads_sorted_by_urn(stack):
    document = render_stack(stack).as_json()
    assert list(document) == ["project", "stack", "resources", "reads"]
    expected = {"prod-app": [MESH_REF], "prod-traffic": [APP_REF, MESH_REF]}.get(stack, [])
    assert document["reads"] == [read_of(stack, name) for name in expected]


def test_the_rollout_guard_of_a_layered_stack_reads_its_own_stack_beside_the_layers_below(tmp_path):
    path = tmp_path / "Pulumi.prod-traffic.yaml"
    path.write_text((ROOT / "Pulumi.prod-traffic.yaml").read_text()
                    + "  bookinfo-mesh:rollout: {maxStep: 50, guardPreviews: true}\n")
    for name in ("Pulumi.prod-mesh.yaml", "Pulumi.prod-app.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    rendered = render(path, previous_outputs=PREVIOUS)
    own = "organization/bookinfo-mesh/prod-traffic"
    assert rendered.reads == [read_of("prod-traffic", name) for name in (APP_REF, MESH_REF, own)]
    assert rendered.outputs["rolloutGuard"] == "within 50 points"


def test_yaml_and_text_name_the_stacks_read_and_only_where_there_are_some(capsys):
    assert main(["render", "--stack", "prod-traffic", "--format", "yaml"]) == 0
    head = capsys.readouterr().out.split("---")[0]
    assert head.endswith("# Stacks read (StackReferences; their outputs are not part of this manifest):\n"
                         f"#   {APP_REF}\n#   {MESH_REF}\n")
    assert main(["render", "--stack", "prod-traffic"]) == 0
    assert f"\nStacks read (StackReferences)\n  {APP_REF}\n  {MESH_REF}\n" in capsys.readouterr().out
    for argv in (["render", "--stack", "prod"], ["render", "--stack", "prod", "--format", "yaml"]):
        assert main(argv) == 0
        assert "Stacks read" not in capsys.readouterr().out


GROUP = """\
import pulumi
from pulumi_kubernetes.core.v1 import ConfigMap


class Group(pulumi.ComponentResource):
    def __init__(self, name, children):
        super().__init__("bookinfo-mesh:test:Group", name)
        for child in children:
            ConfigMap(child, metadata={"name": name + "-" + child}, opts=pulumi.ResourceOptions(parent=self))


"""
GROUP_CHILD_URN = "urn:pulumi:dup::bookinfo-mesh::bookinfo-mesh:test:Group$kubernetes:core/v1:ConfigMap::"


@pytest.mark.parametrize("groups", [
    'Group("group", ["twice", "twice"])',
    # A URN names its parents' types, not their names: this is one URN twice too.
    'Group("one", ["config"])\nGroup("two", ["config"])',
])
def test_a_second_registration_of_one_urn_is_refused_with_the_engines_message(tmp_path, monkeypatch, groups):
    (tmp_path / "__main__.py").write_text(GROUP + groups + "\n")
    seen: list[sdk.Captured] = []
    recording_monitor = sdk.recording_monitor
    monkeypatch.setattr(sdk, "recording_monitor", lambda mocks, captured: (
        seen.append(captured), recording_monitor(mocks, captured))[1])
    with pytest.raises(ConfigError) as refused:
        run_program({}, settings=settings_from({}, stack="dup"), stack="dup", source="Pulumi.dup.yaml",
                    project_dir=tmp_path)
    child = "twice" if "twice" in groups else "config"
    assert str(refused.value) == (
        f"Pulumi.dup.yaml: Duplicate resource URN '{GROUP_CHILD_URN}{child}'; try giving it a unique name")
    assert [r["urn"] for r in seen[0].records].count(GROUP_CHILD_URN + child) == 1


def test_the_monitor_gives_the_engines_urns_without_the_root_stacks_type():
    sdk.start_mocks(sdk.echo_mocks(), project="bookinfo-mesh", stack="s")
    monitor = sdk.recording_monitor(sdk.echo_mocks(), sdk.Captured(records=[], reads=[]))
    stack = monitor.make_urn("", "pulumi:pulumi:Stack", "bookinfo-mesh-s")
    assert stack == "urn:pulumi:s::bookinfo-mesh::pulumi:pulumi:Stack::bookinfo-mesh-s"
    group = monitor.make_urn(stack, "bookinfo-mesh:a:Group", "g")
    assert group == "urn:pulumi:s::bookinfo-mesh::bookinfo-mesh:a:Group::g"
    inner = monitor.make_urn(group, "bookinfo-mesh:b:Inner", "i")
    assert monitor.make_urn(inner, "kubernetes:v1:X", "x") == \
        "urn:pulumi:s::bookinfo-mesh::bookinfo-mesh:a:Group$bookinfo-mesh:b:Inner$kubernetes:v1:X::x"


def test_a_refused_run_leaves_nothing_for_asyncio_to_print_afterwards(tmp_path):
    """A refusal fails every future that waited on what was refused, and nobody
    reads them; as under the language host, they print nothing when collected."""
    (tmp_path / "__main__.py").write_text(GROUP + 'Group("group", ["twice", "twice"])\n')
    script = (
        "import gc\n"
        "from meshplan.render import engine\n"
        "from model.errors import ConfigError\n"
        "from tests.conftest import settings_from\n"
        "try:\n"
        "    engine.run_program({}, settings=settings_from({}, stack='dup'), stack='dup', source='Pulumi.dup.yaml',\n"
        f"                       project_dir=__import__('pathlib').Path({str(tmp_path)!r}))\n"
        "except ConfigError as refused:\n"
        "    print(refused)\n"
        # The next run in the process lets go of the refused run's futures.
        f"engine.render({str(ROOT / 'Pulumi.prod-mesh.yaml')!r})\n"
        "gc.collect()\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "Duplicate resource URN" in run.stdout
    assert run.stderr == ""
