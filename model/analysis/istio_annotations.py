"""Rules about Istio annotations on Kubernetes objects: unknown to Istio, on a kind
that ignores them, deprecated, or with a value the injector cannot use.

An annotation is Istio's when its prefix ends in `istio.io` (`sidecar.istio.io/…`,
`networking.istio.io/…`), or it is `kubernetes.io/ingress.class`, which Istio
documents. Judged: the metadata of Namespaces, Services, Pods and workloads (as
istioctl does), and a workload's pod template as the Pod it makes (the annotations
there are what the injector reads). `ANNOTATIONS` lists Istio's documented resource
annotations (istio.io reference, "Resource Annotations") with the kinds they apply to."""
from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping

from model.analysis.findings import INFO, WARNING
from model.analysis.index import TEMPLATE_PATHS, Index
from model.analysis.registry import rule

K8S_ANNOTATIONS = "annotations.K8sAnalyzer"
ANY = "Any"
POD = "Pod"
ANALYSED_KINDS = ("Namespace", "Service", "Pod", *TEMPLATE_PATHS)

_POD = (POD,)
ANNOTATIONS: Mapping[str, tuple[str, ...]] = {
    # name: kinds it applies to
    "ambient.istio.io/bypass-inbound-capture": _POD,
    "ambient.istio.io/dns-capture": _POD,
    "ambient.istio.io/redirection": _POD,
    "galley.istio.io/analyze-suppress": (ANY,),
    "gateway.istio.io/controller-version": (ANY,),
    "gateway.istio.io/name-override": ("Gateway",),
    "gateway.istio.io/service-account": ("Gateway",),
    "inject.istio.io/templates": _POD,
    "install.operator.istio.io/chart-owner": (ANY,),
    "install.operator.istio.io/owner-generation": (ANY,),
    "istio.io/dry-run": ("AuthorizationPolicy",),
    "istio.io/rev": _POD,
    "istio.io/reroute-virtual-interfaces": _POD,
    "kubernetes.io/ingress.class": ("Ingress",),
    "networking.istio.io/address-type": ("Gateway",),
    "networking.istio.io/exportTo": ("Service",),
    "networking.istio.io/service-type": ("Gateway",),
    "networking.istio.io/traffic-distribution": ("Service", "ServiceEntry"),
    "operator.istio.io/component": (ANY,),
    "operator.istio.io/managed": (ANY,),
    "operator.istio.io/version": (ANY,),
    "prometheus.istio.io/merge-metrics": _POD,
    "proxy.istio.io/config": _POD,
    "proxy.istio.io/overrides": _POD,
    "readiness.status.sidecar.istio.io/applicationPorts": _POD,
    "readiness.status.sidecar.istio.io/failureThreshold": _POD,
    "readiness.status.sidecar.istio.io/initialDelaySeconds": _POD,
    "readiness.status.sidecar.istio.io/periodSeconds": _POD,
    "sidecar.istio.io/agentLogLevel": _POD,
    "sidecar.istio.io/bootstrapOverride": _POD,
    "sidecar.istio.io/componentLogLevel": _POD,
    "sidecar.istio.io/controlPlaneAuthPolicy": _POD,
    "sidecar.istio.io/discoveryAddress": _POD,
    "sidecar.istio.io/enableCoreDump": _POD,
    "sidecar.istio.io/extraStatTags": _POD,
    "sidecar.istio.io/inject": _POD,
    "sidecar.istio.io/interceptionMode": _POD,
    "sidecar.istio.io/logLevel": _POD,
    "sidecar.istio.io/nativeSidecar": _POD,
    "sidecar.istio.io/proxyCPU": _POD,
    "sidecar.istio.io/proxyCPULimit": _POD,
    "sidecar.istio.io/proxyImage": _POD,
    "sidecar.istio.io/proxyImageType": _POD,
    "sidecar.istio.io/proxyMemory": _POD,
    "sidecar.istio.io/proxyMemoryLimit": _POD,
    "sidecar.istio.io/rewriteAppHTTPProbers": _POD,
    "sidecar.istio.io/statsHistogramBuckets": _POD,
    "sidecar.istio.io/statsInclusionPrefixes": _POD,
    "sidecar.istio.io/statsInclusionRegexps": _POD,
    "sidecar.istio.io/statsInclusionSuffixes": _POD,
    "sidecar.istio.io/status": _POD,
    "sidecar.istio.io/userVolume": _POD,
    "sidecar.istio.io/userVolumeMount": _POD,
    "status.sidecar.istio.io/port": _POD,
    "topology.istio.io/controlPlaneClusters": (ANY,),
    "traffic.istio.io/nodeSelector": ("Service",),
    "traffic.sidecar.istio.io/excludeInboundPorts": _POD,
    "traffic.sidecar.istio.io/excludeInterfaces": _POD,
    "traffic.sidecar.istio.io/excludeOutboundIPRanges": _POD,
    "traffic.sidecar.istio.io/excludeOutboundPorts": _POD,
    "traffic.sidecar.istio.io/includeInboundPorts": _POD,
    "traffic.sidecar.istio.io/includeOutboundIPRanges": _POD,
    "traffic.sidecar.istio.io/includeOutboundPorts": _POD,
    "traffic.sidecar.istio.io/kubevirtInterfaces": _POD,
}

