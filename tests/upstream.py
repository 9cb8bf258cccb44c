"""Where the tests find the real tools' own artifacts (the Pulumi CLI's project schema,
the Helm charts' defaults and schemas, Istio's CRDs and samples, analyzer cases) and
the tools they run (Prometheus, actionlint, the policy pack's virtualenv).

Artifacts never live in the repository. `upstream/manifest.json` pins each one;
`make upstream` downloads the published ones into `upstream/artifacts/` (git-ignored).
They are read from `BOOKINFO_MESH_UPSTREAM_DIR` when it is set, else from
`upstream/artifacts/`, then from `../shared/upstream` beside the clone, the first that
holds the file. A test whose artifact or tool is missing skips, saying why; with
`BOOKINFO_MESH_REQUIRE_UPSTREAM=1` it fails instead, except for artifacts the manifest
marks `published: false`, which no runner can fetch (they skip with the manifest's
reason)."""
from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path, PurePosixPath
from typing import NoReturn

import pytest
import yaml

from tests.conftest import ROOT

DIR_VARIABLE = "BOOKINFO_MESH_UPSTREAM_DIR"
REQUIRE_VARIABLE = "BOOKINFO_MESH_REQUIRE_UPSTREAM"
MANIFEST = ROOT / "upstream" / "manifest.json"
FETCHED = ROOT / "upstream" / "artifacts"
SHARED = ROOT.parent / "shared" / "upstream"
SHARED_TOOLS = ROOT.parent / "shared" / "tools"


def required() -> bool:
    """Whether a missing artifact or tool fails the test (`BOOKINFO_MESH_REQUIRE_UPSTREAM=1`)."""
    value = os.environ.get(REQUIRE_VARIABLE, "")
    if value not in ("", "0", "1"):
        pytest.fail(f"{REQUIRE_VARIABLE}={value!r}: expected 1 (missing artifacts and tools fail) "
                    "or 0 / unset (they skip)", pytrace=False)
    return value == "1"


def roots() -> list[Path]:
    """The folders artifacts are read from, in order."""
    chosen = os.environ.get(DIR_VARIABLE)
    if chosen:
        if not Path(chosen).is_dir():
            pytest.fail(f"{DIR_VARIABLE}={chosen}: not a directory (run `make upstream`, or point it at a "
                        "folder laid out like upstream/artifacts)", pytrace=False)
        return [Path(chosen)]
    return [FETCHED, SHARED]


@cache
def manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def unpublished_reason(relative: str) -> str | None:
    """Why no runner can fetch what `relative` names (a file, a folder or a glob), or
    None when some of it is published."""
    entries = [entry for local, entry in manifest()["artifacts"].items()
               if local == relative or local.startswith(relative.rstrip("/") + "/")
               or PurePosixPath(local).match(relative)]
    if not entries or any(entry.get("published", True) is not False for entry in entries):
        return None
    return manifest()["reasons"][entries[0]["reason"]]


def locate(relative: str) -> Path | None:
    """The first root holding `relative` (a file or a folder), or None."""
    return next((root / relative for root in roots() if (root / relative).exists()), None)


def missing(relative: str) -> NoReturn:
    """Skip (or, when required, fail) the test for want of an artifact."""
    reason = unpublished_reason(relative)
    if reason:
        pytest.skip(f"upstream {relative} is not published: {reason}")
    where = " or ".join(str(root) for root in roots())
    message = f"upstream {relative} not found in {where}: run `make upstream`"
    if required():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def upstream(relative: str) -> Path:
    """The artifact at `relative` (as laid out in upstream/artifacts), or skip / fail."""
    return locate(relative) or missing(relative)


def folder_with(relative: str, pattern: str) -> Path | None:
    """The first root's folder `relative` holding files matching `pattern`, or None."""
    return next((root / relative for root in roots() if any((root / relative).glob(pattern))), None)


def missing_tool(what: str, how: str) -> NoReturn:
    """Skip (or, when required, fail) the test for want of a tool."""
    message = f"{what} is not installed ({how})"
    if required():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def shared_tool(name: str) -> Path:
    """A checker kept beside the reference copy (../shared/tools), not an upstream
    artifact: no runner can fetch it, so without it the test skips even when required."""
    path = SHARED_TOOLS / name
    if not path.is_file():
        pytest.skip(f"{path} is absent: a checker kept beside the reference copy of the upstream artifacts, "
                    "not published")
    return path


def objects_in(path: str, kind: str, *, namespace: str) -> dict[str, dict]:
    """Upstream's objects of one kind in one artifact file, by name, placed in
    `namespace` (upstream's samples leave it to `kubectl apply -n`)."""
    found = {}
    for document in yaml.safe_load_all(upstream(path).read_text()):
        if document and document["kind"] == kind:
            placed = copy.deepcopy(document)
            placed["metadata"]["namespace"] = namespace
            found[placed["metadata"]["name"]] = placed
    assert found, f"{path} holds no {kind}"
    return found
