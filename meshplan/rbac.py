"""The least Kubernetes RBAC a CI deployer of one stack needs, derived from what its
render registers: per namespace a Role, for cluster-scoped kinds a ClusterRole, each
bound to one ServiceAccount.

How it is derived:
- Every object the stack registers: its API group and resource, in its namespace,
  with the verbs the pulumi-kubernetes provider uses on what it manages: get (read,
  refresh), list and watch (its await logic watches an object until it is ready),
  create, patch (server-side apply, and preview's dry run), update and delete.
- What the provider reads while it awaits them: a Deployment's ReplicaSets and Pods,
  a StatefulSet's Pods, a Service's Endpoints (get, list, watch), same namespace.
- A Helm release (the mesh layer) is opaque to the render, so what Helm needs comes
  from the chart: `CHART_KINDS` lists the kinds each chart's templates create in the
  release namespace or cluster-wide (tests hold the addon charts to Istio's rendered
  addon manifests and the base chart's CRDs to Istio's CRD file); plus Helm's release
  records, Secrets in the release namespace. A chart that creates Roles or
  ClusterRoles needs `bind` and `escalate` on them: Kubernetes refuses to let anyone
  grant rights they do not hold themselves, and istiod's ClusterRole grants wide ones.
- A manifest file the program applies (the Gateway API CRDs, a ConfigFile) is opaque
  too: `MANIFEST_FILE_KINDS` lists the kinds of each (a test holds it to the file).
- A cluster object the program reads (the Gateway API's HTTPRoute CRD when a cluster
  admin owns the CRDs; a primary's east-west gateway Service when its address is
  discovered): get, list and watch on its kind, in its namespace if it has one.
A multi-cluster stack registers each object through one cluster's provider: its
deployer's rights are per cluster (`--cluster NAME`), what the program registers in
that cluster and nothing of the others' (a remote gets no traffic kinds).
Discovery (`/api`, `/apis`, `/openapi`) is granted to every authenticated user by
Kubernetes' default `system:discovery` role and is not repeated here."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from meshplan.render.recording import Rendered
from model.ambient import GATEWAY_API_RELEASE_URL
from model.errors import ConfigError
from model.names import CONFIG_FILE_TYPE, STACK_REFERENCE_TYPE
from model.vocabulary import REGISTERED_KINDS

MANAGE = ("get", "list", "watch", "create", "update", "patch", "delete")
READ = ("get", "list", "watch")
RBAC_GROUP = "rbac.authorization.k8s.io"

AWAIT_READS: dict[str, tuple[tuple[str, str], ...]] = {
    "deployments": (("apps", "replicasets"), ("", "pods")),
    "statefulsets": (("", "pods"),),
    "daemonsets": (("", "pods"),),
    "services": (("", "endpoints"),),
}

_CLUSTER_RBAC = ((RBAC_GROUP, "clusterroles"), (RBAC_GROUP, "clusterrolebindings"))
_NAMESPACE_RBAC = ((RBAC_GROUP, "roles"), (RBAC_GROUP, "rolebindings"))
_WORKLOAD = (("", "serviceaccounts"), ("", "services"), ("", "configmaps"), ("apps", "deployments"))
_SCALING = (("autoscaling", "horizontalpodautoscalers"), ("policy", "poddisruptionbudgets"))
_NODE_AGENT = (("", "serviceaccounts"), ("apps", "daemonsets"), ("", "resourcequotas"),
               ("networking.k8s.io", "networkpolicies"))
CHART_KINDS: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {
    # Istio's base chart: the CRDs, the default revision's validating webhook and
    # admission policy, and the reader ServiceAccount.
    "base": {"namespaced": (("", "serviceaccounts"),),
             "cluster": (("apiextensions.k8s.io", "customresourcedefinitions"),
                         ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
                         ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
                         ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"))},
    # istiod: its Deployment, Service, ConfigMaps (mesh config, injector), RBAC, the
    # injection and validation webhooks, autoscaler and disruption budget.
    "istiod": {"namespaced": (*_WORKLOAD, *_SCALING, *_NAMESPACE_RBAC),
               "cluster": (*_CLUSTER_RBAC,
                           ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
                           ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
                           ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
                           ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"))},
    # A gateway: Deployment, Service, ServiceAccount, a Role to read its certificates.
    "gateway": {"namespaced": (*_WORKLOAD, *_SCALING, *_NAMESPACE_RBAC), "cluster": ()},
    # Ambient mode's node agents: a DaemonSet each with its ServiceAccount, the CNI
    # agent's ConfigMap and ClusterRole (pods, nodes, namespaces), ztunnel's
    # ClusterRole on OpenShift, and per platform profile a ResourceQuota for
    # node-critical pods and a NetworkPolicy.
    "cni": {"namespaced": _NODE_AGENT + (("", "configmaps"),), "cluster": _CLUSTER_RBAC},
    "ztunnel": {"namespaced": _NODE_AGENT, "cluster": _CLUSTER_RBAC},
    "prometheus": {"namespaced": _WORKLOAD, "cluster": _CLUSTER_RBAC},
    "kiali-server": {"namespaced": (*_WORKLOAD, *_NAMESPACE_RBAC), "cluster": _CLUSTER_RBAC},
}
MANIFEST_FILE_KINDS: dict[str, tuple[tuple[str, str], ...]] = {
    # Gateway API's release install files: the CRDs and the ValidatingAdmissionPolicy
    # (with its binding) that refuses downgrades and mixed channels.
    "gateway-api": (("apiextensions.k8s.io", "customresourcedefinitions"),
                    ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
                    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings")),
}
"""Cluster-scoped kinds of each manifest file the program applies, by the file's source."""
HELM_STORAGE = ("", "secrets")
"""Helm keeps each release's record as Secrets `sh.helm.release.v1.<name>.v<n>`."""
GRANTING = {"roles", "clusterroles"}


