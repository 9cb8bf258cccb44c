"""Layered stacks: mesh, app and traffic as separate stacks linked by StackReferences.
The prod split renders the same objects as the single prod stack; a stack refuses the
stacks it builds on when it does not fit them; meshplan finds their outputs offline."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from meshplan.render import engine
from meshplan.cli import main
from meshplan.render.engine import render
from meshplan.diff.states import urn_key
from model.errors import ConfigError
from model.layers import APP_OUTPUTS, MESH_OUTPUTS
from model.names import STACK_TYPE
from model.settings.types import LAYERS
from tests.conftest import ROOT, render_stack, settings_from

PROD_LAYERS = {"mesh": "prod-mesh", "app": "prod-app", "traffic": "prod-traffic"}
MESH_REF, APP_REF = "organization/bookinfo-mesh/prod-mesh", "organization/bookinfo-mesh/prod-app"


def comparable(rendered, keep_deps_within: set[str] | None = None) -> dict[str, dict]:
    """Each registration by its URN without the stack part: type, parent, inputs,
    protect and the dependencies on resources of the same set."""
    found = {}
    keys = {r.urn: urn_key(r.urn) for r in rendered.resources}
    for r in rendered.resources:
        if r.type == STACK_TYPE:
            continue
        deps = {keys.get(d, d) for d in r.depends_on}
        found[keys[r.urn]] = {"type": r.type, "inputs": r.inputs, "protect": r.protect,
                              "parent": keys.get(r.parent, r.parent) if r.parent and "pulumi:Stack" not in r.parent
                              else None, "deps": deps}
    for entry in found.values():
        entry["deps"] = sorted(d for d in entry["deps"] if d in (keep_deps_within or found))
    return found


def test_the_default_is_all_three_layers_as_the_project_file_declares():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert tuple(project["config"]["bookinfo-mesh:layers"]["default"]) == LAYERS
    assert project["config"]["bookinfo-mesh:stackRefs"]["default"] == {}
    assert settings_from({}).layers.layers == LAYERS and not settings_from({}).layers.layered


def test_the_project_file_states_no_default_of_its_own():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    # The parser holds every default: the file repeats environment's and layers'
    # (above) for the CLI, and an object key's `{}` only lets the key be left out.
    assert project["config"]["bookinfo-mesh:environment"]["default"] == settings_from({}).environment
    objects = {key: entry["default"] for key, entry in project["config"].items() if entry["type"] == "object"}
    assert len(objects) > 5 and all(default == {} for default in objects.values()), objects


@pytest.mark.parametrize("config, message", [
    ({"layers": ["traffic"], "stackRefs": {"app": APP_REF}}, "stackRefs.mesh: required"),
    ({"layers": ["app"], "stackRefs": {"mesh": MESH_REF, "app": APP_REF}}, "stackRefs.app = "),
    ({"stackRefs": {"mesh": MESH_REF}}, "holds that layer itself"),
    ({"layers": ["app"], "stackRefs": {"mesh": "prod-mesh"}}, "fully qualified stack name"),
    ({"layers": ["network"]}, "bookinfo-mesh:layers[0]"),
    ({"layers": []}, "bookinfo-mesh:layers = []"),
])
def test_layers_and_stack_references_are_refused_with_their_key_path(config, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        settings_from(config)


def test_the_union_of_the_prod_layers_is_the_single_prod_stack_object_for_object():
    monolith = comparable(render_stack("prod"))
    parts = {layer: comparable(render_stack(stack)) for layer, stack in PROD_LAYERS.items()}
    union: dict[str, dict] = {}
    for layer, part in parts.items():
        assert not set(part) & set(union), f"{layer} registers what another layer does"
        union.update(part)
    assert set(union) == set(monolith)
    for key, entry in union.items():
        # Dependencies across layers become StackReferences: compare those within a layer.
        layer_keys = next(set(p) for p in parts.values() if key in p)
        expected = {**monolith[key], "deps": [d for d in monolith[key]["deps"] if d in layer_keys]}
        assert entry == expected, key
    assert {layer: {e["type"].split(":")[1] for e in part.values()} for layer, part in parts.items()} == {
        "mesh": {"core/v1", "helm.sh/v3", "mesh"},
        "app": {"core/v1", "apps/v1", "security.istio.io/v1", "workloads", "security"},
        "traffic": {"networking.istio.io/v1", "routing", "egress"}}


def test_each_layer_exports_its_contract_and_the_single_stack_exports_what_it_always_did():
    assert set(MESH_OUTPUTS) <= set(render_stack("prod-mesh").outputs)
    app = render_stack("prod-app").outputs
    assert set(APP_OUTPUTS) <= set(app)
    assert app["services"]["reviews"] == {"namespace": "bookinfo", "port": 9080, "versions": ["v3"],
                                          "serviceAccount": "bookinfo-reviews"}
    assert render_stack("prod-traffic").outputs["stackRefsChecked"] == f"fits mesh {MESH_REF}, app {APP_REF}"
    assert set(render_stack("prod").outputs) == {"namespace", "istioReleases", "traffic", "securityPolicies",
                                                 "externalHosts", "rolloutGuard"}


def layered_environment(tmp_path: Path, *, app_versions: str, traffic: str, app_extra: str = "") -> Path:
    """prod-mesh as in the repository; an app and a traffic stack of the test's own."""
    (tmp_path / "Pulumi.prod-mesh.yaml").write_text((ROOT / "Pulumi.prod-mesh.yaml").read_text())
    (tmp_path / "Pulumi.prod-app.yaml").write_text(
        "config:\n  bookinfo-mesh:layers: [app]\n"
        f"  bookinfo-mesh:stackRefs: {{mesh: {MESH_REF}}}\n"
        f"  bookinfo-mesh:services:\n    reviews: {{versions: {app_versions}}}\n{app_extra}")
    path = tmp_path / "Pulumi.prod-traffic.yaml"
    path.write_text("config:\n  bookinfo-mesh:layers: [traffic]\n"
                    f"  bookinfo-mesh:stackRefs: {{mesh: {MESH_REF}, app: {APP_REF}}}\n"
                    f"  bookinfo-mesh:services:\n    reviews: {traffic}\n")
    return path


