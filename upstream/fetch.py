"""`make upstream`: download the pinned upstream artifacts the tests compare the project
with, check each against `upstream/manifest.json`, and build the derived ones.

A verbatim entry is the file at `path` in its source repository at the source's
commit (else its tag), read from `<base>/<owner>/<repo>/<ref>/<path>`, the layout of
raw.githubusercontent.com; `BOOKINFO_MESH_UPSTREAM_BASE_URL` names a mirror laid out
the same way. An entry with a `member` is that file inside the downloaded archive.
A derived entry is assembled here from verbatim ones by its `generator`. Every file
written has the manifest's sha256, or nothing is written for it and the run fails with
one line naming it. Entries marked `published: false` are not fetched: the tests that
need them skip, saying why.

Standard library only: it runs before any virtualenv exists."""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"
DESTINATION = HERE / "artifacts"
BASE_URL_VARIABLE = "BOOKINFO_MESH_UPSTREAM_BASE_URL"
DEFAULT_BASE_URL = "https://raw.githubusercontent.com"
ATTEMPTS = 3
TIMEOUT_SECONDS = 60


class UpstreamError(Exception):
    """One line naming what failed; the command prints it and exits 1."""


# Gateway API's release assets are built by its hack/build-install-yaml.sh: the
# license boilerplate, a channel header, then each config/crd/<channel>/gateway*.yaml
# file in name order, each behind `---` and a comment naming it.
GATEWAY_API_BOILERPLATE = """\
# Copyright The Kubernetes Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""


def gateway_api_install(entry: dict, inputs: list[tuple[str, bytes]]) -> bytes:
    """`<channel>-install.yaml` from the tag's CRD files, as the release script builds it."""
    channel = entry["channel"]
    parts = [GATEWAY_API_BOILERPLATE.encode(), f"#\n# Gateway API {channel.capitalize()} channel install\n#\n".encode()]
    for path, data in sorted(inputs):
        parts += [f"---\n#\n# {path}\n#\n".encode(), data]
    return b"".join(parts)


GENERATORS = {"gateway-api-install": gateway_api_install}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_manifest(path: Path) -> dict:
    """The manifest, checked enough that every later step can trust its shape."""
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UpstreamError(f"{path}: cannot read the manifest: {error}") from None
    sources, artifacts = manifest.get("sources"), manifest.get("artifacts")
    if not isinstance(sources, dict) or not isinstance(artifacts, dict):
        raise UpstreamError(f"{path}: expected objects `sources` and `artifacts`")
    for local, entry in artifacts.items():
        where = f"{path}: artifacts.{local}"
        pure = PurePosixPath(local)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise UpstreamError(f"{where}: a key must be a relative path inside the artifacts folder")
        if not isinstance(entry, dict) or len(str(entry.get("sha256", ""))) != 64:
            raise UpstreamError(f"{where}: expected an object with a 64-digit sha256")
        if entry.get("published", True) is False:
            continue
        kind = entry.get("kind")
        if kind == "verbatim":
            source = sources.get(entry.get("source"))
            if not isinstance(source, dict) or not (source.get("commit") or source.get("tag")):
                raise UpstreamError(f"{where}: source {entry.get('source')!r} has no commit or tag in `sources`")
            if not isinstance(entry.get("path"), str):
                raise UpstreamError(f"{where}: expected `path`, the file's path in its repository")
        elif kind == "derived":
            if entry.get("generator") not in GENERATORS:
                raise UpstreamError(f"{where}: generator {entry.get('generator')!r} is not one of {sorted(GENERATORS)}")
            unknown = [i for i in entry.get("inputs", []) if artifacts.get(i, {}).get("kind") != "verbatim"]
            if unknown or not entry.get("inputs"):
                raise UpstreamError(f"{where}: inputs must be verbatim entries of this manifest: {unknown}")
        else:
            raise UpstreamError(f"{where}: kind {kind!r} is not verbatim or derived")
    return manifest


def url_of(manifest: dict, entry: dict, base_url: str) -> str:
    source = manifest["sources"][entry["source"]]
    ref = source.get("commit") or source["tag"]
    return f"{base_url.rstrip('/')}/{source['repository']}/{ref}/{entry['path']}"


