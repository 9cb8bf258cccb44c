"""Weights that do not add up to 100. Istio accepts them and divides each by their
sum, so `80/30` sends 72.7% and 27.3%: valid, but rarely what the author meant, and
the shares a reviewer reads in the file are not the shares the mesh applies."""
from __future__ import annotations

from collections.abc import Iterable

from model.analysis.findings import WARNING
from model.analysis.index import Index
from model.analysis.registry import rule
from model.analysis.routes import route_rules
from model.traffic import format_percent, shares


@rule("BM165", WARNING, "route weights that do not sum to 100 (each gets weight / sum)", other="project policy")
def weights_not_summing_to_100(index: Index) -> Iterable:
    for vs in index.of("VirtualService"):
        for label, destinations in route_rules(vs):
            weights = [d.get("weight") for d in destinations]
            numbers = [w if isinstance(w, (int, float)) and not isinstance(w, bool) else 0 for w in weights]
            total = sum(numbers)
            # A lone destination takes everything (BM109); no weights or all zero is BM110's.
            if len(destinations) < 2 or total <= 0 or any(w < 0 for w in numbers) or abs(total - 100) < 1e-6:
                continue
            effective = ", ".join(f"{_destination(d)} {w:g} → {format_percent(p)}"
                                  for d, w, p in zip(destinations, numbers, shares(numbers)))
            yield vs, (f"{label}: weights sum to {total:g}, not 100, so Istio sends each its weight / {total:g}: "
                       f"{effective}")


def _destination(route_destination) -> str:
    target = route_destination.get("destination") or {}
    if not hasattr(target, "get"):
        return "?"
    return " ".join(str(p) for p in (target.get("host") or "?", target.get("subset")) if p)
