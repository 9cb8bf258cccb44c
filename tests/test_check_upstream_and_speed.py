"""What `meshplan check` says of Istio's own Bookinfo files and of the project's stacks,
and what the analyzers cost the policy pack."""
from __future__ import annotations

import subprocess
import sys

import pytest

from meshplan.check import check_manifests, check_rendered
from tests.conftest import EXAMPLES, ROOT, STACKS, render_file, render_stack
from tests.upstream import upstream

BOOKINFO = "istio-1.30.3/samples/bookinfo"


def test_upstream_bookinfo_files_give_what_istioctl_analyze_reports():
    files = [upstream(f"{BOOKINFO}/{name}") for name in (
        "platform/kube/bookinfo.yaml", "networking/bookinfo-gateway.yaml",
        "networking/destination-rule-all.yaml", "networking/virtual-service-all-v1.yaml")]
    from model.analysis.schema import load_crds

    schemas = load_crds(str(upstream("istio-1.30.3/crd-all.gen.yaml")))
    found = sorted((f.istio, f.kind, f.name, f.message.split(" ")[1]) for f in
                   check_manifests([str(f) for f in files], schemas=schemas))
    assert found == [
        ("IST0140", "VirtualService", "bookinfo", "route"),      # ingress route to productpage has no subset
        ("IST0162", "Gateway", "bookinfo-gateway", "port"),      # 8080 on istioctl's assumed gateway Service
        ("IST0173", "DestinationRule", "details", "v2"),         # subsets of versions the sample never deploys
        ("IST0173", "DestinationRule", "ratings", "v2"),
        ("IST0173", "DestinationRule", "ratings", "v2-mysql"),
        ("IST0173", "DestinationRule", "ratings", "v2-mysql-vm"),
    ]


EXPLAINED = {"BM117"}
"""Findings the README explains for every stack."""


def test_bm117_stays_harmless_every_service_routed_at_the_ingress_without_subsets_has_one_version():
    """The README keeps BM117 (as upstream's bookinfo-gateway.yaml has it) because the
    mesh subsets it bypasses cannot differ: such a service has a single version."""
    from model.apps import APPLICATIONS

    several = [(app.name, route.service) for app in APPLICATIONS.values() for route in app.ingress_routes
               if not route.by_version and len(app.service(route.service).versions) > 1]
    assert several == []
EXPLAINED_BY_FILE = {"Pulumi.bms.yaml": {"BM126", "BM129"},
                     "egress-google-apis.yaml": {"BM121"}, "ingress-tls.yaml": {"BM122"}}


@pytest.mark.parametrize("path", [*(ROOT / f"Pulumi.{s}.yaml" for s in STACKS),
                                  EXAMPLES / "istio-tasks" / "egress-google-apis.yaml",
                                  EXAMPLES / "istio-tasks" / "ingress-tls.yaml"], ids=lambda p: p.name)
def test_stacks_and_examples_report_only_the_findings_the_readme_explains(path):
    rendered = render_file(path, path.stem.removeprefix("Pulumi.") if path.parent == ROOT else None)
    codes = {f.code for f in check_rendered(rendered)}
    assert codes <= EXPLAINED | EXPLAINED_BY_FILE.get(path.name, set())


def test_policy_pack_import_of_the_analyzers_costs_under_50_ms():
    probe = ("import time, yaml, model.settings, model.mesh\n"
             "start = time.perf_counter()\nimport model.analysis\nprint(time.perf_counter() - start)")
    runs = [float(subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True,
                                 text=True).stdout) for _ in range(3)]
    assert min(runs) < 0.05, f"import model.analysis took {min(runs) * 1000:.1f} ms"


def test_dev_render_check_runs_the_same_registry_as_the_program():
    from model.analysis import CATALOGUE

    findings = check_rendered(render_stack("dev"))
    assert {f.code for f in findings} <= set(CATALOGUE)


def _synthetic_mesh(services: int) -> list[dict]:
    """A mesh of `services` routed services, two versions each: Service, two
    Deployments, a DestinationRule with both subsets and a mesh VirtualService; and per
    service the objects the Kiali-mirroring rules pair by host, selector and namespace:
    a Gateway and a VirtualService bound to it, a ServiceEntry, a PeerAuthentication
    and an AuthorizationPolicy naming a principal and methods."""
    objects: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}},
                           {"apiVersion": "v1", "kind": "Pod", "metadata": {
                               "name": "ingressgateway", "namespace": "istio-system",
                               "labels": {"istio": "ingressgateway"}}, "spec": {"containers": [
                                   {"name": "istio-proxy", "image": "istio/proxyv2:1.30.3"}]}}]
    for i in range(services):
        name = f"svc{i}"
        meta = {"name": name, "namespace": "bench"}
        objects.append({"apiVersion": "v1", "kind": "Service", "metadata": meta,
                        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 9080}]}})
        for version in ("v1", "v2"):
            labels = {"app": name, "version": version}
            objects.append({"apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": {"name": f"{name}-{version}", "namespace": "bench"},
                            "spec": {"selector": {"matchLabels": labels}, "template": {
                                "metadata": {"labels": labels},
                                "spec": {"containers": [{"name": name, "image": "x:1"}]}}}})
        objects.append({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": meta,
                        "spec": {"host": name, "subsets": [{"name": v, "labels": {"version": v}} for v in ("v1", "v2")]}})
        objects.append({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": meta,
                        "spec": {"hosts": [name], "http": [{"route": [
                            {"destination": {"host": name, "subset": "v1"}, "weight": 90},
                            {"destination": {"host": name, "subset": "v2"}, "weight": 10}]}]}})
        objects.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta})
        external = f"{name}.example.com"
        objects.append({"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": meta, "spec": {
            "selector": {"istio": "ingressgateway"},
            "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": [external]}]}})
        objects.append({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                        "metadata": {"name": f"{name}-ingress", "namespace": "bench"},
                        "spec": {"hosts": [external], "gateways": [name], "exportTo": ["bench"],
                                 "http": [{"route": [{"destination": {"host": name, "subset": "v1"}}]}]}})
        objects.append({"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry", "metadata": meta, "spec": {
            "hosts": [f"{name}.api.example.org"], "location": "MESH_EXTERNAL", "resolution": "DNS",
            "ports": [{"number": 443, "name": "https", "protocol": "HTTPS"}]}})
        objects.append({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": meta,
                        "spec": {"selector": {"matchLabels": {"app": name}}, "mtls": {"mode": "STRICT"}}})
        objects.append({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": meta, "spec": {
            "selector": {"matchLabels": {"app": name}},
            "rules": [{"from": [{"source": {"principals": [f"cluster.local/ns/bench/sa/{name}*"]}}],
                       "to": [{"operation": {"methods": ["GET", "P*"]}}]}]}})
    return objects


def test_the_analysis_grows_linearly_with_the_mesh():
    # Rules look objects up by host and label instead of pairing every object with
    # every other: four times the services may cost about four times as long, never
    # sixteen (a quadratic rule once took most of a 1,000-service render).
    import time

    from model.analysis import analyze

    def seconds(services: int) -> float:
        objects = _synthetic_mesh(services)
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            analyze(objects, gateways=[])
            best = min(best, time.perf_counter() - started)
        return best

    assert [f for f in analyze(_synthetic_mesh(3), gateways=[]) if f.kiali] == []  # nothing to report
    small, large = seconds(100), seconds(400)
    assert large / small < 8, f"100 services: {small:.3f} s, 400 services: {large:.3f} s"
