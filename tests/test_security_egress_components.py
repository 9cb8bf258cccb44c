"""The Security and Egress components under the mock monitor: one type token per
module, every object a child of its component, and each one held back until
Istio (its CRDs and webhook) and the application namespace exist."""
from __future__ import annotations

import pytest

from tests.conftest import EXAMPLES, render_file, render_stack

ISTIOD = "bookinfo-mesh:mesh:IstioMesh$kubernetes:helm.sh/v3:Release::mesh-istiod"
BASE = "bookinfo-mesh:mesh:IstioMesh$kubernetes:helm.sh/v3:Release::mesh-base"
APP_NAMESPACE = "bookinfo-mesh:workloads:Workloads$kubernetes:core/v1:Namespace::workloads-namespace-bookinfo"


@pytest.mark.parametrize("rendered,token,kinds", [
    (lambda: render_stack("prod"), "bookinfo-mesh:security:Security",
     {"PeerAuthentication", "AuthorizationPolicy"}),
    (lambda: render_file(EXAMPLES / "istio-tasks" / "egress-gateway.yaml"), "bookinfo-mesh:egress:Egress",
     {"ServiceEntry", "Gateway", "DestinationRule", "VirtualService"}),
], ids=["security", "egress"])
def test_component_children_wait_for_istio_and_the_app_namespace(rendered, token, kinds):
    rendered = rendered()
    [component] = [r for r in rendered.resources if r.type == token]
    children = [r for r in rendered.resources if r.parent == component.urn]
    assert {c.inputs["kind"] for c in children} == kinds
    for child in children:
        assert child.urn.split("::")[2].startswith(f"{token}$kubernetes:")
        needs = {d.split("::", 2)[2] for d in child.depends_on}
        assert {BASE, ISTIOD, APP_NAMESPACE} <= needs, child.name


def test_an_ingress_tls_secret_is_a_child_of_security_in_the_gateway_namespace(tmp_stack):
    path = tmp_stack(
        "config:\n"
        "  bookinfo-mesh:environment: dev\n"
        "  bookinfo-mesh:ingress:\n"
        "    tls: {credentialName: bookinfo-credential, certificate: CERT, privateKey: {secure: v1:AAAAkey}}\n")
    rendered = render_file(path)
    [secret] = [r for r in rendered.resources if r.type == "kubernetes:core/v1:Secret"]
    assert secret.name == "security-secret-bookinfo-credential"
    assert secret.parent.endswith("bookinfo-mesh:security:Security::security")
    assert secret.inputs["metadata"]["namespace"] == "istio-ingress"
