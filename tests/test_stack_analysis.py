"""One analysis entry point (`model.stack_analysis.analyze_stack`): the program before
it registers anything, `meshplan check` on a render and the policy pack on what the
engine hands it find the same things about every stack."""
from __future__ import annotations

import logging
import re

import pytest
from pulumi_policy import PolicyResource, StackValidationArgs

from meshplan.check import check_rendered
from meshplan.render.engine import run_program
from model.analysis import ERROR
from model.settings import parse_settings, read_stack_file
from model.stack_analysis import UNKNOWN_STACK_NAMESPACE, analyze_stack
from policy import bookinfo_policies as pack
from tests.conftest import ROOT, STACKS, render_stack, settings_from, with_secrets_set
from tests.manifests import bookinfo, find


def program_findings(stack: str, caplog) -> set[str]:
    """What the program logs to the engine under `pulumi preview` (errors would stop it)."""
    path = ROOT / f"Pulumi.{stack}.yaml"
    raw = with_secrets_set(read_stack_file(str(path)))
    settings = parse_settings(raw, stack=stack, source=str(path))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run_program(raw, settings=settings, stack=stack, source=str(path), report_only=False)
    return {r.getMessage() for r in caplog.records if re.match(r"(warning|info) \[", r.getMessage())}


def pack_findings(stack: str) -> set[str]:
    """What the pack's two analysis policies report on the stack's registrations."""
    resources = [PolicyResource(r.type, r.inputs, r.urn, r.name, None, None, None, [], {})
                 for r in render_stack(stack).resources if r.custom]
    found: set[str] = set()
    for policy in (pack.validate_mesh_analysis, pack.validate_mesh_analysis_warnings):
        policy(StackValidationArgs(resources), lambda message, urn=None: found.add(message))
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_the_program_meshplan_and_the_pack_find_the_same_about_each_stack(stack, caplog):
    rendered = render_stack(stack)
    meshplan = {str(f) for f in check_rendered(rendered)}
    assert {str(f) for f in check_rendered(rendered) if f.level == ERROR} == set()
    assert program_findings(stack, caplog) == meshplan
    if rendered.settings.layers.layered:
        # The pack reports on what this stack registers; the environment's other
        # objects are judged with it but reported by their own stacks.
        own = {(o["kind"], o["metadata"].get("namespace", "default"), o["metadata"]["name"])
               for o in rendered.objects()}
        meshplan = {str(f) for f in check_rendered(rendered) if (f.kind, f.namespace, f.name) in own}
    assert pack_findings(stack) == meshplan


def test_some_stack_has_findings_for_the_three_to_agree_on():
    # The comparison above would hold trivially if no stack had a finding.
    assert any(check_rendered(render_stack(stack)) for stack in STACKS)


def test_a_layered_stack_is_judged_with_the_objects_and_gateways_its_environment_implies():
    traffic = render_stack("prod-traffic")
    # A traffic stack registers no Service or Deployment and no gateway release, yet
    # its routes' hosts and subsets are found: the app and mesh stacks' are implied.
    assert {o["kind"] for o in traffic.objects()}.isdisjoint({"Service", "Deployment"})
    assert not traffic.releases()
    assert [f for f in analyze_stack(traffic.settings, traffic.objects(), []) if f.level == ERROR] == []
    alone = analyze_stack(None, traffic.objects(), [])
    assert {f.code for f in alone if f.level == ERROR} >= {"BM101"}


def test_a_stack_whose_settings_are_unknown_keeps_namespaceless_objects_in_default():
    objects = bookinfo()
    for obj in objects:
        obj["metadata"].pop("namespace", None)
    find(objects, "VirtualService", "reviews")["spec"]["http"][0]["route"][0]["destination"]["subset"] = "v9"
    [unknown] = [f for f in analyze_stack(None, objects, []) if f.code == "BM102"]
    shop = settings_from({"app": {"namespace": "shop"}})
    [known] = [f for f in analyze_stack(shop, objects, []) if f.code == "BM102"]
    assert (unknown.namespace, known.namespace) == (UNKNOWN_STACK_NAMESPACE, "shop")


def test_only_the_entry_point_turns_releases_into_gateways():
    # Each caller combining analyze and installed_gateways its own way is how the
    # three drifted apart before.
    callers = sorted(str(path.relative_to(ROOT)) for package in ("components", "meshplan", "policy", "model")
                     for path in (ROOT / package).rglob("*.py")
                     if "venv" not in path.parts and "installed_gateways(" in path.read_text())
    assert callers == ["model/analysis/gateways.py", "model/stack_analysis.py"]
