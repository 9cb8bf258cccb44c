"""`meshplan render` of a stack with `clusters`: the cluster table (east-west gateway,
remote Secrets) and, per host, each version's share with the clusters serving it and
the path from clients in each network (`model/multicluster/paths.py`), on the two
examples and modified copies of them."""
from __future__ import annotations

import re
import shlex

import pytest
import yaml

from meshplan.cli import main
from model.multicluster.objects import NETWORK_GATEWAY_PORT
from model.multicluster.paths import clients_in, host_views, path_from
from model.traffic_rows import Share
from tests.multicluster_stacks import (EXAMPLES, MULTI_PRIMARY_MULTI_NETWORK, PRIMARY_REMOTE_MULTI_NETWORK,
                                       settings_of)
from tests.upstream import upstream

MULTI_PRIMARY = str(EXAMPLES / "multi-primary-multi-network.yaml")
PRIMARY_REMOTE = str(EXAMPLES / "primary-remote-multi-network.yaml")
EAST_GATEWAY = "via 34.75.71.237:15443 (net-east gateway, AUTO_PASSTHROUGH)"
WEST_GATEWAY = "via 35.1.2.3:15443 (net-west gateway, AUTO_PASSTHROUGH)"


def render_text(capsys, path) -> str:
    assert main(["render", "--config", str(path)]) == 0
    return capsys.readouterr().out