def download(url: str) -> bytes:
    """The body at `url`; transient failures (network, 429, 5xx) are tried again."""
    request = urllib.request.Request(url, headers={"User-Agent": "bookinfo-mesh make upstream"})
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            if error.code != 429 and error.code < 500 or attempt == ATTEMPTS:
                raise UpstreamError(f"{url}: HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, OSError) as error:
            if attempt == ATTEMPTS:
                raise UpstreamError(f"{url}: {getattr(error, 'reason', error)}") from None
        time.sleep(attempt)
    raise AssertionError("unreachable")


def member_of(archive: bytes, member: str, url: str) -> bytes:
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            handle = tar.extractfile(member)
            if handle is None:
                raise KeyError(member)
            return handle.read()
    except (tarfile.TarError, KeyError):
        raise UpstreamError(f"{url}: no file {member} in the archive") from None


def verified(local: str, entry: dict, data: bytes, url: str = "") -> bytes:
    got = sha256(data)
    if got != entry["sha256"]:
        origin = f" ({url})" if url else ""
        raise UpstreamError(f"{local}: sha256 mismatch: expected {entry['sha256']}, got {got}{origin}")
    return data


def write(path: Path, data: bytes) -> None:
    """Write through a temporary file, so an interrupted run never leaves a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def present(path: Path, entry: dict) -> bool:
    return path.is_file() and sha256(path.read_bytes()) == entry["sha256"]


def fetch(manifest: dict, destination: Path, base_url: str, jobs: int = 8) -> dict[str, int]:
    """Download and verify the published verbatim entries, then build the derived ones.
    Returns counts; raises UpstreamError with every failure, one line each."""
    published = {local: e for local, e in manifest["artifacts"].items() if e.get("published", True) is not False}
    verbatim = {local: e for local, e in published.items() if e["kind"] == "verbatim"}
    derived = {local: e for local, e in published.items() if e["kind"] == "derived"}
    wanted = {local: e for local, e in verbatim.items() if not present(destination / local, e)}
    urls = sorted({url_of(manifest, e, base_url) for e in wanted.values()})

    def get(url: str) -> tuple[str, bytes | UpstreamError]:
        try:
            return url, download(url)
        except UpstreamError as error:
            return url, error

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        bodies = dict(pool.map(get, urls))
    failures = sorted({str(b) for b in bodies.values() if isinstance(b, UpstreamError)})
    for local, entry in sorted(wanted.items()):
        url = url_of(manifest, entry, base_url)
        body = bodies[url]
        if isinstance(body, UpstreamError):
            continue
        try:
            data = member_of(body, entry["member"], url) if "member" in entry else body
            write(destination / local, verified(local, entry, data, url))
        except UpstreamError as error:
            failures.append(str(error))
    if failures:
        raise UpstreamError("\n".join(failures))
    built = 0
    for local, entry in sorted(derived.items()):
        if present(destination / local, entry):
            continue
        inputs = [(verbatim[i]["path"], (destination / i).read_bytes()) for i in entry["inputs"]]
        write(destination / local, verified(local, entry, GENERATORS[entry["generator"]](entry, inputs)))
        built += 1
    return {"fetched": len(wanted), "present": len(verbatim) - len(wanted) + len(derived) - built,
            "generated": built, "unpublished": len(manifest["artifacts"]) - len(published)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="upstream/fetch.py", description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--dest", type=Path, default=DESTINATION, help="the artifacts folder (default %(default)s)")
    args = parser.parse_args(argv)
    base_url = os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL
    try:
        if not base_url.startswith(("https://", "http://")):
            raise UpstreamError(f"{BASE_URL_VARIABLE}={base_url}: expected an http:// or https:// URL")
        counts = fetch(load_manifest(args.manifest), args.dest, base_url)
    except UpstreamError as error:
        print(str(error), file=sys.stderr)
        return 1
    print(f"upstream: {counts['fetched']} fetched, {counts['generated']} generated, {counts['present']} already "
          f"present in {args.dest}; {counts['unpublished']} not published (reasons in {args.manifest.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
