"""`eastWest.discover`: a primary's east-west gateway address read from its cluster
for its remotes' `global.remotePilotAddress`, run under the SDK's mocks. The read
is of the gateway's Service, through the primary's provider, with an ID that is an
Output of the gateway's release: unknown in a preview until the release exists (the
engine then reads nothing and leaves the address unknown), and offline the render's
stand-in cluster (`cluster_objects`) supplies the Service."""
from __future__ import annotations

import pytest

from meshplan.rbac import deployer_manifests, in_cluster, required_access
from meshplan.render.engine import render
from meshplan.render.formats import summary
from model.errors import ConfigError
from model.multicluster.checks import mc109_remotes
from model.multicluster.plan import cluster_plans
from model.names import UNKNOWN_SHOWN
from model.settings import SECRET_SHOWN, SecretValue
from tests.conftest import settings_from

SERVICE_ID = "istio-system/istio-eastwestgateway"
SERVICE_TYPE = "kubernetes:core/v1:Service"
STACK = """config:
  kubernetes:strictMode: "true"
  bookinfo-mesh:environment: staging
  bookinfo-mesh:mesh: {id: mesh1}
  bookinfo-mesh:clusters:
    east:
      role: primary
      network: net-east
      apiServer: https://10.0.0.10:6443
      eastWest: {serviceType: LoadBalancer, discover: true}
    west:
      role: remote
      network: net-west
      controlPlane: east
      apiServer: https://10.1.0.10:6443
"""
REFUSED_AT = "bookinfo-mesh:clusters.east.eastWest.discover = true"


def gateway_service(**load_balancer) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "istio-eastwestgateway", "namespace": "istio-system"},
            "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": load_balancer}}


@pytest.fixture
def discovering(tmp_path):
    path = tmp_path / "Pulumi.disc.yaml"
    path.write_text(STACK)
    return path


def by_name(rendered) -> dict:
    return {r.name: r for r in rendered.resources}


def remote_pilot_address(rendered) -> str:
    return by_name(rendered)["west-istiod"].inputs["values"]["global"]["remotePilotAddress"]


def test_offline_the_read_is_shown_and_the_address_is_unknown(discovering):
    rendered = render(discovering)
    providers = {p.name: p.urn for p in rendered.providers()}
    assert rendered.reads == [{"urn": f"urn:pulumi:disc::bookinfo-mesh::{SERVICE_TYPE}::east-eastwest-service",
                               "type": SERVICE_TYPE, "name": "east-eastwest-service", "id": SERVICE_ID,
                               "provider": f"{providers['east']}::east-id"}]
    assert remote_pilot_address(rendered) == UNKNOWN_SHOWN
    text = summary(rendered)
    assert "west     remote   net-west  → east (address discovered)" in text
    # The gateway column and the path through it say so too, never a pending load balancer.
    assert "east     primary  net-east  istiod 1.30.3                (address discovered):15443 (LB)  west" in text
    assert "via (address discovered):15443 (net-east gateway, AUTO_PASSTHROUGH)" in text
    assert f"Service {SERVICE_ID}" in text


def test_the_address_the_cluster_gives_reaches_the_remotes_istiod(discovering):
    rendered = render(discovering, cluster_objects={SERVICE_ID: gateway_service(ingress=[{"ip": "34.75.71.237"}])})
    assert remote_pilot_address(rendered) == "34.75.71.237"
    values = by_name(rendered)["west-istiod"].inputs["values"]
    assert values["istiodRemote"] == {"injectionPath": "/inject/cluster/west/net/net-west"}


def test_the_read_waits_for_the_gateway_release_so_a_first_preview_shows_the_address_unknown(discovering):
    # In a preview the mock leaves the release's status unknown, as the engine does
    # for a release not created yet: the read's ID is unknown, nothing is read, even
    # though the stand-in cluster would answer a read of the Service.
    rendered = render(discovering, preview=True,
                      cluster_objects={SERVICE_ID: gateway_service(ingress=[{"ip": "34.75.71.237"}])})
    assert [read["id"] for read in rendered.reads] == [UNKNOWN_SHOWN]
    assert remote_pilot_address(rendered) == UNKNOWN_SHOWN


def test_the_remotes_istiod_comes_after_the_read_and_the_read_after_the_gateway(discovering):
    rendered = render(discovering, cluster_objects={SERVICE_ID: gateway_service(ingress=[{"ip": "34.75.71.237"}])})
    names = by_name(rendered)
    read_urn = rendered.reads[0]["urn"]
    assert read_urn in names["west-istiod"].depends_on
    assert names["east-eastwest"].urn in names["west-istiod"].depends_on


def test_the_gateway_release_waits_for_its_load_balancer_only_when_its_address_is_read(discovering):
    assert by_name(render(discovering))["east-eastwest"].inputs.get("skipAwait") is None
    west_gateway = by_name(render(discovering))["west-eastwest"]
    assert west_gateway.inputs["skipAwait"] is True


