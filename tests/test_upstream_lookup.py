"""Where the tests read upstream artifacts and find their tools (tests/upstream.py),
and when a missing one skips or fails: the behaviour a user's CI on a hosted runner
depends on."""
from __future__ import annotations

import re
import subprocess

import pytest

from tests import prometheus_server, test_policy, test_workflow, upstream as lookup
from tests.conftest import ROOT

SKIPPED, FAILED = pytest.skip.Exception, pytest.fail.Exception
PUBLISHED = "charts/istiod/values.yaml"
UNPUBLISHED = "pulumi/project.json"


def outcome(call, *args) -> tuple[str, str]:
    """Whether `call` skipped or failed the test, and its message (caught here, so that a
    skip where a failure is due fails this test instead of skipping it)."""
    try:
        result = call(*args)
    except SKIPPED as raised:
        return "skipped", raised.msg
    except FAILED as raised:
        return "failed", raised.msg
    return "returned", str(result)


@pytest.fixture
def artifact_roots(tmp_path, monkeypatch):
    """Two artifact folders standing in for upstream/artifacts and ../shared/upstream."""
    fetched, shared = tmp_path / "fetched", tmp_path / "shared"
    for root in (fetched, shared):
        (root / "charts" / "istiod").mkdir(parents=True)
    monkeypatch.setattr(lookup, "FETCHED", fetched)
    monkeypatch.setattr(lookup, "SHARED", shared)
    monkeypatch.delenv(lookup.DIR_VARIABLE, raising=False)
    monkeypatch.delenv(lookup.REQUIRE_VARIABLE, raising=False)
    return fetched, shared


def test_the_fetched_folder_comes_first_then_the_reference_copy_beside_the_clone(artifact_roots):
    fetched, shared = artifact_roots
    (shared / PUBLISHED).write_text("shared")
    assert lookup.upstream(PUBLISHED) == shared / PUBLISHED
    (fetched / PUBLISHED).write_text("fetched")
    assert lookup.upstream(PUBLISHED) == fetched / PUBLISHED


def test_the_directory_variable_is_the_only_place_read_when_set(artifact_roots, tmp_path, monkeypatch):
    fetched, _ = artifact_roots
    (fetched / PUBLISHED).write_text("fetched")
    chosen = tmp_path / "chosen"
    chosen.mkdir()
    monkeypatch.setenv(lookup.DIR_VARIABLE, str(chosen))
    assert outcome(lookup.upstream, PUBLISHED) == (
        "skipped", f"upstream {PUBLISHED} not found in {chosen}: run `make upstream`")
    (chosen / "charts" / "istiod").mkdir(parents=True)
    (chosen / PUBLISHED).write_text("chosen")
    assert lookup.upstream(PUBLISHED) == chosen / PUBLISHED


def test_a_directory_variable_naming_no_directory_fails_rather_than_skipping_everything(artifact_roots,
                                                                                        tmp_path, monkeypatch):
    monkeypatch.setenv(lookup.DIR_VARIABLE, str(tmp_path / "typo"))
    kind, message = outcome(lookup.upstream, PUBLISHED)
    assert kind == "failed" and message.startswith(f"BOOKINFO_MESH_UPSTREAM_DIR={tmp_path / 'typo'}: not a directory")


def test_a_missing_published_artifact_skips_and_fails_when_required(artifact_roots, monkeypatch):
    fetched, shared = artifact_roots
    message = f"upstream {PUBLISHED} not found in {fetched} or {shared}: run `make upstream`"
    assert outcome(lookup.upstream, PUBLISHED) == ("skipped", message)
    monkeypatch.setenv(lookup.REQUIRE_VARIABLE, "1")
    assert outcome(lookup.upstream, PUBLISHED) == ("failed", message)


def test_an_unpublished_artifact_skips_with_the_manifests_reason_even_when_required(artifact_roots, monkeypatch):
    monkeypatch.setenv(lookup.REQUIRE_VARIABLE, "1")
    reason = lookup.manifest()["reasons"][lookup.manifest()["artifacts"][UNPUBLISHED]["reason"]]
    assert outcome(lookup.upstream, UNPUBLISHED) == ("skipped", f"upstream {UNPUBLISHED} is not published: {reason}")
    kind, message = outcome(lookup.missing, "istio-analyzers/*/expected.json")
    assert kind == "skipped" and "is not published" in message


def test_a_folder_with_a_published_file_counts_as_published():
    assert lookup.unpublished_reason("charts/kiali-server") is None
    assert lookup.unpublished_reason("kiali-validations/cases") is not None


def test_a_require_value_other_than_0_or_1_is_refused_in_one_line(artifact_roots, monkeypatch):
    monkeypatch.setenv(lookup.REQUIRE_VARIABLE, "true")
    kind, message = outcome(lookup.upstream, PUBLISHED)
    assert kind == "failed" and message.startswith("BOOKINFO_MESH_REQUIRE_UPSTREAM='true': expected 1")


@pytest.mark.parametrize("require", ["", "1"])
def test_missing_tools_skip_or_fail_when_required(artifact_roots, tmp_path, monkeypatch, require):
    """Prometheus, actionlint and the policy venv: none is installed by a test."""
    monkeypatch.setenv(lookup.REQUIRE_VARIABLE, require)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(test_workflow.sys, "executable", str(tmp_path / "python"))
    kind = "failed" if require else "skipped"
    assert outcome(prometheus_server.binaries) == (kind, "prometheus/promtool is not installed "
                                                         "(apt-get install prometheus)")
    assert outcome(test_workflow.actionlint)[0] == kind
    monkeypatch.setattr(test_policy, "ROOT", tmp_path)
    assert outcome(test_policy.test_make_policy_venv_gives_the_pack_a_virtualenv_that_loads_its_policies) == (
        kind, "the policy pack's virtualenv policy/venv is not installed (make policy-venv)")


# Reads of the CI variable: os.environ["CI"], os.environ.get("CI"), os.getenv("CI"),
# "CI" in os.environ, and $CI / ${CI} in shell.
READS_CI = re.compile(r"""environ(\.get)?\(?\[?\s*["']CI["']|getenv\(\s*["']CI["']|["']CI["']\s+(not\s+)?in\s+os"""
                      r"""|\$\{?CI\b""")


def test_nothing_in_the_project_reads_the_ci_variable():
    """Every hosted CI sets CI=true; what the tests need is said by the two
    BOOKINFO_MESH_* variables instead, so a user's runner behaves like ours."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split("\0")
    readers = [f for f in files if f and (ROOT / f).is_file() and f != "tests/test_upstream_lookup.py"
               and READS_CI.search((ROOT / f).read_text(errors="replace"))]
    assert readers == []
    assert READS_CI.search('os.environ.get("CI")') and READS_CI.search('if [ -n "$CI" ]')


def test_make_test_lists_every_skip_with_its_reason():
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe and re.search(r"-m pytest .*-rs\b", recipe.group(1))
    assert "policy/venv/.installed" in recipe.group(0).splitlines()[0]
