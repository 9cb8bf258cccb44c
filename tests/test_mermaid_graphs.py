"""Every traffic graph meshplan prints is accepted by mermaid's own parser (npm
`mermaid`, run under Node with jsdom by tools/mermaid/parse.mjs; `make mermaid`
installs it): the graph of each stack and example, and the graphs of diffs between
the Istio task examples as `meshplan diff --format markdown` prints them; and each
graph draws the application's request path, with the shares into versions."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from meshplan.cli import main
from meshplan.diff.compare import diff_states
from meshplan.diff.formats import mermaid
from meshplan.diff.states import state_from_rendered
from tests.conftest import EXAMPLES, ROOT, render_file
from tests.upstream import missing_tool

TOOL = ROOT / "tools" / "mermaid"
FILES = sorted(ROOT.glob("Pulumi.*.yaml")) + sorted(EXAMPLES.glob("**/*.yaml"))
TASKS = EXAMPLES / "istio-tasks"


def parse(graphs: list[str]) -> list[dict]:
    """mermaid.parse's verdict on each graph."""
    if shutil.which("node") is None:
        missing_tool("node", "apt-get install nodejs npm")
    if not (TOOL / "node_modules" / "mermaid").is_dir() or not (TOOL / "node_modules" / "jsdom").is_dir():
        missing_tool("mermaid's parser (npm mermaid with jsdom, tools/mermaid)", "make mermaid")
    done = subprocess.run(["node", str(TOOL / "parse.mjs")], input="\0".join(graphs), capture_output=True,
                          text=True, timeout=120, cwd=TOOL)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


@cache
def stack_graph(path: Path) -> str:
    state = state_from_rendered(render_file(path))
    return "\n".join(mermaid(diff_states(state, state)))


def markdown_graphs(text: str) -> list[str]:
    return [block.split("```", 1)[0] for block in text.split("```mermaid\n")[1:]]


def test_the_parser_refuses_a_broken_graph():
    """The check can fail: a label closed early is a parse error."""
    good, bad = parse(['flowchart LR\n  n0("a") -->|"50%"| n1["b"]', 'flowchart LR\n  n0("a" -->|"50%| n1'])
    assert good == {"ok": True} and not bad["ok"] and "Parse error" in bad["error"]


def test_every_stack_and_example_graph_parses():
    graphs = [stack_graph(path) for path in FILES]
    verdicts = parse(graphs)
    assert len(verdicts) == len(graphs)
    refused = {str(path.relative_to(ROOT)): v["error"] for path, v in zip(FILES, verdicts) if not v["ok"]}
    assert refused == {}


def test_every_diff_graph_between_task_examples_parses(capsys):
    graphs = []
    base = TASKS / "all-v1.yaml"
    for head in sorted(TASKS.glob("*.yaml")):
        main(["diff", "--config", str(head), "--base-config", str(base), "--format", "markdown"])
        main(["diff", "--config", str(base), "--base-config", str(head), "--format", "markdown"])
        graphs += markdown_graphs(capsys.readouterr().out)
    assert len(graphs) >= 4, "the task examples move traffic: their diffs draw graphs"
    assert [v for v in parse(graphs) if not v["ok"]] == []


def test_labels_with_mermaid_specials_still_parse():
    from meshplan.diff.formats import mermaid_text

    label = mermaid_text('#0 uri~="a|b" & <x> `y` v1: 50%')
    assert parse([f'flowchart LR\n  n0("s") -->|"{label}"| n1["{label}"]']) == [{"ok": True}]


def drawn_edges(graph: str) -> set[tuple[str, str, str]]:
    """(from, to, label) for every edge of a graph meshplan draws, nodes by their text."""
    text = dict(re.findall(r'^\s+(n\d+)[\[\(\{]+"([^"]*)"', graph, re.MULTILINE))
    edges = re.findall(r'^\s+(n\d+) -\.?->(?:\|"([^"]*)"\|)? (n\d+)$', graph, re.MULTILINE)
    return {(text[origin], text[target], label) for origin, label, target in edges}


def test_the_graph_draws_bookinfo_s_request_path_with_the_shares_into_versions():
    edges = drawn_edges(stack_graph(TASKS / "reviews-90-10.yaml"))
    assert {("bookinfo-gateway", "productpage", "100%"), ("productpage", "reviews", ""),
            ("reviews", "ratings", ""), ("productpage", "details", "")} <= edges
    assert {("reviews", "reviews v1", "90%"), ("reviews", "reviews v2", "10%")} <= edges
    dev = drawn_edges(stack_graph(ROOT / "Pulumi.dev.yaml"))
    assert {("bookinfo-gateway", "productpage", "100%"), ("productpage", "reviews", ""), ("reviews", "ratings", ""),
            ("productpage", "details", ""), ("reviews", "reviews v1", "100%")} <= dev
    backwards = {("reviews", "productpage"), ("ratings", "reviews"), ("details", "ratings")}
    assert not {(origin, target) for origin, target, _ in dev} & backwards


def test_the_graph_draws_bms_s_request_path_from_the_ingress_and_the_services_upstreams():
    edges = drawn_edges(stack_graph(ROOT / "Pulumi.bms.yaml"))
    assert {("bookinfo-gateway", "bookinfo-core", "#0 uri^=/api/books: 100%"),
            ("bookinfo-gateway", "bookinfo-rating", ""), ("bookinfo-gateway", "bookinfo-order", "#2 uri^=/api/orders: 100%"),
            ("bookinfo-core", "bookinfo-rating", ""), ("bookinfo-order", "bookinfo-payment", ""),
            ("bookinfo-rating", "bookinfo-rating v1", "50%"), ("bookinfo-rating", "bookinfo-rating v2", "50%")} <= edges
    assert len(re.findall(r'\("bookinfo-payment"\)', stack_graph(ROOT / "Pulumi.bms.yaml"))) == 1, \
        "a service in another namespace is one node, whoever names it"


def test_a_diff_against_an_exported_state_draws_the_calls_of_the_stack_being_previewed(capsys, tmp_path):
    from tests.test_diff import export_of

    state = tmp_path / "state.json"
    state.write_text(json.dumps(export_of(render_file(TASKS / "all-v1.yaml", "dev"))))
    main(["diff", "--config", str(TASKS / "reviews-90-10.yaml"), "--stack", "dev", "--against-state", str(state),
          "--format", "markdown"])
    [graph] = markdown_graphs(capsys.readouterr().out)
    edges = drawn_edges(graph)
    assert {("productpage", "reviews", ""), ("reviews", "ratings", ""), ("productpage", "details", ""),
            ("reviews", "reviews v1", "100% → 90%"), ("reviews", "reviews v2", "0% → 10%")} <= edges
    assert parse([graph]) == [{"ok": True}]
