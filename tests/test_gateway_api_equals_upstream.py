"""A `traffic.api: gateway-api` stack renders Istio 1.30.3's Gateway API Bookinfo, field
for field: the per-version Services of `platform/kube/bookinfo-versions.yaml`, the
ingress of `gateway-api/bookinfo-gateway.yaml` and the HTTPRoutes of
`gateway-api/route-*.yaml`, and in ambient mode the waypoint `istioctl waypoint apply`
creates. Upstream's files are read from the artifacts beside the repository (these
tests skip without them, and fail in CI).

Deliberate differences, applied to upstream's objects below and so asserted:
- every object carries `metadata.namespace: bookinfo` (upstream relies on kubectl's);
- a stack whose ingress Service is not a LoadBalancer (dev: NodePort) says so in
  `spec.infrastructure.annotations` of the ingress Gateway.
"""
from __future__ import annotations

import copy

import pytest

from tests.conftest import EXAMPLES, objects_of, render_file, render_stack
from tests.upstream import objects_in

NS = "bookinfo"
SAMPLES = "istio-ambient/samples/bookinfo"
GETTING_STARTED = "istio-ambient/istio-io-docs/ambient-getting-started"
EXAMPLE_FILES = ("route-all-v1", "route-reviews-v1", "route-reviews-v3", "route-reviews-90-10", "route-reviews-50-v3")


def upstream_objects(file: str, kind: str, *, folder: str = SAMPLES) -> dict[str, dict]:
    """Upstream's objects of one kind in one file, by name, in namespace bookinfo."""
    return objects_in(f"{folder}/{file}", kind, namespace=NS)


def gateway_api_objects(rendered, kind: str) -> dict[str, dict]:
    """Copies: renders are cached for the session, and some tests take fields out."""
    return {name: copy.deepcopy(body) for name, body in objects_of(rendered, kind).items()
            if body["apiVersion"] == "gateway.networking.k8s.io/v1"}


def example(name: str):
    return render_file(EXAMPLES / "gateway-api" / f"{name}.yaml")


def test_per_version_services_are_bookinfo_versions_yaml():
    expected = upstream_objects("platform/kube/bookinfo-versions.yaml", "Service")
    for rendered in (render_stack("dev-ambient"), example("route-all-v1")):
        services = {name: s for name, s in objects_of(rendered, "Service").items() if name in expected}
        assert services == expected


def test_every_example_and_the_ambient_stack_route_as_istios_file_of_the_same_name():
    for name in EXAMPLE_FILES:
        expected = upstream_objects(f"gateway-api/{name}.yaml", "HTTPRoute")
        routes = gateway_api_objects(example(name), "HTTPRoute")
        assert {n: routes[n] for n in expected} == expected, name
    expected = upstream_objects("gateway-api/route-all-v1.yaml", "HTTPRoute")
    routes = gateway_api_objects(render_stack("dev-ambient"), "HTTPRoute")
    assert {n: routes[n] for n in expected} == expected


def test_ingress_is_bookinfo_gateway_yaml_with_the_stacks_service_type():
    gateway = upstream_objects("gateway-api/bookinfo-gateway.yaml", "Gateway")
    route = upstream_objects("gateway-api/bookinfo-gateway.yaml", "HTTPRoute")
    rendered = example("route-all-v1")
    assert gateway_api_objects(rendered, "HTTPRoute")["bookinfo"] == route["bookinfo"]
    ingress = gateway_api_objects(rendered, "Gateway")
    # dev's NodePort; Istio's default (no annotation) is a LoadBalancer.
    assert ingress["bookinfo-gateway"]["spec"].pop("infrastructure") == {
        "annotations": {"networking.istio.io/service-type": "NodePort"}}
    assert ingress == gateway


def test_a_load_balancer_ingress_is_exactly_istios_gateway(tmp_stack):
    path = tmp_stack("config:\n  bookinfo-mesh:environment: staging\n  bookinfo-mesh:traffic: {api: gateway-api}\n")
    expected = upstream_objects("gateway-api/bookinfo-gateway.yaml", "Gateway")
    assert gateway_api_objects(render_file(path), "Gateway") == expected


def test_the_ambient_waypoint_is_the_getting_started_waypoint_without_a_waypoint_for_label():
    expected = upstream_objects("waypoint-gateway.yaml", "Gateway", folder=GETTING_STARTED)
    waypoint = gateway_api_objects(render_stack("dev-ambient"), "Gateway")["waypoint"]
    assert waypoint == expected["waypoint"]
    # istioctl without --for writes no label; istiod then treats the waypoint as `service`.
    assert "labels" not in waypoint["metadata"]


def test_the_ambient_namespace_is_enrolled_in_the_waypoint_and_a_sidecar_one_is_not():
    namespace = objects_of(render_stack("dev-ambient"), "Namespace")[NS]
    assert namespace["metadata"]["labels"]["istio.io/use-waypoint"] == "waypoint"
    assert "istio.io/use-waypoint" not in objects_of(example("route-all-v1"), "Namespace")[NS]["metadata"]["labels"]
    assert "waypoint" not in gateway_api_objects(example("route-all-v1"), "Gateway")


def test_gateway_api_stacks_render_no_virtual_service_nor_subset():
    for rendered in (render_stack("dev-ambient"), *(example(name) for name in EXAMPLE_FILES)):
        assert not objects_of(rendered, "VirtualService")
        assert not [o for o in rendered.objects() if o["kind"] == "Gateway" and "servers" in o["spec"]]
        assert not [o for o in objects_of(rendered, "DestinationRule").values() if "subsets" in o["spec"]]
