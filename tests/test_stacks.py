"""Whole stacks rendered through the program: each stack file's promises, strict
Kubernetes validation of every core object, and `meshplan render` as a user runs it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.conftest import EXAMPLES, ROOT, STACKS, objects_of, render_file, render_stack

KUBERNETES_VERSION = "1.34"
ALL_STACK_FILES = [ROOT / f"Pulumi.{s}.yaml" for s in STACKS] + sorted(EXAMPLES.rglob("*.yaml"))


def shares(rendered, virtual_service: str) -> dict[str, float]:
    return {t["subset"]: t["percent"] for t in rendered.outputs["traffic"] if t["virtualService"] == virtual_service}


def test_the_three_environment_stacks_exist():
    assert {"dev", "staging", "prod"} <= set(STACKS)


def test_staging_runs_two_replicas_and_a_reviews_canary_at_80_20():
    rendered = render_stack("staging")
    deployments = objects_of(rendered, "Deployment")
    assert {d["spec"]["replicas"] for d in deployments.values()} == {2}
    assert {n for n in deployments if n.startswith("reviews")} == {"reviews-v1", "reviews-v2"}
    assert objects_of(rendered, "VirtualService")["reviews"]["spec"]["http"] == [{"route": [
        {"destination": {"host": "reviews", "subset": "v1"}, "weight": 80},
        {"destination": {"host": "reviews", "subset": "v2"}, "weight": 20}]}]
    assert shares(rendered, "reviews") == {"v1": 80, "v2": 20}


def test_prod_runs_three_restricted_replicas_and_reviews_v3_only():
    rendered = render_stack("prod")
    deployments = objects_of(rendered, "Deployment")
    assert {n for n in deployments if n.startswith("reviews")} == {"reviews-v3"}
    assert {d["spec"]["replicas"] for d in deployments.values()} == {3}
    for deployment in deployments.values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
            assert container["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"},
                                              "limits": {"cpu": "1", "memory": "1Gi"}}
    assert shares(rendered, "reviews") == {"v3": 100}
    assert objects_of(rendered, "DestinationRule")["reviews"]["spec"]["subsets"] == [
        {"name": "v3", "labels": {"version": "v3"}}]


def test_dev_containers_carry_no_security_context_as_upstream():
    for deployment in objects_of(render_stack("dev"), "Deployment").values():
        assert "securityContext" not in deployment["spec"]["template"]["spec"]["containers"][0]


def test_container_resources_come_from_service_then_app_config(tmp_stack):
    rendered = render_file(tmp_stack(
        "config:\n  bookinfo-mesh:environment: dev\n"
        "  bookinfo-mesh:app:\n    resources:\n      requests: {cpu: 50m}\n"
        "  bookinfo-mesh:services:\n    reviews:\n      resources:\n        limits: {memory: 2Gi}\n"))
    deployments = objects_of(rendered, "Deployment")
    resources = {name: d["spec"]["template"]["spec"]["containers"][0]["resources"] for name, d in deployments.items()}
    assert resources["reviews-v2"] == {"limits": {"memory": "2Gi"}}
    assert resources["details-v1"] == {"requests": {"cpu": "50m"}}


def test_images_can_come_from_another_registry_and_tag(tmp_stack):
    rendered = render_file(tmp_stack("config:\n  bookinfo-mesh:environment: dev\n  bookinfo-mesh:app:\n"
                                     "    image:\n      registry: mirror.example.com/istio\n      tag: 1.20.2\n"))
    images = {c["image"] for d in objects_of(rendered, "Deployment").values()
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert "mirror.example.com/istio/examples-bookinfo-reviews-v2:1.20.2" in images
    assert all(i.startswith("mirror.example.com/istio/") and i.endswith(":1.20.2") for i in images)


def test_a_service_can_override_the_replica_count(tmp_stack):
    rendered = render_file(tmp_stack("config:\n  bookinfo-mesh:environment: dev\n"
                                     "  bookinfo-mesh:services:\n    productpage:\n      replicas: 4\n"))
    deployments = objects_of(rendered, "Deployment")
    assert deployments["productpage-v1"]["spec"]["replicas"] == 4
    assert deployments["reviews-v1"]["spec"]["replicas"] == 1


def test_ingress_hosts_reach_the_gateway_and_its_virtual_service(tmp_stack):
    rendered = render_file(tmp_stack("config:\n  bookinfo-mesh:environment: dev\n"
                                     "  bookinfo-mesh:ingress:\n    hosts: [bookinfo.example.com]\n"))
    assert objects_of(rendered, "Gateway")["bookinfo-gateway"]["spec"]["servers"][0]["hosts"] == [
        "bookinfo.example.com"]
    assert objects_of(rendered, "VirtualService")["bookinfo"]["spec"]["hosts"] == ["bookinfo.example.com"]


@pytest.mark.parametrize("path", ALL_STACK_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_core_object_of_every_stack_passes_strict_kubernetes_validation(path):
    rendered = render_file(path)
    # Core groups have no dot (v1, apps/v1); Istio's and the Gateway API's kinds are CRDs.
    core = [o for o in rendered.objects() if "." not in o["apiVersion"].split("/")[0]]
    # A traffic-only stack registers Istio objects alone; every other stack has namespaces at least.
    assert core or rendered.settings.layers.layers == ("traffic",)
    for obj in core:
        kubernetes_validate.validate(without_masked_secrets(obj), KUBERNETES_VERSION, strict=True)


def without_masked_secrets(obj: dict) -> dict:
    """A Secret whose whole data is a Pulumi secret renders as "[secret]"; validate
    the rest of it."""
    return {k: v for k, v in obj.items() if v != "[secret]"}


def test_strict_validation_would_catch_a_misspelt_field():
    deployment = objects_of(render_stack("dev"), "Deployment")["reviews-v1"]
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_istio_objects_use_the_v1_apis_and_explicit_namespaces():
    for path in ALL_STACK_FILES:
        for obj in render_file(path).objects():
            if obj["apiVersion"].split("/")[0].endswith(".istio.io"):
                assert obj["apiVersion"] in ("networking.istio.io/v1", "security.istio.io/v1"), obj
                assert obj["metadata"]["namespace"] and obj["metadata"]["name"], obj


def test_every_registered_kubernetes_object_has_an_explicit_name():
    for path in ALL_STACK_FILES:
        for obj in render_file(path).objects():
            assert obj["metadata"].get("name"), obj


# ------------------------------------------------------------------ meshplan render


def meshplan(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "meshplan", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_render_prints_the_resource_tree_and_traffic_shares():
    result = meshplan("render", "--stack", "staging")
    assert result.returncode == 0, result.stderr
    assert "bookinfo-mesh · stack staging" in result.stdout
    assert "├─ bookinfo-mesh:routing:Routing  routing" in result.stdout or "└─ bookinfo-mesh:routing:Routing" \
        in result.stdout
    reviews = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("bookinfo/reviews")]
    assert [(row[-2], row[-1]) for row in reviews] == [("v1", "80%"), ("v2", "20%")]
    assert "[protected]" in result.stdout


def test_render_json_records_every_registration_as_the_engine_would():
    result = meshplan("render", "--stack", "dev", "--format", "json")
    data = json.loads(result.stdout)
    assert (data["project"], data["stack"]) == ("bookinfo-mesh", "dev")
    assert set(data["resources"][0]) == {"urn", "type", "name", "parent", "inputs", "dependsOn", "protect"}
    urns = {r["urn"] for r in data["resources"]}
    assert len(urns) == len(data["resources"]) == len(render_stack("dev").resources)
    for resource in data["resources"]:
        assert resource["urn"].startswith("urn:pulumi:dev::bookinfo-mesh::")
        assert resource["urn"].endswith(f"::{resource['name']}")
        assert set(resource["dependsOn"]) <= urns
    assert data == render_stack("dev").as_json()


def test_render_yaml_is_a_manifest_kubectl_can_read():
    result = meshplan("render", "--stack", "dev", "--format", "yaml")
    assert result.returncode == 0
    header = [line for line in result.stdout.splitlines() if line.startswith("#")]
    assert any("istio-base: chart base 1.30.3" in line for line in header)
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert len(documents) == len(render_stack("dev").objects())
    assert all(list(d)[:3] == ["apiVersion", "kind", "metadata"] for d in documents)


def test_render_of_any_file_takes_the_stack_name_from_the_file(tmp_path):
    path = tmp_path / "canary.yaml"
    path.write_text("config:\n  bookinfo-mesh:environment: dev\n")
    data = json.loads(meshplan("render", "--config", str(path), "--format", "json").stdout)
    assert data["stack"] == "canary"
    assert data["resources"][0]["urn"] == "urn:pulumi:canary::bookinfo-mesh::pulumi:pulumi:Stack::bookinfo-mesh-canary"
    named = json.loads(meshplan("render", "--config", str(path), "--stack", "qa", "--format", "json").stdout)
    assert named["stack"] == "qa"


@pytest.mark.parametrize("text, expected", [
    ("config:\n  bookinfo-mesh:services:\n    reviews: [\n", "line 4, column 1: invalid YAML"),
    ("config:\n  bookinfo-mesh:servics: {}\n", "bookinfo-mesh:servics: unknown key"),
    ("config:\n  bookinfo-mesh:services:\n    reviews:\n      weights: {v1: 50, v4: 50}\n",
     'bookinfo-mesh:services.reviews.weights.v4 = "v4": version is not deployed'),
    ("config:\n  bookinfo-mesh:services:\n    reviews:\n      weights: {v1: -5, v2: 105}\n",
     "bookinfo-mesh:services.reviews.weights.v1 = -5: expected a whole number of at least 0"),
    ("config:\n  bookinfo-mesh:services:\n    reviews:\n      weights: {v1: 0, v3: 0}\n",
     "bookinfo-mesh:services.reviews.weights = {\"v1\": 0, \"v3\": 0}: weights are all zero"),
])
def test_bad_config_exits_1_with_one_line_and_no_traceback(tmp_path, text, expected):
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(text)
    result = meshplan("render", "--config", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {path}: ")
    assert expected in result.stderr


def test_unknown_stack_names_its_missing_file():
    result = meshplan("render", "--stack", "nosuch")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: Pulumi.nosuch.yaml: no such stack file"
