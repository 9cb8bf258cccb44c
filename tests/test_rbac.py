"""`meshplan rbac`: each layer's deployer may do what its render needs and nothing
more; the manifests are valid Kubernetes; the chart tables match the upstream charts."""
from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from meshplan.cli import main
from meshplan.rbac import CHART_KINDS, deployer_manifests
from model.vocabulary import REGISTERED_KINDS
from tests.conftest import render_stack
from tests.test_stacks import KUBERNETES_VERSION
from tests.upstream import upstream

LAYER_STACKS = ("prod-mesh", "prod-app", "prod-traffic")
WRITE = {"create", "patch", "get", "delete"}


def roles(stack: str) -> dict[str | None, list[dict]]:
    """Rules by namespace (None: the ClusterRole)."""
    found: dict[str | None, list[dict]] = {}
    for manifest in deployer_manifests(render_stack(stack)):
        if manifest["kind"] in ("Role", "ClusterRole"):
            found[manifest["metadata"].get("namespace")] = manifest["rules"]
    return found


def allows(rules: list[dict], group: str, resource: str, verbs: set[str]) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verbs <= set(r["verbs"]) for r in rules)


@pytest.mark.parametrize("stack", [*LAYER_STACKS, "prod", "bms"])
def test_each_deployer_may_manage_every_object_its_stack_renders(stack):
    granted = roles(stack)
    rendered = render_stack(stack)
    for obj in rendered.objects():
        group, resource, namespaced = REGISTERED_KINDS[(obj["apiVersion"], obj["kind"])]
        scope = obj["metadata"]["namespace"] if namespaced else None
        assert allows(granted.get(scope, []), group, resource, WRITE), (obj["kind"], obj["metadata"])
    for release in rendered.releases():
        namespace = release.inputs["namespace"]
        assert allows(granted[namespace], "", "secrets", WRITE)  # Helm's release records
        for group, resource in CHART_KINDS[release.inputs["chart"]]["cluster"]:
            assert allows(granted[None], group, resource, WRITE)


def test_the_traffic_deployer_cannot_touch_deployments_secrets_crds_or_istio_system():
    granted = roles("prod-traffic")
    assert set(granted) == {"bookinfo"}
    resources = {resource for rules in granted.values() for rule in rules for resource in rule["resources"]}
    groups = {group for rules in granted.values() for rule in rules for group in rule["apiGroups"]}
    assert resources == {"destinationrules", "gateways", "virtualservices"}
    assert groups == {"networking.istio.io"}
    assert not {"deployments", "secrets", "customresourcedefinitions"} & resources


