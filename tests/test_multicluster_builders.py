"""The multi-cluster builders against Istio's own artifacts: the expose objects equal
samples/multicluster (namespace aside), the remote Secret equals what
`istioctl create-remote-secret` prints (secret values aside), each cluster gets what
the Helm guides install for its role, and the order is a graph without a cycle."""
from __future__ import annotations

import pytest
import yaml

from model.errors import ConfigError
from model.multicluster.graph import TRUST, cycle, dependency_edges
from model.multicluster.objects import (cross_network_gateway, istiod_gateway, istiod_virtual_service,
                                        system_namespace)
from model.multicluster.plan import cluster_plans
from model.multicluster.secrets import (READER_TOKEN_SECRET, reader_token_secret, refuse_untrusted_kubeconfig,
                                        remote_secret)
from tests.multicluster_stacks import MULTI_PRIMARY_MULTI_NETWORK, PRIMARY_REMOTE_MULTI_NETWORK, settings_of
from tests.upstream import upstream

SAMPLES = "istio-multicluster/samples/multicluster"


def upstream_documents(relative: str, substitute: dict[str, str] | None = None) -> list[dict]:
    text = upstream(relative).read_text()
    for old, new in (substitute or {}).items():
        text = text.replace(old, new)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def in_istio_system(obj: dict) -> dict:
    """An upstream sample as applied with `kubectl apply -n istio-system`."""
    return {**obj, "metadata": {**obj["metadata"], "namespace": "istio-system"}}


def test_cross_network_gateway_is_expose_services():
    assert [cross_network_gateway()] == [in_istio_system(o) for o in upstream_documents(f"{SAMPLES}/expose-services.yaml")]


def test_istiod_gateway_and_virtual_service_are_expose_istiod():
    assert [istiod_gateway(), istiod_virtual_service()] == [
        in_istio_system(o) for o in upstream_documents(f"{SAMPLES}/expose-istiod.yaml")]


def test_a_revision_exposes_that_revisions_istiod_as_the_revisioned_sample():
    assert [istiod_gateway(), istiod_virtual_service("canary")] == [
        in_istio_system(o) for o in upstream_documents(f"{SAMPLES}/expose-istiod-rev.yaml.tmpl",
                                                       {"{{.Revision}}": "canary"})]


def _golden() -> dict:
    return upstream_documents("istio-multicluster/istioctl/remote-secret.golden.yaml")[0]


def test_the_remote_secret_is_what_istioctl_create_remote_secret_prints():
    golden = _golden()
    ours = remote_secret("cluster2", server="https://10.1.0.10:6443", ca_data="Q0E=", token="t0ken")
    assert {k: v for k, v in ours.items() if k != "stringData"} == {k: v for k, v in golden.items() if k != "stringData"}
    assert list(ours["stringData"]) == list(golden["stringData"]) == ["cluster2"]
    ours_config, golden_config = (yaml.safe_load(s["stringData"]["cluster2"]) for s in (ours, golden))
    # Secret values aside: the token, the CA and the server are the cluster's own.
    for config, (server, ca, token) in ((ours_config, ("https://10.1.0.10:6443", "Q0E=", "t0ken")),
                                        (golden_config, ("server", "Y2FEYXRh", "token"))):
        assert config["clusters"][0]["cluster"] == {"certificate-authority-data": ca, "server": server}
        assert config["users"][0]["user"] == {"token": token}
        config["clusters"][0]["cluster"] = config["users"][0]["user"] = "<value>"
    assert ours_config == golden_config
    # The same key order as istioctl's serializer prints.
    assert list(ours_config) == list(golden_config)


def test_the_reader_token_secret_is_istioctls_for_the_reader_service_account():
    assert reader_token_secret() == {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "istio-reader-service-account-istio-remote-secret-token", "namespace": "istio-system",
                     "annotations": {"kubernetes.io/service-account.name": "istio-reader-service-account"}}}
    assert READER_TOKEN_SECRET.startswith("istio-reader-service-account")


KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: '%s', certificate-authority-data: Q0E=}}]
users: [{name: c, user: %s}]
"""
KUBECONFIG_CASES = {
    "token accepted": (KUBECONFIG % ("https://10.0.0.10:6443", "{token: t}"), "OK"),
    "exec plugin": (KUBECONFIG % ("https://10.0.0.10:6443", "{exec: {command: aws}}"),
        "Pulumi.s.yaml: bookinfo-mesh:kubeconfig-east: user c uses exec: istiod refuses credentials that run a "
        "program or read a file; use the reader ServiceAccount's token"),
    "token file": (KUBECONFIG % ("https://10.0.0.10:6443", "{tokenFile: /var/run/t}"),
        "Pulumi.s.yaml: bookinfo-mesh:kubeconfig-east: user c uses tokenFile: istiod refuses credentials that run a "
        "program or read a file; use the reader ServiceAccount's token"),
    "localhost server": (KUBECONFIG % ("https://127.0.0.1:42001", "{token: t}"),
        "Pulumi.s.yaml: bookinfo-mesh:kubeconfig-east: cluster c server https://127.0.0.1:42001 is a local address "
        "other clusters' istiod cannot reach"),
    "not YAML": ("{:", "Pulumi.s.yaml: bookinfo-mesh:kubeconfig-east: not a kubeconfig (YAML does not parse)"),
}


@pytest.mark.parametrize("name", list(KUBECONFIG_CASES))
def test_a_kubeconfig_istiod_would_refuse_ends_in_one_line(name):
    text, expected = KUBECONFIG_CASES[name]
    try:
        refuse_untrusted_kubeconfig(text, file="Pulumi.s.yaml", path="bookinfo-mesh:kubeconfig-east")
    except ConfigError as error:
        assert str(error) == expected and "t0ken" not in str(error)
        return
    assert expected == "OK"


# --------------------------------------------------------------------------- per cluster


def plans(text: str) -> dict:
    settings, mc = settings_of(text)
    return {plan.name: plan for plan in cluster_plans(settings, mc)}


def shape(plan) -> dict:
    return {"releases": {r.key: (r.name, r.chart) for r in plan.releases},
            "reader_token": plan.reader_token is not None, "cacerts": plan.cacerts,
            "expose": [o["metadata"]["name"] for o in plan.expose],
            "remote_secrets": [s["metadata"]["name"] for s in plan.remote_secrets]}


ALL_RELEASES = {"base": ("istio-base", "base"), "istiod": ("istiod", "istiod"),
                "eastwest": ("istio-eastwestgateway", "gateway")}
PRIMARY_RELEASES = {**ALL_RELEASES, "ingress": ("istio-ingressgateway", "gateway")}
"""A primary also runs the ingress gateway the traffic objects applied there select."""


def test_multi_primary_multi_network_gives_each_primary_a_gateway_exposure_and_the_others_secret():
    east, west = plans(MULTI_PRIMARY_MULTI_NETWORK).values()
    assert shape(east) == {"releases": PRIMARY_RELEASES, "reader_token": True, "cacerts": True,
                           "expose": ["cross-network-gateway"], "remote_secrets": ["istio-remote-secret-west"]}
    assert shape(west)["remote_secrets"] == ["istio-remote-secret-east"]
    assert east.release("istiod").values["global"] == {"meshID": "mesh1", "multiCluster": {"clusterName": "east"},
                                                       "network": "net-east"}
    assert east.release("istiod").values["meshConfig"]["trustDomain"] == "cluster.local"
    assert east.namespace == system_namespace("net-east", None)
    assert east.pulumi_name("istiod") == "east-istiod"


def test_primary_remote_gives_the_primary_istiod_exposure_and_the_remote_the_remote_profile():
    east, west = plans(PRIMARY_REMOTE_MULTI_NETWORK).values()
    assert shape(east) == {"releases": PRIMARY_RELEASES, "reader_token": False, "cacerts": True,
                           "expose": ["cross-network-gateway", "istiod-gateway", "istiod-vs"],
                           "remote_secrets": ["istio-remote-secret-west"]}
    assert shape(west) == {"releases": ALL_RELEASES, "reader_token": True, "cacerts": False, "expose": [],
                           "remote_secrets": []}
    assert east.release("istiod").values["global"]["externalIstiod"] is True
    assert west.release("base").values == {"profile": "remote"}
    assert west.release("istiod").values == {
        "profile": "remote",
        "global": {"meshID": "mesh1", "multiCluster": {"clusterName": "west"}, "network": "net-west",
                   "configCluster": True, "remotePilotAddress": "34.75.71.237"},
        "istiodRemote": {"injectionPath": "/inject/cluster/west/net/net-west"}}
    assert west.release("eastwest").values == {"service": {"type": "LoadBalancer"}, "name": "istio-eastwestgateway",
                                               "networkGateway": "net-west"}
    assert west.namespace["metadata"] == {"name": "istio-system", "labels": {"topology.istio.io/network": "net-west"},
                                          "annotations": {"topology.istio.io/controlPlaneClusters": "east"}}
    assert east.remote_secrets[0]["stringData"]["west"].count("https://10.1.0.10:6443") == 1


def test_the_one_cluster_istiod_values_are_kept_under_the_mesh_values():
    settings, mc = settings_of(MULTI_PRIMARY_MULTI_NETWORK)
    from model.mesh import istio_install
    one_cluster = next(r for r in istio_install(settings).releases if r.key == "istiod").values
    east = plans(MULTI_PRIMARY_MULTI_NETWORK)["east"].release("istiod").values
    assert {k: v for k, v in east.items() if k not in ("global", "meshConfig")} == \
        {k: v for k, v in one_cluster.items() if k != "meshConfig"}
    assert one_cluster["meshConfig"].items() <= east["meshConfig"].items()


# --------------------------------------------------------------------------- order

PRIMARY_REMOTE_EDGES = {
    ("east/provider", "east/namespace"), ("east/namespace", "east/istio-base"), ("east/istio-base", "east/istiod"),
    (TRUST, "east/cacerts"), ("east/cacerts", "east/istiod"), ("east/istiod", "east/istio-eastwestgateway"),
    ("east/istio-eastwestgateway", "east/istiod-gateway"), ("east/istiod-gateway", "east/istiod-vs"),
    ("east/istiod", "east/cross-network-gateway"),
    ("east/istio-eastwestgateway", "west/istiod"), ("east/istiod-gateway", "west/istiod"),
    ("west/istio-base", "west/istiod"), ("west/istiod", "west/istio-eastwestgateway"),
    ("east/istiod-gateway", "west/istio-eastwestgateway"),
    ("west/istio-base", "west/reader-token"), ("west/reader-token", "east/remote-secret-west"),
    ("east/istiod", "east/remote-secret-west"),
    ("east/istiod", "west/app-namespaces"), ("west/istiod", "east/app-namespaces"),
    ("west/app-namespaces", "west/workloads"), ("west/workloads", "east/traffic"), ("east/workloads", "east/traffic"),
}


def test_the_order_is_the_designs_and_has_no_cycle():
    settings, mc = settings_of(PRIMARY_REMOTE_MULTI_NETWORK)
    edges = dependency_edges(mc, cluster_plans(settings, mc))
    assert PRIMARY_REMOTE_EDGES <= set(edges)
    assert cycle(edges) is None
    # No traffic objects on a remote: its config comes from the primary's API server.
    assert not any(after == "west/traffic" for _, after in edges)


def test_multi_primary_order_has_no_cycle_and_each_secret_waits_for_the_others_token():
    settings, mc = settings_of(MULTI_PRIMARY_MULTI_NETWORK)
    edges = set(dependency_edges(mc, cluster_plans(settings, mc)))
    assert {("east/reader-token", "west/remote-secret-east"), ("west/reader-token", "east/remote-secret-west"),
            ("east/workloads", "west/traffic"), ("west/workloads", "east/traffic")} <= edges
    assert cycle(tuple(edges)) is None


def test_the_cycle_check_finds_a_cycle():
    assert cycle((("a", "b"), ("b", "c"), ("c", "a"), ("x", "a"))) == ["a", "b", "c"]


# --------------------------------------------------------------------------- chart values


@pytest.mark.parametrize("text", [MULTI_PRIMARY_MULTI_NETWORK, PRIMARY_REMOTE_MULTI_NETWORK], ids=["multi-primary", "primary-remote"])
def test_every_multi_cluster_values_key_is_read_by_its_chart_and_passes_its_schema(text):
    from jsonschema import Draft7Validator
    from tests.test_helm_values import chart, coalesced, values_problems
    for plan in plans(text).values():
        for release in plan.releases:
            assert values_problems(release.chart, release.values) == [], (plan.name, release.name)
            _, defaults, schema, _ = chart(release.chart)
            if schema is not None:
                assert [e.message for e in Draft7Validator(schema).iter_errors(coalesced(defaults, release.values))] == []


PEM = "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"
CACERTS_CASES = {
    "four PEM files accepted": ('{"ca-cert.pem": "%s", "ca-key.pem": "%s", "root-cert.pem": "%s", "cert-chain.pem": "%s"}'
                                % (PEM, PEM, PEM, PEM), "OK"),
    "not JSON": ("ca-cert.pem: x", "Pulumi.s.yaml: bookinfo-mesh:cacerts-east: expected a JSON object with "
                 "ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem"),
    "a key missing": ('{"ca-cert.pem": "%s", "root-cert.pem": "%s", "cert-chain.pem": "%s"}' % (PEM, PEM, PEM),
                      "Pulumi.s.yaml: bookinfo-mesh:cacerts-east: missing ca-key.pem; allowed: exactly ca-cert.pem, "
                      "ca-key.pem, root-cert.pem, cert-chain.pem"),
    "a key too many": ('{"ca-cert.pem": "%s", "ca-key.pem": "%s", "root-cert.pem": "%s", "cert-chain.pem": "%s", "tls.crt": "x"}'
                       % (PEM, PEM, PEM, PEM), "Pulumi.s.yaml: bookinfo-mesh:cacerts-east: unknown tls.crt; allowed: "
                       "exactly ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem"),
    "not PEM": ('{"ca-cert.pem": "%s", "ca-key.pem": "secret-key-bytes", "root-cert.pem": "%s", "cert-chain.pem": "%s"}'
                % (PEM, PEM, PEM), "Pulumi.s.yaml: bookinfo-mesh:cacerts-east.ca-key.pem: expected PEM text (-----BEGIN ...)"),
}


@pytest.mark.parametrize("name", list(CACERTS_CASES))
def test_a_cacerts_bundle_is_four_pem_files_or_one_line(name):
    from model.multicluster.secrets import cacerts_bundle
    text, expected = CACERTS_CASES[name]
    try:
        bundle = cacerts_bundle(text, file="Pulumi.s.yaml", path="bookinfo-mesh:cacerts-east")
    except ConfigError as error:
        assert str(error) == expected and "secret-key-bytes" not in str(error)
        return
    assert expected == "OK" and sorted(bundle) == sorted(["ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"])


def test_the_remote_secret_is_built_from_the_token_secrets_data():
    import base64

    from model.multicluster.secrets import remote_secret_data
    data = {"token": base64.b64encode(b"tok-123").decode(), "ca.crt": "Q0EtREFUQQ=="}
    kubeconfig = yaml.safe_load(remote_secret_data("west", server="https://10.1.0.10:6443", token_data=data,
                                                   shown="[secret]")["west"])
    assert kubeconfig["users"] == [{"name": "west", "user": {"token": "tok-123"}}]
    assert kubeconfig["clusters"] == [{"name": "west", "cluster": {"certificate-authority-data": "Q0EtREFUQQ==",
                                                                   "server": "https://10.1.0.10:6443"}}]
    # Not filled yet (a preview): placeholders, never a guess.
    empty = yaml.safe_load(remote_secret_data("west", server="https://x:6443", token_data=None, shown="[secret]")["west"])
    assert empty["users"][0]["user"]["token"] == "[secret]"