def edited(tmp_path, text: str, edit, name: str = "Pulumi.edited.yaml"):
    """A copy of an example with its config edited (`edit(config)` changes it in place)."""
    document = yaml.safe_load(text)
    edit(document["config"])
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def block(text: str, heading: str) -> list[str]:
    """The table under one host heading, header row first."""
    lines = text.split(heading + "\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [line.rstrip() for line in lines]


def test_the_cluster_table_names_each_east_west_gateway_and_the_remote_secrets_a_primary_holds(capsys):
    assert render_text(capsys, PRIMARY_REMOTE).splitlines()[2:6] == [
        "mesh mesh1 · trust domain cluster.local · trust provided",
        "cluster  role     network   control plane        east-west gateway        remote secrets",
        "east     primary  net-east  istiod 1.30.3        34.75.71.237:15443 (LB)  west",
        "west     remote   net-west  → east 34.75.71.237  (LB pending)             —",
    ]
    assert render_text(capsys, MULTI_PRIMARY).splitlines()[3:6] == [
        "cluster  role     network   control plane  east-west gateway        remote secrets",
        "east     primary  net-east  istiod 1.30.3  34.75.71.237:15443 (LB)  west",
        "west     primary  net-west  istiod 1.30.3  35.1.2.3:15443 (LB)      east",
    ]


def test_a_cluster_without_east_west_gateway_shows_a_dash_and_a_node_port_one_says_so(capsys, tmp_path):
    def one_network(config):
        config["bookinfo-mesh:clusters"]["west"]["network"] = "net-east"
    assert render_text(capsys, edited(tmp_path, MULTI_PRIMARY_MULTI_NETWORK, one_network)).splitlines()[4:6] == [
        "east     primary  net-east  istiod 1.30.3  —                  west",
        "west     primary  net-east  istiod 1.30.3  —                  east",
    ]

    def node_port(config):
        config["bookinfo-mesh:clusters"]["west"]["eastWest"] = {"serviceType": "NodePort", "address": "35.1.2.3"}
    text = render_text(capsys, edited(tmp_path, MULTI_PRIMARY_MULTI_NETWORK, node_port))
    assert text.splitlines()[5].split("  ")[-2:] == ["35.1.2.3:<node port of 15443> (NodePort)", "east"]
    assert "v3       20%    west        via 35.1.2.3:<node port of 15443> (net-west gateway, AUTO_PASSTHROUGH)" in text


def test_each_version_shows_its_clusters_and_path_from_each_network(capsys):
    text = render_text(capsys, MULTI_PRIMARY)
    assert block(text, "reviews.bookinfo.svc.cluster.local:9080 — from clients in net-east (east)") == [
        "  version  share  clusters    path",
        "  v1       50%    east        direct",
        f"  v2       30%    east, west  direct (east) + {WEST_GATEWAY} (west)",
        f"  v3       20%    west        {WEST_GATEWAY}",
    ]
    assert block(text, "reviews.bookinfo.svc.cluster.local:9080 — from clients in net-west (west)") == [
        "  version  share  clusters    path",
        f"  v1       50%    east        {EAST_GATEWAY}",
        f"  v2       30%    east, west  direct (west) + {EAST_GATEWAY} (east)",
        "  v3       20%    west        direct",
    ]
    assert text.count("reviews.bookinfo.svc.cluster.local:9080 — from clients in") == 2


def test_a_remote_network_whose_gateway_has_no_address_yet_is_reached_through_it_pending(capsys):
    text = render_text(capsys, PRIMARY_REMOTE)
    assert block(text, "reviews.bookinfo.svc.cluster.local:9080 — from clients in net-east (east)")[3] == \
        "  v3       10%    west      via (LB pending):15443 (net-west gateway, AUTO_PASSTHROUGH)"
    assert block(text, "reviews.bookinfo.svc.cluster.local:9080 — from clients in net-west (west)")[1] == \
        f"  v1       45%    east      {EAST_GATEWAY}"


def test_one_view_is_printed_once_when_it_holds_for_every_client_network(capsys, tmp_path):
    def one_network(config):
        config["bookinfo-mesh:clusters"]["west"]["network"] = "net-east"
    text = render_text(capsys, edited(tmp_path, MULTI_PRIMARY_MULTI_NETWORK, one_network))
    assert text.count("reviews.bookinfo.svc.cluster.local:9080 — from clients in") == 1
    assert block(text, "reviews.bookinfo.svc.cluster.local:9080 — from clients in net-east (east, west)") == [
        "  version  share  clusters    path",
        "  v1       50%    east        direct",
        "  v2       30%    east, west  direct",
        "  v3       20%    west        direct",
    ]


def test_a_host_reached_by_several_routes_names_the_route_of_each_row(capsys):
    text = render_text(capsys, MULTI_PRIMARY)
    rows = block(text, "productpage.bookinfo.svc.cluster.local:9080 — from clients in net-east (east)")
    assert rows[0].split() == ["route", "version", "share", "clusters", "path"]
    assert [row.split()[:2] for row in rows[1:]] == [
        ["bookinfo/bookinfo", "#0"], ["bookinfo/productpage", "#0"]]


def test_a_view_the_same_from_every_network_is_one_and_unknown_hosts_have_no_path():
    _, mc = settings_of(MULTI_PRIMARY_MULTI_NETWORK)
    external = Share(virtual_service="ext", namespace="bookinfo", route="#0 default", host="api.example.com",
                     subset="", percent=100.0)
    [view] = host_views(mc, [external], versions={"reviews": ("v1",)}, fqdn_of=lambda s: s.host, ports={})
    assert (view.host, clients_in(mc, view.networks)) == ("api.example.com", "every network")
    assert [(row.clusters, row.path) for row in view.rows] == [((), "—")]


def test_paths_from_a_network_to_serving_clusters():
    _, mc = settings_of(MULTI_PRIMARY_MULTI_NETWORK)
    assert path_from(mc, "net-east", ["east"]) == "direct"
    assert path_from(mc, "net-east", ["west"]) == WEST_GATEWAY
    assert path_from(mc, "net-east", ["east", "west"]) == f"direct (east) + {WEST_GATEWAY} (west)"
    assert path_from(mc, "net-east", []) == "no endpoints"
    _, remote = settings_of(PRIMARY_REMOTE_MULTI_NETWORK)
    assert path_from(remote, "net-west", ["east"]) == EAST_GATEWAY


def test_the_gateway_port_shown_is_the_one_upstream_chart_and_sample_use():
    values = yaml.safe_load(upstream("charts/istio-gateway/values.yaml").read_text())
    defaults = values["_internal_defaults_do_not_set"]  # where Istio's charts keep their defaults
    assert defaults["networkGatewayPorts"]["tls"]["port"] == NETWORK_GATEWAY_PORT == 15443
    [sample] = [d for d in yaml.safe_load_all(
        upstream("istio-multicluster/samples/multicluster/expose-services.yaml").read_text()) if d]
    [server] = sample["spec"]["servers"]
    assert (server["port"]["number"], server["tls"]["mode"]) == (NETWORK_GATEWAY_PORT, "AUTO_PASSTHROUGH")


@pytest.mark.parametrize("stack", ["Pulumi.dev.yaml", "examples/istio-tasks/reviews-50-v3.yaml"])
def test_a_stack_without_clusters_keeps_its_traffic_table(capsys, stack):
    text = render_text(capsys, stack)
    assert "from clients in" not in text and "east-west gateway" not in text
    assert "\nTraffic (effective share of each destination per route)\n  bookinfo/" in text


def test_outlier_detection_on_a_host_says_locality_load_balancing_prefers_the_clients_locality(capsys, tmp_path):
    def outlier_detection(config):
        config["bookinfo-mesh:services"]["reviews"]["trafficPolicy"] = {
            "outlierDetection": {"consecutive5xxErrors": 5, "interval": "1s", "baseEjectionTime": "30s"}}
    text = render_text(capsys, edited(tmp_path, MULTI_PRIMARY_MULTI_NETWORK, outlier_detection))
    note = ("  outlierDetection is set: Istio's locality load balancing (on by default) prefers endpoints in the "
            "client's region and zone, the others take over as those fail")
    assert block(text, "reviews.bookinfo.svc.cluster.local:9080 — from clients in net-east (east)")[-1] == note
    assert text.count(note) == 2  # reviews from each network; details and ratings set none
    assert note not in render_text(capsys, MULTI_PRIMARY)


def test_the_outputs_the_multicluster_page_shows_are_what_the_commands_print(capsys):
    """docs/multicluster.md: the fenced outputs under `Reading the render` and
    `Reading a diff`, each a verbatim part of what its command prints."""
    from tests.conftest import docs_text

    page = docs_text("multicluster.md")
    render_part = page.split("## Reading the render", 1)[1].split("## Reading a diff", 1)[0]
    diff_part = page.split("## Reading a diff", 1)[1].split("\n## ", 1)[0]
    fence = re.compile(r"^```\n(.*?)^```", re.S | re.M)
    rendered = render_text(capsys, PRIMARY_REMOTE)
    blocks = fence.findall(render_part)
    assert len(blocks) == 2 and all(block in rendered for block in blocks)
    [command, shown] = fence.findall(diff_part)
    assert main(shlex.split(command)[1:]) == 2
    assert shown in capsys.readouterr().out
