"""The bms stack rendered through the real program under the mock monitor: who
selects which pods, where every route goes, the rating canary, the two-hop egress,
the stores' data retention, strict schema validity of every core object, and the
Bookinfo render left as it was."""
from __future__ import annotations


import pytest

from model.mesh import EGRESS_GATEWAY_HOST, EGRESS_GATEWAY_LABELS, INGRESS_GATEWAY_LABELS
from tests.conftest import ROOT, objects_of, render_file, render_stack



# ----------------------------------------------------------------- selection


def pods(objects: list[dict]) -> list[tuple[str, str, dict]]:
    """(namespace, workload name, pod template labels) of every workload."""
    return [(o["metadata"]["namespace"], o["metadata"]["name"], o["spec"]["template"]["metadata"]["labels"])
            for o in objects if o["kind"] in ("Deployment", "StatefulSet")]


def selected(objects: list[dict], namespace: str, selector: dict) -> set[str]:
    """Names of the workloads in `namespace` whose pods carry every label of `selector`."""
    return {name for ns, name, labels in pods(objects)
            if ns == namespace and selector.items() <= labels.items()}


def service_for_host(objects: list[dict], host: str, namespace: str) -> dict | None:
    """The Service a host names, read as Istio reads it: a short name within the
    referring object's namespace, or `<svc>.<ns>[.svc.cluster.local]`."""
    parts = host.removesuffix(".svc.cluster.local").split(".")
    name, ns = parts[0], (parts[1] if len(parts) > 1 else namespace)
    for obj in objects:
        if obj["kind"] == "Service" and obj["metadata"]["name"] == name and obj["metadata"]["namespace"] == ns:
            return obj
    return None


@pytest.fixture(scope="module")
def bms():
    return render_stack("bms")


@pytest.fixture(scope="module")
def objects(bms):
    return bms.objects()


def test_every_service_selects_pods_in_its_own_namespace(objects):
    for svc in (o for o in objects if o["kind"] == "Service"):
        found = selected(objects, svc["metadata"]["namespace"], svc["spec"]["selector"])
        assert found, f"Service {svc['metadata']['name']} selects no pods"


def test_the_rating_service_selects_both_versions_and_nothing_else(objects):
    rating = objects_of_kind(objects, "Service")["bookinfo-rating"]
    assert selected(objects, "bookinfo", rating["spec"]["selector"]) == {"bookinfo-rating-v1", "bookinfo-rating-v2"}


def test_each_service_selects_exactly_its_own_workloads(objects):
    expected = {
        "bookinfo-core": {"bookinfo-core-v1"},
        "bookinfo-rating": {"bookinfo-rating-v1", "bookinfo-rating-v2"},
        "bookinfo-order": {"bookinfo-order-v1"},
        "bookinfo-payment": {"bookinfo-payment-v1"},
        "bookinfo-db": {"bookinfo-db"},
        "bookinfo-kafka": {"bookinfo-kafka"},
        "bookinfo-kafka-headless": {"bookinfo-kafka"},
    }
    services = objects_of_kind(objects, "Service")
    assert set(services) == set(expected)
    for name, svc in services.items():
        assert selected(objects, svc["metadata"]["namespace"], svc["spec"]["selector"]) == expected[name], name


def test_every_workload_selector_matches_its_own_pod_template(objects):
    for obj in (o for o in objects if o["kind"] in ("Deployment", "StatefulSet")):
        assert obj["spec"]["selector"]["matchLabels"].items() <= obj["spec"]["template"]["metadata"]["labels"].items()


def test_every_destination_rule_subset_selects_exactly_its_versions_pods(objects):
    checked = 0
    for dr in (o for o in objects if o["kind"] == "DestinationRule"):
        host, ns = dr["spec"]["host"], dr["metadata"]["namespace"]
        if host == EGRESS_GATEWAY_HOST:
            continue  # the Helm-installed egress gateway: not among the rendered objects
        svc = service_for_host(objects, host, ns)
        assert svc is not None, f"DestinationRule {dr['metadata']['name']}: unknown host {host}"
        for subset in dr["spec"]["subsets"]:
            labels = {**svc["spec"]["selector"], **subset["labels"]}
            found = selected(objects, svc["metadata"]["namespace"], labels)
            assert found == {f"{svc['metadata']['name']}-{subset['name']}"}, (dr["metadata"]["name"], subset)
            checked += 1
    assert checked == 4  # core v1, rating v1 and v2, order v1


def test_every_route_destination_is_a_known_host_and_subset(objects):
    entries = {h for o in objects if o["kind"] == "ServiceEntry" for h in o["spec"]["hosts"]}
    subsets = {(o["spec"]["host"], s["name"]) for o in objects if o["kind"] == "DestinationRule"
               for s in o["spec"]["subsets"]}
    for vs in (o for o in objects if o["kind"] == "VirtualService"):
        for rule in vs["spec"]["http"]:
            for dest in (r["destination"] for r in rule["route"]):
                host = dest["host"]
                known = host in entries or host == EGRESS_GATEWAY_HOST or \
                    service_for_host(objects, host, vs["metadata"]["namespace"]) is not None
                assert known, f"VirtualService {vs['metadata']['name']}: unknown host {host}"
                if "subset" in dest:
                    assert (host, dest["subset"]) in subsets, (vs["metadata"]["name"], dest)


def objects_of_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


# ----------------------------------------------------------------- ingress and canary


