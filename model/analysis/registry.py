"""The rule registry: every analyzer is a `Rule` declaring its code, level, the
istioctl / Kiali code it corresponds to and a one-line doc. `CATALOGUE` is the one
list of codes; the README's table is tested against it.

A rule is a function `(index) -> iterable of (object, message)`, `(object, message,
level)` or `(object, message, level, kiali)`: a rule mirroring several Kiali codes
gives each finding the one that applies, '' for none (None: the rule's default level or
code); it reads only the shared, read-only `Index` of the objects, never another
rule's results, so rules run in any order and alone."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from model.analysis.findings import ERROR, INFO, WARNING, Finding
from model.analysis.index import Index

Report = tuple  # (object, message) or (object, message, level)


@dataclass(frozen=True)
class Rule:
    code: str
    level: str
    """Default level; a rule may report a finding at another level (say which in `doc`)."""
    doc: str
    istio: str = ""
    kiali: str = ""
    """The Kiali code(s) it mirrors, `/`-separated when each finding names the one that applies."""
    other: str = ""
    """An equivalent that has no code (e.g. the Istio validation webhook)."""
    istio_analyzers: tuple[str, ...] = ()
    """The `istioctl analyze --list-analyzers` names of the Istio analyzers it mirrors."""
    level_doc: str = ""
    """How the level is chosen when it is not always `level`."""
    run: Callable[[Index], Iterable[Report]] | None = None

    @property
    def equivalent(self) -> str:
        return " / ".join(c for c in (self.istio, self.kiali) if c) or self.other or "—"

    def findings(self, index: Index) -> list[Finding]:
        out = []
        for report in self.run(index):
            obj, message, level, kiali = (*report, None, None)[:4]
            kind, namespace, name = index.identity(obj)
            out.append(Finding(level or self.level, self.code, kind, namespace, name, message,
                               istio=self.istio, kiali=self.kiali if kiali is None else kiali))
        return out


CODE_RE = re.compile(r"(BM|MC)\d{3}")
"""BM: one cluster's objects; MC: a mesh over several clusters."""

CATALOGUE: dict[str, Rule] = {}
"""Every rule by code, in code order once all rule modules are imported."""


def rule(code: str, level: str, doc: str, *, istio: str = "", kiali: str = "", other: str = "",
         analyzer: str | tuple[str, ...] = "", level_doc: str = "") -> Callable:
    """Register the decorated function as the rule `code`."""
    assert level in (ERROR, WARNING, INFO), level
    assert CODE_RE.fullmatch(code), code

    def register(run: Callable[[Index], Iterable[Report]]) -> Callable:
        if code in CATALOGUE:
            raise ValueError(f"rule code {code} registered twice")
        CATALOGUE[code] = Rule(code=code, level=level, doc=doc, istio=istio, kiali=kiali, other=other,
                               istio_analyzers=(analyzer,) if isinstance(analyzer, str) and analyzer else tuple(analyzer),
                               level_doc=level_doc, run=run)
        return run
    return register


def codes() -> Mapping[str, tuple[str, str]]:
    """Code → (one-line doc, istioctl / Kiali equivalent)."""
    return {code: (r.doc, r.equivalent) for code, r in sorted(CATALOGUE.items())}


def markdown_table() -> str:
    """The README's code table, generated from the catalogue."""
    lines = ["| Code | Level | Finding | istioctl / Kiali |", "|---|---|---|---|"]
    for code, r in sorted(CATALOGUE.items()):
        lines.append(f"| {code} | {r.level_doc or r.level} | {r.doc} | {r.equivalent} |")
    return "\n".join(lines) + "\n"