@pytest.mark.parametrize("traffic, path", [
    ("{versions: [v1, v3], to: v3}", "services.reviews.to"),
    ("{versions: [v1, v3], weights: {v1: 90, v3: 10}}", "services.reviews.weights.v3"),
    ("{versions: [v1, v3], to: v1}", "services.reviews.versions"),
])
def test_a_traffic_stack_refuses_a_version_its_app_stack_has_not_deployed(tmp_path, capsys, traffic, path):
    traffic_file = layered_environment(tmp_path, app_versions="[v1, v2]", traffic=traffic)
    assert main(["render", "--config", str(traffic_file)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith(f"error: {traffic_file}: bookinfo-mesh:{path} = \"v3\": version not deployed by the app "
                          f"stack {APP_REF} (deployed: v1, v2)")


def test_the_program_itself_refuses_through_its_stack_reference(tmp_path, monkeypatch):
    """Without meshplan's own check first, the StackReference's outputs (from the
    mocks' new_resource) reach the program's check, which stops the run."""
    traffic_file = layered_environment(tmp_path, app_versions="[v1, v2]", traffic="{versions: [v3], to: v3}")
    monkeypatch.setattr(engine, "reference_mismatch", lambda settings, outputs: None)
    with pytest.raises(ConfigError, match=r"services.reviews.to = \"v3\": version not deployed by the app stack"):
        render(traffic_file)


def test_an_app_stack_refuses_a_mesh_stack_of_another_revision(tmp_path, capsys):
    traffic_file = layered_environment(tmp_path, app_versions="[v1]", traffic="{to: v1}",
                                       app_extra="  bookinfo-mesh:istio: {revision: canary}\n")
    assert main(["render", "--config", str(traffic_file.with_name("Pulumi.prod-app.yaml"))]) == 1
    assert "bookinfo-mesh:istio.revision = \"canary\": the mesh stack organization/bookinfo-mesh/prod-mesh runs " \
           "the default revision" in capsys.readouterr().err


def test_ref_outputs_take_pulumi_stack_output_json_instead_of_the_repository_file(tmp_path, capsys):
    outputs = dict(render_stack("prod-app").outputs)
    outputs["services"] = {**outputs["services"], "reviews": {**outputs["services"]["reviews"], "versions": ["v2"]}}
    (tmp_path / "app.json").write_text(json.dumps(outputs))
    argv = ["render", "--stack", "prod-traffic", "--format", "json"]
    assert main([*argv, "--ref-outputs", f"prod-app={tmp_path / 'app.json'}"]) == 1
    assert "(deployed: v2)" in capsys.readouterr().err
    (tmp_path / "app.json").write_text(json.dumps(render_stack("prod-app").outputs))
    assert main([*argv, "--ref-outputs", f"{APP_REF}={tmp_path / 'app.json'}"]) == 0
    assert main(argv) == 0


def test_a_reference_with_no_stack_file_and_no_outputs_given_says_how_to_give_them(tmp_path, capsys):
    path = tmp_path / "Pulumi.edge-traffic.yaml"
    path.write_text("config:\n  bookinfo-mesh:layers: [traffic]\n  bookinfo-mesh:stackRefs:\n"
                    "    mesh: acme/bookinfo-mesh/edge-mesh\n    app: acme/bookinfo-mesh/edge-app\n")
    assert main(["render", "--config", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"error: {path}: bookinfo-mesh:stackRefs.mesh = \"acme/bookinfo-mesh/edge-mesh\": no Pulumi.edge-mesh.yaml "
        "of bookinfo-mesh here to render; give --ref-outputs edge-mesh=FILE with `pulumi stack output --json "
        "--stack acme/bookinfo-mesh/edge-mesh`\n")


def test_a_weight_change_in_a_traffic_stack_diffs_as_one_virtual_service_update(tmp_path, capsys):
    proposed = layered_environment(tmp_path, app_versions="[v1, v3]",
                                   traffic="{versions: [v1, v3], weights: {v1: 50, v3: 50}}")
    base = tmp_path / "base" / "Pulumi.prod-traffic.yaml"
    base.parent.mkdir()
    base.write_text(proposed.read_text().replace("{v1: 50, v3: 50}", "{v1: 90, v3: 10}"))
    for name in ("Pulumi.prod-mesh.yaml", "Pulumi.prod-app.yaml"):
        (base.parent / name).write_text((tmp_path / name).read_text())
    code = main(["diff", "--config", str(proposed), "--base-config", str(base), "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 2
    [change] = document["changes"]
    assert (change["op"], change["type"], change["name"]) == (
        "update", "kubernetes:networking.istio.io/v1:VirtualService", "routing-virtualservice-reviews")
    assert {(t["subset"], t["before"], t["after"]) for t in document["traffic"] if t["host"] == "reviews"} == {
        ("v1", 90, 50), ("v3", 10, 50)}


def test_the_docs_contract_table_lists_every_output_of_the_mesh_and_app_layers():
    from tests.conftest import docs_text

    text = docs_text("layers.md")
    for layer, outputs in (("mesh", MESH_OUTPUTS), ("app", APP_OUTPUTS)):
        for output in outputs:
            assert f"| {layer} | `{output}` |" in text


def test_a_traffic_stack_routing_through_an_egress_gateway_refuses_a_mesh_stack_that_runs_none(tmp_path, capsys):
    mesh = "config:\n  bookinfo-mesh:layers: [mesh]\n  bookinfo-mesh:istio:\n    egressGateway: {enabled: %s}\n"
    (tmp_path / "Pulumi.prod-mesh.yaml").write_text(mesh % "false")
    (tmp_path / "Pulumi.prod-app.yaml").write_text((ROOT / "Pulumi.prod-app.yaml").read_text())
    traffic = tmp_path / "Pulumi.prod-traffic.yaml"
    traffic.write_text((ROOT / "Pulumi.prod-traffic.yaml").read_text()
                       + "  bookinfo-mesh:istio:\n    egressGateway: {enabled: true}\n")
    assert main(["render", "--config", str(traffic)]) == 1
    assert capsys.readouterr().err == (
        f"error: {traffic}: bookinfo-mesh:istio.egressGateway.enabled = true: the mesh stack {MESH_REF} runs no "
        "egress gateway labelled {'istio': 'egressgateway'}\n")
    (tmp_path / "Pulumi.prod-mesh.yaml").write_text(mesh % "true")
    assert main(["render", "--config", str(traffic)]) == 0
