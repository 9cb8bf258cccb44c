"""The program over several clusters, run under the SDK's mocks on the example
stacks (examples/multicluster/): a provider per cluster on every resource, names
carrying the cluster, the objects of design §6.2 per cluster, the order edges of
`model.multicluster.graph`, and no secret plaintext anywhere a render shows."""
from __future__ import annotations

import json

import pytest

from meshplan.render.engine import run_program
from model.settings import SECRET_SHOWN, SecretValue, parse_settings, read_stack_file
from tests.conftest import ROOT
from tests.multicluster_stacks import refused_run

EXAMPLES = ROOT / "examples" / "multicluster"
PLAINTEXT = "s3cr3t-kubeconfig-plaintext"


def render(name: str):
    path = EXAMPLES / f"{name}.yaml"
    raw = read_stack_file(str(path))
    settings = parse_settings(raw, stack=name, source=str(path), unset_secrets_allowed=True)
    return run_program(raw, settings=settings, stack=name, source=str(path))


@pytest.fixture(scope="module")
def primary_remote():
    return render("primary-remote-multi-network")


@pytest.fixture(scope="module")
def multi_primary():
    return render("multi-primary-multi-network")


def by_name(rendered) -> dict:
    return {r.name: r for r in rendered.resources}


@pytest.mark.parametrize("fixture", ["primary_remote", "multi_primary"])
def test_every_resource_has_its_clusters_provider(fixture, request):
    rendered = request.getfixturevalue(fixture)
    providers = {p.name: p.urn for p in rendered.providers()}
    assert sorted(providers) == ["east", "west"]
    for r in rendered.resources:
        if r.custom and not r.type.startswith("pulumi:providers:"):
            cluster = r.name.split("-", 1)[0]
            assert r.provider == f"{providers[cluster]}::{cluster}-id", r.name
    shown = rendered.as_json()
    assert [p["inputs"]["clusterIdentifier"] for p in shown["providers"]] == ["east", "west"]
    assert {p["inputs"]["kubeconfig"] for p in shown["providers"]} == {"[secret: not set]"}


def test_primary_remote_objects_and_values_per_cluster(primary_remote):
    names = by_name(primary_remote)
    west_istiod = names["west-istiod"].inputs["values"]
    assert west_istiod == {"profile": "remote", "global": {"meshID": "mesh1", "multiCluster": {"clusterName": "west"},
                           "network": "net-west", "configCluster": True, "remotePilotAddress": "34.75.71.237"},
                           "istiodRemote": {"injectionPath": "/inject/cluster/west/net/net-west"}}
    east_istiod = names["east-istiod"].inputs["values"]
    assert east_istiod["global"]["externalIstiod"] is True and east_istiod["global"]["network"] == "net-east"
    assert names["west-base"].inputs["values"] == {"profile": "remote"}
    assert names["west-namespace-istio-system"].inputs["metadata"]["annotations"] == {
        "topology.istio.io/controlPlaneClusters": "east"}
    # Traffic objects on the primary only; every Service in both clusters; versions per placement.
    assert not [n for n in names if n.startswith("west-routing")]
    assert {"east-istiod-gateway", "east-istiod-vs", "east-cross-network-gateway", "east-cacerts",
            "east-remote-secret-west", "west-reader-token", "west-eastwest"} <= set(names)
    assert "west-cacerts" not in names and "west-remote-secret-east" not in names
    for cluster in ("east", "west"):
        assert f"{cluster}-workloads-service-reviews" in names
    assert "west-workloads-deployment-reviews-v3" in names and "east-workloads-deployment-reviews-v3" not in names


