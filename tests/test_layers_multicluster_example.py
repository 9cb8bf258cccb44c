"""The layered multi-cluster example (examples/multicluster/layered/): a mesh, an app
and a traffic stack over two primaries, each file repeating the same `mesh` and
`clusters` maps. Every file renders offline, with the referenced stacks' outputs
given as `pulumi stack output --json` files (`--ref-outputs`, as docs/multicluster.md
shows) or found by rendering the files beside it; the output files are what those
stacks export; and the three layers register what one stack of the same
environment does, object for object."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from meshplan.render.engine import render
from tests.conftest import ROOT
from tests.test_layers import comparable

FOLDER = ROOT / "examples" / "multicluster" / "layered"
LAYER_FILES = {layer: FOLDER / f"Pulumi.mc-{layer}.yaml" for layer in ("mesh", "app", "traffic")}
OUTPUT_FILES = {"mc-mesh": FOLDER / "mc-mesh.outputs.json", "mc-app": FOLDER / "mc-app.outputs.json"}
BELOW = {"mesh": (), "app": ("mc-mesh",), "traffic": ("mc-mesh", "mc-app")}
"""The stacks each layer references."""
SHARED_KEYS = ("bookinfo-mesh:environment", "bookinfo-mesh:mesh", "bookinfo-mesh:clusters")


def config_of(path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["config"]


def test_every_layer_file_repeats_the_same_mesh_and_clusters_maps():
    shared = {layer: {key: config_of(path)[key] for key in SHARED_KEYS} for layer, path in LAYER_FILES.items()}
    assert shared["app"] == shared["mesh"] and shared["traffic"] == shared["mesh"]
    assert {layer: config_of(path)["bookinfo-mesh:layers"] for layer, path in LAYER_FILES.items()} == {
        "mesh": ["mesh"], "app": ["app"], "traffic": ["traffic"]}
    assert config_of(LAYER_FILES["traffic"])["bookinfo-mesh:stackRefs"] == {
        "mesh": "organization/bookinfo-mesh/mc-mesh", "app": "organization/bookinfo-mesh/mc-app"}


@pytest.mark.parametrize("stack", list(OUTPUT_FILES))
def test_the_output_files_are_what_the_referenced_stacks_export(stack):
    exported = render(str(FOLDER / f"Pulumi.{stack}.yaml")).outputs
    assert json.loads(OUTPUT_FILES[stack].read_text(encoding="utf-8")) == exported


def meshplan(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "meshplan", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("layer", list(LAYER_FILES))
def test_every_layer_file_renders_offline_with_the_outputs_of_the_stacks_below(layer):
    config = str(LAYER_FILES[layer].relative_to(ROOT))
    refs = [arg for stack in BELOW[layer] for arg in ("--ref-outputs",
                                                      f"{stack}={OUTPUT_FILES[stack].relative_to(ROOT)}")]
    given = meshplan("render", "--config", config, *refs, "--format", "json")
    assert given.returncode == 0, given.stderr
    assert "Traceback" not in given.stderr
    rendered = json.loads(given.stdout)
    assert [r["name"] for r in rendered["reads"]] == sorted(f"organization/bookinfo-mesh/{s}" for s in BELOW[layer])
    assert [p["inputs"]["clusterIdentifier"] for p in rendered["providers"]] == ["east", "west"]
    # Without the output files the stacks beside it are rendered for their outputs: the same objects.
    beside = meshplan("render", "--config", config, "--format", "json")
    assert beside.returncode == 0, beside.stderr
    assert json.loads(beside.stdout) == rendered
    checked = meshplan("check", "--config", config, *refs)
    assert checked.returncode == 0, checked.stderr


def test_the_union_of_the_layers_is_one_stack_of_the_same_environment(tmp_path):
    config = {key: value for path in LAYER_FILES.values() for key, value in config_of(path).items()
              if key not in ("bookinfo-mesh:layers", "bookinfo-mesh:stackRefs")}
    single = tmp_path / "Pulumi.mc.yaml"
    single.write_text(yaml.safe_dump({"config": config}, sort_keys=False), encoding="utf-8")
    monolith = comparable(render(str(single)))
    parts = {layer: comparable(render(str(path))) for layer, path in LAYER_FILES.items()}
    union: dict[str, dict] = {}
    for layer, part in parts.items():
        # Each layer deploys through the providers of the clusters it registers in.
        mine = {key: entry for key, entry in part.items() if not entry["type"].startswith("pulumi:providers:")}
        assert not set(mine) & set(union), f"{layer} registers what another layer does"
        union.update(part)
    assert set(union) == set(monolith)
    for key, entry in union.items():
        if entry["type"].startswith("pulumi:providers:"):
            continue
        layer_keys = next(set(p) for p in parts.values() if key in p)
        expected = {**monolith[key], "deps": [d for d in monolith[key]["deps"] if d in layer_keys]}
        assert entry == expected, key
