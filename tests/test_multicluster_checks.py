"""The multi-cluster checks: silent on what the builders produce for the two example
stacks, and each finding on the break it exists for (design: failure modes), with
IST0170 reproducing istioctl's own analyzer cases."""
from __future__ import annotations

import copy
import dataclasses

import pytest
import yaml

from model.analysis import analyze
from model.apps import APPLICATIONS
from model.multicluster import check_traffic as traffic_checks, checks
from model.multicluster.graph import dependency_edges
from model.multicluster.plan import cluster_plans
from model.multicluster.secrets import remote_secret
from tests.multicluster_stacks import MULTI_PRIMARY_MULTI_NETWORK, PRIMARY_REMOTE_MULTI_NETWORK, settings_of
from tests.upstream import upstream


def built(text: str):
    settings, mc = settings_of(text)
    plans = cluster_plans(settings, mc)
    return mc, plans, dependency_edges(mc, plans)


def with_release_values(plan, key: str, change) -> object:
    releases = []
    for release in plan.releases:
        if release.key == key:
            values = copy.deepcopy(release.values)
            change(values)
            release = dataclasses.replace(release, values=values)
        releases.append(release)
    return dataclasses.replace(plan, releases=tuple(releases))


def messages(found) -> list[str]:
    return [str(f) for f in found]


INSTALL_CHECKS = [
    lambda mc, plans, edges: checks.mc101_cluster_names(p.name for p in plans),
    lambda mc, plans, edges: checks.mc102_remote_secret_names(plans),
    lambda mc, plans, edges: checks.mc103_remote_secrets_complete(plans),
    lambda mc, plans, edges: checks.mc104_mesh_id(plans),
    lambda mc, plans, edges: checks.mc105_trust(plans, edges),
    lambda mc, plans, edges: checks.mc106_networks(plans),
    lambda mc, plans, edges: checks.mc107_exposure(plans, [p.name for p in plans]),
    lambda mc, plans, edges: checks.mc108_gateway_port(plans),
    lambda mc, plans, edges: checks.mc109_remotes(plans),
    lambda mc, plans, edges: checks.mc110_remote_kubeconfigs(plans),
]


@pytest.mark.parametrize("text", [MULTI_PRIMARY_MULTI_NETWORK, PRIMARY_REMOTE_MULTI_NETWORK],
                         ids=["multi-primary", "primary-remote"])
def test_what_the_builders_produce_passes_every_check(text):
    mc, plans, edges = built(text)
    assert [m for check in INSTALL_CHECKS for m in messages(check(mc, plans, edges))] == []


def test_mc101_names_not_dns_or_twice():
    assert messages(checks.mc101_cluster_names(["east", "East", "east"])) == [
        "[MC101] East: cluster: not a DNS-1123 label: istioctl and the remote-secret key need one",
        "[MC101] east: cluster: named twice"]


def test_mc102_a_secret_key_other_than_the_clusters_id():
    mc, (east, west), _ = built(PRIMARY_REMOTE_MULTI_NETWORK)
    renamed = copy.deepcopy(east.remote_secrets[0])
    renamed["stringData"] = {"cluster-west": renamed["stringData"]["west"]}
    assert messages(checks.mc102_remote_secret_names([dataclasses.replace(east, remote_secrets=(renamed,)), west])) == [
        "[MC102] east: Secret istio-system/istio-remote-secret-west: data key cluster-west, annotation west, "
        "name suffix west: must be one cluster ID"]
    west_renamed = with_release_values(west, "istiod", lambda v: v["global"]["multiCluster"].update(clusterName="w2"))
    assert messages(checks.mc102_remote_secret_names([east, west_renamed])) == [
        "[MC102] east: Secret istio-system/istio-remote-secret-west: no cluster has clusterName west: istiod "
        "registers it under the data key (east, w2)"]


def test_mc103_a_missing_secret_and_a_secret_for_itself():
    mc, (east, west), _ = built(MULTI_PRIMARY_MULTI_NETWORK)
    own = remote_secret("east", server="https://10.0.0.10:6443", ca_data="x", token="y")
    assert messages(checks.mc103_remote_secrets_complete([dataclasses.replace(east, remote_secrets=(own,)), west])) == [
        "[MC103] east: istiod: no remote Secret for cluster west (labelled istio/multiCluster=true in istio-system): "
        "its endpoints stay unknown here",
        "[MC103] east: istiod: a remote Secret for itself (east): istiod ignores it"]
    unlabelled = copy.deepcopy(west.remote_secrets[0])
    unlabelled["metadata"]["labels"] = {}
    assert len(checks.mc103_remote_secrets_complete([east, dataclasses.replace(west, remote_secrets=(unlabelled,))])) == 1