def _rule(group: str, resources: set[str], verbs: tuple[str, ...]) -> dict:
    return {"apiGroups": [group], "resources": sorted(resources), "verbs": list(verbs)}


def required_access(rendered: Rendered) -> tuple[dict[str, dict[tuple[str, str], set[str]]], dict[tuple[str, str], set[str]]]:
    """(namespace → (group, resource) → verbs, cluster (group, resource) → verbs)."""
    namespaced: dict[str, dict[tuple[str, str], set[str]]] = defaultdict(lambda: defaultdict(set))
    cluster: dict[tuple[str, str], set[str]] = defaultdict(set)
    for obj in rendered.objects():
        known = REGISTERED_KINDS.get((obj["apiVersion"], obj["kind"]))
        if known is None:
            raise ConfigError(file=rendered.source, path="", value=f"{obj['apiVersion']} {obj['kind']}",
                              message="meshplan rbac knows no resource for this kind")
        group, resource, is_namespaced = known
        if not is_namespaced:
            cluster[(group, resource)].update(MANAGE)
            continue
        namespace = obj["metadata"]["namespace"]
        namespaced[namespace][(group, resource)].update(MANAGE)
        for read in AWAIT_READS.get(resource, ()):
            namespaced[namespace][read].update(READ)
    for release in rendered.releases():
        chart, namespace = release.inputs["chart"], release.inputs["namespace"]
        kinds = CHART_KINDS.get(chart)
        if kinds is None:
            raise ConfigError(file=rendered.source, path="", value=chart,
                              message="meshplan rbac knows no kinds of this Helm chart")
        namespaced[namespace][HELM_STORAGE].update(MANAGE)
        for key in kinds["namespaced"]:
            namespaced[namespace][key].update(MANAGE + (("bind", "escalate") if key[1] in GRANTING else ()))
            for read in AWAIT_READS.get(key[1], ()):
                namespaced[namespace][read].update(READ)
        for key in kinds["cluster"]:
            cluster[key].update(MANAGE + (("bind", "escalate") if key[1] in GRANTING else ()))
    for resource in rendered.resources:
        if resource.type == CONFIG_FILE_TYPE:
            for key in MANIFEST_FILE_KINDS[manifest_file_source(rendered, resource.inputs.get("file", ""))]:
                cluster[key].update(MANAGE)
    for read in rendered.reads:
        if read["type"] != STACK_REFERENCE_TYPE:
            key, namespace = _read_kind(rendered, read)
            (namespaced[namespace] if namespace else cluster)[key].update(READ)
    return namespaced, cluster


def manifest_file_source(rendered: Rendered, file: str) -> str:
    """Which `MANIFEST_FILE_KINDS` entry a ConfigFile's file is."""
    prefix = GATEWAY_API_RELEASE_URL.split("{", 1)[0]
    if file.startswith(prefix):
        return "gateway-api"
    raise ConfigError(file=rendered.source, path="", value=file,
                      message="meshplan rbac knows no kinds of this manifest file")