DEPRECATED: Mapping[str, str] = {
    "sidecar.istio.io/controlPlaneAuthPolicy": "istiod always talks mTLS to proxies",
    "sidecar.istio.io/discoveryAddress": "use proxy.istio.io/config discoveryAddress",
    "sidecar.istio.io/statsInclusionPrefixes": "use proxy.istio.io/config proxyStatsMatcher",
    "sidecar.istio.io/statsInclusionRegexps": "use proxy.istio.io/config proxyStatsMatcher",
    "sidecar.istio.io/statsInclusionSuffixes": "use proxy.istio.io/config proxyStatsMatcher",
    "traffic.sidecar.istio.io/kubevirtInterfaces": "use istio.io/reroute-virtual-interfaces",
}
"""Deprecated annotations, each with what replaces it."""


def _integer(value: str) -> bool:
    return value.strip().isdigit()


def _ports(value: str, *, star: bool) -> bool:
    text = value.strip()
    if text in ("", "*") and (star or text == ""):
        return True
    return all(p.strip().isdigit() and 0 < int(p) < 65536 for p in text.split(","))


def _cidrs(value: str) -> bool:
    text = value.strip()
    if text in ("", "*"):
        return True
    try:
        for cidr in text.split(","):
            ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return False
    return True


VALUES: Mapping[str, tuple[Callable[[str], bool], str]] = {
    "readiness.status.sidecar.istio.io/failureThreshold": (_integer, "a whole number"),
    "readiness.status.sidecar.istio.io/initialDelaySeconds": (_integer, "a whole number of seconds"),
    "readiness.status.sidecar.istio.io/periodSeconds": (_integer, "a whole number of seconds"),
    "status.sidecar.istio.io/port": (_integer, "a port number"),
    "sidecar.istio.io/interceptionMode": (lambda v: v in ("REDIRECT", "TPROXY", "NONE"), "REDIRECT, TPROXY or NONE"),
    "traffic.sidecar.istio.io/includeInboundPorts": (lambda v: _ports(v, star=True), "* or comma-separated ports"),
    "traffic.sidecar.istio.io/excludeInboundPorts": (lambda v: _ports(v, star=False), "comma-separated ports"),
    "traffic.sidecar.istio.io/includeOutboundPorts": (lambda v: _ports(v, star=False), "comma-separated ports"),
    "traffic.sidecar.istio.io/excludeOutboundPorts": (lambda v: _ports(v, star=False), "comma-separated ports"),
    "traffic.sidecar.istio.io/includeOutboundIPRanges": (_cidrs, "* or comma-separated CIDRs"),
    "traffic.sidecar.istio.io/excludeOutboundIPRanges": (_cidrs, "comma-separated CIDRs"),
}
"""Annotations whose value the injector parses, with what it accepts."""


def istio_annotation(name: str) -> bool:
    prefix, sep, _ = name.partition("/")
    return name == "kubernetes.io/ingress.class" or (bool(sep) and prefix.endswith("istio.io"))


def _annotated(index: Index) -> Iterable[tuple[Mapping, str, str, Mapping]]:
    """(object, kind the annotations are judged as, where, annotations)."""
    for obj in index.objects:
        kind = str(obj.get("kind"))
        if kind not in ANALYSED_KINDS:
            continue
        own = (obj.get("metadata") or {}).get("annotations")
        if isinstance(own, Mapping) and own:
            yield obj, kind, "", own
    for workload in index.workloads:
        if workload.kind != POD and not workload.assumed and workload.annotations:
            yield workload.obj, POD, "pod template: ", workload.annotations


def _istio_annotations(index: Index) -> Iterable[tuple[Mapping, str, str, str, str]]:
    for obj, kind, where, annotations in _annotated(index):
        for name, value in annotations.items():
            if istio_annotation(str(name)):
                yield obj, kind, where, str(name), str(value)


@rule("BM146", WARNING, "Istio annotation unknown to Istio (misspelt, or from another release)", istio="IST0108",
      analyzer=K8S_ANNOTATIONS)
def unknown_annotation(index: Index) -> Iterable:
    for obj, _, where, name, _ in _istio_annotations(index):
        if name not in ANNOTATIONS:
            yield obj, f"{where}annotation {name} is not an Istio annotation: Istio ignores it"


@rule("BM145", WARNING, "Istio annotation on a kind that ignores it (e.g. a Pod annotation on a Deployment)",
      istio="IST0107", analyzer=K8S_ANNOTATIONS)
def misplaced_annotation(index: Index) -> Iterable:
    for obj, kind, where, name, _ in _istio_annotations(index):
        kinds = ANNOTATIONS.get(name)
        if kinds and ANY not in kinds and kind not in kinds:
            hint = " (put it on the pod template)" if POD in kinds and kind in TEMPLATE_PATHS else ""
            yield obj, f"{where}annotation {name} only applies to {', '.join(kinds)}, not {kind}: ignored here{hint}"


@rule("BM147", WARNING, "Istio annotation with a value the injector cannot use", istio="IST0125",
      analyzer=K8S_ANNOTATIONS)
def invalid_annotation(index: Index) -> Iterable:
    for obj, kind, where, name, value in _istio_annotations(index):
        check = VALUES.get(name)
        if check and kind in ANNOTATIONS.get(name, ()) and not check[0](value):
            yield obj, f"{where}annotation {name}: {value!r} is not {check[1]}"


@rule("BM148", INFO, "deprecated Istio annotation", istio="IST0135", analyzer=K8S_ANNOTATIONS)
def deprecated_annotation(index: Index) -> Iterable:
    for obj, _, where, name, _ in _istio_annotations(index):
        if name in DEPRECATED:
            yield obj, f"{where}annotation {name} is deprecated: {DEPRECATED[name]}"
