"""Every Istio object of every stack and example passes Istio's own CRD schemas,
strictly (unknown fields rejected), through the checker kept beside the upstream
CRDs. test_schemas.py holds the same objects to a written-out subset offline."""
from __future__ import annotations

import subprocess
import sys

from meshplan.render import formats
from tests.conftest import EXAMPLES, ROOT, STACKS, render_file
from tests.upstream import shared_tool, upstream

STACK_FILES = [ROOT / f"Pulumi.{s}.yaml" for s in STACKS] + sorted(EXAMPLES.rglob("*.yaml"))


def test_every_istio_object_passes_the_istio_crd_schemas(tmp_path):
    checker = shared_tool("istio_schema_check.py")
    crds = upstream("istio-1.30.3/crd-all.gen.yaml")
    renders = []
    for path in STACK_FILES:
        out = tmp_path / f"{path.parent.name}-{path.stem}.json"
        out.write_text(formats.as_json(render_file(path)))
        renders.append(str(out))
    done = subprocess.run([sys.executable, str(checker), "--crds", str(crds), *renders], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    valid, _, total = done.stdout.strip().splitlines()[-1].partition(" Istio objects valid")[0].partition(" of ")
    assert int(valid) == int(total) > 200, done.stdout
