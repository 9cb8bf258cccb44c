"""Rules about Sidecar resources: the workloads their `workloadSelector` picks, two
Sidecars claiming one workload or one namespace, and Sidecars that cannot apply
because their workloads run in ambient mode (no sidecar proxy to configure).

A Sidecar's egress `hosts` are filters on what the proxy imports, not references:
a host no Service defines is legal there, so they are not judged."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from model.analysis.findings import ERROR, WARNING
from model.analysis.index import ISTIO_NAMESPACE, Index, Workload, labels_text, spec_of
from model.analysis.membership import ambient_workload, namespace_is_ambient
from model.analysis.registry import rule

SIDECARS = "sidecar.SelectorAnalyzer"


def _selector(sidecar: Mapping) -> dict:
    labels = (spec_of(sidecar).get("workloadSelector") or {}).get("labels")
    return dict(labels) if isinstance(labels, Mapping) else {}


def _selected(index: Index, sidecar: Mapping) -> list[Workload]:
    """A Sidecar applies to workloads of its own namespace only."""
    return index.selected(_selector(sidecar), index.ns(sidecar))


@rule("BM136", ERROR, "Sidecar workloadSelector matches no workload in its namespace", istio="IST0101",
      analyzer=SIDECARS)
def sidecar_selects_nothing(index: Index) -> Iterable:
    for sidecar in index.of("Sidecar"):
        selector = _selector(sidecar)
        if selector and not _selected(index, sidecar):
            yield sidecar, (f"workloadSelector {labels_text(selector)} matches no workload in namespace "
                            f"{index.ns(sidecar)} (a Sidecar only applies to its own namespace)")


@rule("BM137", ERROR, "two Sidecars with workload selectors pick the same workload", istio="IST0110",
      analyzer=SIDECARS)
def sidecars_share_a_workload(index: Index) -> Iterable:
    selecting = [s for s in index.of("Sidecar") if _selector(s)]
    for sidecar in selecting:
        for workload in _selected(index, sidecar):
            if ambient_workload(index, workload):
                continue  # no sidecar to disagree about: BM139's finding, as Istio reports IST0167 instead
            others = [index.ref(o) for o in selecting if o is not sidecar and index.ns(o) == index.ns(sidecar)
                      and any(w.obj is workload.obj for w in _selected(index, o))]
            if others:
                yield sidecar, (f"{workload.kind} {workload.name} is also selected by Sidecar {', '.join(others)}: "
                                "which one applies is undefined")


@rule("BM138", ERROR, "several Sidecars without a workload selector in one namespace", istio="IST0111",
      analyzer=SIDECARS)
def several_namespace_sidecars(index: Index) -> Iterable:
    by_namespace: dict[str, list[Mapping]] = {}
    for sidecar in index.of("Sidecar"):
        if not _selector(sidecar):
            by_namespace.setdefault(index.ns(sidecar), []).append(sidecar)
    for namespace, sidecars in by_namespace.items():
        if len(sidecars) > 1 and not namespace_is_ambient(index, namespace):  # ambient: BM139 (IST0167) instead
            for sidecar in sidecars:
                others = ", ".join(index.ref(o) for o in sidecars if o is not sidecar)
                yield sidecar, (f"namespace {namespace} has other Sidecars without a workloadSelector ({others}): "
                                "only one may be the namespace default")


@rule("BM139", WARNING, "Sidecar for workloads in ambient mode (no sidecar proxy, so it has no effect)",
      istio="IST0167", analyzer=SIDECARS)
def sidecar_in_ambient(index: Index) -> Iterable:
    # istio@1.30.3 pkg/config/analysis/analyzers/sidecar/selector.go: IneffectivePolicy for a
    # namespace-wide Sidecar in an ambient namespace (util.NamespaceInAmbientMode: labelled
    # ambient, neither istio-injection=enabled nor istio.io/rev) and for one selecting a Pod
    # the CNI redirects. Here a pod template in an ambient namespace counts too, and
    # istio-injection=disabled switches istio.io/rev off, as it does for the injector.
    for sidecar in index.of("Sidecar"):
        namespace = index.ns(sidecar)
        if not _selector(sidecar):
            if namespace_is_ambient(index, namespace):
                yield sidecar, (f"no spec.workloadSelector, and namespace {namespace} runs in ambient mode: "
                                "the Sidecar has no proxy to configure")
            continue
        ambient = [w.name for w in _selected(index, sidecar) if ambient_workload(index, w)]
        if ambient:
            yield sidecar, (f"spec.workloadSelector {labels_text(_selector(sidecar))} selects {', '.join(ambient)}, "
                            "which run in ambient mode: no sidecar proxy to configure")


@rule("BM163", WARNING, "Sidecar in the root namespace with a workloadSelector (the mesh-wide default takes none)",
      kiali="KIA1006")
def global_sidecar_with_selector(index: Index) -> Iterable:
    for sidecar in index.of("Sidecar"):
        if index.ns(sidecar) == ISTIO_NAMESPACE and _selector(sidecar):
            yield sidecar, (f"a Sidecar in {ISTIO_NAMESPACE} is the mesh-wide default only without a workloadSelector; "
                            f"with {labels_text(_selector(sidecar))} it configures those workloads of "
                            f"{ISTIO_NAMESPACE} alone")
