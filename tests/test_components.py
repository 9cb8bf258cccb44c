"""The components under the SDK's mock monitor: what each registers, with which
inputs, parents, dependencies and protection."""
from __future__ import annotations

import json
import runpy

import pulumi
import pytest

from meshplan.render import sdk
from tests.conftest import EXAMPLES, ROOT, STACKS, render_file, render_stack

RELEASE = "kubernetes:helm.sh/v3:Release"


def releases(rendered) -> dict[str, object]:
    return {r.inputs["name"]: r for r in rendered.resources if r.type == RELEASE}


def test_istio_is_installed_from_its_helm_charts_with_explicit_release_names():
    found = releases(render_stack("dev"))
    assert {name: (r.inputs["chart"], r.inputs["namespace"], r.inputs["version"]) for name, r in found.items()
            if r.inputs["chart"] in ("base", "istiod", "gateway")} == {
        "istio-base": ("base", "istio-system", "1.30.3"),
        "istiod": ("istiod", "istio-system", "1.30.3"),
        "istio-ingressgateway": ("gateway", "istio-ingress", "1.30.3"),
    }
    for name in ("istio-base", "istiod", "istio-ingressgateway"):
        assert found[name].inputs["repositoryOpts"] == {"repo": "https://istio-release.storage.googleapis.com/charts"}


def test_releases_come_up_in_order_base_then_istiod_then_gateways():
    found = releases(render_stack("dev"))
    assert found["istio-base"].urn in found["istiod"].depends_on
    assert found["istiod"].urn in found["istio-ingressgateway"].depends_on
    assert found["istio-base"].urn not in found["istio-ingressgateway"].depends_on
    for addon in ("kiali-server", "prometheus"):
        assert found["istiod"].urn in found[addon].depends_on


