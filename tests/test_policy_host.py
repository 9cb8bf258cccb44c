"""The policy pack as the Pulumi CLI runs it (`tests/policy_host.py`): started as the
CLI's `pulumi-analyzer-policy-python` starts it and sent, over gRPC, a real render's
resources as the engine marshals them. pulumi_policy then hands every policy
`unknown_checking_proxy(deserialize_properties(...))` (a Mapping whose lists are
Sequences, secrets in plain text), so these tests see what `pulumi preview
--policy-pack policy` sees: each policy's own enforcement level included."""
from __future__ import annotations

import base64
import shutil
from dataclasses import replace

import grpc
import pytest

from policy import bookinfo_policies as pack
from tests.conftest import ROOT, STACKS, render_stack
from tests.policy_host import WireResource, main_python, pack_server, wire_render, wired

SECRET_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

INTENDED_LEVELS = {
    "mesh-analysis": ("MANDATORY", "an analysis error is traffic that fails (a route to nothing, a gateway "
                                   "selecting no pods): the program refuses the same stack"),
    "mesh-analysis-warnings": ("ADVISORY", "warnings may be intended (an unused subset, a route shadowed on "
                                           "purpose); the repository's own dev stack has one"),
    "no-latest-images": ("MANDATORY", "a `latest` image makes a deployment unrepeatable and a rollback a guess"),
    "prod-pod-resources": ("MANDATORY", "prod pods without requests and a memory limit are evicted first and "
                                        "starve their neighbours"),
    "prod-pod-security-context": ("MANDATORY", "prod runs the restricted Pod Security Standard"),
    "prod-mtls-not-disabled": ("MANDATORY", "mTLS DISABLE sends prod traffic in plain text"),
}
"""Each policy's intended enforcement level, and why."""

def wire(stack: str) -> list[WireResource]:
    return wired(ROOT / f"Pulumi.{stack}.yaml", stack)


@pytest.fixture(scope="module")
def host():
    with pack_server(main_python()) as server:
        yield server


def preview(host, stack: str, resources: list[WireResource]):
    host.configure_stack(stack)
    return host.everything(resources)


def named(resources: list[WireResource], name: str) -> WireResource:
    [found] = [r for r in resources if r.name == name]
    return found


def with_change(resources: list[WireResource], name: str, edit) -> list[WireResource]:
    return [r.changed(edit) if r.name == name else r for r in resources]


def test_each_policy_has_its_intended_enforcement_level_in_the_table_and_as_the_pack_registers_it(host):
    intended = {name: level for name, (level, _) in INTENDED_LEVELS.items()}
    assert {p.name: p.enforcement_level.name for p in pack.POLICIES} == intended
    assert host.policy_levels() == intended


@pytest.mark.parametrize("stack", STACKS)
def test_repository_stacks_report_nothing_mandatory_under_the_host(host, stack):
    mandatory = [d for d in preview(host, stack, wire(stack)) if d.level == "MANDATORY"]
    if render_stack(stack).settings.app.application.name == "bms":
        # Published as `latest` only (Pulumi.bms.yaml says so): refused until pinned.
        assert mandatory and {d.policy for d in mandatory} == {"no-latest-images"}
    else:
        assert mandatory == []


def _route_to_v9(vs):
    vs["spec"]["http"][-1]["route"][0]["destination"]["subset"] = "v9"


def _unreachable_match(vs):
    jason = {"match": [{"headers": {"end-user": {"exact": "jason"}}}],
             "route": [{"destination": {"host": "reviews", "subset": "v3"}}]}
    vs["spec"]["http"][:0] = [jason, jason]


def _latest_image(deployment):
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["image"] = container["image"].rsplit(":", 1)[0] + ":latest"


def _no_resources(deployment):
    del deployment["spec"]["template"]["spec"]["containers"][0]["resources"]


def _privileged(deployment):
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"allowPrivilegeEscalation": True}