def test_the_ingress_gateway_listens_on_80_for_the_configured_host(bms):
    gateway = objects_of(bms, "Gateway")["bookinfo-gateway"]
    assert gateway["spec"]["selector"] == INGRESS_GATEWAY_LABELS
    (server,) = gateway["spec"]["servers"]
    assert server["port"] == {"number": 80, "name": "http", "protocol": "HTTP"}
    assert server["hosts"] == ["bookinfo.172.22.11.21.nip.io"]


def test_the_ingress_virtual_service_routes_the_three_api_prefixes(bms):
    vs = objects_of(bms, "VirtualService")["bookinfo"]
    assert vs["spec"]["hosts"] == ["bookinfo.172.22.11.21.nip.io"]
    assert vs["spec"]["gateways"] == ["bookinfo-gateway"]
    routes = {rule["match"][0]["uri"]["prefix"]: rule["route"] for rule in vs["spec"]["http"]}
    assert routes["/api/books"] == [{"destination": {"host": "bookinfo-core", "port": {"number": 8080}}}]
    assert routes["/api/orders"] == [{"destination": {"host": "bookinfo-order", "port": {"number": 8080}}}]
    assert routes["/api/rating"] == [
        {"destination": {"host": "bookinfo-rating", "subset": "v1", "port": {"number": 8080}}, "weight": 50},
        {"destination": {"host": "bookinfo-rating", "subset": "v2", "port": {"number": 8080}}, "weight": 50},
    ]


def test_rating_calls_inside_the_mesh_split_50_50_too(bms):
    vs = objects_of(bms, "VirtualService")["bookinfo-rating"]
    assert [(r["destination"]["subset"], r["weight"]) for r in vs["spec"]["http"][-1]["route"]] == \
        [("v1", 50), ("v2", 50)]
    dr = objects_of(bms, "DestinationRule")["bookinfo-rating"]
    assert [s["name"] for s in dr["spec"]["subsets"]] == ["v1", "v2"]


def test_changing_the_configured_weights_changes_both_rating_routes(tmp_stack):
    text = (ROOT / "Pulumi.bms.yaml").read_text().replace("v1: 50", "v1: 90").replace("v2: 50", "v2: 10")
    rendered = render_file(tmp_stack(text, "Pulumi.bms-90-10.yaml"))
    ingress = objects_of(rendered, "VirtualService")["bookinfo"]["spec"]["http"][1]["route"]
    mesh = objects_of(rendered, "VirtualService")["bookinfo-rating"]["spec"]["http"][-1]["route"]
    assert [r["weight"] for r in ingress] == [90, 10]
    assert [r["weight"] for r in mesh] == [90, 10]


# ----------------------------------------------------------------- egress


def test_order_reaches_payment_through_the_egress_gateway_in_two_hops(bms):
    host = "bookinfo-payment.bookinfo-ext.svc.cluster.local"
    entry = objects_of(bms, "ServiceEntry")["external-payment"]["spec"]
    assert entry == {"hosts": [host], "location": "MESH_EXTERNAL", "resolution": "DNS",
                     "ports": [{"number": 8080, "name": "http", "protocol": "HTTP"}]}
    gateway = objects_of(bms, "Gateway")["istio-egressgateway"]["spec"]
    assert gateway["selector"] == EGRESS_GATEWAY_LABELS
    assert gateway["servers"][0]["hosts"] == [host]
    rule = objects_of(bms, "DestinationRule")["egressgateway-for-external-payment"]["spec"]
    assert rule == {"host": EGRESS_GATEWAY_HOST, "subsets": [{"name": "external-payment"}]}
    vs = objects_of(bms, "VirtualService")["direct-external-payment-through-egress-gateway"]["spec"]
    assert vs["hosts"] == [host] and vs["gateways"] == ["istio-egressgateway", "mesh"]
    hops = [(r["match"][0]["gateways"], r["route"][0]["destination"]) for r in vs["http"]]
    assert hops == [
        (["mesh"], {"host": EGRESS_GATEWAY_HOST, "subset": "external-payment", "port": {"number": 80}}),
        (["istio-egressgateway"], {"host": host, "port": {"number": 8080}}),
    ]


def test_the_bms_stack_installs_the_egress_gateway(bms):
    assert "istio-egressgateway" in {r.inputs["name"] for r in bms.releases()}


# ----------------------------------------------------------------- stores


def test_store_volume_claims_are_retained_when_deleted_or_scaled_down(bms):
    for name, sts in objects_of(bms, "StatefulSet").items():
        assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
        (claim,) = sts["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi", name


def test_volume_size_and_class_and_protection_come_from_config(tmp_stack):
    text = (ROOT / "Pulumi.bms.yaml").read_text().replace("environment: dev", "environment: prod").replace(
        "    bookinfo-db:\n      size: 5Gi", "    bookinfo-db:\n      size: 20Gi\n      storageClass: fast-ssd")
    rendered = render_file(tmp_stack(text, "Pulumi.bms-prod.yaml"))
    claim = objects_of(rendered, "StatefulSet")["bookinfo-db"]["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["resources"]["requests"]["storage"] == "20Gi"
    assert claim["storageClassName"] == "fast-ssd"
    protected = {r.name for r in rendered.resources if r.protect}
    assert {"workloads-statefulset-bookinfo-db", "workloads-statefulset-bookinfo-kafka"} <= protected


def test_dev_stores_are_not_protected_but_keep_their_claims(bms):
    assert not [r.name for r in bms.resources if r.protect and r.type == "kubernetes:apps/v1:StatefulSet"]


def test_the_stack_exports_payment_among_its_external_hosts(bms):
    assert bms.outputs["externalHosts"] == ["bookinfo-payment.bookinfo-ext.svc.cluster.local"]
