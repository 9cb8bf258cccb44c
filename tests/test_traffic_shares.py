"""Effective traffic shares as Istio computes them: which route matches catch every
request (and so shadow the routes after them), and fractional shares as meshplan
prints them (one decimal) and reports them in JSON (four decimals)."""
from __future__ import annotations

import json
import re

import pytest

from meshplan.cli import main
from model.traffic import format_percent, traffic_table

CATCH_ALL_REGEXES = (".*", "^.*$", "^.*", ".*$", "(.*)", "/.*", "^/.*", "^/.*$", ".+", r"[\s\S]*")
"""RE2 regexes every request path (non-empty, starting with `/`) matches in full."""


def reviews(first_match: dict) -> dict:
    """reviews: a first route to v3 under `first_match`, then the default route to v1."""
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "reviews", "namespace": "bookinfo"},
            "spec": {"hosts": ["reviews"], "http": [
                {"match": [first_match], "route": [{"destination": {"host": "reviews", "subset": "v3"}}]},
                {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]}}


def default_route_share(first_match: dict) -> float:
    [default] = [s for s in traffic_table([reviews(first_match)]) if s.subset == "v1"]
    return default.percent


@pytest.mark.parametrize("regex", CATCH_ALL_REGEXES)
def test_a_first_route_matching_every_path_by_regex_leaves_the_default_route_nothing(regex):
    assert default_route_share({"uri": {"regex": regex}}) == 0


@pytest.mark.parametrize("match", [
    {"uri": {"prefix": "/"}, "ignoreUriCase": True},
    {"uri": {"regex": ".*"}, "ignoreUriCase": True, "name": "everything"},
    {"ignoreUriCase": True},
])
def test_ignoring_the_case_of_the_uri_adds_no_condition_so_the_match_still_catches_everything(match):
    assert default_route_share(match) == 0


@pytest.mark.parametrize("match", [
    {"uri": {"regex": "/api/.*"}},
    {"uri": {"regex": ".*"}, "headers": {"end-user": {"exact": "jason"}}},
    {"uri": {"prefix": "/"}, "ignoreUriCase": True, "port": 9080},
    {"uri": {"exact": "/"}},
])
def test_a_first_route_with_a_real_condition_leaves_the_default_route_everything_it_does_not_match(match):
    assert default_route_share(match) == 100


@pytest.mark.parametrize("percent, shown", [
    (72.7272, "72.7%"), (27.2727, "27.3%"), (33.3333, "33.3%"), (12.5, "12.5%"), (0.5, "0.5%"),
    (99.96, "100%"), (50.04, "50%"), (0.04, "0%"), (100.0, "100%"), (None, "—"),
])
def test_a_share_prints_whole_when_within_a_twentieth_of_a_point_else_with_one_decimal(percent, shown):
    assert format_percent(percent) == shown


STACK = """config:
  bookinfo-mesh:environment: dev
  bookinfo-mesh:services:
    reviews:
      versions: [v1, v3]
      weights: {v1: %d, v3: %d}
"""


def test_render_prints_the_effective_shares_of_weights_that_do_not_sum_to_100(tmp_path, capsys):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(STACK % (80, 30))
    assert main(["render", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"reviews v1 +72\.7%", out) and re.search(r"reviews v3 +27\.3%", out), out


def test_diff_json_gives_fractional_shares_to_four_decimals_and_text_to_one(tmp_path, capsys):
    (tmp_path / "base").mkdir()
    (tmp_path / "head").mkdir()
    base, head = tmp_path / "base" / "Pulumi.dev.yaml", tmp_path / "head" / "Pulumi.dev.yaml"
    base.write_text(STACK % (80, 20))
    head.write_text(STACK % (2, 1))
    assert main(["diff", "--config", str(head), "--base-config", str(base), "--format", "json"]) == 2
    traffic = json.loads(capsys.readouterr().out)["traffic"]
    assert {(t["subset"], t["before"], t["after"]) for t in traffic if t["host"] == "reviews"} == {
        ("v1", 80, 66.6667), ("v3", 20, 33.3333)}
    assert main(["diff", "--config", str(head), "--base-config", str(base)]) == 2
    assert "reviews v1 80% → 66.7%, v3 20% → 33.3%" in capsys.readouterr().out


def hidden(where: str) -> dict:
    """reviews 50/50 (v1 first), with one part replaced by a secret as an exported state shows it."""
    vs = reviews({"uri": {"prefix": "/api"}})
    vs["spec"]["http"][1]["route"] = [{"destination": {"host": "reviews", "subset": "v1"}, "weight": 50},
                                      {"destination": {"host": "reviews", "subset": "v2"}, "weight": 50}]
    parts = {"metadata": (vs, "metadata"), "http": (vs["spec"], "http"), "a route": (vs["spec"]["http"], 0),
             "a match": (vs["spec"]["http"][0]["match"], 0), "a weight": (vs["spec"]["http"][1]["route"][1], "weight"),
             "a destination": (vs["spec"]["http"][1]["route"], 0)}
    if where in parts:
        container, key = parts[where]
        container[key] = "[secret]"
    return vs


@pytest.mark.parametrize("where", ["metadata", "http", "a route", "a match", "a weight", "a destination"])
def test_a_virtual_service_a_secret_hides_part_of_has_no_known_shares(where):
    assert [(s.subset, s.percent) for s in traffic_table([hidden("nothing")])] == [("v3", 100), ("v1", 50), ("v2", 50)]
    assert traffic_table([hidden(where)]) == []
