"""Rules about who is in the mesh: namespaces labelled for sidecar injection,
workloads that will run without a sidecar, and application pods running as the
proxy's own UID."""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from model.analysis.findings import INFO, WARNING
from model.analysis.index import ISTIO_NAMESPACE, Index, Workload, as_list
from model.analysis.registry import rule

INJECTION = "injection.Analyzer"
INJECTION_LABEL = "istio-injection"
REVISION_LABEL = "istio.io/rev"
DATAPLANE_LABEL = "istio.io/dataplane-mode"
INJECT_SWITCH = "sidecar.istio.io/inject"
AMBIENT_REDIRECTION = "ambient.istio.io/redirection"
PROXY_CONTAINER = "istio-proxy"
PROXY_UID = 1337


def _labels(namespace: Mapping) -> Mapping:
    return (namespace.get("metadata") or {}).get("labels") or {}


def _name(obj: Mapping) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _ambient(labels: Mapping) -> bool:
    return labels.get(DATAPLANE_LABEL) == "ambient"


def _injected(labels: Mapping) -> bool:
    return labels.get(INJECTION_LABEL) == "enabled" or (
        bool(labels.get(REVISION_LABEL)) and labels.get(INJECTION_LABEL) != "disabled")


def _enable_namespaces_by_default(index: Index) -> bool:
    """`sidecarInjectorWebhook.enableNamespacesByDefault` of the injector ConfigMap, when given."""
    for config_map in index.of("ConfigMap"):
        if _name(config_map).startswith("istio-sidecar-injector") and index.ns(config_map) == ISTIO_NAMESPACE:
            try:
                values = json.loads(((config_map.get("data") or {}).get("values")) or "{}")
            except ValueError:
                continue
            if (values.get("sidecarInjectorWebhook") or {}).get("enableNamespacesByDefault") is True:
                return True
    return False


def _user_namespaces(index: Index) -> list[Mapping]:
    """Namespaces of applications: not Istio's own, nor one holding a gateway the mesh
    installs (gateway pods ask for their proxy through their own labels)."""
    gateway_namespaces = {w.namespace for w in index.workloads if w.assumed}
    return [n for n in index.of("Namespace") if _name(n) != ISTIO_NAMESPACE and _name(n) not in gateway_namespaces]


@rule("BM126", INFO, "namespace not labelled for sidecar injection (nor ambient)", istio="IST0102",
      analyzer=INJECTION)
def namespace_not_injected(index: Index) -> Iterable:
    if _enable_namespaces_by_default(index):
        return
    for namespace in _user_namespaces(index):
        labels = _labels(namespace)
        if INJECTION_LABEL not in labels and not labels.get(REVISION_LABEL) and not _ambient(labels):
            yield namespace, (f"not labelled {INJECTION_LABEL}=enabled or {REVISION_LABEL}=<revision>: "
                              "its pods get no sidecar")


@rule("BM127", INFO, "namespace without injection labels where the injector injects every namespace",
      istio="IST0148", analyzer=INJECTION)
def namespace_injected_by_default(index: Index) -> Iterable:
    if not _enable_namespaces_by_default(index):
        return
    for namespace in _user_namespaces(index):
        labels = _labels(namespace)
        if INJECTION_LABEL not in labels and not labels.get(REVISION_LABEL) and not _ambient(labels):
            yield namespace, ("no injection label: the injector (enableNamespacesByDefault) injects it; "
                              f"label it {INJECTION_LABEL}=enabled or disabled to say so")


@rule("BM128", WARNING, "namespace with conflicting injection labels (injection and revision, or sidecar and ambient)",
      istio="IST0123", analyzer=INJECTION)
def conflicting_injection_labels(index: Index) -> Iterable:
    # istio@1.30.3 pkg/config/analysis/analyzers/injection/injection.go: istio-injection (any
    # value) counts, and istio.io/rev and istio.io/dataplane-mode (any value, `none` too) count
    # unless istio-injection is set to something other than `enabled`, which switches them off;
    # more than one label is IST0123 (release note 46348: "more than one Istio labels in the same
    # namespace. Including istio-injection, istio.io/rev, istio.io/dataplane-mode"). istio-system
    # is not judged.
    for namespace in index.of("Namespace"):
        if _name(namespace) == ISTIO_NAMESPACE:
            continue
        labels = _labels(namespace)
        counted = [f"{INJECTION_LABEL}={labels[INJECTION_LABEL]}"] if INJECTION_LABEL in labels else []
        if INJECTION_LABEL not in labels or labels[INJECTION_LABEL] == "enabled":
            counted += [f"{key}={labels[key]}" for key in (REVISION_LABEL, DATAPLANE_LABEL) if key in labels]
        if len(counted) > 1:
            yield namespace, (f"metadata.labels {' and '.join(counted)} each choose how its pods join the mesh: "
                              f"keep one ({INJECTION_LABEL} or {REVISION_LABEL} for sidecars, "
                              f"{DATAPLANE_LABEL}=ambient for ambient; sidecar injection wins over ambient)")


