"""Rules about AuthorizationPolicies: the workloads they select and the namespaces
and service accounts they name."""
from __future__ import annotations

import re
from typing import Iterable, Mapping

from model.analysis.findings import ERROR, WARNING
from model.analysis.index import ISTIO_NAMESPACE, Index, as_list, labels_text, spec_of
from model.analysis.registry import rule

POLICIES = "auth.AuthorizationPoliciesAnalyzer"
PRINCIPAL = re.compile(r"^(?P<td>[^/]+)/ns/(?P<ns>[^/]+)/sa/(?P<sa>[^/]+)$")


def _selector(policy: Mapping) -> Mapping:
    return ((spec_of(policy).get("selector") or {}).get("matchLabels")) or {}


def _sources(policy: Mapping) -> Iterable[Mapping]:
    for policy_rule in as_list(spec_of(policy).get("rules")):
        for block in as_list((policy_rule or {}).get("from")):
            source = (block or {}).get("source")
            if isinstance(source, Mapping):
                yield source


def _namespaces(index: Index) -> set[str]:
    names = {str((n.get("metadata") or {}).get("name")) for n in index.of("Namespace")}
    return names | {index.ns(o) for o in index.objects if index.ns(o)}


def _matches(pattern: str, name: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return name.endswith(pattern[1:])
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return pattern == name


@rule("BM133", WARNING, "AuthorizationPolicy selects no workload", istio="IST0127", analyzer=POLICIES)
def policy_selects_nothing(index: Index) -> Iterable:
    for policy in index.of("AuthorizationPolicy"):
        namespace = index.ns(policy)
        selector = _selector(policy)
        everywhere = namespace == ISTIO_NAMESPACE
        if everywhere and not selector:
            continue  # the root namespace's policy without a selector applies to the whole mesh
        found = index.selected(selector, None if everywhere else namespace)
        if not [w for w in found if not w.assumed]:
            where = "the mesh" if everywhere else f"namespace {namespace}"
            yield policy, f"selector {labels_text(selector)} matches no workload in {where}"


@rule("BM134", ERROR, "AuthorizationPolicy source namespace matches no namespace", istio="IST0101",
      analyzer=POLICIES)
def policy_namespace_unknown(index: Index) -> Iterable:
    known = _namespaces(index)
    for policy in index.of("AuthorizationPolicy"):
        for source in _sources(policy):
            for key in ("namespaces", "notNamespaces"):
                for pattern in as_list(source.get(key)):
                    if not any(_matches(str(pattern), n) for n in known):
                        yield policy, f"source.{key} {pattern} matches no namespace among the objects"


@rule("BM112", ERROR, "AuthorizationPolicy principal names a missing service account", kiali="KIA0106")
def principal_account_missing(index: Index) -> Iterable:
    accounts = {(index.ns(a), str((a.get("metadata") or {}).get("name"))) for a in index.of("ServiceAccount")}
    namespaces = _namespaces(index)
    for policy in index.of("AuthorizationPolicy"):
        for source in _sources(policy):
            for principal in [*as_list(source.get("principals")), *as_list(source.get("notPrincipals"))]:
                match = PRINCIPAL.match(str(principal))
                if match is None or "*" in str(principal):
                    continue
                ns, account = match["ns"], match["sa"]
                # Only namespaces the objects describe can be judged; every namespace has `default`.
                if ns not in namespaces or account == "default" or (ns, account) in accounts:
                    continue
                yield policy, f"principal {principal} names service account {ns}/{account}, which does not exist"
