"""Istio 1.30.3's own analyzer test cases as a scoring harness for `meshplan check`.

The cases live beside the project (`istio-analyzers/<case>/` and, for the ambient and
Gateway API analyzers, `istio-ambient/istio-analyzers/<case>/` among the upstream
artifacts, tests/upstream.py: input YAML files and `expected.json`), never inside it. For each case `meshplan check` runs
on the case's files exactly as a user would run it on manifests; its findings are
compared with Istio's expected messages as a multiset of (Istio code, kind, namespace,
name), restricted to the codes the case's analyzer can emit (a case says nothing about
other codes).

Cases of an analyzer that judges what only a live cluster holds (`LIVE_ONLY`) run
but are not scored: the tests skip them with the reason.

`python -m tests.istio_suite` prints the score per Istio code."""
from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.upstream import folder_with

ROOT = Path(__file__).resolve().parent.parent
SUITE = "istio-analyzers"
SUITES = (SUITE, "istio-ambient/istio-analyzers")
EXPECTED = "*/expected.json"
LIVE_ONLY = {
    "conditions.ConditionAnalyzer": (
        "IST0171 reads the status conditions istiod and the Gateway controller write on live objects "
        "(Accepted, Programmed, ResolvedRefs, ZtunnelAccepted, istio.io/WaypointBound); rendered objects "
        "carry no status, so no rule mirrors it"),
}
"""Istio analyzers no rule mirrors, and why."""


@dataclass(frozen=True)
class CaseResult:
    name: str
    codes: tuple[str, ...]
    expected: Counter
    found: Counter

    @property
    def missing(self) -> Counter:
        return self.expected - self.found

    @property
    def unexpected(self) -> Counter:
        return self.found - self.expected

    @property
    def passed(self) -> bool:
        return not self.missing and not self.unexpected


def case_dirs() -> list[Path]:
    """Every case folder of the suites (empty where they are absent)."""
    folders = [folder_with(suite, EXPECTED) for suite in SUITES]
    return [case for folder in folders if folder for case in sorted(p.parent for p in folder.glob(EXPECTED))]


def analyzer_of(case: Path) -> str:
    return json.loads((case / "expected.json").read_text())["analyzer_name"]


def live_only(case: Path) -> str | None:
    """Why the case is not scored, or None when it is."""
    return LIVE_ONLY.get(analyzer_of(case))


def istio_code(finding) -> str:
    """The Istio code a finding corresponds to ('' for none)."""
    return getattr(finding, "istio", "") or ""


def from_analyzer(finding, analyzer: str) -> bool:
    """Whether the finding's rule mirrors this Istio analyzer: each Go case runs one
    analyzer, so only the findings of the rules mirroring it are compared (another
    analyzer may emit the same code about the same input)."""
    from model.analysis import CATALOGUE

    rule = CATALOGUE.get(finding.code)
    return rule is not None and analyzer in rule.istio_analyzers


def run_case(case: Path) -> CaseResult:
    from meshplan.check import check_manifests

    spec = json.loads((case / "expected.json").read_text())
    codes = tuple(spec["analyzer_codes"])
    expected = Counter((m["code"], m["kind"], m["namespace"] or "", m["name"]) for m in spec["expected"])
    # Istio's harness puts objects that name no namespace in namespace "".
    findings = check_manifests([str(case / f) for f in spec["inputFiles"]], namespace="")
    found = Counter((istio_code(f), f.kind, f.namespace, f.name) for f in findings
                    if istio_code(f) in codes and from_analyzer(f, spec["analyzer_name"]))
    return CaseResult(name=spec["case"], codes=codes, expected=expected, found=found)


def score(results: list[CaseResult]) -> dict[str, tuple[int, int, int]]:
    """Per Istio code: (expected found, expected total, unexpected)."""
    table: dict[str, list[int]] = {}
    for result in results:
        for code in result.codes:
            row = table.setdefault(code, [0, 0, 0])
            expected = Counter({k: n for k, n in result.expected.items() if k[0] == code})
            found = Counter({k: n for k, n in result.found.items() if k[0] == code})
            row[0] += sum((expected & found).values())
            row[1] += sum(expected.values())
            row[2] += sum((found - expected).values())
    return {code: tuple(row) for code, row in sorted(table.items())}


def print_score_table(table: dict[str, tuple[int, int, int]], code_heading: str) -> None:
    """Per code: expected messages found, expected in all, unexpected; then the sums."""
    print(f"| {code_heading} | expected found | expected total | unexpected |")
    print("|---|---:|---:|---:|")
    for code, (hit, total, extra) in table.items():
        print(f"| {code} | {hit} | {total} | {extra} |")
    hit, total, extra = (sum(col) for col in zip(*table.values()))
    print(f"| all | {hit} | {total} | {extra} |")


def main() -> int:
    cases = case_dirs()
    results = [run_case(case) for case in cases if not live_only(case)]
    if not results:
        print(f"no {SUITE}/{EXPECTED} among the upstream artifacts (tests/upstream.py)")
        return 1
    print_score_table(score(results), "Istio code")
    print(f"cases passing: {sum(r.passed for r in results)}/{len(results)}")
    for case in cases:
        if live_only(case):
            print(f"not scored: {case.name}: {live_only(case)}")
    if "-v" in sys.argv:
        for r in results:
            if not r.passed:
                print(f"{r.name}: missing {dict(r.missing)} unexpected {dict(r.unexpected)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
