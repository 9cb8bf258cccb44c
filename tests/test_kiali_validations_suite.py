"""`meshplan check` against Kiali's own validation checker tests (tests/kiali_suite.py):
on the scored cases, the findings carrying a Kiali code must recall at least
`RECALL_FLOOR` of the validations Kiali's tests assert, and every finding must be one
Kiali's tests assert (precision 100%). The needs-cluster cases pass on their own with the
autoMtls setting they state; the istio-differs cases give Istio's answer. The cases live
beside the project, never in it; they are not published (upstream/manifest.json says
why), so without ../shared/upstream these tests skip, saying so."""
from __future__ import annotations

from collections import Counter

import pytest

from tests.kiali_suite import (CASE_FILES, ISTIO_DIFFERS, NEEDS_CLUSTER, SCORED, SUITE, case_files, load_case,
                               run_case, score, totals)
from tests.upstream import missing

CASES = case_files()
RECALL_FLOOR = 0.95
"""The issue's bar; the rules reach 95 of 97 (97.9%)."""

ISTIO_ANSWERS: dict[str, Counter] = {
    # Istio keeps a host with a dot as written (pkg/config/analysis/analyzers/util/
    # hosts.go ConvertHostToFQDN: `if strings.Contains(host, ".") { return host }`), so
    # `ratings.bookinfo` names no Service: IST0101 (Kiali's KIA1101) on each route.
    "vs-nohost-two-part-name": Counter({("KIA1101", "VirtualService", "bookinfo2", "ratings"): 2}),
    # Same reading: `reviews` in bookinfo is reviews.bookinfo.svc.cluster.local, a
    # different host from `reviews.bookinfo` (virtualservice/conflictingmeshgatewayhosts.go
    # compares the FQDNs), and `*.bookinfo.svc.cluster.local` does not cover it: no conflict.
    "vs-singlehost-short-vs-svcns": Counter(),
    "vs-singlehost-wildcard-vs-svcns": Counter(),
    # destinationrule/... and virtualservice/destinationrules.go look the subset up by the
    # route host's FQDN (util.ConvertHostToFQDN keeps `reviews.bookinfo`), which no
    # DestinationRule defines: IST0101 (Kiali's KIA1107) on each such route.
    "vs-subset-diff-ns-half-fqdn": Counter({("KIA1107", "VirtualService", "bookinfo", "reviews-vs"): 1}),
    "vs-subset-half-fqdn": Counter({("KIA1107", "VirtualService", "bookinfo", "reviews-vs"): 2}),
}


def _require_suite():
    if not CASES:
        missing(f"{SUITE}/{CASE_FILES}")


def _cases(status: str):
    chosen = [p for p in CASES if load_case(p)["status"] == status]
    if not CASES:
        return [pytest.param(None, id="suite-absent")]
    return [pytest.param(p, id=p.stem) for p in chosen]


def test_the_suite_holds_its_139_cases_when_present():
    _require_suite()
    statuses = Counter(load_case(p)["status"] for p in CASES)
    assert statuses == {SCORED: 125, NEEDS_CLUSTER: 9, ISTIO_DIFFERS: 5}


def test_scored_cases_recall_and_precision():
    _require_suite()
    results = [run_case(p) for p in CASES]
    recall, precision = totals(score(results))
    unexpected = {r.name: dict(r.unexpected) for r in results if r.status == SCORED and r.unexpected}
    assert precision == 1.0 and not unexpected, unexpected
    assert recall >= RECALL_FLOOR, f"recall {recall:.1%} < {RECALL_FLOOR:.1%}"


@pytest.mark.parametrize("path", _cases(NEEDS_CLUSTER))
def test_needs_cluster_case_with_its_stated_auto_mtls(path):
    _require_suite()
    result = run_case(path)
    assert result.passed, f"{result.name}: missing {dict(result.missing)}, unexpected {dict(result.unexpected)}"


@pytest.mark.parametrize("path", _cases(ISTIO_DIFFERS))
def test_istio_differs_case_gives_istios_answer(path):
    _require_suite()
    result = run_case(path, istio_answers=ISTIO_ANSWERS)
    assert result.passed, f"{result.name}: missing {dict(result.missing)}, unexpected {dict(result.unexpected)}"