def test_mc104_mesh_id_differs_or_unset():
    mc, (east, west), _ = built(MULTI_PRIMARY_MULTI_NETWORK)
    other = with_release_values(west, "istiod", lambda v: v["global"].update(meshID="mesh2"))
    unset = with_release_values(west, "istiod", lambda v: v["global"].pop("meshID"))
    assert messages(checks.mc104_mesh_id([east, other])) == ["[MC104] west: istiod: global.meshID mesh2 ≠ mesh1"]
    assert messages(checks.mc104_mesh_id([east, unset])) == ["[MC104] west: istiod: global.meshID unset with several clusters"]


BUNDLE = {"ca-cert.pem": "CA", "ca-key.pem": "KEY", "root-cert.pem": "-----ROOT A-----", "cert-chain.pem": "CHAIN"}


def test_mc105_trust_missing_late_partial_other_root_other_domain():
    mc, (east, west), edges = built(MULTI_PRIMARY_MULTI_NETWORK)
    assert messages(checks.mc105_trust([dataclasses.replace(east, cacerts=False), west], edges)) == [
        "[MC105] east: Secret cacerts: missing with several primaries: each istiod makes its own root and "
        "cross-cluster mTLS fails"]
    late = [e for e in edges if e != ("east/cacerts", "east/istiod")]
    assert messages(checks.mc105_trust([east, west], late)) == [
        "[MC105] east: Secret cacerts: not ordered before istiod, which reads it only at start"]
    partial = {k: v for k, v in BUNDLE.items() if k != "ca-key.pem"}
    other_root = {**BUNDLE, "root-cert.pem": "-----ROOT B-----"}
    found = messages(checks.mc105_trust([east, west], edges, {"east": BUNDLE, "west": partial}))
    assert found == ["[MC105] west: Secret cacerts: incomplete: needs ca-cert.pem, ca-key.pem, root-cert.pem, "
                     "cert-chain.pem (istiod fails on a partial bundle)"]
    assert [f.cluster for f in checks.mc105_trust([east, west], edges, {"east": BUNDLE, "west": other_root})] == ["west"]
    assert checks.mc105_trust([east, west], edges, {"east": BUNDLE, "west": {**BUNDLE, "root-cert.pem": "-----ROOT A-----\n"}}) == []
    domain = with_release_values(west, "istiod", lambda v: v["meshConfig"].update(trustDomain="west.local"))
    assert [f.cluster for f in checks.mc105_trust([east, domain], edges)] == ["east", "west"]


def test_mc106_network_label_and_network_gateway():
    mc, (east, west), _ = built(MULTI_PRIMARY_MULTI_NETWORK)
    unlabelled = dataclasses.replace(west, namespace={"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": "istio-system"}})
    assert messages(checks.mc106_networks([east, unlabelled])) == [
        "[MC106] west: Namespace istio-system: label topology.istio.io/network=None ≠ global.network net-west"]
    gateway = with_release_values(west, "eastwest", lambda v: v.update(networkGateway="net-east"))
    assert messages(checks.mc106_networks([east, gateway])) == [
        "[MC106] west: Release istio-eastwestgateway: networkGateway net-east ≠ global.network net-west"]


def test_mc107_no_exposure_wrong_selector_wrong_port_no_gateway():
    mc, (east, west), _ = built(MULTI_PRIMARY_MULTI_NETWORK)
    assert messages(checks.mc107_exposure([east, dataclasses.replace(west, expose=())], ["east", "west"])) == [
        "[MC107] west: Release istio-eastwestgateway: no cross-network-gateway: the gateway has an address but "
        "passes nothing through"]
    wrong = copy.deepcopy(west.expose[0])
    wrong["spec"]["selector"] = {"istio": "ingressgateway"}
    wrong["spec"]["servers"][0]["port"]["number"] = 443
    assert messages(checks.mc107_exposure([east, dataclasses.replace(west, expose=(wrong,))], ["west"])) == [
        "[MC107] west: Gateway cross-network-gateway: selector {'istio': 'ingressgateway'} ≠ the east-west pods' "
        "{'istio': 'eastwestgateway'}",
        "[MC107] west: Gateway cross-network-gateway: ports [443] ≠ networkGatewayPorts.tls.port 15443"]
    no_gateway = dataclasses.replace(west, releases=tuple(r for r in west.releases if r.key != "eastwest"))
    assert messages(checks.mc107_exposure([east, no_gateway], ["east", "west"])) == [
        "[MC107] net-west: network: workloads but no east-west gateway: no other network reaches them"]


