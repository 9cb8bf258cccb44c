"""What the README and docs/ show about meshplan is what meshplan does: one way to
run it, the tour's samples, the `check` example, the diff JSON fields and the policy
pack's refusals."""
from __future__ import annotations

import json
import re
import sys

from meshplan.render import formats
from tests.conftest import ROOT, docs_text, render_file, render_stack

README = docs_text()
"""The README and every page of docs/."""


def test_meshplan_is_always_run_as_the_meshplan_command():
    """One way: `meshplan ...` (venv/bin/meshplan where the virtualenv is not active);
    never through `python -m`, though that works too."""
    workflow = (ROOT / ".github" / "workflows" / "preview.yml").read_text(encoding="utf-8")
    for text in (README, workflow):
        assert re.findall(r"-m meshplan\b", text) == []
    blocks = README.split("```")[1::2]
    runs = [line.strip().removeprefix("$ ") for block in blocks for line in block.splitlines()
            if re.search(r"\bmeshplan (render|diff|check|rollout|rbac)\b", line)
            and not line.lstrip().startswith(("meshplan diff:", "meshplan rollout plan", "meshplan rollout:"))]
    assert len(runs) >= 10
    assert [line for line in runs if not line.startswith("meshplan ")] == []
    assert re.findall(r"venv/bin/meshplan diff --stack \"\$stack\"", workflow)


def test_the_make_plan_samples_are_the_dev_stack_output():
    for page, lead in (("README.md", "meshplan render --stack dev\n```\n\n```\n"),
                       ("render.md", "marked) and, per VirtualService route, each destination's effective share:\n\n```\n")):
        sample = docs_text(page).split(lead, 1)[1].split("```", 1)[0]
        assert sample in formats.summary(render_stack("dev")), page


def test_the_check_example_names_no_upstream_file_as_if_it_were_in_the_repository():
    block = docs_text("check.md").split("# meshplan check\n\n```\n", 1)[1].split("```", 1)[0]
    for upstream_name in ("bookinfo-gateway.yaml", "destination-rule-all.yaml", "virtual-service-all-v1.yaml"):
        assert upstream_name not in block


def test_the_diff_json_leaves_out_empty_fields_as_the_readme_says(capsys):
    from meshplan.cli import main

    tasks = ROOT / "examples" / "istio-tasks"
    main(["diff", "--config", str(tasks / "reviews-50-v3.yaml"), "--base-config", str(tasks / "all-v1.yaml"),
          "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    entries = [d for c in document["changes"] for d in c["diff"]]
    assert entries and all("replaces" not in d for d in entries)
    assert "`before` is left out when the property is added" in README


def test_the_policy_pack_refuses_bms_for_latest_images_and_passes_prod(tmp_path):
    sys.path.insert(0, str(ROOT / "policy"))
    try:
        import bookinfo_policies as pack
    finally:
        sys.path.remove(str(ROOT / "policy"))
    prod = [problem for r in render_stack("prod").resources
            if (spec := pack.pod_spec(r.type, r.inputs)) is not None
            for problem in (*pack.resource_problems(spec), *pack.security_context_problems(spec),
                            *pack.image_problems(spec))]
    assert prod == []
    bms = ROOT / "Pulumi.bms.yaml"
    text = bms.read_text() + "  bookinfo-mesh:databasePassword:\n    secure: v1:AAAA\n"
    copy = tmp_path / "Pulumi.bms.yaml"
    copy.write_text(text)
    latest = [problem for r in render_file(copy, "bms").resources
              if (spec := pack.pod_spec(r.type, r.inputs)) is not None for problem in pack.image_problems(spec)]
    assert latest
    assert "`no-latest-images` refuses the bms stack" in README
    assert "refuses the prod stack" not in README
