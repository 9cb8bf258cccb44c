"""`meshplan diff` and make before break: a change that removes a version the base
still sends traffic to is refused in every format (and offered no rollout plan); a
change that moves the traffic first, or removes a version at 0%, is not."""
from __future__ import annotations

import json

from meshplan.cli import main
from model.traffic_changes import undeployed_while_routed
from tests.conftest import ROOT

REVIEWS = "config:\n  bookinfo-mesh:environment: dev\n  bookinfo-mesh:services:\n    reviews:\n"
V1_ONLY = "      versions: [v1]\n      to: v1\n"
V3_ONLY = "      versions: [v3]\n      to: v3\n"

REFUSED_V1 = ("make before break: reviews v1 still receives 100% of VirtualService bookinfo/reviews route "
              "'#0 default', and this change undeploys it (subset v1 of DestinationRule bookinfo/reviews, "
              "Deployment bookinfo/reviews-v1); shift its traffic to 0% first, then remove it")


def diff(capsys, tmp_stack, base: str, head: str, *options: str) -> tuple[int, str, str]:
    base_file = tmp_stack(REVIEWS + base, "Pulumi.base.yaml")
    head_file = tmp_stack(REVIEWS + head, "Pulumi.head.yaml")
    code = main(["diff", "--config", str(head_file), "--base-config", str(base_file), *options])
    captured = capsys.readouterr()
    errors = "".join(line for line in captured.err.splitlines(keepends=True) if line.startswith("error: "))
    return code, captured.out, errors  # analyzer warnings left out


def test_undeploying_the_version_the_base_routes_to_is_refused_as_text_naming_service_and_version(capsys, tmp_stack):
    code, out, err = diff(capsys, tmp_stack, V1_ONLY, V3_ONLY)
    assert (code, err) == (1, f"error: {REFUSED_V1}\n")
    assert "Rollout plan" not in out and "meshplan rollout" not in out


def test_the_docs_show_the_refusal_as_printed():
    from tests.conftest import docs_text

    assert f"  error: {REFUSED_V1}\n" in docs_text("diff.md")


def test_the_refusal_is_a_quoted_line_in_markdown_and_a_list_in_json(capsys, tmp_stack):
    code, out, err = diff(capsys, tmp_stack, V1_ONLY, V3_ONLY, "--format", "markdown")
    assert code == 1 and err == f"error: {REFUSED_V1}\n"
    refusal = out.index("\n> **Refused** — make before break")
    assert refusal < out.index("| Op | Type | Name | Changes |"), "the refusal comes before the resource table"
    assert out.startswith("### ") and out.index("\n**") > refusal, "and before the summary line"
    assert out[refusal:].startswith("\n> **Refused** — make before break: reviews v1 still receives 100% of VirtualService "
                        "bookinfo/reviews route '#0 default', and this change undeploys it (subset v1 of "
                        "DestinationRule bookinfo/reviews, Deployment bookinfo/reviews-v1); shift its traffic "
                        "to 0% first, then remove it\n\n")
    assert "Rollout plan" not in out
    code, out, _ = diff(capsys, tmp_stack, V1_ONLY, V3_ONLY, "--format", "json")
    assert code == 1 and json.loads(out)["refused"] == [REFUSED_V1]


def test_allow_jump_waives_the_step_guard_but_not_make_before_break(capsys, tmp_stack):
    code, _, err = diff(capsys, tmp_stack, V1_ONLY, V3_ONLY, "--max-step", "25", "--format", "json")
    assert code == 1 and [line.split(":")[1].strip() for line in err.splitlines()] == [
        "make before break", "step guard"]
    code, out, err = diff(capsys, tmp_stack, V1_ONLY, V3_ONLY, "--max-step", "25", "--allow-jump", "--format", "json")
    assert (code, err) == (1, f"error: {REFUSED_V1}\n") and json.loads(out)["refused"] == [REFUSED_V1]


def test_moving_the_traffic_first_and_then_removing_the_version_is_accepted(capsys, tmp_stack):
    both_on_v1 = "      versions: [v1, v3]\n      to: v1\n"
    both_on_v3 = "      versions: [v1, v3]\n      to: v3\n"
    for base, head in ((both_on_v1, both_on_v3), (both_on_v3, V3_ONLY)):
        code, out, err = diff(capsys, tmp_stack, base, head, "--format", "json")
        assert (code, err) == (2, "") and "refused" not in json.loads(out)


def test_a_version_at_zero_percent_can_go(capsys, tmp_stack):
    code, _, err = diff(capsys, tmp_stack, "      versions: [v1, v3]\n      weights: {v1: 0, v3: 100}\n", V3_ONLY)
    assert (code, err) == (2, "")


def test_a_version_receiving_mirrored_requests_is_not_removed_while_it_does(capsys, tmp_stack):
    mirrored = "      versions: [v1, v2]\n      weights: {v1: 100}\n      mirror: {version: v2, percentage: 50}\n"
    code, _, err = diff(capsys, tmp_stack, mirrored, "      versions: [v1]\n      weights: {v1: 100}\n")
    assert code == 1
    assert err.startswith("error: make before break: reviews v2 still receives a 50% mirror of VirtualService "
                          "bookinfo/reviews route '#0 default', and this change undeploys it")


def _route(subset: str) -> list[dict]:
    def body(kind, spec):
        return {"apiVersion": "networking.istio.io/v1", "kind": kind,
                "metadata": {"name": "reviews", "namespace": "bookinfo"}, "spec": spec}

    return [body("VirtualService", {"hosts": ["reviews"], "http": [{"route": [
                {"destination": {"host": "reviews", "subset": subset}}]}]}),
            body("DestinationRule", {"host": "reviews", "subsets": [{"name": subset, "labels": {"version": subset}}]})]


def test_a_traffic_only_stack_is_refused_on_the_subset_it_removes():
    """No Deployments in the stack: the subset is what goes."""
    assert undeployed_while_routed(_route("v1"), _route("v3")) == [
        "make before break: reviews v1 still receives 100% of VirtualService bookinfo/reviews route '#0 default', "
        "and this change undeploys it (subset v1 of DestinationRule bookinfo/reviews); shift its traffic to 0% "
        "first, then remove it"]
    assert undeployed_while_routed(_route("v1"), _route("v3")[1:]) == []  # the route goes first, with its VS
