"""How Istio's charts read the values a release gives them (Istio 1.30.3): each
chart's `templates/zzz_profile.yaml` merges `files/profile-<profile>.yaml` and then
`files/profile-platform-<platform>.yaml` over the chart's defaults, the release's
values over both, and fails on a name it has no file for; the meta-keys naming them
(`profile`, `platform`, `global.platform`, `compatibilityVersion`) are in no
values.yaml. The cni chart also copies everything under `cni` to the top level
(`templates/zzy_descope_legacy.yaml`: how a platform profile's `cni.cniBinDir`
reaches `cniBinDir`); the ztunnel and gateway charts flatten `global.*` onto the top
level (their templates are copied with `FLATTEN_GLOBALS_REPLACEMENT=true`)."""
from __future__ import annotations

import copy
from functools import cache

import yaml

from model.bodies import merged
from tests.upstream import upstream

META_KEYS = ("profile", "platform", "compatibilityVersion")
GLOBAL_META_KEYS = ("platform",)
DESCOPED = {"cni": "cni"}
"""Chart → the key whose contents the chart copies to its top level."""
FLATTENS_GLOBALS = ("ztunnel", "gateway")
PROFILE_FOLDERS = {"istiod": "istio-ambient/charts/istiod/files", "cni": "istio-ambient/charts/cni/files",
                   "ztunnel": "istio-ambient/charts/ztunnel/files",
                   # base's own files/ is not among the artifacts; every chart's profile
                   # files are `make gen` copies of manifests/helm-profiles (same digests
                   # in upstream/manifest.json), so istiod's stand for them.
                   "base": "istio-ambient/charts/istiod/files"}


def profile_names(values: dict) -> tuple[str | None, str | None]:
    """(profile, platform) as the chart picks them: `coalesce .Values.x .Values.global.x`."""
    globals_ = values.get("global") or {}
    return (values.get("profile") or globals_.get("profile"), values.get("platform") or globals_.get("platform"))


REMOTE_PROFILE = "istio-multicluster/charts/profile-remote.yaml"
"""istiod's `files/profile-remote.yaml`, byte-identical to base's and gateway's at the
tag (SOURCES.md of the multi-cluster artifacts): kept once, apart from the others."""


@cache
def profile_file(chart: str, name: str) -> dict | None:
    """A chart's `files/<name>.yaml`, or None when the chart has no such file."""
    folder = upstream(PROFILE_FOLDERS[chart])
    path = folder / f"{name}.yaml"
    if name == "profile-remote" and chart in ("base", "istiod"):
        path = upstream(REMOTE_PROFILE)
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else None


def profile_problems(chart: str, values: dict) -> list[str]:
    """What `helm install` fails on: a profile or platform the chart has no file for."""
    profile, platform = profile_names(values)
    if chart not in PROFILE_FOLDERS:
        return [f"{chart} reads no profiles"] if profile or platform else []
    problems = []
    if profile and profile_file(chart, f"profile-{profile}") is None:
        problems.append(f"profile {profile}: no files/profile-{profile}.yaml in chart {chart} (unknown profile)")
    if platform and profile_file(chart, f"profile-platform-{platform}") is None:
        problems.append(f"platform {platform}: no files/profile-platform-{platform}.yaml in chart {chart} "
                        f"(unknown platform)")
    return problems


def as_read(chart: str, values: dict, readable: dict) -> tuple[dict, list[str]]:
    """The release's values with the meta-keys set aside, and `cni.*` / `global.*`
    moved to the top level where the chart does that; plus problems found doing so."""
    checked = {k: copy.deepcopy(v) for k, v in values.items() if k not in META_KEYS}
    problems: list[str] = []
    globals_ = checked.get("global")
    if isinstance(globals_, dict):
        globals_ = {k: v for k, v in globals_.items() if k not in GLOBAL_META_KEYS}
        if chart in FLATTENS_GLOBALS:
            flattened = {k: v for k, v in globals_.items() if k not in (readable.get("global") or {})}
            globals_ = {k: v for k, v in globals_.items() if k not in flattened}
            for key, value in flattened.items():
                if key in checked:
                    problems.append(f"global.{key}: also set at the top level, which the flattening overwrites")
                checked[key] = value
        if globals_:
            checked["global"] = globals_
        else:
            del checked["global"]
    scope = DESCOPED.get(chart)
    if scope and isinstance(checked.get(scope), dict) and scope not in readable:
        checked = merged(checked, checked.pop(scope))
    return checked, problems




def merged_values(chart: str, readable: dict, values: dict) -> dict:
    """The values the chart's templates see: defaults ← profile ← platform ← the
    release's values, then `cni.*` descoped or `global.*` flattened."""
    profile, platform = profile_names(values)
    result = copy.deepcopy(readable)
    if profile:
        result = merged(result, profile_file(chart, f"profile-{profile}"))
    if platform:
        result = merged(result, profile_file(chart, f"profile-platform-{platform}"))
    result = merged(result, values)
    scope = DESCOPED.get(chart)
    if scope and isinstance(result.get(scope), dict):
        result = merged(result, result[scope])
    if chart in FLATTENS_GLOBALS and isinstance(result.get("global"), dict):
        result = merged(result, result["global"])
    return result