def _mtls_disabled(peer_authentication):
    peer_authentication["spec"]["mtls"]["mode"] = "DISABLE"


MISTAKES = {
    # policy: (resource changed in prod, the change, what the diagnostic says)
    "mesh-analysis": ("routing-virtualservice-reviews", _route_to_v9,
                      "error [BM102] VirtualService bookinfo/reviews: http[0]: subset v9 of reviews is not defined"),
    "mesh-analysis-warnings": ("routing-virtualservice-reviews", _unreachable_match,
                               "warning [BM111] VirtualService bookinfo/reviews: http[1] can never match: every one "
                               "of its matches is used by an earlier rule"),
    "no-latest-images": ("workloads-deployment-reviews-v3", _latest_image,
                         "container reviews: image registry.istio.io/release/examples-bookinfo-reviews-v3:latest "
                         "uses the latest tag"),
    "prod-pod-resources": ("workloads-deployment-reviews-v3", _no_resources,
                           "container reviews: no resources requests.cpu, requests.memory, limits.memory"),
    "prod-pod-security-context": ("workloads-deployment-reviews-v3", _privileged,
                                  "container reviews: securityContext lacks allowPrivilegeEscalation: false"),
    "prod-mtls-not-disabled": ("security-peerauthentication-default", _mtls_disabled, "mtls.mode is DISABLE"),
}


CONSEQUENCES = {
    # With mTLS off, the AuthorizationPolicies naming principals can never match:
    # the mesh analysis says so too (BM162, Kiali's KIA0105, an error as in Kiali).
    "prod-mtls-not-disabled": "[BM162]",
}
"""Findings of other policies that follow from the mistake itself."""


@pytest.mark.parametrize("policy", sorted(MISTAKES))
def test_each_policy_reports_its_mistake_at_its_level_under_the_host(host, policy):
    name, edit, message = MISTAKES[policy]
    found = preview(host, "prod", with_change(wire("prod"), name, edit))
    culprit = named(wire("prod"), name).urn
    reported = [d for d in found if message in d.message]
    assert [(d.policy, d.level, d.urn) for d in reported] == [(policy, INTENDED_LEVELS[policy][0], culprit)], found
    # The mistake adds nothing else mandatory: the clean prod stack reports nothing.
    consequence = CONSEQUENCES.get(policy)
    assert [d for d in found if d.level == "MANDATORY" and d not in reported
            and not (consequence and consequence in d.message)] == []


def test_prod_only_policies_judge_by_the_stack_the_host_names(host):
    """The same bare Deployment: silent in dev, refused once the URN names prod."""
    def bare(deployment):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        container.pop("resources", None)
        container.pop("securityContext", None)

    [deployment] = with_change([named(wire("dev"), "workloads-deployment-reviews-v1")], "workloads-deployment-reviews-v1",
                               bare)
    prod_only = {"prod-pod-resources", "prod-pod-security-context"}
    host.configure_stack("dev")
    assert [d for d in host.analyze(deployment) if d.policy in prod_only] == []
    in_prod = replace(deployment, urn=deployment.urn.replace("urn:pulumi:dev::", "urn:pulumi:prod::"))
    host.configure_stack("prod")
    assert {d.policy for d in host.analyze(in_prod) if d.level == "MANDATORY"} == prod_only


