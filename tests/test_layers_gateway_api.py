"""A layered Gateway API environment (mesh, app and traffic stacks, as the prod-*
stacks are layered): the mesh stack says what its ingress really is (the Gateway of
class istio that istiod deploys in the app namespace, no gateway chart), the stacks
above it accept that and refuse in one line a mesh they do not fit; the ingress TLS
Secret lives where the Gateway reads it."""
from __future__ import annotations

import pytest
import yaml

from meshplan.cli import main
from model.layers import mesh_outputs
from tests.conftest import render_file, render_stack, settings_from

AMBIENT = {"bookinfo-mesh:environment": "prod",
           "bookinfo-mesh:istio": {"version": "1.30.3", "dataPlane": "ambient"},
           "bookinfo-mesh:traffic": {"api": "gateway-api"}}


def write(tmp_path, stack: str, config: dict) -> str:
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    return str(path)


def environment(tmp_path, mesh: str = "gw-mesh") -> dict[str, str]:
    """The three layered stacks; the app stack and the traffic stack's mesh reference
    name `mesh`, the traffic stack's app reference a fitting app stack (`gw-app-ok`)."""
    ref = f"organization/bookinfo-mesh/{mesh}"
    app = {**AMBIENT, "bookinfo-mesh:layers": ["app"]}
    write(tmp_path, "gw-app-ok", {**app, "bookinfo-mesh:stackRefs": {"mesh": "organization/bookinfo-mesh/gw-mesh"}})
    return {
        "mesh": write(tmp_path, "gw-mesh", {**AMBIENT, "bookinfo-mesh:layers": ["mesh"]}),
        "app": write(tmp_path, "gw-app", {**app, "bookinfo-mesh:stackRefs": {"mesh": ref}}),
        "traffic": write(tmp_path, "gw-traffic", {
            **AMBIENT, "bookinfo-mesh:layers": ["traffic"],
            "bookinfo-mesh:stackRefs": {"mesh": ref, "app": "organization/bookinfo-mesh/gw-app-ok"},
            "bookinfo-mesh:services": {"reviews": {"weights": {"v1": 90, "v2": 10}}}}),
    }


def test_a_gateway_api_mesh_exports_the_gateway_istiod_deploys_in_the_app_namespace():
    outputs = mesh_outputs(settings_from({"istio": {"dataPlane": "ambient"}, "traffic": {"api": "gateway-api"},
                                          "app": {"namespace": "shop"}}))
    assert outputs["gatewaySelectors"] == {"ingress": {"gateway.networking.k8s.io/gateway-name": "bookinfo-gateway"}}
    assert outputs["meshNamespaces"] == {"controlPlane": "istio-system", "ingress": "shop"}
    assert (outputs["dataPlane"], outputs["gatewayApi"]) == ("ambient", {"channel": "standard"})
    # A sidecar mesh for Istio's API exports what it always did.
    sidecar = render_stack("prod-mesh").outputs
    assert sidecar["gatewaySelectors"] == {"ingress": {"istio": "ingressgateway"}}
    assert sidecar["meshNamespaces"]["ingress"] == "istio-ingress"
    assert "dataPlane" not in sidecar and "gatewayApi" not in sidecar


def test_a_layered_gateway_api_environment_renders_and_checks_clean(tmp_path, capsys):
    stacks = environment(tmp_path)
    for layer, path in stacks.items():
        assert main(["check", "--config", path]) == 0, layer
        assert capsys.readouterr().out.strip() == "no findings", layer
    mesh = {r.name for r in render_file(stacks["mesh"]).resources}
    assert "mesh-gateway-api-crds" in mesh and "mesh-ingress" not in mesh  # the CRDs, no gateway chart
    traffic = render_file(stacks["traffic"])
    assert traffic.outputs["stackRefsChecked"] == \
        "fits mesh organization/bookinfo-mesh/gw-mesh, app organization/bookinfo-mesh/gw-app-ok"
    kinds = {o["kind"] for o in traffic.objects()}
    assert {"Gateway", "HTTPRoute"} <= kinds and "VirtualService" not in kinds


@pytest.mark.parametrize("layer, message", [
    ("traffic", 'bookinfo-mesh:traffic.api = "gateway-api": the mesh stack organization/bookinfo-mesh/prod-mesh '
                "installs no Gateway API CRDs (it routes with traffic.api=istio): istiod would not watch HTTPRoutes; "
                "set traffic.api=gateway-api on the mesh stack too"),
    ("app", 'bookinfo-mesh:istio.dataPlane = "ambient": the mesh stack organization/bookinfo-mesh/prod-mesh runs '
            "the sidecar data plane: the app's namespaces would be labelled for a data plane that is not installed"),
])
def test_a_gateway_api_or_ambient_layer_over_a_sidecar_mesh_is_refused_in_one_line(tmp_path, capsys, layer, message):
    path = environment(tmp_path, mesh="prod-mesh")[layer]
    assert main(["render", "--config", path]) == 1
    assert capsys.readouterr().err.splitlines() == [f"error: {path}: {message}"]


def test_an_istio_api_traffic_layer_over_a_gateway_api_mesh_is_refused(tmp_path, capsys):
    environment(tmp_path)
    path = write(tmp_path, "istio-traffic", {"bookinfo-mesh:environment": "prod",
                                             "bookinfo-mesh:layers": ["traffic"],
                                             "bookinfo-mesh:stackRefs": {
                                                 "mesh": "organization/bookinfo-mesh/gw-mesh",
                                                 "app": "organization/bookinfo-mesh/gw-app-ok"}})
    assert main(["render", "--config", path]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert "its ingress gateway pods are labelled {'gateway.networking.k8s.io/gateway-name': 'bookinfo-gateway'}, " \
           "the Gateway selects {'istio': 'ingressgateway'}" in line


def test_the_ingress_tls_secret_lives_where_the_gateway_reads_it(tmp_path):
    tls = {"bookinfo-mesh:ingress": {"hosts": ["bookinfo.example.com"], "tls": {
        "credentialName": "bookinfo-credential", "certificate": "CERT", "privateKey": {"secure": "v1:AAAAkey"}}}}
    rendered = render_file(write(tmp_path, "gw-tls", {**AMBIENT, **tls, "bookinfo-mesh:app": {"namespace": "shop"}}))
    [secret] = [o for o in rendered.objects() if o["kind"] == "Secret" and o.get("type") == "kubernetes.io/tls"]
    [gateway] = [o for o in rendered.objects() if o["kind"] == "Gateway" and o["spec"]["gatewayClassName"] == "istio"]
    # A listener's certificateRefs name a Secret of the Gateway's own namespace.
    assert secret["metadata"] == {"name": "bookinfo-credential", "namespace": "shop"}
    assert gateway["metadata"]["namespace"] == "shop"
    assert gateway["spec"]["listeners"][1]["tls"]["certificateRefs"] == [{"name": "bookinfo-credential"}]
    sidecar = render_file(write(tmp_path, "sidecar-tls", {"bookinfo-mesh:environment": "prod", **tls}))
    [secret] = [o for o in sidecar.objects() if o["kind"] == "Secret" and o.get("type") == "kubernetes.io/tls"]
    assert secret["metadata"]["namespace"] == "istio-ingress"