def test_the_app_deployer_reads_what_the_provider_awaits_and_cannot_install_istio():
    granted = roles("prod-app")
    assert set(granted) == {"bookinfo", None}
    assert granted[None] == [{"apiGroups": [""], "resources": ["namespaces"],
                              "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]
    assert allows(granted["bookinfo"], "", "pods", {"get", "list", "watch"})
    assert not allows(granted["bookinfo"], "", "pods", {"create"})
    assert not allows(granted["bookinfo"], "networking.istio.io", "virtualservices", {"get"})


def test_the_mesh_deployer_installs_crds_and_webhooks_and_may_grant_istiods_rights():
    granted = roles("prod-mesh")
    assert set(granted) == {"istio-system", "istio-ingress", None}
    assert allows(granted[None], "apiextensions.k8s.io", "customresourcedefinitions", WRITE)
    assert allows(granted[None], "rbac.authorization.k8s.io", "clusterroles", {"bind", "escalate"})
    assert not allows(granted["istio-system"], "networking.istio.io", "virtualservices", {"get"})


@pytest.mark.parametrize("stack", LAYER_STACKS)
def test_the_deployer_manifests_pass_strict_kubernetes_validation(stack):
    for manifest in deployer_manifests(render_stack(stack)):
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_meshplan_rbac_prints_the_manifests(capsys):
    assert main(["rbac", "--stack", "prod-traffic", "--namespace", "ci"]) == 0
    documents = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert [d["kind"] for d in documents] == ["ServiceAccount", "Role", "RoleBinding"]
    assert documents[2]["subjects"] == [{"kind": "ServiceAccount", "name": "prod-traffic-deployer", "namespace": "ci"}]


def test_the_addon_chart_tables_cover_every_kind_of_istios_rendered_addons():
    plural = {("ClusterRole", "rbac.authorization.k8s.io"): "clusterroles",
              ("ClusterRoleBinding", "rbac.authorization.k8s.io"): "clusterrolebindings"}
    for chart, file in (("kiali-server", "kiali.yaml"), ("prometheus", "prometheus.yaml")):
        table = {*CHART_KINDS[chart]["namespaced"], *CHART_KINDS[chart]["cluster"]}
        for document in yaml.safe_load_all(upstream(f"charts/istio-addons-1.30.3/{file}").read_text()):
            if not document:
                continue
            group = document["apiVersion"].rpartition("/")[0]
            resource = plural.get((document["kind"], group)) or next(
                r for (v, k), (g, r, _) in REGISTERED_KINDS.items() if k == document["kind"] and g == group)
            assert (group, resource) in table, (chart, document["kind"])


def test_istio_kinds_use_the_plural_names_of_istios_crds():
    crds = {(d["spec"]["group"], d["spec"]["names"]["kind"]): d["spec"]["names"]["plural"]
            for d in yaml.safe_load_all(upstream("istio-1.30.3/crd-all.gen.yaml").read_text())
            if d and d.get("kind") == "CustomResourceDefinition"}
    for (api_version, kind), (group, resource, _) in REGISTERED_KINDS.items():
        if group.endswith(".istio.io"):
            assert crds[(group, kind)] == resource


def test_a_chart_that_creates_roles_lets_its_deployer_bind_and_escalate_them_in_that_namespace_only():
    # Kubernetes refuses to let anyone create a Role granting rights they do not hold:
    # istiod's and the gateway's Roles need `bind` and `escalate` on roles, not on bindings.
    granted = roles("prod-mesh")
    for namespace in ("istio-system", "istio-ingress"):
        assert allows(granted[namespace], "rbac.authorization.k8s.io", "roles", {"bind", "escalate"}), namespace
        assert not allows(granted[namespace], "rbac.authorization.k8s.io", "rolebindings", {"bind"}), namespace
    assert not any(allows(rules, "rbac.authorization.k8s.io", "roles", {"bind"})
                   for rules in roles("prod-app").values())


@pytest.mark.parametrize("stack, namespaces", [("prod-app", ("bookinfo",)),
                                               ("prod-mesh", ("istio-system", "istio-ingress"))])
def test_a_deployer_may_read_but_not_write_the_endpoints_of_the_services_it_awaits(stack, namespaces):
    granted = roles(stack)
    for namespace in namespaces:
        assert allows(granted[namespace], "", "endpoints", {"get", "list", "watch"}), namespace
        assert not allows(granted[namespace], "", "endpoints", {"create"}), namespace


AMBIENT_STACK = ("config:\n  bookinfo-mesh:environment: prod\n  bookinfo-mesh:istio: {{dataPlane: ambient{istio}}}\n"
                 "  bookinfo-mesh:traffic: {{api: gateway-api}}\n{extra}")


def ambient_roles(tmp_path, istio: str = "", extra: str = "", name: str = "amb") -> dict[str | None, list[dict]]:
    from tests.conftest import render_file

    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(AMBIENT_STACK.format(istio=istio, extra=extra))
    found: dict[str | None, list[dict]] = {}
    for manifest in deployer_manifests(render_file(path)):
        if manifest["kind"] in ("Role", "ClusterRole"):
            found[manifest["metadata"].get("namespace")] = manifest["rules"]
    return found


def test_an_ambient_deployer_may_install_the_node_agents_and_the_gateway_api_crds(tmp_path):
    granted = ambient_roles(tmp_path)
    assert allows(granted["istio-system"], "apps", "daemonsets", WRITE)
    assert allows(granted["istio-system"], "", "pods", {"get", "list", "watch"})
    assert allows(granted["istio-system"], "", "resourcequotas", WRITE)
    assert allows(granted[None], "rbac.authorization.k8s.io", "clusterroles", {"bind", "escalate"})
    assert allows(granted[None], "apiextensions.k8s.io", "customresourcedefinitions", {"create", "patch"})
    assert allows(granted[None], "admissionregistration.k8s.io", "validatingadmissionpolicies", WRITE)
    assert "istio-ingress" not in granted  # no ingress gateway chart with the Gateway API


def test_on_openshift_the_node_agents_deployer_works_in_kube_system(tmp_path):
    granted = ambient_roles(tmp_path, istio=", platform: openshift", name="os")
    assert allows(granted["kube-system"], "apps", "daemonsets", WRITE)
    assert not allows(granted["istio-system"], "apps", "daemonsets", {"create"})


def test_a_deployer_that_reads_the_clusters_gateway_api_crds_may_read_but_not_write_them(tmp_path):
    granted = ambient_roles(tmp_path, extra="  bookinfo-mesh:gatewayApi: {installCrds: false}\n", name="owned")
    assert allows(granted[None], "apiextensions.k8s.io", "customresourcedefinitions", {"get", "list", "watch"})
    # base still installs Istio's CRDs: the read adds nothing beyond what it needs there.
    sidecar = tmp_path / "Pulumi.side.yaml"
    sidecar.write_text("config:\n  bookinfo-mesh:istio: {install: false}\n  bookinfo-mesh:traffic: {api: gateway-api}\n"
                       "  bookinfo-mesh:gatewayApi: {installCrds: false}\n")
    from tests.conftest import render_file

    cluster = next(m for m in deployer_manifests(render_file(sidecar)) if m["kind"] == "ClusterRole")["rules"]
    assert allows(cluster, "apiextensions.k8s.io", "customresourcedefinitions", {"get", "list", "watch"})
    assert not allows(cluster, "apiextensions.k8s.io", "customresourcedefinitions", {"create"})


def test_the_manifest_file_table_covers_every_kind_of_the_gateway_api_install_files():
    from meshplan.rbac import MANIFEST_FILE_KINDS

    plural = {"CustomResourceDefinition": "customresourcedefinitions",
              "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
              "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings"}
    for channel in ("standard", "experimental"):
        for document in yaml.safe_load_all(upstream(f"istio-ambient/gateway-api/v1.5.1/{channel}-install.yaml").read_text()):
            if document:
                group = document["apiVersion"].rpartition("/")[0]
                assert (group, plural[document["kind"]]) in MANIFEST_FILE_KINDS["gateway-api"], document["kind"]


@pytest.mark.parametrize("stack", ["ambient", "openshift"])
def test_the_ambient_deployer_manifests_pass_strict_kubernetes_validation(tmp_path, stack):
    from tests.conftest import render_file

    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(AMBIENT_STACK.format(istio=", platform: openshift" if stack == "openshift" else "", extra=""))
    for manifest in deployer_manifests(render_file(path)):
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_each_node_agent_chart_may_create_its_daemonset_serviceaccount_and_cluster_role():
    for chart in ("cni", "ztunnel"):
        assert {("apps", "daemonsets"), ("", "serviceaccounts")} <= set(CHART_KINDS[chart]["namespaced"]), chart
        assert ("rbac.authorization.k8s.io", "clusterroles") in CHART_KINDS[chart]["cluster"], chart


def test_a_deployer_applying_the_gateway_api_file_where_istio_is_installed_may_create_its_crds(tmp_path):
    from tests.conftest import render_file

    path = tmp_path / "Pulumi.preinstalled.yaml"
    path.write_text("config:\n  bookinfo-mesh:istio: {install: false}\n  bookinfo-mesh:traffic: {api: gateway-api}\n")
    cluster = next(m for m in deployer_manifests(render_file(path)) if m["kind"] == "ClusterRole")["rules"]
    assert allows(cluster, "apiextensions.k8s.io", "customresourcedefinitions", {"create", "patch"})
    assert allows(cluster, "admissionregistration.k8s.io", "validatingadmissionpolicybindings", WRITE)