def test_a_secret_reaches_the_analysis_in_plain_text(host):
    """A Gateway's credential Secret whose data is a Pulumi secret arrives wrapped in
    the secret signature; the host unwraps it, so the certificate itself is judged
    (not a `data` holding only the signature)."""
    path = ROOT / "examples" / "istio-tasks" / "ingress-tls.yaml"
    resources = wire_render(path, "dev-ingress-tls")
    data = {"tls.crt": base64.b64encode(b"not a certificate").decode(),
            "tls.key": base64.b64encode(b"not a key").decode()}
    secret = WireResource(
        urn="urn:pulumi:dev-ingress-tls::bookinfo-mesh::kubernetes:core/v1:Secret::bookinfo-credential",
        type="kubernetes:core/v1:Secret", name="bookinfo-credential", parent="",
        properties={"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                    "metadata": {"name": "bookinfo-credential", "namespace": "istio-ingress"},
                    "data": {SECRET_KEY: SECRET_SIG, "value": data}})
    found = preview(host, "dev-ingress-tls", [*resources, secret])
    [error] = [d for d in found if d.policy == "mesh-analysis"]
    assert error.level == "MANDATORY"
    assert error.message.endswith("error [BM125] Gateway bookinfo/bookinfo-gateway: credentialName bookinfo-credential: "
                                  "Secret istio-ingress/bookinfo-credential tls.crt is not a PEM certificate")


def test_a_value_unknown_in_preview_stops_only_the_policies_that_read_it(host):
    """pulumi_policy raises when a policy reads a value not known yet and reports that
    the policy could not run; the analysis reads through the proxy, so an unknown in a
    field no rule reads changes nothing, and one in a route's host is reported so."""
    def unknown_status(body):
        body["status"] = UNKNOWN_STRING

    def unknown_host(vs):
        vs["spec"]["http"][-1]["route"][0]["destination"]["host"] = UNKNOWN_STRING

    everywhere = [r.changed(unknown_status) if "apiVersion" in r.properties else r for r in wire("prod")]
    assert preview(host, "prod", everywhere) == preview(host, "prod", wire("prod"))
    found = preview(host, "prod", with_change(wire("prod"), "routing-virtualservice-reviews", unknown_host))
    [stopped] = [d for d in found if d.policy == "mesh-analysis"]
    assert (stopped.level, stopped.urn) == ("ADVISORY", named(wire("prod"), "bookinfo-mesh-prod").urn)
    assert "can't run policy 'mesh-analysis'" in stopped.message and "during preview" in stopped.message


# ----------------------------------------------------------------------------- the pack's own virtualenv

REGEX_ROUTE_STACK = (ROOT / "Pulumi.prod-traffic.yaml").read_text() + """\
      routes:
        - match:
            headers:
              end-user:
                regex: "^(jason|json)$"
          to: v3
"""
PACK_FILES = ("__main__.py", "bookinfo_policies.py", "PulumiPolicy.yaml", "requirements.txt")


def test_the_pack_runs_a_layered_stack_with_a_regex_route_in_its_own_virtualenv(tmp_path):
    """`policy/venv`, built from `policy/requirements.txt` alone, runs the pack on a
    layered traffic stack with a regex route: the pack reads the stack's file with
    the settings parser, which checks the regex with google-re2. The pack judges the
    stack file beside it, so it runs from a copy of the pack and the model with that
    file beside them."""
    python = ROOT / "policy" / "venv" / "bin" / "python"
    if not python.exists():
        pytest.skip("policy/venv is absent: `make policy-venv` builds it from policy/requirements.txt")
    (tmp_path / "policy").mkdir()
    for name in PACK_FILES:
        shutil.copy(ROOT / "policy" / name, tmp_path / "policy" / name)
    shutil.copytree(ROOT / "model", tmp_path / "model", ignore=shutil.ignore_patterns("__pycache__"))
    stack_file = tmp_path / "Pulumi.prod-traffic.yaml"
    stack_file.write_text(REGEX_ROUTE_STACK)
    resources = wire_render(stack_file, "prod-traffic")
    assert any("regex" in str(r.properties.get("spec")) for r in resources)
    with pack_server(python, tmp_path / "policy") as server:
        try:
            found = preview(server, "prod-traffic", resources)
        except grpc.RpcError as error:
            pytest.fail(f"the pack failed in policy/venv: {error.details()}")
    # Judged with the layers below it (no Service is registered here): nothing mandatory.
    assert [d for d in found if d.level == "MANDATORY"] == []
