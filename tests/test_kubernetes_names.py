"""Every name the program derives is one Kubernetes accepts: the rules stated once in
model/vocabulary.py, every rendered object of every stack and example walked against
them, names made valid by construction where the program chooses them, and values
refused where a chart derives a name from them."""
from __future__ import annotations

from pathlib import Path

import pytest

from meshplan.render.engine import run_program
from model.object_names import name_problems, release_problems
from model.settings import parse_settings, read_stack_file
from model.settings.sources import config_key
from model.vocabulary import (DNS_1035_LABEL_RE, DNS_LABEL_RE, DNS_SUBDOMAIN_RE, LABEL_KEY_RE, LABEL_VALUE_RE,
                              PORT_NAME_RE, REVISION_MAX, bounded_label)
from tests.conftest import ROOT, render_file

STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml")) + sorted(ROOT.glob("examples/*/*.yaml"))

# Examples straight from Kubernetes' validation (k8s.io/apimachinery validation.go).
RULE_CASES = {
    DNS_LABEL_RE: (["a", "a-1", "1a", "a" * 63], ["", "A", "a-", "-a", "a.b", "a" * 64, "a\n"]),
    DNS_1035_LABEL_RE: (["a", "istiod-canary", "a" * 63], ["1a", "a-", "a" * 64, "a_b"]),
    DNS_SUBDOMAIN_RE: (["a", "a.b", "a-b.c-d", "a" * 253], ["a-", "a..b", ".a", "A", "a" * 254, "a.b\n"]),
    LABEL_KEY_RE: (["app", "istio.io/rev", "a_b.c-d", "x/" + "a" * 63], ["", "-a", "a/b/c", "A.io/x", "x/" + "a" * 64]),
    LABEL_VALUE_RE: (["", "v1", "A_b.c-d", "a" * 63], ["-a", "a-", "a b", "a" * 64]),
    PORT_NAME_RE: (["http", "http-8080", "a" * 15, "h2c"], ["", "a" * 16, "a--b", "-a", "a-", "8080", "HTTP"]),
}


@pytest.mark.parametrize("rule", list(RULE_CASES), ids=lambda rule: rule.pattern[:30])
def test_each_name_rule_accepts_and_refuses_what_kubernetes_does(rule):
    accepted, refused = RULE_CASES[rule]
    assert [name for name in accepted if not rule.match(name)] == []
    assert [name for name in refused if rule.match(name)] == []


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_rendered_name_of_every_stack_and_example_passes_its_rule(path):
    rendered = render_file(path)
    problems = [f"{o['kind']} {o['metadata'].get('name')}: {p}" for o in rendered.objects() for p in name_problems(o)]
    problems += [f"release {r.inputs['name']}: {p}" for r in rendered.releases()
                 for p in release_problems(r.inputs["name"], r.inputs["chart"], r.inputs.get("values") or {})]
    assert problems == []


def test_the_walker_finds_each_kind_of_bad_name():
    service = {"kind": "Service", "metadata": {"name": "1reviews", "namespace": "bookinfo", "labels": {"app": "a-"}},
               "spec": {"selector": {"-x": "y"}, "ports": [{"name": "http-", "port": 80}]}}
    deployment = {"kind": "Deployment", "metadata": {"name": "reviews-v1-", "namespace": "bookinfo"},
                  "spec": {"selector": {"matchLabels": {"app": "r" * 64}}, "template": {"metadata": {"labels": {}},
                           "spec": {"containers": [{"name": "Reviews", "ports": [{"name": "a-very-long-port-name"}]}]}}}}
    assert [p.split(" = ")[0] for p in name_problems(service)] == [
        "metadata.name", "metadata.labels.app", "spec.selector key", "spec.ports[0].name"]
    assert [p.split(" = ")[0] for p in name_problems(deployment)] == [
        "metadata.name", "spec.selector.matchLabels.app", "spec.template.spec.containers[0].name",
        "spec.template.spec.containers[0].ports[0].name"]
    assert release_problems("istiod", "istiod", {"revision": "r" * (REVISION_MAX + 1)}) == [
        f"Service name (from values.revision) = 'istiod-{'r' * (REVISION_MAX + 1)}': not a DNS-1035 label"]
    assert release_problems("istiod", "istiod", {"revision": "r" * REVISION_MAX}) == []


def test_a_long_name_is_shortened_stably_to_a_label_that_never_ends_in_a_dash():
    assert bounded_label("www-googleapis-com") == "www-googleapis-com"
    long_name = "a" * 62 + "-example-com"
    short = bounded_label(long_name)
    assert DNS_LABEL_RE.match(short) and len(short) == 63
    assert short == bounded_label(long_name)  # stable: the same host keeps its objects
    assert bounded_label("a" * 62 + "-example-org") != short  # a shared prefix does not collide
    for cut in range(50, 70):  # wherever the cut falls: never a trailing '-', nor '--' before the hash
        shortened = bounded_label("a" * cut + "-" + "b" * 20)
        assert DNS_LABEL_RE.match(shortened) and "--" not in shortened, shortened


def _render(tmp_path: Path, text: str):
    path = tmp_path / "Pulumi.names.yaml"
    path.write_text(text)
    raw = read_stack_file(str(path))
    settings = parse_settings(raw, stack="names", source=str(path))
    return run_program(raw, settings=settings, stack="names", source=str(path))


def test_an_egress_host_with_a_62_character_label_gets_objects_named_by_the_rules(tmp_path):
    host = "a" * 62 + ".example.com"
    rendered = _render(tmp_path, "config:\n  bookinfo-mesh:environment: dev\n  bookinfo-mesh:egress:\n"
                                 f"    externalServices:\n      - {{host: {host}, ports: [{{number: 443, protocol: HTTPS}}]}}\n")
    egress = [o for o in rendered.objects() if o["kind"] in ("ServiceEntry", "DestinationRule")
              and host in str(o["spec"])]
    assert {o["kind"] for o in egress} >= {"ServiceEntry"}
    for obj in egress:
        name = obj["metadata"]["name"]
        assert DNS_LABEL_RE.match(name) and len(name) <= 63, name
        assert name_problems(obj) == []


def test_the_cli_key_grammar():
    assert config_key("bookinfo-mesh:services") == ("bookinfo-mesh", "services")
    assert config_key("bookinfo-mesh:config:services") == ("bookinfo-mesh", "services")
    assert config_key("kubernetes:context") == ("kubernetes", "context")
    for refused in ("services", "bookinfo-mesh:services:reviews", "a:config:b:c", "a::b", ":config:b"):
        assert config_key(refused) is None, refused


def test_the_rollout_config_writer_reads_a_legacy_key_as_the_project_key(tmp_path):
    from meshplan.rollout.apply import write_config
    from meshplan.rollout.plan import ConfigEdit

    path = tmp_path / "Pulumi.names.yaml"
    path.write_text("config:\n  bookinfo-mesh:config:services: {reviews: {to: v1}}\n  kubernetes:context: kind\n")
    write_config(path, ConfigEdit(sets={"services.reviews.weights.v1": 90}, removals=("services.reviews.to",)))
    assert read_stack_file(str(path)) == {"services": {"reviews": {"weights": {"v1": 90}}}}
