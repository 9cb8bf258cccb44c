"""BM165: weights that do not sum to 100 are a warning naming the shares Istio
really sends; it stays quiet where the sum cannot mislead."""
from __future__ import annotations

import json

import pytest

from meshplan.cli import main
from model.analysis import CATALOGUE, WARNING, analyze
from tests.conftest import EXAMPLES, ROOT, render_file


def reviews(*weights) -> dict:
    route = [{"destination": {"host": "reviews", "subset": f"v{n}"}, **({"weight": w} if w is not None else {})}
             for n, w in enumerate(weights, start=1)]
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "reviews", "namespace": "bookinfo"},
            "spec": {"hosts": ["reviews"], "http": [{"route": route}]}}


def bm156(*weights) -> list[str]:
    return [f.message for f in analyze([reviews(*weights)], only=["BM165"])]


def test_weights_summing_to_110_warn_with_the_shares_istio_sends():
    [finding] = analyze([reviews(80, 30)], only=["BM165"])
    assert (finding.level, finding.kind, finding.namespace, finding.name) == (WARNING, "VirtualService", "bookinfo",
                                                                              "reviews")
    assert finding.message == ("http[0]: weights sum to 110, not 100, so Istio sends each its weight / 110: "
                               "reviews v1 80 → 72.7%, reviews v2 30 → 27.3%")


@pytest.mark.parametrize("weights", [(None,), (80,), (100,), (50, 50), (100, 0), (33.3, 33.3, 33.4),
                                     (None, None), (0, 0), (-10, 110)])
def test_no_warning_where_the_sum_cannot_mislead_or_another_rule_speaks(weights):
    assert bm156(*weights) == []


def test_an_omitted_weight_beside_set_ones_counts_zero():
    assert bm156(60, None) == ["http[0]: weights sum to 60, not 100, so Istio sends each its weight / 60: "
                               "reviews v1 60 → 100%, reviews v2 0 → 0%"]


def test_the_rule_is_a_warning_of_project_policy_with_no_istio_or_kiali_code():
    rule = CATALOGUE["BM165"]
    assert (rule.level, rule.istio, rule.kiali, rule.equivalent) == (WARNING, "", "", "project policy")


def test_render_and_check_report_it_for_a_stack_file(tmp_path, capsys):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config:\n  bookinfo-mesh:environment: dev\n  bookinfo-mesh:services:\n    reviews:\n"
                    "      versions: [v1, v3]\n      weights: {v1: 80, v3: 30}\n")
    assert main(["render", "--config", str(path)]) == 0
    assert ("warning [BM165] VirtualService bookinfo/reviews: http[0]: weights sum to 110, not 100, so Istio "
            "sends each its weight / 110: reviews v1 80 → 72.7%, reviews v3 30 → 27.3%") in capsys.readouterr().out


@pytest.mark.parametrize("path", sorted(ROOT.glob("Pulumi.*.yaml")) + sorted(EXAMPLES.glob("**/*.yaml")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_stack_or_example_of_the_repository_trips_it(path):
    assert analyze(render_file(path).objects(), only=["BM165"]) == []
