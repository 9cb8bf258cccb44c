"""The pinned manifest of upstream artifacts (upstream/manifest.json) against the
reference copy ../shared/upstream, and `make upstream` (upstream/fetch.py) run for
real against a mirror of that copy served on 127.0.0.1, laid out like the host it
downloads from (`<owner>/<repo>/<ref>/<path>`)."""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.upstream import MANIFEST, SHARED
from upstream import fetch

MANIFEST_DATA = json.loads(MANIFEST.read_text())
ARTIFACTS = MANIFEST_DATA["artifacts"]
PUBLISHED = {local: e for local, e in ARTIFACTS.items() if e.get("published", True) is not False}
FETCHER = ROOT / "upstream" / "fetch.py"

needs_reference_copy = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"the reference copy {SHARED} is not beside the repository (the manifest is "
                                "checked against it where it is: the project's own CI)")

# Gateway API's install bundles hold each CRD file byte for byte behind its marker.
BUNDLE_MARKER = re.compile(rb"^---\n#\n# (config/crd/[a-z]+/[^\n]+\.yaml)\n#\n", re.M)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle_files(bundle: bytes) -> dict[str, bytes]:
    """The CRD files inside a Gateway API install bundle, by their path in the repository."""
    marks = list(BUNDLE_MARKER.finditer(bundle))
    ends = [m.start() for m in marks[1:]] + [len(bundle)]
    return {m.group(1).decode(): bundle[m.end():end] for m, end in zip(marks, ends)}


def bundle_of(local: str) -> str | None:
    """The bundle whose generator reads the input `local`, if any."""
    return next((b for b, e in ARTIFACTS.items() if local in e.get("inputs", ())), None)


def reference_bytes(local: str) -> bytes:
    """What the reference copy holds for an entry: its file, or for a Gateway API CRD
    file (not stored on its own) the copy inside the bundle built from it."""
    bundle = bundle_of(local)
    if bundle:
        return bundle_files((SHARED / bundle).read_bytes())[ARTIFACTS[local]["path"]]
    return (SHARED / local).read_bytes()


@needs_reference_copy
def test_the_manifest_names_every_file_of_the_reference_copy():
    files = {p.relative_to(SHARED).as_posix() for p in SHARED.rglob("*") if p.is_file()}
    assert files - set(ARTIFACTS) == set()


@needs_reference_copy
def test_every_entry_has_the_sha256_of_its_reference_copy():
    wrong = [local for local, entry in ARTIFACTS.items() if sha256(reference_bytes(local)) != entry["sha256"]]
    assert wrong == []


def test_every_published_entry_says_where_it_comes_from_and_every_other_why_not():
    fetch.load_manifest(MANIFEST)  # raises on an entry the fetcher could not follow
    unpublished = {local: e for local, e in ARTIFACTS.items() if local not in PUBLISHED}
    assert {e["reason"] for e in unpublished.values()} <= set(MANIFEST_DATA["reasons"])
    for entry in PUBLISHED.values():
        source = MANIFEST_DATA["sources"].get(entry.get("source"), {})
        assert entry["kind"] == "derived" or source.get("commit") or source.get("tag"), entry


@needs_reference_copy
@pytest.mark.parametrize("bundle", sorted(b for b, e in PUBLISHED.items() if e["kind"] == "derived"))
def test_the_generator_rebuilds_its_reference_copy_byte_for_byte(bundle):
    entry = ARTIFACTS[bundle]
    inputs = [(ARTIFACTS[i]["path"], reference_bytes(i)) for i in entry["inputs"]]
    assert fetch.GENERATORS[entry["generator"]](entry, inputs) == (SHARED / bundle).read_bytes()


def mirror_path(local: str) -> str:
    entry = ARTIFACTS[local]
    source = MANIFEST_DATA["sources"][entry["source"]]
    return f"{source['repository']}/{source.get('commit') or source['tag']}/{entry['path']}"


def build_mirror(folder: Path) -> None:
    """The published verbatim entries laid out as the host serves them; archive members
    packed into their archive, as the chart repository publishes them."""
    archives: dict[str, list[tuple[str, bytes]]] = {}
    for local, entry in PUBLISHED.items():
        if entry["kind"] != "verbatim":
            continue
        if "member" in entry:
            archives.setdefault(mirror_path(local), []).append((entry["member"], reference_bytes(local)))
            continue
        target = folder / mirror_path(local)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(reference_bytes(local))
    for path, members in archives.items():
        packed = io.BytesIO()
        with tarfile.open(fileobj=packed, mode="w:gz") as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(packed.getvalue())


