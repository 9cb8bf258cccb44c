"""The dev stack renders Istio 1.30.3's Bookinfo, field for field: the objects of
`samples/bookinfo/platform/kube/bookinfo.yaml`, the ingress of
`networking/bookinfo-gateway.yaml`, the DestinationRules of
`networking/destination-rule-all.yaml` and the routes of
`networking/virtual-service-all-v1.yaml`, read from upstream's own files (the
artifacts beside the repository; these tests skip without them, and fail in CI).

Deliberate differences, each applied to upstream's objects below and so asserted:
- every object carries `metadata.namespace: bookinfo` (upstream relies on kubectl's);
- the Gateway listens on port 80, where the Helm-installed gateway's Service sends
  traffic (upstream's 8080 is for the istioctl-installed gateway);
- DestinationRules declare a subset per *deployed* version (upstream also declares
  ratings v2, v2-mysql, v2-mysql-vm and details v2, which select no pods in dev).
"""
from __future__ import annotations



from tests.conftest import objects_of, render_stack
from tests.upstream import objects_in

NS = "bookinfo"
SAMPLES = "istio-1.30.3/samples/bookinfo"
PLATFORM = "platform/kube/bookinfo.yaml"
GATEWAY = "networking/bookinfo-gateway.yaml"
DESTINATION_RULES = "networking/destination-rule-all.yaml"
ROUTES = "networking/virtual-service-all-v1.yaml"
UPSTREAM_GATEWAY_PORT, HELM_GATEWAY_PORT = 8080, 80


def upstream_objects(file: str, kind: str) -> dict[str, dict]:
    """Upstream's objects of one kind in one sample file, by name, in namespace bookinfo."""
    return objects_in(f"{SAMPLES}/{file}", kind, namespace=NS)


def deployed_versions() -> dict[str, set[str]]:
    """app → the versions upstream's platform file deploys."""
    versions: dict[str, set[str]] = {}
    for deployment in upstream_objects(PLATFORM, "Deployment").values():
        labels = deployment["metadata"]["labels"]
        versions.setdefault(labels["app"], set()).add(labels["version"])
    return versions


def test_dev_deploys_exactly_upstreams_deployments_field_for_field():
    assert objects_of(render_stack("dev"), "Deployment") == upstream_objects(PLATFORM, "Deployment")


def test_dev_deploys_exactly_upstreams_services_and_service_accounts():
    rendered = render_stack("dev")
    for kind in ("Service", "ServiceAccount"):
        assert objects_of(rendered, kind) == upstream_objects(PLATFORM, kind), kind


def test_volumes_and_mounts_keep_upstreams_order():
    pod = objects_of(render_stack("dev"), "Deployment")["reviews-v2"]["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["wlp-output", "tmp"]
    assert [m["name"] for m in pod["containers"][0]["volumeMounts"]] == ["tmp", "wlp-output"]


def test_app_namespace_is_labelled_for_injection_by_the_default_revision():
    namespaces = objects_of(render_stack("dev"), "Namespace")
    assert namespaces[NS]["metadata"]["labels"] == {"istio-injection": "enabled"}


def test_dev_ingress_is_upstreams_gateway_on_the_helm_gateways_port_80():
    rendered = render_stack("dev")
    gateways = upstream_objects(GATEWAY, "Gateway")
    [server] = gateways["bookinfo-gateway"]["spec"]["servers"]
    assert server["port"]["number"] == UPSTREAM_GATEWAY_PORT
    server["port"]["number"] = HELM_GATEWAY_PORT
    assert objects_of(rendered, "Gateway") == gateways
    assert objects_of(rendered, "VirtualService")["bookinfo"] == upstream_objects(GATEWAY, "VirtualService")["bookinfo"]


def test_dev_destination_rules_are_upstreams_with_a_subset_per_deployed_version_only():
    expected = upstream_objects(DESTINATION_RULES, "DestinationRule")
    deployed = deployed_versions()
    for name, rule in expected.items():
        rule["spec"]["subsets"] = [s for s in rule["spec"]["subsets"] if s["name"] in deployed[rule["spec"]["host"]]]
    assert {name: [s["name"] for s in r["spec"]["subsets"]] for name, r in expected.items()} == {
        "productpage": ["v1"], "reviews": ["v1", "v2", "v3"], "ratings": ["v1"], "details": ["v1"]}
    assert objects_of(render_stack("dev"), "DestinationRule") == expected


def test_dev_routes_every_service_to_v1_as_virtual_service_all_v1():
    services = {name: vs for name, vs in objects_of(render_stack("dev"), "VirtualService").items()
                if name != "bookinfo"}
    assert services == upstream_objects(ROUTES, "VirtualService")


def test_dev_renders_nothing_beyond_bookinfo_and_the_namespaces_of_the_istio_install():
    upstream_names = {(kind, name) for file, kinds in (
        (PLATFORM, ("Service", "ServiceAccount", "Deployment")), (GATEWAY, ("Gateway", "VirtualService")),
        (DESTINATION_RULES, ("DestinationRule",)), (ROUTES, ("VirtualService",)))
        for kind in kinds for name in upstream_objects(file, kind)}
    rendered = {(o["kind"], o["metadata"]["name"]) for o in render_stack("dev").objects()}
    assert rendered - upstream_names == {("Namespace", NS), ("Namespace", "istio-system"), ("Namespace", "istio-ingress")}
    assert upstream_names <= rendered
    assert len(render_stack("dev").objects()) == len(rendered)  # no object twice
