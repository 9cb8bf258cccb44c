"""Rules about EnvoyFilter patches that Istio ignores or may apply in the wrong place.

A relative patch (INSERT_BEFORE, INSERT_AFTER, REPLACE, REMOVE) depends on what other
EnvoyFilters already did; without `priority` their order is the creation order, which
an upgrade or a re-apply changes. ADD and REMOVE do nothing on ROUTE_CONFIGURATION
and HTTP_ROUTE; REPLACE works on HTTP_FILTER, NETWORK_FILTER and VIRTUAL_HOST only.
One finding per EnvoyFilter and problem, naming every patch it concerns."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from model.analysis.findings import ERROR, WARNING
from model.analysis.index import Index, as_list, spec_of
from model.analysis.registry import rule

PATCHES = "envoyfilter.EnvoyPatchAnalyzer"
RELATIVE = ("INSERT_BEFORE", "INSERT_AFTER", "REPLACE", "REMOVE")
ROUTE_LEVEL = ("ROUTE_CONFIGURATION", "HTTP_ROUTE")
REPLACEABLE = ("HTTP_FILTER", "NETWORK_FILTER", "VIRTUAL_HOST")


def _patches(envoy_filter: Mapping) -> list[tuple[int, str, str, bool]]:
    """(position, applyTo, operation, has proxyVersion) of every patch with an operation."""
    out = []
    for position, patch in enumerate(as_list(spec_of(envoy_filter).get("configPatches"))):
        if not isinstance(patch, Mapping) or not isinstance(patch.get("patch"), Mapping):
            continue
        match = patch.get("match") if isinstance(patch.get("match"), Mapping) else {}
        proxy = match.get("proxy") if isinstance(match.get("proxy"), Mapping) else {}
        out.append((position, str(patch.get("applyTo") or ""), str(patch["patch"].get("operation") or ""),
                    bool(proxy.get("proxyVersion"))))
    return out


def _misplaced(operation: str, apply_to: str) -> bool:
    if operation in ("ADD", "REMOVE"):
        return apply_to in ROUTE_LEVEL
    return operation == "REPLACE" and apply_to not in REPLACEABLE


def _relative(envoy_filter: Mapping, *, with_proxy_version: bool) -> list[str]:
    if spec_of(envoy_filter).get("priority"):
        return []
    return [f"configPatches[{n}] {operation} on {apply_to}"
            for n, apply_to, operation, versioned in _patches(envoy_filter)
            if operation in RELATIVE and not _misplaced(operation, apply_to) and versioned == with_proxy_version]


@rule("BM140", WARNING, "EnvoyFilter without priority has a relative patch (its order against other filters "
                        "is not fixed)", istio="IST0151", analyzer=PATCHES)
def relative_patch_without_priority(index: Index) -> Iterable:
    for envoy_filter in index.of("EnvoyFilter"):
        patches = _relative(envoy_filter, with_proxy_version=False)
        if patches:
            yield envoy_filter, (f"{'; '.join(patches)}: relative to what other EnvoyFilters did, with no priority "
                                 "set; set priority, or use INSERT_FIRST or ADD")


@rule("BM141", WARNING, "EnvoyFilter without priority has a relative patch bound to a proxyVersion (breaks on "
                        "upgrade)", istio="IST0155", analyzer=PATCHES)
def relative_patch_with_proxy_version(index: Index) -> Iterable:
    for envoy_filter in index.of("EnvoyFilter"):
        patches = _relative(envoy_filter, with_proxy_version=True)
        if patches:
            yield envoy_filter, (f"{'; '.join(patches)}: relative, matched on proxyVersion and without priority: "
                                 "during an upgrade proxies of both versions may apply it in another order")


def _misplaced_patches(envoy_filter: Mapping, operation: str) -> list[str]:
    return [f"configPatches[{n}] on {apply_to}" for n, apply_to, op, _ in _patches(envoy_filter)
            if op == operation and _misplaced(op, apply_to)]


@rule("BM142", ERROR, "EnvoyFilter REPLACE patch on something other than HTTP_FILTER, NETWORK_FILTER or "
                      "VIRTUAL_HOST", istio="IST0152", analyzer=PATCHES)
def replace_misplaced(index: Index) -> Iterable:
    for envoy_filter in index.of("EnvoyFilter"):
        patches = _misplaced_patches(envoy_filter, "REPLACE")
        if patches:
            yield envoy_filter, (f"REPLACE in {'; '.join(patches)}: only HTTP_FILTER, NETWORK_FILTER and "
                                 "VIRTUAL_HOST can be replaced")


@rule("BM143", ERROR, "EnvoyFilter ADD patch on ROUTE_CONFIGURATION or HTTP_ROUTE (ignored)", istio="IST0153",
      analyzer=PATCHES)
def add_misplaced(index: Index) -> Iterable:
    for envoy_filter in index.of("EnvoyFilter"):
        patches = _misplaced_patches(envoy_filter, "ADD")
        if patches:
            yield envoy_filter, f"ADD in {'; '.join(patches)} is ignored: use MERGE on the route configuration"


@rule("BM144", ERROR, "EnvoyFilter REMOVE patch on ROUTE_CONFIGURATION or HTTP_ROUTE (ignored)", istio="IST0154",
      analyzer=PATCHES)
def remove_misplaced(index: Index) -> Iterable:
    for envoy_filter in index.of("EnvoyFilter"):
        patches = _misplaced_patches(envoy_filter, "REMOVE")
        if patches:
            yield envoy_filter, f"REMOVE in {'; '.join(patches)} is ignored there"