@contextmanager
def serving(folder: Path):
    """An HTTP server on 127.0.0.1 serving `folder`; yields its base URL and the paths requested."""
    requested: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args):  # the fetcher's own output is what the tests read
            requested.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run_fetcher(base_url: str, dest: Path, manifest: Path = MANIFEST) -> subprocess.CompletedProcess:
    """The fetcher as `make upstream` runs it; `-S` (no site-packages) holds it to the
    standard library, since it runs before any virtualenv exists."""
    env = {**os.environ, fetch.BASE_URL_VARIABLE: base_url}
    return subprocess.run([sys.executable, "-S", str(FETCHER), "--dest", str(dest), "--manifest", str(manifest)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    if not SHARED.is_dir():
        pytest.skip(f"the reference copy {SHARED} is not beside the repository: nothing to mirror")
    folder = tmp_path_factory.mktemp("mirror")
    build_mirror(folder)
    return folder


def test_make_upstream_fetches_checks_and_generates_every_published_artifact(mirror, tmp_path):
    dest = tmp_path / "artifacts"
    with serving(mirror) as (base_url, requested):
        done = run_fetcher(base_url, dest)
        assert done.returncode == 0, done.stderr
        verbatim = sum(e["kind"] == "verbatim" for e in PUBLISHED.values())
        derived = len(PUBLISHED) - verbatim
        assert done.stdout.startswith(f"upstream: {verbatim} fetched, {derived} generated, 0 already present")
        assert len(requested) == len({mirror_path(local) for local, e in PUBLISHED.items() if e["kind"] == "verbatim"})
        written = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
        assert written == set(PUBLISHED)
        assert all((dest / local).read_bytes() == reference_bytes(local) for local in PUBLISHED)
        # A second run finds everything in place and asks the host for nothing.
        requested.clear()
        again = run_fetcher(base_url, dest)
    assert again.returncode == 0 and requested == []
    assert again.stdout.startswith(f"upstream: 0 fetched, 0 generated, {len(PUBLISHED)} already present")


def small_manifest(tmp_path: Path, **artifacts) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({**MANIFEST_DATA, "artifacts": artifacts}))
    return path


def test_a_checksum_mismatch_is_one_line_naming_the_file_and_nothing_is_written(mirror, tmp_path):
    local = "charts/istio-base/values.yaml"
    tampered = tmp_path / "mirror"
    (tampered / mirror_path(local)).parent.mkdir(parents=True)
    (tampered / mirror_path(local)).write_bytes((mirror / mirror_path(local)).read_bytes() + b"# changed\n")
    manifest = small_manifest(tmp_path, **{local: ARTIFACTS[local]})
    with serving(tampered) as (base_url, _):
        done = run_fetcher(base_url, tmp_path / "artifacts", manifest)
    got = sha256((tampered / mirror_path(local)).read_bytes())
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (f"{local}: sha256 mismatch: expected {ARTIFACTS[local]['sha256']}, got {got} "
                           f"({base_url}/{mirror_path(local)})\n")
    assert not (tmp_path / "artifacts" / local).exists()


def test_a_file_the_host_does_not_have_is_one_line_naming_its_url(tmp_path):
    local = "charts/istio-base/Chart.yaml"
    (tmp_path / "empty").mkdir()
    with serving(tmp_path / "empty") as (base_url, _):
        done = run_fetcher(base_url, tmp_path / "artifacts", small_manifest(tmp_path, **{local: ARTIFACTS[local]}))
    assert done.returncode == 1
    assert done.stderr == f"{base_url}/{mirror_path(local)}: HTTP 404 File not found\n"


def test_a_manifest_key_outside_the_artifacts_folder_is_refused(tmp_path):
    manifest = small_manifest(tmp_path, **{"../outside.yaml": ARTIFACTS["charts/istio-base/Chart.yaml"]})
    done = run_fetcher("http://127.0.0.1:9", tmp_path / "artifacts", manifest)
    assert done.returncode == 1 and not (tmp_path / "outside.yaml").exists()
    assert done.stderr == (f"{manifest}: artifacts.../outside.yaml: a key must be a relative path inside the "
                           "artifacts folder\n")


def test_a_base_url_that_is_not_http_is_refused(tmp_path):
    done = run_fetcher("file:///etc", tmp_path / "artifacts")
    assert done.returncode == 1
    assert done.stderr == f"{fetch.BASE_URL_VARIABLE}=file:///etc: expected an http:// or https:// URL\n"


def test_the_fetched_folder_is_ignored_by_git():
    done = subprocess.run(["git", "check-ignore", "-q", "upstream/artifacts/charts/istiod/values.yaml"], cwd=ROOT)
    assert done.returncode == 0


def test_make_upstream_runs_this_fetcher_with_the_system_python():
    """It runs before any virtualenv exists (the workflow's first step), so it needs none."""
    recipe = re.search(r"^upstream:\s*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe and recipe.group(1) == "\t$(PYTHON) upstream/fetch.py\n"
