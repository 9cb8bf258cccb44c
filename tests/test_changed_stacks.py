"""CI previews only the stacks a change touches, by layer."""
from __future__ import annotations

import subprocess
import sys

from ci.changed_stacks import touched_stacks
from tests.conftest import ROOT, STACKS


def test_a_weight_change_in_the_traffic_stack_previews_that_stack_only():
    assert touched_stacks(["Pulumi.prod-traffic.yaml"]) == ["prod-traffic"]


def test_an_app_stack_change_also_previews_the_traffic_stack_built_on_it():
    assert touched_stacks(["Pulumi.prod-app.yaml"]) == ["prod-app", "prod-traffic"]
    assert touched_stacks(["Pulumi.prod-mesh.yaml"]) == ["prod-app", "prod-mesh", "prod-traffic"]


def test_layer_code_previews_the_stacks_holding_that_layer_and_shared_code_every_stack():
    single = {"bms", "dev", "dev-ambient", "prod", "staging"}
    assert set(touched_stacks(["model/routing.py"])) == single | {"prod-traffic"}
    assert set(touched_stacks(["model/gateway_api_routing.py"])) == single | {"prod-traffic"}
    assert set(touched_stacks(["components/mesh.py"])) == single | {"prod-mesh", "prod-app", "prod-traffic"}
    assert touched_stacks(["model/settings/parse.py"]) == sorted(STACKS)
    assert touched_stacks(["README.md", "tests/test_layers.py", "upstream/manifest.json"]) == []


def test_the_module_reads_git_diff_names_and_prints_json():
    done = subprocess.run([sys.executable, "-m", "ci.changed_stacks"], input="Pulumi.prod-traffic.yaml\n",
                          capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout == '["prod-traffic"]\n'


def test_app_code_previews_a_traffic_stack_even_one_not_built_on_a_stack_here(tmp_path):
    # A traffic stack judges its routes against the app's objects built from the app
    # code, so that code touches it whether or not its app stack lives in this folder.
    (tmp_path / "Pulumi.edge-traffic.yaml").write_text(
        "config:\n  bookinfo-mesh:layers: [traffic]\n  bookinfo-mesh:stackRefs:\n"
        "    mesh: acme/bookinfo-mesh/edge-mesh\n    app: acme/bookinfo-mesh/edge-app\n")
    (tmp_path / "Pulumi.edge-mesh.yaml").write_text("config:\n  bookinfo-mesh:layers: [mesh]\n")
    for app_code in ("components/workloads.py", "model/workloads.py", "model/security.py"):
        assert touched_stacks([app_code], root=tmp_path) == ["edge-traffic"], app_code
    assert touched_stacks(["components/mesh.py"], root=tmp_path) == ["edge-mesh", "edge-traffic"]
