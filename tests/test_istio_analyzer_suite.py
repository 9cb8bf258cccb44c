"""`meshplan check` against Istio 1.30.3's own analyzer test cases: each case's input
files must give exactly Istio's expected messages (Istio code and resource) for the
rules mirroring the case's analyzer; a case of an analyzer that needs a live cluster
runs and is skipped with the reason. The cases live beside the project, never in it;
their expectations are not published (upstream/manifest.json says why), so without
../shared/upstream these tests skip, saying so."""
from __future__ import annotations

import time

import pytest

from tests.conftest import render_stack
from tests.istio_suite import EXPECTED, LIVE_ONLY, SUITE, analyzer_of, case_dirs, live_only, run_case
from tests.upstream import missing

CASES = case_dirs()


def _params():
    if not CASES:
        return [pytest.param(None, id="suite-absent")]
    return [pytest.param(case, id=case.name) for case in CASES]


def _require_suite():
    if not CASES:
        missing(f"{SUITE}/{EXPECTED}")


@pytest.mark.parametrize("case", _params())
def test_istio_case_gives_exactly_the_expected_messages(case):
    _require_suite()
    result = run_case(case)
    if live_only(case):
        pytest.skip(f"{result.name}: {live_only(case)} (Istio expects {sum(result.expected.values())} "
                    f"messages; the rules give {sum(result.found.values())})")
    assert not result.missing and not result.unexpected, (
        f"{result.name}: missing {dict(result.missing)}, unexpected {dict(result.unexpected)}")


def test_every_analyzer_of_the_suite_is_mirrored_by_a_rule():
    """A case expecting nothing would pass without any rule: each analyzer must have one."""
    from model.analysis import CATALOGUE

    _require_suite()
    analyzers = {analyzer_of(case) for case in CASES}
    mirrored = {name for rule in CATALOGUE.values() for name in rule.istio_analyzers}
    assert analyzers - mirrored == set(LIVE_ONLY)


def test_all_eighty_three_cases_are_present_when_the_suite_is():
    """80 cases of the sidecar-mode analyzers, 3 of the ambient and Gateway API ones."""
    _require_suite()
    assert len(CASES) == 83
    assert sum(1 for case in CASES if not live_only(case)) == 82


def test_dev_stack_check_plus_the_whole_suite_take_under_ten_seconds():
    from meshplan.check import check_rendered

    rendered = render_stack("dev")  # rendering is measured elsewhere; this is the check
    start = time.perf_counter()
    check_rendered(rendered)
    for case in CASES:
        run_case(case)
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"check of the dev render and {len(CASES)} cases took {elapsed:.2f} s"
