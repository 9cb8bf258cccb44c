"""The dev stack renders Istio 1.30.3's Bookinfo, field for field: the objects of
`samples/bookinfo/platform/kube/bookinfo.yaml`, the ingress of
`networking/bookinfo-gateway.yaml`, the DestinationRules of
`networking/destination-rule-all.yaml` and the routes of
`networking/virtual-service-all-v1.yaml`.

The expectations are written out here. Deliberate differences, each asserted:
- every object carries `metadata.namespace: bookinfo` (upstream relies on kubectl's);
- the Gateway listens on port 80, where the Helm-installed gateway's Service sends
  traffic (upstream's 8080 is for the istioctl-installed gateway);
- DestinationRules declare a subset per *deployed* version (upstream also declares
  ratings v2, v2-mysql, v2-mysql-vm and details v2, which select no pods in dev).
"""
from __future__ import annotations

from tests.conftest import objects_of, render_stack

NS = "bookinfo"
TAG = "1.20.3"


def expected_service(app: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": app, "namespace": NS, "labels": {"app": app, "service": app}},
        "spec": {"ports": [{"port": 9080, "name": "http"}], "selector": {"app": app}},
    }


def expected_account(app: str) -> dict:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": f"bookinfo-{app}", "namespace": NS, "labels": {"account": app}}}


def expected_deployment(app: str, version: str, *, container_extra: dict | None = None,
                        volumes: list | None = None, annotations: dict | None = None) -> dict:
    labels = {"app": app, "version": version}
    container = {
        "name": app,
        "image": f"registry.istio.io/release/examples-bookinfo-{app}-{version}:{TAG}",
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 9080}],
        **(container_extra or {}),
    }
    template_metadata = {"labels": labels}
    if annotations:
        template_metadata["annotations"] = annotations
    pod = {"serviceAccountName": f"bookinfo-{app}", "containers": [container]}
    if volumes:
        pod["volumes"] = volumes
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": f"{app}-{version}", "namespace": NS, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": template_metadata, "spec": pod}},
    }


REVIEWS_CONTAINER = {
    "env": [{"name": "LOG_DIR", "value": "/tmp/logs"}],
    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"},
                     {"name": "wlp-output", "mountPath": "/opt/ibm/wlp/output"}],
}
REVIEWS_VOLUMES = [{"name": "wlp-output", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]

EXPECTED_DEPLOYMENTS = {
    "details-v1": expected_deployment("details", "v1"),
    "ratings-v1": expected_deployment("ratings", "v1"),
    "reviews-v1": expected_deployment("reviews", "v1", container_extra=REVIEWS_CONTAINER, volumes=REVIEWS_VOLUMES),
    "reviews-v2": expected_deployment("reviews", "v2", container_extra=REVIEWS_CONTAINER, volumes=REVIEWS_VOLUMES),
    "reviews-v3": expected_deployment("reviews", "v3", container_extra=REVIEWS_CONTAINER, volumes=REVIEWS_VOLUMES),
    "productpage-v1": expected_deployment(
        "productpage", "v1",
        container_extra={"volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]},
        volumes=[{"name": "tmp", "emptyDir": {}}],
        annotations={"prometheus.io/scrape": "true", "prometheus.io/port": "9080",
                     "prometheus.io/path": "/metrics"},
    ),
}

APPS = ("details", "ratings", "reviews", "productpage")


def test_dev_deploys_exactly_upstreams_six_deployments_field_for_field():
    assert objects_of(render_stack("dev"), "Deployment") == EXPECTED_DEPLOYMENTS


def test_dev_deploys_upstreams_four_services_and_service_accounts():
    rendered = render_stack("dev")
    assert objects_of(rendered, "Service") == {app: expected_service(app) for app in APPS}
    assert objects_of(rendered, "ServiceAccount") == {f"bookinfo-{app}": expected_account(app) for app in APPS}


def test_volumes_and_mounts_keep_upstreams_order():
    pod = objects_of(render_stack("dev"), "Deployment")["reviews-v2"]["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["wlp-output", "tmp"]
    assert [m["name"] for m in pod["containers"][0]["volumeMounts"]] == ["tmp", "wlp-output"]


def test_app_namespace_is_labelled_for_injection_by_the_default_revision():
    namespaces = objects_of(render_stack("dev"), "Namespace")
    assert namespaces[NS]["metadata"]["labels"] == {"istio-injection": "enabled"}


def test_dev_ingress_is_upstreams_gateway_on_the_helm_gateways_port_80():
    rendered = render_stack("dev")
    assert objects_of(rendered, "Gateway") == {"bookinfo-gateway": {
        "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": {"name": "bookinfo-gateway", "namespace": NS},
        "spec": {"selector": {"istio": "ingressgateway"},
                 "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]},
    }}
    assert objects_of(rendered, "VirtualService")["bookinfo"] == {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "bookinfo", "namespace": NS},
        "spec": {
            "hosts": ["*"],
            "gateways": ["bookinfo-gateway"],
            "http": [{
                "match": [{"uri": {"exact": "/productpage"}}, {"uri": {"prefix": "/static"}},
                          {"uri": {"exact": "/login"}}, {"uri": {"exact": "/logout"}},
                          {"uri": {"prefix": "/api/v1/products"}}],
                "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}],
            }],
        },
    }


def test_dev_destination_rules_have_a_subset_per_deployed_version():
    def rule(host: str, *versions: str) -> dict:
        return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                "metadata": {"name": host, "namespace": NS},
                "spec": {"host": host, "subsets": [{"name": v, "labels": {"version": v}} for v in versions]}}

    assert objects_of(render_stack("dev"), "DestinationRule") == {
        "productpage": rule("productpage", "v1"),
        "reviews": rule("reviews", "v1", "v2", "v3"),
        "ratings": rule("ratings", "v1"),
        "details": rule("details", "v1"),
    }


def test_dev_routes_every_service_to_v1_as_virtual_service_all_v1():
    services = {name: vs for name, vs in objects_of(render_stack("dev"), "VirtualService").items()
                if name != "bookinfo"}
    assert services == {
        app: {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
              "metadata": {"name": app, "namespace": NS},
              "spec": {"hosts": [app], "http": [{"route": [{"destination": {"host": app, "subset": "v1"}}]}]}}
        for app in APPS
    }


def test_dev_renders_nothing_beyond_bookinfo_and_the_istio_install():
    kinds = sorted(o["kind"] for o in render_stack("dev").objects())
    assert kinds == sorted(["Namespace"] * 3 + ["Service"] * 4 + ["ServiceAccount"] * 4 + ["Deployment"] * 6
                           + ["Gateway"] + ["VirtualService"] * 5 + ["DestinationRule"] * 4)