def test_order_edges_are_recorded_as_dependencies(primary_remote, multi_primary):
    for rendered in (primary_remote, multi_primary):
        names = by_name(rendered)
        for before, after in [("east-cacerts", "east-istiod"), ("east-base", "east-istiod"),
                              ("east-istiod", "east-eastwest")]:
            assert names[before].urn in names[after].depends_on, (before, after)
    names = by_name(primary_remote)
    for before in ("east-eastwest", "east-istiod-gateway"):
        assert names[before].urn in names["west-istiod"].depends_on
    assert names["west-reader-token"].urn in names["east-remote-secret-west"].depends_on
    names = by_name(multi_primary)
    assert names["west-cacerts"].urn in names["west-istiod"].depends_on
    assert names["east-reader-token"].urn in names["west-remote-secret-east"].depends_on


def test_remote_secrets_and_cacerts_are_secret_from_end_to_end(multi_primary):
    names = by_name(multi_primary)
    for name in ("east-remote-secret-west", "west-remote-secret-east", "east-cacerts", "west-cacerts"):
        assert names[name].inputs["stringData"] in (SECRET_SHOWN, "[secret: not set]"), name


def test_a_set_kubeconfig_reaches_the_provider_only_as_a_secret():
    path = EXAMPLES / "primary-remote-multi-network.yaml"
    raw = read_stack_file(str(path))
    pem = f"-----BEGIN CERTIFICATE-----\n{PLAINTEXT}\n-----END CERTIFICATE-----\n"
    raw["kubeconfig-east"] = SecretValue(kubeconfig_text("east", PLAINTEXT))
    raw["kubeconfig-west"] = SecretValue(kubeconfig_text("west", f"{PLAINTEXT}-west"))
    raw["cacerts-east"] = SecretValue(json.dumps({k: pem for k in ("ca-cert.pem", "ca-key.pem", "root-cert.pem",
                                                                   "cert-chain.pem")}))
    settings = parse_settings(raw, stack="pr", source=str(path))
    rendered = run_program(raw, settings=settings, stack="pr", source=str(path))
    from meshplan.render.formats import as_json, as_yaml, summary
    shown = as_json(rendered) + as_yaml(rendered) + summary(rendered)
    assert "BEGIN CERTIFICATE" not in shown and PLAINTEXT not in shown
    assert {p.inputs["kubeconfig"] for p in rendered.providers()} == {SECRET_SHOWN}
    # Strict mode's context, taken from the kubeconfig, is a secret like it.
    assert {p.inputs["context"] for p in rendered.providers()} == {SECRET_SHOWN}


def kubeconfig_text(cluster: str, token: str) -> str:
    """A kubeconfig as a cloud's CLI writes one: one cluster, user and context."""
    return (f"apiVersion: v1\nkind: Config\nclusters: [{{name: {cluster}, cluster: {{server: 'https://{cluster}:6443'}}}}]\n"
            f"users: [{{name: admin, user: {{token: {token}}}}}]\n"
            f"contexts: [{{name: {cluster}-admin, context: {{cluster: {cluster}, user: admin}}}}]\n"
            f"current-context: {cluster}-admin\n")


def test_a_one_cluster_stack_shows_no_providers_nor_provider_keys():
    path = ROOT / "Pulumi.dev.yaml"
    raw = read_stack_file(str(path))
    rendered = run_program(raw, settings=parse_settings(raw, stack="dev", source=str(path)), stack="dev",
                           source=str(path))
    shown = rendered.as_json()
    assert "providers" not in shown and not any("provider" in r for r in shown["resources"])


def test_the_text_render_opens_with_the_mesh_and_its_clusters_and_says_where_versions_run(primary_remote):
    from meshplan.render.formats import as_yaml, summary
    text = summary(primary_remote)
    assert text.splitlines()[2:6] == [
        "mesh mesh1 · trust domain cluster.local · trust provided",
        "cluster  role     network   control plane        east-west gateway        remote secrets",
        "east     primary  net-east  istiod 1.30.3        34.75.71.237:15443 (LB)  west",
        "west     remote   net-west  → east 34.75.71.237  (LB pending)             —",
    ]
    reviews = text.split("reviews.bookinfo.svc.cluster.local:9080 — from clients in net-east (east)\n", 1)[1]
    assert [line.split()[2] for line in reviews.splitlines()[1:4]] == ["east", "east", "west"]
    assert as_yaml(primary_remote).count("# cluster: west\napiVersion: v1\nkind: Service\n") == 4


