"""The CrossGuard pack's policies, called directly with constructed arguments and
with a rendered stack (constructing a PolicyPack would start its server)."""
from __future__ import annotations

import ast
import subprocess

import pytest
import yaml
from pulumi_policy import EnforcementLevel, PolicyResource, ResourceValidationArgs, StackValidationArgs

from policy import bookinfo_policies as pack
from model.names import HELM_RELEASE_TYPE
from tests.conftest import ROOT, STACKS, render_file, render_stack
from tests.manifests import bookinfo, find
from tests.upstream import missing_tool

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def urn(stack: str, type_token: str = DEPLOYMENT, name: str = "x") -> str:
    return f"urn:pulumi:{stack}::bookinfo-mesh::{type_token}::{name}"


def violations(validate, resource_type, props, *, stack="prod", config=None, tags=None):
    found = []
    args = ResourceValidationArgs(resource_type, props, urn(stack, resource_type), "x", None, None,
                                  config=config, stack_tags=tags)
    validate(args, lambda message, urn=None: found.append(message))
    return found


def deployment(**container):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"template": {"spec": {"containers": [{"name": "web", **container}]}}}}


RESTRICTED = {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
              "seccompProfile": {"type": "RuntimeDefault"}}
SIZED = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}


def test_latest_and_untagged_images_are_refused_digests_and_tags_pass():
    def problems(image):
        return violations(pack.validate_images, DEPLOYMENT, deployment(image=image), stack="dev")

    assert problems("nginx") == ["container web: image nginx has no tag (it means latest)"]
    assert problems("registry:5000/team/app:latest") == ["container web: image registry:5000/team/app:latest uses the latest tag"]
    assert problems("registry:5000/team/app") == ["container web: image registry:5000/team/app has no tag (it means latest)"]
    assert problems("nginx:1.27") == []
    assert problems("nginx@sha256:" + "a" * 64) == []
    job = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"initContainers": [{"name": "i", "image": "busybox"}]}}}}}}
    assert violations(pack.validate_images, "kubernetes:batch/v1:CronJob", job) == [
        "container i: image busybox has no tag (it means latest)"]


def test_prod_needs_requests_limits_and_a_restricted_security_context():
    bare = deployment(image="app:1")
    assert violations(pack.validate_prod_resources, DEPLOYMENT, bare) == [
        "container web: no resources requests.cpu, requests.memory, limits.memory"]
    assert violations(pack.validate_prod_security_context, DEPLOYMENT, bare) == [
        "container web: securityContext lacks allowPrivilegeEscalation: false, runAsNonRoot: true, "
        "capabilities.drop: [ALL], seccompProfile.type: RuntimeDefault"]
    good = deployment(image="app:1", resources=SIZED, securityContext=RESTRICTED)
    assert violations(pack.validate_prod_resources, DEPLOYMENT, good) == []
    assert violations(pack.validate_prod_security_context, DEPLOYMENT, good) == []


def test_prod_rules_do_not_apply_outside_prod_and_the_environment_can_be_set():
    bare = deployment(image="app:1")
    assert violations(pack.validate_prod_resources, DEPLOYMENT, bare, stack="dev") == []
    assert violations(pack.validate_prod_resources, DEPLOYMENT, bare, stack="staging-eu") == []
    assert violations(pack.validate_prod_resources, DEPLOYMENT, bare, stack="dev", config={"environment": "prod"}) != []
    assert violations(pack.validate_prod_resources, DEPLOYMENT, bare, stack="prod", tags={"environment": "dev"}) == []
    # A stack that does not say what it is gets the strict rules, like the settings.
    assert violations(pack.validate_prod_resources, DEPLOYMENT, bare, stack="eu-west") != []


def test_environment_comes_from_the_stack_file_beside_the_pack(tmp_path):
    (tmp_path / "Pulumi.lab.yaml").write_text("config:\n  bookinfo-mesh:environment: dev\n")
    (tmp_path / "Pulumi.edge.yaml").write_text("config:\n  bookinfo-mesh:app:\n    replicas: 1\n")
    assert pack.environment(None, None, urn("lab"), tmp_path) == "dev"
    assert pack.environment(None, None, urn("edge"), tmp_path) == "prod"  # unset: the settings' default
    assert pack.environment(None, None, urn("development"), tmp_path) == "dev"  # no file: by name
    assert pack.environment({"environment": "prod"}, None, urn("lab"), tmp_path) == "prod"
    assert pack.environment(None, None, urn("bms")) == "dev"  # this repository's Pulumi.bms.yaml


def test_prod_mtls_must_not_be_disabled():
    pa = "kubernetes:security.istio.io/v1:PeerAuthentication"
    disabled = {"spec": {"mtls": {"mode": "DISABLE"}, "portLevelMtls": {"9080": {"mode": "DISABLE"}}}}
    assert violations(pack.validate_prod_mtls, pa, disabled) == [
        "mtls.mode is DISABLE", "portLevelMtls[9080].mode is DISABLE"]
    assert violations(pack.validate_prod_mtls, pa, {"spec": {"mtls": {"mode": "STRICT"}}}) == []
    assert violations(pack.validate_prod_mtls, pa, disabled, stack="dev") == []


