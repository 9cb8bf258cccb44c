"""`make test` leaves the checkout as it found it: after the suite, `git status
--porcelain --ignored` shows nothing beyond the virtualenvs (with the editable
install's metadata, bookinfo_mesh.egg-info), the fetched upstream artifacts and the
tools' caches.

The test runs last (tests/conftest.py orders it so) and judges what the whole
session left. It compares with the status taken when this module was collected,
before any test ran, so a developer's own uncommitted work never fails it; on a
fresh clone that first status is empty and the rule is exactly the one above."""
from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

ALLOWED_FOLDERS = ("venv", "policy/venv", "bookinfo_mesh.egg-info", "upstream/artifacts")
CACHES = {"__pycache__", ".pytest_cache", ".hypothesis"}


def status() -> dict[str, str] | None:
    """Each path `git status` lists (untracked files one by one; ignored folders as
    folders), outside the allowed ones, with a digest of its content; None outside a
    git checkout."""
    if shutil.which("git") is None:
        return None
    done = subprocess.run(["git", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored=matching"],
                          cwd=ROOT, capture_output=True)
    if done.returncode != 0:
        return None
    listed = {}
    records = iter(done.stdout.decode(errors="replace").split("\0"))
    for record in records:
        code, path = record[:2], record[3:]
        if code[:1] in ("R", "C"):
            next(records, None)  # a rename's or copy's source path follows as its own record
        if not path or allowed(path):
            continue
        file = ROOT / path
        content = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else "absent"
        listed[path] = f"{code} {content}"
    return listed


def allowed(path: str) -> bool:
    path = path.rstrip("/")
    return (any(path == folder or path.startswith(folder + "/") for folder in ALLOWED_FOLDERS)
            or bool(CACHES & set(path.split("/"))) or path.endswith(".pyc"))


AT_COLLECTION = status()


def test_the_suite_leaves_nothing_in_the_checkout_but_venvs_fetched_artifacts_and_caches():
    if AT_COLLECTION is None:
        pytest.skip("not a git checkout: nothing to compare")
    left = status()
    changed = {path: state for path, state in left.items() if AT_COLLECTION.get(path) != state}
    assert changed == {}, "the tests left these in the checkout (git status --porcelain --ignored)"


def test_the_check_sees_a_stray_file_and_lets_caches_through():
    assert not allowed("stray.json") and not allowed("tests/out.txt") and not allowed("policy/venvish/x")
    assert allowed("venv/") and allowed("policy/venv/") and allowed("upstream/artifacts/charts/istiod/values.yaml")
    assert allowed("bookinfo_mesh.egg-info/") and not allowed("other.egg-info/")
    assert allowed("meshplan/__pycache__/") and allowed(".hypothesis/") and allowed(".pytest_cache/")


def test_the_clean_checkout_check_runs_after_every_other_test(request):
    last = [item.nodeid for item in request.session.items][-3:]
    assert all(nodeid.startswith("tests/test_clean_checkout.py::") for nodeid in last), last