def test_mc108_a_moved_tls_port_without_the_gateway_port_label():
    mc, (east, west), _ = built(MULTI_PRIMARY_MULTI_NETWORK)
    moved = with_release_values(west, "eastwest", lambda v: v.update(networkGatewayPorts={"tls": {"port": 16443}}))
    assert messages(checks.mc108_gateway_port([east, moved])) == [
        "[MC108] west: Release istio-eastwestgateway: networkGatewayPorts.tls.port 16443 without label "
        "networking.istio.io/gatewayPort: istiod ignores the gateway"]
    labelled = with_release_values(moved, "eastwest", lambda v: v.update(labels={"networking.istio.io/gatewayPort": "16443"}))
    assert checks.mc108_gateway_port([east, labelled]) == []


def test_mc109_remote_address_path_annotation_and_the_primarys_side():
    mc, (east, west), _ = built(PRIMARY_REMOTE_MULTI_NETWORK)
    no_address = with_release_values(west, "istiod", lambda v: v["global"].pop("remotePilotAddress"))
    assert messages(checks.mc109_remotes([east, no_address])) == [
        "[MC109] west: istiod: global.remotePilotAddress (unset) ≠ east's east-west address 34.75.71.237"]
    wrong_path = with_release_values(west, "istiod", lambda v: v["istiodRemote"].update(
        injectionPath="/inject/cluster/east/net/net-east"))
    assert messages(checks.mc109_remotes([east, wrong_path])) == [
        "[MC109] west: istiod: istiodRemote.injectionPath /inject/cluster/east/net/net-east ≠ "
        "/inject/cluster/west/net/net-west"]
    unannotated = dataclasses.replace(west, namespace={"metadata": {"name": "istio-system", "labels": {}}})
    assert messages(checks.mc109_remotes([east, unannotated])) == [
        "[MC109] west: Namespace istio-system: annotation topology.istio.io/controlPlaneClusters=(unset) does not "
        "name east: its istiod will not lead this cluster"]
    not_external = with_release_values(east, "istiod", lambda v: v["global"].pop("externalIstiod"))
    unexposed = dataclasses.replace(east, expose=east.expose[:1])
    assert messages(checks.mc109_remotes([not_external, west]) + checks.mc109_remotes([unexposed, west])) == [
        "[MC109] east: istiod: global.externalIstiod unset: remote west is not served",
        "[MC109] east: istiod: no istiod-gateway: remote west's proxies and webhook cannot reach istiod"]


def test_mc110_an_exec_or_local_kubeconfig_in_a_remote_secret():
    mc, (east, west), _ = built(PRIMARY_REMOTE_MULTI_NETWORK)
    secret = copy.deepcopy(east.remote_secrets[0])
    config = yaml.safe_load(secret["stringData"]["west"])
    config["users"][0]["user"] = {"exec": {"command": "aws"}}
    secret["stringData"]["west"] = yaml.safe_dump(config)
    local = remote_secret("west", server="https://127.0.0.1:6443", ca_data="x", token="y")
    assert messages(checks.mc110_remote_kubeconfigs([dataclasses.replace(east, remote_secrets=(secret, local))])) == [
        "[MC110] east: Secret istio-system/istio-remote-secret-west: user west uses exec: istiod refuses credentials "
        "that run a program or read a file; use the reader ServiceAccount's token",
        "[MC110] east: Secret istio-system/istio-remote-secret-west: cluster west server https://127.0.0.1:6443 is a "
        "local address other clusters' istiod cannot reach"]


# --------------------------------------------------------------------------- traffic side

VS = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "reviews", "namespace": "bookinfo"},
      "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews", "subset": "v1"}, "weight": 90},
                                                         {"destination": {"host": "reviews", "subset": "v3"}, "weight": 10}]}]}}
DR = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "reviews", "namespace": "bookinfo"},
      "spec": {"host": "reviews", "subsets": [{"name": f"v{n}", "labels": {"version": f"v{n}"}} for n in (1, 2, 3)]}}


def test_mc111_drift_between_primaries_and_traffic_on_a_remote():
    mc, plans, _ = built(MULTI_PRIMARY_MULTI_NETWORK)
    assert traffic_checks.mc111_traffic_drift(plans, {"east": [VS, DR], "west": [DR, VS]}) == []
    changed = copy.deepcopy(VS)
    changed["spec"]["http"][0]["route"][0]["weight"] = 80
    assert messages(traffic_checks.mc111_traffic_drift(plans, {"east": [VS, DR], "west": [changed]})) == [
        "[MC111] west: DestinationRule bookinfo/reviews: missing compared with primary east: primaries must carry the "
        "same traffic config",
        "[MC111] west: VirtualService bookinfo/reviews: differs compared with primary east: primaries must carry the "
        "same traffic config"]
    mc, plans, _ = built(PRIMARY_REMOTE_MULTI_NETWORK)
    assert messages(traffic_checks.mc111_traffic_drift(plans, {"east": [VS], "west": [VS]})) == [
        "[MC111] west: VirtualService bookinfo/reviews: traffic object on a remote: istiod reads config from east's "
        "API server only"]


