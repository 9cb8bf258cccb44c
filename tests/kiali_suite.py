"""Kiali's own validation checker tests as a scoring harness for `meshplan check`.

The cases live beside the project (`kiali-validations/cases/*.yaml` among the
upstream artifacts, tests/upstream.py): each holds the objects one Kiali checker test
judges, what else the test hands the checker (`extra_objects`), the codes that checker
can emit (`checker_codes`) and the validations the test asserts (`expected`). Every
case's objects go through the analysis `meshplan check` runs on manifest files; its
findings are compared with the expected validations as a multiset of (Kiali code,
kind, namespace, name), restricted to the checker's codes and to the objects the case
asserts (its `objects`, less those it lists as `unasserted`).

A case's `status`: `scored` cases make the recall and precision; `needs-cluster`
cases rest on istiod's autoMtls, which files do not show: they state the setting
their expectation assumes (a `ConfigMap istio` in istio-system, see `mesh_config`) and
pass or fail on their own; `istio-differs` cases expect what Kiali answers where
Istio answers otherwise (their `istio_note`): the test asserts Istio's answer.

`python -m tests.kiali_suite` prints the score per Kiali code (`-v`: each failing case)."""
from __future__ import annotations

import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests import istio_suite
from tests.upstream import folder_with

ROOT = Path(__file__).resolve().parent.parent
SUITE = "kiali-validations/cases"
CASE_FILES = "*.yaml"
SCORED, NEEDS_CLUSTER, ISTIO_DIFFERS = "scored", "needs-cluster", "istio-differs"


@dataclass(frozen=True)
class CaseResult(istio_suite.CaseResult):
    """A case's result as Istio's suite scores it, with the case's Kiali status."""

    status: str = SCORED


def case_files() -> list[Path]:
    """Every case of the suite (empty where the suite is absent)."""
    folder = folder_with(SUITE, CASE_FILES)
    return sorted(folder.glob(CASE_FILES)) if folder else []


def load_case(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def mesh_config(auto_mtls: bool) -> dict:
    """istiod's mesh config as `meshplan check` reads it from the files: the
    `istio` ConfigMap of istio-system, whose `mesh` key holds the MeshConfig YAML."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": "istio-system"},
            "data": {"mesh": yaml.safe_dump({"enableAutoMtls": auto_mtls})}}


def stated_auto_mtls(case: dict) -> bool:
    """The autoMtls setting a needs-cluster case's `expected` is written for: its
    `needs_cluster` ends "expected shown for autoMtls=True" (or False)."""
    stated = case["needs_cluster"].rsplit("expected shown for autoMtls=", 1)[1].split()[0].strip(".")
    return {"True": True, "False": False}[stated]


def case_objects(case: dict) -> list[dict]:
    objects = [*case["objects"], *case["extra_objects"]]
    if case["status"] == NEEDS_CLUSTER:
        objects.append(mesh_config(stated_auto_mtls(case)))
    return objects


def asserted(case: dict) -> set[tuple[str, str, str]]:
    """The objects whose validations the case asserts."""
    skipped = {(o["kind"], o["namespace"], o["name"]) for o in case.get("unasserted") or []}
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"].get("name", ""))
            for o in case["objects"]} - skipped


def kiali_codes(finding) -> tuple[str, ...]:
    return tuple(code for code in (finding.kiali or "").split("/") if code)


def run_case(path: Path, *, istio_answers: dict[str, Counter] | None = None) -> CaseResult:
    from meshplan.check import check_manifests

    case = load_case(path)
    codes = tuple(case["checker_codes"])
    expected = Counter((v["code"], v["kind"], v["namespace"], v["name"]) for v in case["expected"])
    if case["status"] == ISTIO_DIFFERS and istio_answers is not None:
        expected = istio_answers[case["id"]]
    objects = asserted(case)
    with tempfile.TemporaryDirectory() as folder:
        manifest = Path(folder) / f"{case['id']}.yaml"
        manifest.write_text(yaml.safe_dump_all(case_objects(case), sort_keys=False))
        findings = check_manifests([str(manifest)])
    found = Counter((code, f.kind, f.namespace, f.name) for f in findings for code in kiali_codes(f)
                    if code in codes and (f.kind, f.namespace, f.name) in objects)
    return CaseResult(name=case["id"], status=case["status"], codes=codes, expected=expected, found=found)


def score(results: list[CaseResult]) -> dict[str, tuple[int, int, int]]:
    """Per Kiali code: (expected found, expected total, unexpected), over scored cases."""
    table: dict[str, list[int]] = {}
    for result in results:
        if result.status != SCORED:
            continue
        for code in result.codes:
            row = table.setdefault(code, [0, 0, 0])
            expected = Counter({k: n for k, n in result.expected.items() if k[0] == code})
            found = Counter({k: n for k, n in result.found.items() if k[0] == code})
            row[0] += sum((expected & found).values())
            row[1] += sum(expected.values())
            row[2] += sum((found - expected).values())
    return {code: tuple(row) for code, row in sorted(table.items())}


def totals(table: dict[str, tuple[int, int, int]]) -> tuple[float, float]:
    """(recall, precision) over the whole table."""
    hit, total, extra = (sum(col) for col in zip(*table.values())) if table else (0, 0, 0)
    return (hit / total if total else 1.0, hit / (hit + extra) if hit + extra else 1.0)


def main() -> int:
    results = [run_case(path) for path in case_files()]
    if not results:
        print(f"no {SUITE}/{CASE_FILES} among the upstream artifacts (tests/upstream.py)")
        return 1
    table = score(results)
    istio_suite.print_score_table(table, "Kiali code")
    recall, precision = totals(table)
    print(f"recall {recall:.1%}, precision {precision:.1%} over {sum(r.status == SCORED for r in results)} scored cases")
    for status in (SCORED, NEEDS_CLUSTER, ISTIO_DIFFERS):
        group = [r for r in results if r.status == status]
        against = " (against Kiali's answer; the test asserts Istio's)" if status == ISTIO_DIFFERS else ""
        print(f"{status} cases passing: {sum(r.passed for r in group)}/{len(group)}{against}")
    if "-v" in sys.argv:
        for r in results:
            if not r.passed:
                print(f"{r.name} [{r.status}]: missing {dict(r.missing)} unexpected {dict(r.unexpected)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