def namespace_is_ambient(index: Index, namespace: str) -> bool:
    """Labelled for ambient mode and not for sidecar injection (which wins)."""
    labels = next((_labels(n) for n in index.of("Namespace") if _name(n) == namespace), {})
    return _ambient(labels) and not _injected(labels)


def ambient_workload(index: Index, workload: Workload) -> bool:
    """Whether a workload's pods run in ambient mode: redirected by the node (the CNI marks
    such a Pod), or in an ambient namespace without a sidecar nor an opt-out."""
    if workload.annotations.get(AMBIENT_REDIRECTION) == "enabled":
        return True
    return (namespace_is_ambient(index, workload.namespace) and not _has_proxy(workload)
            and workload.labels.get(DATAPLANE_LABEL) != "none")


def sidecar_injected(index: Index, workload: Workload) -> bool:
    """Whether a workload's pods get (or have) a sidecar: its own switch first, then its
    namespace's labels, then a proxy container already in the spec."""
    switch = str(workload.labels.get(INJECT_SWITCH, workload.annotations.get(INJECT_SWITCH, ""))).lower()
    if switch in ("false", "true"):
        return switch == "true"
    labels = next((_labels(n) for n in index.of("Namespace") if _name(n) == workload.namespace), {})
    return _injected(labels) or _has_proxy(workload)


def _opted_out(workload: Workload) -> bool:
    switch = workload.labels.get(INJECT_SWITCH, workload.annotations.get(INJECT_SWITCH))
    return str(switch).lower() == "false"


def _has_proxy(workload: Workload) -> bool:
    return any(isinstance(c, Mapping) and c.get("name") == PROXY_CONTAINER
               for c in as_list(workload.pod_spec.get("containers")) + as_list(workload.pod_spec.get("initContainers")))


@rule("BM129", WARNING, "workload that runs without a sidecar in the mesh", istio="IST0103", analyzer=INJECTION)
def workload_without_sidecar(index: Index) -> Iterable:
    namespaces = {_name(n): _labels(n) for n in index.of("Namespace")}
    by_default = _enable_namespaces_by_default(index)
    for workload in index.workloads:
        labels = namespaces.get(workload.namespace)
        if workload.assumed or labels is None or _opted_out(workload) or workload.pod_spec.get("hostNetwork"):
            continue
        injected = _injected(labels) or (by_default and INJECTION_LABEL not in labels)
        if workload.kind == "Pod":
            # A Pod shows whether it was injected; only an injected namespace's pods must be.
            if injected and not _ambient(labels) and not _has_proxy(workload):
                yield workload.obj, (f"no {PROXY_CONTAINER} container although namespace {workload.namespace} "
                                     "injects sidecars: restart it to inject one")
        elif not injected and not _ambient(labels) and workload.namespace != ISTIO_NAMESPACE:
            # A template never shows the sidecar: its pods get one only in an injecting namespace.
            yield workload.obj, (f"its pods will run without a sidecar: namespace {workload.namespace} is not "
                                 f"labelled {INJECTION_LABEL}=enabled or {REVISION_LABEL}=<revision>")


@rule("BM130", WARNING, "application container runs as UID 1337, the proxy's own", istio="IST0144",
      analyzer="applicationUID.Analyzer")
def application_uid(index: Index) -> Iterable:
    for workload in index.workloads:
        if workload.assumed:
            continue
        pod_uid = (workload.pod_spec.get("securityContext") or {}).get("runAsUser")
        if pod_uid == PROXY_UID:
            yield workload.obj, f"pod securityContext.runAsUser is {PROXY_UID}, the sidecar's UID"
            continue
        for container in as_list(workload.pod_spec.get("containers")):
            if isinstance(container, Mapping) and container.get("name") != PROXY_CONTAINER and \
                    (container.get("securityContext") or {}).get("runAsUser") == PROXY_UID:
                yield workload.obj, (f"container {container.get('name')} runs as UID {PROXY_UID}, the sidecar's UID")
                break
