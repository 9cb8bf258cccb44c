"""Names Kubernetes would refuse: every name field of an object (metadata name and
namespace, label keys and values, selectors, Service and container port names,
container and volume names) against the API server's rule for that field, as
model/object_names.py states them.

A stack's settings are refused or shortened before such a name can be built, so on a
stack this catches a builder's bug before anything is registered; on your own
manifests (`meshplan check`) it is what the API server would answer."""
from __future__ import annotations

from collections.abc import Iterable

from model.analysis.findings import ERROR
from model.analysis.index import Index
from model.analysis.registry import rule
from model.object_names import name_problems


@rule("BM188", ERROR, "name, namespace, label or port name Kubernetes would refuse (names the rule it breaks)",
      other="Kubernetes API server validation")
def names_kubernetes_refuses(index: Index) -> Iterable:
    for obj in index.objects:
        for problem in name_problems(obj):
            yield obj, problem