def test_mc112_a_called_service_missing_where_it_is_called():
    settings, mc = settings_of(PRIMARY_REMOTE_MULTI_NETWORK)
    consumed = traffic_checks.consumed_services(mc, APPLICATIONS["bookinfo"])
    assert "ratings" in consumed["west"]  # reviews v3 runs in west and calls ratings
    everywhere = {c: APPLICATIONS["bookinfo"].service_names for c in ("east", "west")}
    assert traffic_checks.mc112_services_defined(everywhere, consumed, dns_capture=False) == []
    only_east = {"east": APPLICATIONS["bookinfo"].service_names,
                 "west": tuple(s for s in APPLICATIONS["bookinfo"].service_names if s != "ratings")}
    assert messages(traffic_checks.mc112_services_defined(only_east, consumed, dns_capture=False)) == [
        "[MC112] west: Service ratings: called here but not defined here and DNS capture is off: the name does not "
        "resolve"]
    assert traffic_checks.mc112_services_defined(only_east, consumed, dns_capture=True) == []


def test_mc113_failover_without_outlier_detection_runs_with_the_one_cluster_rules():
    failover = {"loadBalancer": {"localityLbSetting": {"failover": [{"from": "us-east1", "to": "us-west1"}]}}}
    dr = copy.deepcopy(DR)
    dr["spec"]["trafficPolicy"] = failover
    found = [str(f) for f in analyze([dr], gateways=[]) if f.code == "MC113"]
    assert found == ["warning [MC113] DestinationRule bookinfo/reviews: trafficPolicy: localityLbSetting failover "
                     "without outlierDetection: Envoy never drops to another locality"]
    dr["spec"]["trafficPolicy"]["outlierDetection"] = {"consecutive5xxErrors": 5}
    assert [f for f in analyze([dr], gateways=[]) if f.code == "MC113"] == []
    dr["spec"]["subsets"][0]["trafficPolicy"] = {"loadBalancer": {"localityLbSetting": {"failoverPriority": ["topology.istio.io/network"]}},
                                                 "outlierDetection": None}
    assert [str(f).split(": ")[1] for f in analyze([dr], gateways=[]) if f.code == "MC113"] == ["subset v1"]


def test_mc114_a_share_only_another_unexposed_network_serves():
    mc, (east, west), _ = built(PRIMARY_REMOTE_MULTI_NETWORK)
    assert traffic_checks.mc114_unreachable_versions(mc, (east, west), {"east": [VS, DR]}) == []
    unexposed = dataclasses.replace(east, expose=tuple(o for o in east.expose if o["metadata"]["name"] != "cross-network-gateway"))
    assert messages(traffic_checks.mc114_unreachable_versions(mc, (unexposed, west), {"east": [VS, DR]})) == [
        "[MC114] east: VirtualService bookinfo/reviews: reviews v3 runs only in west on another network whose gateway "
        "is not exposed: its share cannot be served"]


def test_mc115_reproduces_istioctls_ist0170_cases():
    folder = "istio-multicluster/analyzers/testdata/multicluster"
    services = {f"cluster{n}": list(yaml.safe_load_all(upstream(f"{folder}/inconsistent-service-{n}.yaml").read_text()))
                for n in (1, 2)}
    found = traffic_checks.mc115_inconsistent_services(services)
    # multicluster_analyzers_test.go: IST0170 for these five, none for my-service.
    assert [f.what for f in found] == [f"Service my-namespace/{name}" for name in sorted(
        ["extra-port", "inconsistent-port-name", "mixed-mode", "mixed-type", "mixed-port-protocol"])]
    assert {f.what: f.message.split(": ", 1)[1] for f in found}["Service my-namespace/mixed-mode"] == \
        "service has mixed mode like headless and clusterIP"
    assert all(f.cluster == "cluster1,cluster2" for f in found)


def test_mc116_no_provider_and_one_name_in_two_clusters():
    assert messages(traffic_checks.mc116_providers([
        ("east-istiod", "kubernetes:helm.sh/v3:Release", "east"), ("istiod", "kubernetes:helm.sh/v3:Release", None),
        ("istiod", "kubernetes:helm.sh/v3:Release", "west")])) == [
        "[MC116] -: kubernetes:helm.sh/v3:Release istiod: no explicit provider: it would deploy to the ambient "
        "kubeconfig's cluster",
        "[MC116] west: kubernetes:helm.sh/v3:Release istiod: name used twice: one URN for two clusters' resources; "
        "put the cluster in the name"]