MESH_LAYER = {
    "primary-remote-multi-network": {
        "east": {"base", "namespace-istio-system", "cacerts", "istiod", "eastwest", "cross-network-gateway",
                 "istiod-gateway", "istiod-vs", "remote-secret-west", "namespace-istio-ingress", "ingress"},
        "west": {"base", "namespace-istio-system", "istiod", "eastwest", "reader-token"},
    },
    "multi-primary-multi-network": {
        cluster: {"base", "namespace-istio-system", "cacerts", "istiod", "eastwest", "cross-network-gateway",
                  f"remote-secret-{other}", "reader-token", "namespace-istio-ingress", "ingress"}
        for cluster, other in (("east", "west"), ("west", "east"))},
}


@pytest.mark.parametrize("name", list(MESH_LAYER))
def test_each_cluster_gets_exactly_the_install_objects_of_the_design(name):
    rendered = render(name)
    got: dict[str, set] = {}
    for r in rendered.resources:
        cluster, _, thing = r.name.partition("-")
        if r.custom and thing and not thing.startswith(("workloads", "routing", "security", "egress")):
            got.setdefault(cluster, set()).add(thing)
    assert got == MESH_LAYER[name]
    names = by_name(rendered)
    for cluster in MESH_LAYER[name]:
        values = names[f"{cluster}-eastwest"].inputs["values"]
        assert (values["name"], values["networkGateway"]) == ("istio-eastwestgateway", f"net-{cluster}")
        assert "ports" not in values.get("service", {})
        assert names[f"{cluster}-namespace-istio-system"].inputs["metadata"]["labels"] == {
            "topology.istio.io/network": f"net-{cluster}"}


def test_a_cacerts_bundle_istiod_would_fail_on_stops_the_run_in_one_line_registering_nothing():
    path = EXAMPLES / "primary-remote-multi-network.yaml"
    raw = read_stack_file(str(path))
    raw["kubeconfig-east"] = SecretValue(kubeconfig_text("east", "a"))
    raw["kubeconfig-west"] = SecretValue(kubeconfig_text("west", "b"))
    raw["cacerts-east"] = SecretValue(json.dumps({"ca-cert.pem": f"-----BEGIN {PLAINTEXT}"}))
    refused, registered = refused_run(raw, source=path)
    assert str(refused).endswith("bookinfo-mesh:cacerts-east: missing ca-key.pem, root-cert.pem, cert-chain.pem; "
                                 "allowed: exactly ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem")
    assert PLAINTEXT not in str(refused) and "\n" not in str(refused)
    assert registered == []


def test_a_diff_between_multicluster_stacks_counts_each_share_once(multi_primary, primary_remote):
    from meshplan.diff.compare import diff_states
    from meshplan.diff.states import state_from_rendered
    diff = diff_states(state_from_rendered(primary_remote), state_from_rendered(multi_primary))
    moves = {(c.host.split(".")[0], c.subset): (c.before, c.after) for c in diff.traffic if c.before != c.after}
    assert moves == {("reviews", "v1"): (45, 50), ("reviews", "v2"): (45, 30), ("reviews", "v3"): (10, 20)}
    assert not diff.refused


def test_the_bench_three_cluster_stack_renders_two_primaries_and_a_remote(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_module", ROOT / "bench" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = bench.three_cluster_stack(tmp_path)
    raw = read_stack_file(str(path))
    settings = parse_settings(raw, stack="three-clusters", source=str(path), unset_secrets_allowed=True)
    rendered = run_program(raw, settings=settings, stack="three-clusters", source=str(path))
    assert sorted(p.name for p in rendered.providers()) == ["east", "edge", "west"]
    assert {n for n in by_name(rendered) if n.endswith("-istiod")} == {"east-istiod", "west-istiod", "edge-istiod"}
    assert by_name(rendered)["edge-istiod"].inputs["values"]["profile"] == "remote"
