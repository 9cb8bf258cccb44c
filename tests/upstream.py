"""The real tools' own artifacts (the Pulumi CLI's project schema and config rules,
the Helm charts' defaults and schemas, Istio's CRDs) live beside the repository in
../shared/upstream, never inside it. Tests that compare against them skip, saying
why, on a clone without that folder; in CI (CI set) the folder must be there."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import ROOT

UPSTREAM = ROOT.parent / "shared" / "upstream"


def upstream(relative: str) -> Path:
    """A path under ../shared/upstream; skips the test when it is absent (fails in CI)."""
    path = UPSTREAM / relative
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI runs beside ../shared/upstream")
        pytest.skip(f"{path} is absent: the upstream artifacts sit beside the repository in CI")
    return path
