"""The policy pack, run as the CLI runs it (`tests/policy_host.py`), on a stack spanning
several clusters whose `Pulumi.<stack>.yaml` is not beside the pack (a preview run
from another directory): it judges each explicit Kubernetes provider's objects as one
cluster, as it judges the stack from its settings when the file is there. Every
resource goes with its provider as the engine sends it, a default provider included."""
from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from model.stack_analysis import analyze_stack
from policy import bookinfo_policies as pack
from tests.conftest import ROOT, render_file, render_stack
from tests.policy_host import WireProvider, WireResource, main_python, pack_server, wire_render, wired

EXAMPLES = ROOT / "examples" / "multicluster"
EXAMPLE_NAMES = ("multi-primary-multi-network", "primary-remote-multi-network")
ENVIRONMENT = {"environment": "staging"}
"""What the examples' files say; without them the pack reads it from the stack's tags."""

def wire(example: str) -> list[WireResource]:
    return wired(EXAMPLES / f"{example}.yaml", example)


@pytest.fixture(scope="module")
def host():
    with pack_server(main_python()) as server:
        yield server


def preview(host, stack: str, resources: list[WireResource]):
    host.configure_stack(stack, tags=ENVIRONMENT)
    return host.everything(resources)


def analysis(found) -> list:
    return [d for d in found if d.policy.startswith("mesh-analysis")]


def with_change(resources: list[WireResource], name: str, edit) -> list[WireResource]:
    [_] = [r for r in resources if r.name == name]
    return [r.changed(edit) if r.name == name else r for r in resources]


def _route_to_v9(vs):
    vs["spec"]["http"][-1]["route"][0]["destination"]["subset"] = "v9"


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_without_its_file_a_multicluster_stack_is_judged_per_provider_as_with_its_settings(host, example):
    """The traffic objects each primary holds are copies, not duplicates (no BM107 or
    BM123), and the findings are those the settings give, each once."""
    assert not (ROOT / f"Pulumi.{example}.yaml").exists() and pack.layered_settings(example) is None
    rendered = render_file(EXAMPLES / f"{example}.yaml", example)
    expected = analyze_stack(rendered.settings, rendered.objects(), [r.inputs for r in rendered.releases()],
                             registrations=rendered.provider_clusters())
    found = analysis(preview(host, example, wire(example)))
    assert [d for d in found if "[BM107]" in d.message or "[BM123]" in d.message] == []
    assert sorted(d.message.rsplit("\n", 1)[-1] for d in found) == sorted(str(f) for f in expected)
    assert [d for d in preview(host, example, wire(example)) if d.level == "MANDATORY"] == []


def _mandatory_with_west_routed_to_v9(server) -> list[tuple[str, str, str]]:
    example = "multi-primary-multi-network"
    found = preview(server, example, with_change(wire(example), "west-routing-virtualservice-reviews", _route_to_v9))
    return [(d.policy, d.urn.rsplit("::", 1)[-1], d.message.rsplit("\n", 1)[-1])
            for d in found if d.level == "MANDATORY"]


def test_a_mistake_in_one_clusters_objects_is_still_reported(host):
    """West's reviews route goes to a subset no DestinationRule defines: the one-cluster
    rule says so (filed under the stack: the object is on both clusters) and MC111 says
    the primaries now differ."""
    assert _mandatory_with_west_routed_to_v9(host) == [
        ("mesh-analysis", "bookinfo-mesh-multi-primary-multi-network", "error [BM102] VirtualService bookinfo/reviews: "
         "http[0]: subset v9 of reviews is not defined by DestinationRule bookinfo/reviews (subsets: v1, v2, v3)"),
        ("mesh-analysis", "bookinfo-mesh-multi-primary-multi-network", "error [MC111] Cluster west: VirtualService "
         "bookinfo/reviews: differs compared with primary east: primaries must carry the same traffic config")]


def test_the_pack_judges_per_provider_in_its_own_virtualenv():
    python = ROOT / "policy" / "venv" / "bin" / "python"
    if not python.exists():
        pytest.skip("policy/venv is absent: `make policy-venv` builds it from policy/requirements.txt")
    with pack_server(python) as server:
        found = _mandatory_with_west_routed_to_v9(server)
    assert [message[:13] for _, _, message in found] == ["error [BM102]", "error [MC111]"]