def _read_kind(rendered: Rendered, read: dict) -> tuple[tuple[str, str], str | None]:
    """((group, resource), its namespace or None) of a read object, from its type token
    (`kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition`) and, for a
    namespaced one, its ID (`<namespace>/<name>`)."""
    if read["type"] == "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition":
        return ("apiextensions.k8s.io", "customresourcedefinitions"), None
    if read["type"] == "kubernetes:core/v1:Service":  # an east-west gateway's, for its address
        return ("", "services"), read["id"].split("/", 1)[0]
    raise ConfigError(file=rendered.source, path="", value=read["type"],
                      message="meshplan rbac knows no resource for this read")


def _rules(access: dict[tuple[str, str], set[str]]) -> list[dict]:
    """One rule per (group, verbs), resources sorted."""
    grouped: dict[tuple[str, tuple[str, ...]], set[str]] = defaultdict(set)
    order = {verb: i for i, verb in enumerate(MANAGE + ("bind", "escalate"))}
    for (group, resource), verbs in access.items():
        grouped[(group, tuple(sorted(verbs, key=order.get)))].add(resource)
    return [_rule(group, resources, verbs) for (group, verbs), resources in sorted(grouped.items())]


def in_cluster(rendered: Rendered, cluster: str | None) -> Rendered:
    """What the render registers in one cluster: the resources its provider deploys.
    A stack with `clusters` needs a cluster named; a one-cluster stack takes none."""
    clusters = rendered.settings.multicluster
    names = ", ".join(c.name for c in clusters.clusters) if clusters is not None else ""
    if clusters is None:
        if cluster is None:
            return rendered
        raise ConfigError(file=rendered.source, path="--cluster", value=cluster,
                          message="this stack has no `clusters`: its deployer is for its one cluster; drop --cluster")
    if cluster is None:
        raise ConfigError(file=rendered.source, path="--cluster",
                          message=f"this stack deploys to several clusters: name one with --cluster ({names})")
    if cluster not in {c.name for c in clusters.clusters}:
        raise ConfigError(file=rendered.source, path="--cluster", value=cluster,
                          message=f"not a cluster of this stack; one of {names}")
    provider = {p.name: p.urn for p in rendered.providers()}.get(cluster)
    if provider is None:  # a traffic layer deploys nothing to a remote
        raise ConfigError(file=rendered.source, path="--cluster", value=cluster,
                          message="this stack registers nothing in that cluster: its deployer there needs no rights")
    return replace(rendered, resources=[r for r in rendered.resources
                                        if (r.provider or "").rsplit("::", 1)[0] == provider],
                   reads=[r for r in rendered.reads
                          if (r.get("provider") or provider).rsplit("::", 1)[0] == provider])


def deployer_manifests(rendered: Rendered, *, namespace: str = "pulumi-deployers",
                       cluster: str | None = None) -> list[dict]:
    """The ServiceAccount `<stack>-deployer` in `namespace`, a Role and RoleBinding per
    namespace the stack manages objects in, and a ClusterRole and binding when it
    manages cluster-scoped ones; of a multi-cluster stack, in `cluster`."""
    rendered = in_cluster(rendered, cluster)
    name = f"{rendered.stack}-deployer"
    subject = {"kind": "ServiceAccount", "name": name, "namespace": namespace}
    labels = {"app.kubernetes.io/managed-by": "meshplan-rbac", "bookinfo-mesh/stack": rendered.stack}
    manifests: list[dict] = [{"apiVersion": "v1", "kind": "ServiceAccount",
                              "metadata": {"name": name, "namespace": namespace, "labels": labels}}]
    namespaced, cluster = required_access(rendered)
    for target in sorted(namespaced):
        metadata = {"name": name, "namespace": target, "labels": labels}
        manifests.append({"apiVersion": f"{RBAC_GROUP}/v1", "kind": "Role", "metadata": metadata,
                          "rules": _rules(namespaced[target])})
        manifests.append({"apiVersion": f"{RBAC_GROUP}/v1", "kind": "RoleBinding", "metadata": dict(metadata),
                          "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": name}, "subjects": [subject]})
    if cluster:
        metadata = {"name": name, "labels": labels}
        manifests.append({"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRole", "metadata": metadata,
                          "rules": _rules(cluster)})
        manifests.append({"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRoleBinding", "metadata": dict(metadata),
                          "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
                          "subjects": [subject]})
    return manifests
