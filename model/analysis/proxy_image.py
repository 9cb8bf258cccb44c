"""Pods whose sidecar runs another proxy image than the injector would inject now
(after an Istio upgrade, until they restart).

The injector's image comes from its ConfigMap (`istio-sidecar-injector`, or
`istio-sidecar-injector-<rev>` for a revision), `values.global`: `proxy.image` (as is
when it holds a `/`), else `<hub>/<proxy.image>:<tag>`, with `-<imageType>` added for
an image type other than `default` (the Pod's `sidecar.istio.io/proxyImageType` or
`proxy.istio.io/config` annotation, else a ProxyConfig for the workload, its
namespace or the mesh, else `global.variant`). Without that ConfigMap among the
objects there is nothing to compare with: the rule stays silent."""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import yaml

from model.analysis.findings import WARNING
from model.analysis.index import ISTIO_NAMESPACE, Index, Workload, as_list, selects, spec_of
from model.analysis.membership import INJECTION_LABEL, PROXY_CONTAINER, REVISION_LABEL
from model.analysis.registry import rule

INJECTOR_CONFIG_MAP = "istio-sidecar-injector"
PROXY_IMAGE_ANNOTATION = "sidecar.istio.io/proxyImage"
IMAGE_TYPE_ANNOTATION = "sidecar.istio.io/proxyImageType"
PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"


def _name(obj: Mapping) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _injector_values(index: Index, revision: str) -> Mapping | None:
    name = INJECTOR_CONFIG_MAP if revision in ("", "default") else f"{INJECTOR_CONFIG_MAP}-{revision}"
    for config_map in index.of("ConfigMap"):
        if _name(config_map) == name and index.ns(config_map) == ISTIO_NAMESPACE:
            try:
                values = json.loads(((config_map.get("data") or {}).get("values")) or "{}")
            except ValueError:
                return None
            return values if isinstance(values, Mapping) else None
    return None


def _image_type(index: Index, workload: Workload, values: Mapping) -> str:
    if workload.annotations.get(IMAGE_TYPE_ANNOTATION):
        return str(workload.annotations[IMAGE_TYPE_ANNOTATION])
    try:
        own = yaml.safe_load(workload.annotations.get(PROXY_CONFIG_ANNOTATION) or "") or {}
    except yaml.YAMLError:
        own = {}
    if isinstance(own, Mapping) and isinstance(own.get("image"), Mapping) and own["image"].get("imageType"):
        return str(own["image"]["imageType"])
    configs = index.of("ProxyConfig")
    for namespace, with_selector in ((workload.namespace, True), (workload.namespace, False),
                                     (ISTIO_NAMESPACE, False)):
        for config in configs:
            selector = ((spec_of(config).get("selector") or {}).get("matchLabels")) or {}
            image_type = (spec_of(config).get("image") or {}).get("imageType")
            if index.ns(config) == namespace and bool(selector) == with_selector and image_type and \
                    selects(selector, workload.labels):
                return str(image_type)
    return str((values.get("global") or {}).get("variant") or "")


def expected_image(index: Index, workload: Workload, values: Mapping) -> str:
    settings = values.get("global") or {}
    image = str((settings.get("proxy") or {}).get("image") or "proxyv2")
    if "/" in image:
        return image
    image_type = _image_type(index, workload, values)
    suffix = "" if image_type in ("", "default") else f"-{image_type}"
    return f"{settings.get('hub')}/{image}:{settings.get('tag')}{suffix}"


def _proxy_image(workload: Workload) -> str | None:
    for container in [*as_list(workload.pod_spec.get("containers")), *as_list(workload.pod_spec.get("initContainers"))]:
        if isinstance(container, Mapping) and container.get("name") == PROXY_CONTAINER:
            return str(container.get("image") or "")
    return None


@rule("BM155", WARNING, "Pods whose sidecar image differs from the one the injector now injects (restart them)",
      istio="IST0158", analyzer="injection.ImageAnalyzer")
def proxy_image_mismatch(index: Index) -> Iterable:
    for namespace in index.of("Namespace"):
        labels = (namespace.get("metadata") or {}).get("labels") or {}
        if labels.get(INJECTION_LABEL) == "enabled":
            revision = ""
        elif labels.get(REVISION_LABEL) and labels.get(INJECTION_LABEL) != "disabled":
            revision = str(labels[REVISION_LABEL])
        else:
            continue
        values = _injector_values(index, revision)
        if values is None:
            continue
        stale = []
        for workload in index.workloads:
            if workload.kind != "Pod" or workload.assumed or workload.namespace != _name(namespace) or \
                    PROXY_IMAGE_ANNOTATION in workload.annotations:
                continue
            running, wanted = _proxy_image(workload), expected_image(index, workload, values)
            if running is not None and running != wanted:
                stale.append(f"{workload.name} ({running}, injector: {wanted})")
        if stale:
            yield namespace, ("pods run another proxy image than the injector injects now (restart them): "
                              + "; ".join(stale))