def test_a_service_defined_otherwise_in_one_cluster_is_mc115(host):
    def other_port(service):
        service["spec"]["ports"][0]["port"] = 9081.0

    example = "primary-remote-multi-network"
    found = analysis(preview(host, example, with_change(wire(example), "west-workloads-service-details", other_port)))
    assert [d.message.rsplit("\n", 1)[-1] for d in found if "[MC115]" in d.message] == [
        "warning [MC115] Cluster east,west: Service bookinfo/details: inconsistent across clusters ['east', 'west'], "
        "which can lead to undefined behaviors (IST0170): service ports are inconsistent"]


def _on_default_provider(resources: list[WireResource], name: str) -> list[WireResource]:
    [default] = [r for r in resources if r.type == "pulumi:providers:kubernetes" and r.name.startswith("default")]
    provider = WireProvider(urn=default.urn, type=default.type, name=default.name, properties=default.properties)
    return [replace(r, provider=provider) if r.name == name else r for r in resources]


def _with_default_kubernetes_provider(resources: list[WireResource], stack: str) -> list[WireResource]:
    """The render registers nothing on a default provider; the engine would make one."""
    from tests.policy_host import default_provider

    made = default_provider(stack, "kubernetes")
    return [*resources, WireResource(urn=made.urn, type=made.type, name=made.name, parent="",
                                     properties=made.properties)]


def test_a_resource_on_the_engines_default_provider_is_mc116(host):
    """The engine hands the default provider (`default_<version>`) like any other: the
    pack tells it apart and reports the resource it deploys (to the ambient cluster)."""
    example = "multi-primary-multi-network"
    resources = _on_default_provider(_with_default_kubernetes_provider(wire(example), example),
                                     "west-workloads-deployment-ratings-v1")
    found = analysis(preview(host, example, resources))
    assert [(d.level, d.message.rsplit("\n", 1)[-1]) for d in found if "[MC116]" in d.message] == [
        ("MANDATORY", "error [MC116] Cluster -: kubernetes:apps/v1:Deployment west-workloads-deployment-ratings-v1: "
                      "no explicit provider: it would deploy to the ambient kubeconfig's cluster")]


def test_a_one_cluster_stack_on_one_explicit_provider_is_judged_as_on_the_default_one(host):
    """One explicit provider is one cluster: the findings are those of the same stack on
    the default provider, a mistake included."""
    one = WireProvider(urn="urn:pulumi:prod::bookinfo-mesh::pulumi:providers:kubernetes::one",
                       type="pulumi:providers:kubernetes", name="one", properties={})
    mistaken = with_change(wire_render(ROOT / "Pulumi.prod.yaml", "prod"), "routing-virtualservice-reviews", _route_to_v9)
    on_one = [replace(r, provider=one) if r.type.startswith("kubernetes:") else r for r in mistaken]
    host.configure_stack("prod")
    on_default = host.everything(mistaken)
    assert [d for d in on_default if "[BM102]" in d.message]
    assert [replace(d, urn="") for d in host.everything(on_one)] == [replace(d, urn="") for d in on_default]
    assert render_stack("prod").settings.multicluster is None


PACK_FILES = ("__main__.py", "bookinfo_policies.py", "PulumiPolicy.yaml", "requirements.txt")


def test_with_its_file_beside_the_pack_the_default_provider_is_mc116_too(tmp_path):
    """Judged from its settings, a resource on the engine's default provider is still
    one without an explicit provider."""
    (tmp_path / "policy").mkdir()
    for name in PACK_FILES:
        shutil.copy(ROOT / "policy" / name, tmp_path / "policy" / name)
    shutil.copytree(ROOT / "model", tmp_path / "model", ignore=shutil.ignore_patterns("__pycache__"))
    example = "multi-primary-multi-network"
    shutil.copy(EXAMPLES / f"{example}.yaml", tmp_path / f"Pulumi.{example}.yaml")
    resources = _on_default_provider(_with_default_kubernetes_provider(wire(example), example),
                                     "west-workloads-deployment-ratings-v1")
    with pack_server(main_python(), tmp_path / "policy") as server:
        server.configure_stack(example)
        found = analysis(server.everything(resources))
    assert [d.message.rsplit("\n", 1)[-1] for d in found if "[MC116]" in d.message] == [
        "error [MC116] Cluster -: kubernetes:apps/v1:Deployment west-workloads-deployment-ratings-v1: no explicit "
        "provider: it would deploy to the ambient kubeconfig's cluster"]
