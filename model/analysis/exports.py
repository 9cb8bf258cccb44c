"""Rules about `exportTo`: the namespaces a VirtualService, DestinationRule or
ServiceEntry is exported to must exist (`.`, `*` and `~` aside)."""
from __future__ import annotations

from collections.abc import Iterable

from model.analysis.findings import ERROR
from model.analysis.index import Index, as_list, spec_of
from model.analysis.registry import rule

EXPORTING_KINDS = ("VirtualService", "DestinationRule", "ServiceEntry")
SPECIAL = (".", "*", "~")


@rule("BM160", ERROR, "exportTo names a namespace that does not exist", kiali="KIA0005")
def export_to_unknown_namespace(index: Index) -> Iterable:
    known = {str((n.get("metadata") or {}).get("name")) for n in index.of("Namespace")}
    known |= {index.ns(o) for o in index.objects if index.ns(o)}
    for kind in EXPORTING_KINDS:
        for obj in index.of(kind):
            for position, namespace in enumerate(as_list(spec_of(obj).get("exportTo"))):
                if str(namespace) not in SPECIAL and str(namespace) not in known:
                    yield obj, f"exportTo[{position}] {namespace}: no such namespace among the objects"