def resources_of(objects, stack="prod"):
    return [PolicyResource(f"kubernetes:{o['apiVersion'] if '/' in o['apiVersion'] else 'core/' + o['apiVersion']}:"
                           f"{o['kind']}", o, urn(stack, o["kind"], o["metadata"]["name"]), o["metadata"]["name"],
                           None, None, None, [], {})
            for o in objects]


def stack_violations(validate, resources):
    found = []
    validate(StackValidationArgs(resources), lambda message, urn=None: found.append((message, urn)))
    return found


def test_stack_policy_reports_analysis_errors_against_the_culprit():
    objects = bookinfo()
    find(objects, "VirtualService", "reviews")["spec"]["http"][0]["route"][0]["destination"]["subset"] = "v9"
    [(message, culprit)] = stack_violations(pack.validate_mesh_analysis, resources_of(objects))
    assert message.startswith("error [BM102] VirtualService default/reviews: http[0]: subset v9")
    assert culprit == urn("prod", "VirtualService", "reviews")
    warnings = stack_violations(pack.validate_mesh_analysis_warnings, resources_of(objects))
    assert warnings and all(m.startswith(("warning [BM103]", "warning [BM114]", "warning [BM117]")) for m, _ in warnings)


def registered(stack: str) -> list[PolicyResource]:
    rendered = render_stack(stack)
    return [PolicyResource(r.type, r.inputs, r.urn, r.name, None, None, None, [], {})
            for r in rendered.resources if r.custom]


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_stacks_pass_the_mesh_analysis_and_image_policies(stack):
    resources = registered(stack)
    assert stack_violations(pack.validate_mesh_analysis, resources) == []
    images = [m for r in resources for m in violations(pack.validate_images, r.resource_type, r.props, stack=stack)]
    if render_stack(stack).settings.app.application.name == "bms":
        # BookManagementSystem's images are published as `latest` only: the pack
        # refuses them until they are pinned (a tag or a digest in app.image.tag).
        assert images and all(m.endswith(":latest uses the latest tag") for m in images)
    else:
        assert images == []
    for r in resources:
        assert violations(pack.validate_prod_security_context, r.resource_type, r.props, stack=stack) == []


def test_helm_installed_gateway_is_what_the_stack_policy_matches_gateways_against():
    resources = registered("dev")
    for r in resources:
        if r.resource_type == HELM_RELEASE_TYPE and r.props.get("chart") == "gateway":
            r.props = {**r.props, "name": "istio-ingress"}
    [(message, culprit)] = stack_violations(pack.validate_mesh_analysis, resources)
    assert "[BM106] Gateway bookinfo/bookinfo-gateway: selector istio=ingressgateway" in message
    assert culprit.endswith("::routing-gateway-bookinfo-gateway")


def test_rendered_prod_passes_the_prod_pod_policies():
    """prod's environment gives every container requests and limits and the
    restricted security context, so neither prod policy finds anything."""
    for policy in (pack.validate_prod_resources, pack.validate_prod_security_context):
        found = [m for r in registered("prod")
                 for m in violations(policy, r.resource_type, r.props, stack="prod")]
        assert found == [], policy.__name__


def test_prod_without_resources_is_reported_container_by_container(tmp_path):
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text("config:\n  bookinfo-mesh:environment: prod\n"
                    "  bookinfo-mesh:services:\n    ratings:\n      resources:\n"
                    "        limits: {cpu: 500m}\n")
    rendered = render_file(path, "prod")
    found = [m for r in rendered.resources if r.custom
             for m in violations(pack.validate_prod_resources, r.type, r.inputs, stack="prod")]
    assert [m.split(":")[0] for m in found] == ["container ratings"]
    assert "no resources requests.cpu, requests.memory, limits.memory" in found[0]


def test_pack_files_assemble_the_importable_policies():
    main = ast.parse((ROOT / "policy" / "__main__.py").read_text())
    calls = [n for n in ast.walk(main) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "PolicyPack"]
    assert len(calls) == 1 and {k.arg for k in calls[0].keywords} >= {"name", "policies"}
    manifest = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    names = [p.name for p in pack.POLICIES]
    assert names == ["mesh-analysis", "mesh-analysis-warnings", "no-latest-images", "prod-pod-resources",
                     "prod-pod-security-context", "prod-mtls-not-disabled"]
    assert pack.POLICIES[1].enforcement_level == EnforcementLevel.ADVISORY


def test_make_policy_venv_gives_the_pack_a_virtualenv_that_loads_its_policies():
    # What `pulumi preview --policy-pack policy` runs the pack with (PulumiPolicy.yaml:
    # virtualenv venv); it does not create it.
    python = ROOT / "policy" / "venv" / "bin" / "python"
    if not python.exists():  # `make test` builds it; the tests never run make or pip
        missing_tool("the policy pack's virtualenv policy/venv", "make policy-venv")
    script = ("import sys; sys.path[:0] = ['.', 'policy']; import pulumi_policy, bookinfo_policies; "
              "print(len(bookinfo_policies.POLICIES))")
    done = subprocess.run([str(python), "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and int(done.stdout) >= 6, done.stderr