def test_a_hostname_load_balancer_is_refused_in_one_line(discovering):
    service = gateway_service(ingress=[{"hostname": "a1b2.elb.us-east-1.amazonaws.com"}])
    with pytest.raises(ConfigError) as refused:
        render(discovering, cluster_objects={SERVICE_ID: service})
    assert str(refused.value) == (
        f"{discovering}: {REFUSED_AT}: the Service {SERVICE_ID} in cluster east has the load-balancer hostname "
        "a1b2.elb.us-east-1.amazonaws.com, and a remote's remotePilotAddress must be an IP (with a hostname the "
        "remote's istiod Service is an ExternalName, which the API server cannot send the injection webhook to: "
        "istio/istio#29359); set eastWest.address to a stable IP of the load balancer instead")


def test_an_ip_is_taken_before_a_hostname_of_the_same_ingress(discovering):
    service = gateway_service(ingress=[{"ip": "52.1.2.3", "hostname": "a1b2.elb.us-east-1.amazonaws.com"}])
    assert remote_pilot_address(render(discovering, cluster_objects={SERVICE_ID: service})) == "52.1.2.3"


def test_a_load_balancer_without_an_address_stops_the_deployment_in_one_line(discovering):
    with pytest.raises(ConfigError) as refused:
        render(discovering, cluster_objects={SERVICE_ID: gateway_service()})
    assert str(refused.value) == (
        f"{discovering}: {REFUSED_AT}: the Service {SERVICE_ID} in cluster east has no load-balancer address; the "
        "environment gives LoadBalancer Services none (use serviceType NodePort with eastWest.address) or it is "
        "still pending (run pulumi up again)")


def test_a_missing_gateway_service_fails_the_read(discovering):
    with pytest.raises(ConfigError) as refused:
        render(discovering, cluster_objects={SERVICE_ID: None})
    assert f"resource '{SERVICE_ID}' does not exist" in str(refused.value)


def test_mc109_accepts_a_discovered_address_and_flags_a_remote_without_one():
    settings = settings_from({"environment": "staging", "mesh": {"id": "mesh1", "trust": {"mode": "selfSigned"}},
                              "clusters": {"east": {"role": "primary", "network": "net-east",
                                                    "apiServer": "https://10.0.0.10:6443",
                                                    "eastWest": {"discover": True}},
                                           "west": {"role": "remote", "network": "net-west", "controlPlane": "east",
                                                    "apiServer": "https://10.1.0.10:6443"}},
                              "kubeconfig-east": SecretValue(SECRET_SHOWN), "kubeconfig-west": SecretValue(SECRET_SHOWN)})
    plans = cluster_plans(settings, settings.multicluster)
    assert mc109_remotes(plans) == []
    west = plans[1]
    west.release("istiod").values["global"]["remotePilotAddress"] = None
    assert [f.message for f in mc109_remotes(plans)] == [
        f"global.remotePilotAddress (unset) ≠ east's east-west address {UNKNOWN_SHOWN}"]


def test_the_primarys_deployer_may_read_the_gateway_service_and_the_remotes_reads_nothing_there(discovering):
    rendered = render(discovering)
    namespaced, _cluster = required_access(in_cluster(rendered, "east"))
    assert {"get", "list", "watch"} <= namespaced["istio-system"][("", "services")]
    assert in_cluster(rendered, "east").reads == rendered.reads
    assert in_cluster(rendered, "west").reads == []
    roles = [m for m in deployer_manifests(rendered, cluster="east")
             if m["kind"] == "Role" and m["metadata"]["namespace"] == "istio-system"]
    assert any("services" in rule["resources"] and "get" in rule["verbs"] for rule in roles[0]["rules"])


def test_every_layer_repeats_that_the_address_is_discovered(discovering):
    from model.layers import clusters_contract
    from model.settings import read_stack_file
    raw = read_stack_file(str(discovering))
    contract = clusters_contract(settings_from({**raw, **{k: SecretValue(SECRET_SHOWN) for k in
                                                           ("kubeconfig-east", "kubeconfig-west", "cacerts-east")}}))
    assert contract["east"]["eastWest"] == {"serviceType": "LoadBalancer", "discover": True}
    assert contract["west"]["eastWest"] == {"serviceType": "LoadBalancer"}


def test_a_primary_serving_two_remotes_reads_its_gateway_once(tmp_path):
    path = tmp_path / "Pulumi.disc.yaml"
    path.write_text(STACK + """    north:
      role: remote
      network: net-north
      controlPlane: east
      apiServer: https://10.2.0.10:6443
""")
    rendered = render(path, cluster_objects={SERVICE_ID: gateway_service(ingress=[{"ip": "34.75.71.237"}])})
    assert [read["name"] for read in rendered.reads] == ["east-eastwest-service"]
    names = by_name(rendered)
    assert {names[f"{remote}-istiod"].inputs["values"]["global"]["remotePilotAddress"]
            for remote in ("west", "north")} == {"34.75.71.237"}


def test_a_preview_leaves_a_pending_load_balancer_unknown_where_a_deployment_stops():
    from model.multicluster.discovery import discovered_address
    settings = settings_from({"environment": "staging"})
    pending = {"loadBalancer": {}}
    assert discovered_address(settings, "east", "istio-eastwestgateway", pending, deploying=False) is None
    assert discovered_address(settings, "east", "istio-eastwestgateway", None, deploying=True) is None
    with pytest.raises(ConfigError):
        discovered_address(settings, "east", "istio-eastwestgateway", pending, deploying=True)
