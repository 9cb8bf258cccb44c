"""Offline analysis of rendered Kubernetes and Istio objects: the reference, conflict,
weight and mesh-membership rules that `istioctl analyze` and Kiali apply to a live
mesh, as pure functions over object dicts.

The same `analyze` runs in the Pulumi program (errors fail the preview), in
`meshplan check/render/diff` and in the policy pack, each through
`model.stack_analysis.analyze_stack`. It knows nothing of Bookinfo:
everything it needs is in the objects and in the gateway workloads the mesh runs.

Each rule is a small unit in one of the modules below, registered with its code,
level, istioctl / Kiali equivalent and one-line doc (`registry.CATALOGUE`); the
README's code table is tested against that catalogue.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

# Importing the rule modules registers every rule.
from model.analysis import (ambient, deprecation, destinationrules, envoyfilters, gateway_api,  # noqa: F401
                            gateways_rules, exports, istio_annotations, locality, membership, mtls,
                            multicluster_rules, proxy_image, routes, schema, security, services, serviceentries,
                            sidecars, virtualservices, weight_sums)
from model.analysis.findings import ERROR, INFO, LEVELS, WARNING, Finding, errors
from model.analysis.gateways import DEFAULT_GATEWAYS, GatewayWorkload, installed_gateways
from model.analysis.index import MESH_GATEWAY, build_index, fqdn, host_matches
from model.analysis.registry import CATALOGUE, Rule, codes
from model.analysis import kubernetes_names  # noqa: F401  (registers BM188 before CODES is taken)

CODES = codes()
"""Every code: what it means and its istioctl / Kiali equivalent."""

__all__ = ["CATALOGUE", "CODES", "DEFAULT_GATEWAYS", "ERROR", "INFO", "LEVELS", "MESH_GATEWAY",
           "WARNING", "Finding", "GatewayWorkload", "Rule", "analyze", "errors", "fqdn", "host_matches",
           "installed_gateways"]


def analyze(objects: Iterable[Mapping], *, gateways: Sequence[GatewayWorkload] | None = None,
            default_namespace: str = "default", schemas=None, only: Iterable[str] | None = None) -> list[Finding]:
    """Every finding about `objects`, errors first, then by code and object.

    `gateways`: the gateway workloads the mesh runs outside the objects (None: assume
    `DEFAULT_GATEWAYS`, as istioctl does for files). `default_namespace`: where
    objects without `metadata.namespace` live. `schemas`: Istio's CRD schemas
    (`model.analysis.schema.load_crds`) to validate against; None skips IST0106.
    `only`: run just these codes."""
    known = gateways is not None
    assumed = [(obj, g.source or "assumed") for g in (gateways if known else DEFAULT_GATEWAYS)
               for obj in g.as_objects()]
    index = build_index(objects, default_namespace=default_namespace, assumed=assumed, gateways_known=known)
    index.schemas = schemas
    wanted = set(only) if only is not None else None
    found: list[Finding] = []
    for code, rule in sorted(CATALOGUE.items()):
        if wanted is None or code in wanted:
            found.extend(rule.findings(index))
    order = {level: n for n, level in enumerate(LEVELS)}
    return sorted(dict.fromkeys(found), key=lambda f: (order.get(f.level, 9), f.code, f.namespace, f.name, f.message))
