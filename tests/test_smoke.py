"""Every stack file renders, registering exactly the Kubernetes objects of each kind
and the Helm releases its layers and environment call for: a stack that silently
loses or gains an object (a missing version, a doubled policy, an addon in prod)
fails here before any finer test is read."""
from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import STACKS, render_stack

ISTIO = ["istio-base", "istio-ingressgateway", "istiod"]
DEV_ADDONS = ["kiali-server", "prometheus"]
ROUTING = {"Gateway": 1, "VirtualService": 5, "DestinationRule": 4}
"""Bookinfo's ingress Gateway and its VirtualService, a VirtualService and a
DestinationRule per service."""
BOOKINFO = {"Service": 4, "ServiceAccount": 4}
PROD_SECURITY = {"PeerAuthentication": 1, "AuthorizationPolicy": 5}
"""Strict mTLS, allow-nothing and an allow per service."""

EXPECTED: dict[str, tuple[dict[str, int], list[str]]] = {
    # Every version of reviews and one of each other service.
    "dev": ({"Namespace": 3, **BOOKINFO, "Deployment": 6, **ROUTING}, ISTIO + DEV_ADDONS),
    "staging": ({"Namespace": 3, **BOOKINFO, "Deployment": 5, **ROUTING}, ISTIO),
    "prod": ({"Namespace": 3, **BOOKINFO, "Deployment": 4, **ROUTING, **PROD_SECURITY}, ISTIO),
    # prod split in three: the union is prod (tests/test_layers.py holds them equal).
    "prod-mesh": ({"Namespace": 2}, ISTIO),
    "prod-app": ({"Namespace": 1, **BOOKINFO, "Deployment": 4, **PROD_SECURITY}, []),
    "prod-traffic": (ROUTING, []),
    # Istio's Gateway API Bookinfo: a Service per version, the ingress Gateway and
    # the waypoint, the ingress HTTPRoute and one per service.
    # No ingress gateway chart (istiod deploys the Gateway's pods): no istio-ingress namespace.
    "dev-ambient": ({"Namespace": 2, "Service": 4 + 6, "ServiceAccount": 4, "Deployment": 6,
                     "Gateway": 2, "HTTPRoute": 5},
                    ["istio-base", "istiod", "istio-cni", "ztunnel"] + DEV_ADDONS),
    "bms": ({"Namespace": 4, "Service": 7, "ServiceAccount": 4, "Deployment": 5, "StatefulSet": 2,
             "ConfigMap": 10, "Secret": 1, "ServiceEntry": 1, "Gateway": 2, "VirtualService": 5,
             "DestinationRule": 4}, ISTIO + ["istio-egressgateway"] + DEV_ADDONS),
}


def test_every_stack_file_has_its_expected_render():
    assert set(EXPECTED) == set(STACKS)


@pytest.mark.parametrize("stack", sorted(EXPECTED))
def test_each_stack_renders_exactly_its_objects_per_kind_and_its_helm_releases(stack):
    rendered = render_stack(stack)
    kinds, releases = EXPECTED[stack]
    assert dict(Counter(o["kind"] for o in rendered.objects())) == kinds
    assert sorted(r.inputs["name"] for r in rendered.releases()) == sorted(releases)