def test_istiod_values_follow_the_stack():
    dev = releases(render_stack("dev"))["istiod"].inputs["values"]
    assert dev["meshConfig"] == {"accessLogFile": "/dev/stdout", "outboundTrafficPolicy": {"mode": "ALLOW_ANY"}}
    assert dev["replicaCount"] == 1 and "revision" not in dev
    prod = releases(render_stack("prod"))["istiod"].inputs["values"]
    assert prod["replicaCount"] == 2 and prod["autoscaleEnabled"] is False
    assert prod["resources"] == {"requests": {"cpu": "500m", "memory": "2Gi"}}
    assert prod["meshConfig"]["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}


def test_ingress_gateway_service_type_comes_from_the_environment():
    assert releases(render_stack("dev"))["istio-ingressgateway"].inputs["values"] == {"service": {"type": "NodePort"}}
    assert releases(render_stack("prod"))["istio-ingressgateway"].inputs["values"] == {
        "service": {"type": "LoadBalancer"}}


def test_crds_are_protected_in_staging_and_prod_but_not_dev():
    assert [r.protect for r in releases(render_stack("dev")).values() if r.inputs["chart"] == "base"] == [False]
    for stack in ("staging", "prod"):
        protected = [r.inputs["name"] for r in render_stack(stack).resources if r.protect]
        assert protected == ["istio-base"], stack


def test_addons_are_on_in_dev_and_off_in_prod():
    assert {"kiali-server", "prometheus"} <= set(releases(render_stack("dev")))
    assert not {"kiali-server", "prometheus"} & set(releases(render_stack("prod")))
    kiali = releases(render_stack("dev"))["kiali-server"].inputs
    assert kiali["values"]["auth"] == {"strategy": "anonymous"}
    assert kiali["values"]["external_services"]["prometheus"]["url"] == "http://prometheus.istio-system:9090"


def test_install_false_registers_no_release_but_everything_else(tmp_stack):
    rendered = render_file(tmp_stack("config:\n  bookinfo-mesh:environment: dev\n"
                                     "  bookinfo-mesh:istio:\n    install: false\n"))
    assert not releases(rendered)
    kinds = {o["kind"] for o in rendered.objects()}
    assert {"Deployment", "Gateway", "VirtualService", "DestinationRule"} <= kinds
    assert "istio-system" not in {o["metadata"]["name"] for o in rendered.objects() if o["kind"] == "Namespace"}


def test_a_revision_relabels_the_namespace_and_reaches_every_chart(tmp_stack):
    rendered = render_file(tmp_stack("config:\n  bookinfo-mesh:environment: dev\n"
                                     "  bookinfo-mesh:istio:\n    revision: 1-30-3\n"
                                     "    egressGateway:\n      enabled: true\n"))
    app_ns = next(o for o in rendered.objects() if o["kind"] == "Namespace" and o["metadata"]["name"] == "bookinfo")
    assert app_ns["metadata"]["labels"] == {"istio.io/rev": "1-30-3"}
    found = releases(rendered)
    assert found["istiod"].inputs["values"]["revision"] == "1-30-3"
    assert found["istio-base"].inputs["values"] == {"defaultRevision": "1-30-3"}
    assert found["istio-egressgateway"].inputs["values"] == {"service": {"type": "ClusterIP"}, "revision": "1-30-3"}
    assert found["istio-egressgateway"].inputs["namespace"] == "istio-system"
    assert found["istiod"].urn in found["istio-egressgateway"].depends_on


def test_workloads_wait_for_istiod_so_pods_get_their_sidecars():
    rendered = render_stack("dev")
    istiod = releases(rendered)["istiod"].urn
    pods = [r for r in rendered.resources if r.type == "kubernetes:apps/v1:Deployment"]
    assert pods and all(istiod in r.depends_on for r in pods)


def test_istio_objects_wait_for_the_crds_of_the_base_chart():
    rendered = render_stack("dev")
    base = releases(rendered)["istio-base"].urn
    istio = [r for r in rendered.resources if r.type.startswith("kubernetes:networking.istio.io/")]
    assert len(istio) == 10 and all(base in r.depends_on for r in istio)


def test_namespaced_objects_wait_for_their_namespace():
    rendered = render_stack("dev")
    namespace = next(r.urn for r in rendered.resources if r.name == "workloads-namespace-bookinfo")
    services = [r for r in rendered.resources if r.type == "kubernetes:core/v1:Service"]
    assert services and all(namespace in r.depends_on for r in services)


def test_urns_are_those_the_real_engine_assigns():
    by_name = {r.name: r for r in render_stack("dev").resources}
    assert by_name["bookinfo-mesh-dev"].urn == "urn:pulumi:dev::bookinfo-mesh::pulumi:pulumi:Stack::bookinfo-mesh-dev"
    assert by_name["routing"].urn == "urn:pulumi:dev::bookinfo-mesh::bookinfo-mesh:routing:Routing::routing"
    assert by_name["routing"].parent == by_name["bookinfo-mesh-dev"].urn
    vs = by_name["routing-virtualservice-reviews"]
    assert vs.urn == ("urn:pulumi:dev::bookinfo-mesh::bookinfo-mesh:routing:Routing"
                      "$kubernetes:networking.istio.io/v1:VirtualService::routing-virtualservice-reviews")
    assert vs.parent == by_name["routing"].urn


def test_component_type_tokens_follow_one_scheme():
    tokens = {r.type for r in render_stack("dev").resources if not r.custom and r.type != "pulumi:pulumi:Stack"}
    assert tokens == {"bookinfo-mesh:mesh:IstioMesh", "bookinfo-mesh:workloads:Workloads",
                      "bookinfo-mesh:routing:Routing", "bookinfo-mesh:security:Security",
                      "bookinfo-mesh:egress:Egress"}


def test_every_resource_but_the_stack_has_a_parent():
    for resource in render_stack("dev").resources:
        assert (resource.parent is None) == (resource.type == "pulumi:pulumi:Stack"), resource.urn


def test_integral_numbers_arrive_as_integers():
    text = json.dumps(render_stack("staging").as_json())
    assert '"containerPort": 9080}' in text and "9080.0" not in text and '"weight": 80' in text


def test_the_stack_exports_effective_traffic_shares():
    traffic = render_stack("staging").outputs["traffic"]
    reviews = {t["subset"]: t["percent"] for t in traffic if t["virtualService"] == "reviews"}
    assert reviews == {"v1": 80, "v2": 20}


# ------------------------------------------------------- bad config, real program path


def test_program_with_bad_config_stops_with_one_line_and_registers_nothing():
    echo = sdk.echo_mocks()
    captured = sdk.Captured(records=[], reads=[])
    sdk.start_mocks(echo, project="bookinfo-mesh", stack="broken", monitor=sdk.recording_monitor(echo, captured),
                    config={"bookinfo-mesh:services": json.dumps({"reviews": {"weights": {"v7": 1}}})})

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    try:
        with pytest.raises(pulumi.RunError) as caught:
            program()
    finally:
        pulumi.runtime.set_all_config({})
    assert str(caught.value) == ('Pulumi.broken.yaml: bookinfo-mesh:services.reviews.weights.v7 = "v7": '
                                 "version is not deployed; deployed: v1, v2, v3")
    assert [r["type"] for r in captured.records] == ["pulumi:pulumi:Stack"]


@pytest.mark.parametrize("stack", STACKS)
def test_nothing_waits_for_a_gateway_only_for_the_crds_and_istiod(stack):
    rendered = render_stack(stack)
    found = releases(rendered)
    if not found:
        return
    control_plane = {found["istio-base"].urn, found["istiod"].urn}
    gateways = {r.urn for r in found.values() if r.inputs["chart"] == "gateway"}
    dependents = [r for r in rendered.resources
                  if r.type.startswith(("kubernetes:networking.istio.io/", "kubernetes:security.istio.io/"))
                  or r.type in ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")]
    # A mesh-only stack holds the control plane and nothing that waits for it.
    assert dependents or rendered.settings.layers.layers == ("mesh",)
    for resource in dependents:
        assert control_plane <= set(resource.depends_on), resource.name
        assert not gateways & set(resource.depends_on), resource.name


@pytest.mark.parametrize("stack", STACKS)
def test_a_load_balancer_gateway_is_not_awaited_for_its_address(stack):
    for release in releases(render_stack(stack)).values():
        if release.inputs["chart"] == "gateway":
            load_balancer = release.inputs["values"]["service"]["type"] == "LoadBalancer"
            assert release.inputs.get("skipAwait", False) is load_balancer, release.name


# ------------------------------------------------------------ make before break

def _waits_of_reviews(rendered) -> set[str]:
    """What the reviews VirtualService waits for, beyond the control plane and namespaces."""
    by_urn = rendered.by_urn()
    [vs] = [r for r in rendered.resources if r.name == "routing-virtualservice-reviews"]
    return {by_urn[u].name for u in vs.depends_on
            if by_urn[u].type not in (RELEASE, "kubernetes:core/v1:Namespace")}


def _reviews_stack(tmp_stack, reviews: str) -> str:
    return tmp_stack("config:\n  bookinfo-mesh:environment: dev\n  bookinfo-mesh:services:\n"
                     "    reviews:\n      versions: [v1, v2, v3]\n" + reviews)


def test_a_route_waits_for_its_subsets_and_the_pods_of_versions_with_traffic_not_those_at_zero(tmp_stack):
    rendered = render_file(_reviews_stack(tmp_stack, "      weights: {v1: 80, v2: 20, v3: 0}\n"))
    assert _waits_of_reviews(rendered) == {"routing-destinationrule-reviews", "workloads-deployment-reviews-v1",
                                           "workloads-deployment-reviews-v2"}


def test_a_route_shadowed_by_a_catch_all_and_its_mirror_need_nothing(tmp_stack):
    rendered = render_file(_reviews_stack(tmp_stack, (
        "      routes:\n        - match: {uri: {prefix: /}}\n          to: v3\n"
        "      to: v1\n      mirror: {version: v2}\n")))
    assert _waits_of_reviews(rendered) == {"routing-destinationrule-reviews", "workloads-deployment-reviews-v3"}


def test_a_mirror_waits_for_the_pods_it_copies_requests_to():
    rendered = render_file(EXAMPLES / "istio-tasks" / "mirroring.yaml")
    assert _waits_of_reviews(rendered) == {"routing-destinationrule-reviews", "workloads-deployment-reviews-v1",
                                           "workloads-deployment-reviews-v2"}


def test_a_traffic_only_stack_waits_for_its_destination_rules_only():
    """Its Deployments are another stack's: the check of the app layer's contract stands in."""
    rendered = render_stack("prod-traffic")
    assert _waits_of_reviews(rendered) == {"routing-destinationrule-reviews"}
    ingress = next(r for r in rendered.resources if r.name == "routing-virtualservice-bookinfo")
    assert not {u for u in ingress.depends_on if "Deployment" in u or "DestinationRule" in u}
