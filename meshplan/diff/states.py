"""The two sides of `meshplan diff`, loaded: a state is either rendered (a stack file
run through the program under mocks, in this process or, for a git ref, in a
subprocess from a temporary worktree; or `meshplan render --format json` output) or
read from a `pulumi stack export` file."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from meshplan.render.recording import SECRET_SHOWN, Rendered, each_once, plain, provider_name
from meshplan.render.engine import PROJECT_DIR
from meshplan.interrupts import undo_on_interrupt
from model.analysis.shapes import BOOL, STR, checked_object, obj
from model.apps import service_namespace
from model.errors import ConfigError
from model.safe_files import STATE, load_json_file, load_json_text
from model.names import STACK_REFERENCE_TYPE, STACK_TYPE, is_default_provider
from model.settings import Settings


ServiceEnd = tuple[str, str]
"""One end of a call: (namespace, service)."""


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    inputs: dict


@dataclass
class State:
    """One side of a diff: resources by URN (stack part dropped, so a state exported
    from a stack compares with a render under another stack name), and the
    Kubernetes objects for the traffic table."""

    label: str
    resources: dict[str, Resource]
    objects: list[dict] = field(default_factory=list)
    calls: tuple[tuple[ServiceEnd, ServiceEnd], ...] = ()
    """Who calls whom among the services the stack deploys (`service_calls`): known
    for a rendered stack only; render JSON and state exports hold objects alone."""
    clusters: dict[str, list[dict]] = field(default_factory=dict)
    """A multi-cluster stack's objects per cluster (its provider's name); `objects`
    then holds each object once, as the mesh sees it. Empty for one cluster."""


def _skipped(type_token: str) -> bool:
    return (type_token in (STACK_TYPE, STACK_REFERENCE_TYPE) or type_token.startswith("pulumi:providers:"))


def urn_key(urn: str) -> str:
    """The URN without its stack: `<project>::<type chain>::<name>`."""
    return urn.split("::", 1)[-1]


def state_from_rendered(rendered: Rendered, label: str | None = None) -> State:
    resources = {urn_key(r.urn): Resource(r.urn, r.type, r.name, r.inputs)
                 for r in rendered.resources if r.custom and not _skipped(r.type)}
    clusters = _by_cluster([(r.provider, r.inputs) for r in rendered.resources if r.is_kubernetes_object])
    return State(label or rendered.source, resources, rendered.mesh_objects(), service_calls(rendered.settings),
                 clusters=clusters)


def _cluster_of(reference: str | None) -> str | None:
    """The cluster an explicit provider deploys to; None for the default provider
    (`default`, `default_4_34_2`: a one-cluster stack's)."""
    name = provider_name(reference)
    return None if name is None or is_default_provider(name) else name


def _by_cluster(objects: list[tuple[str | None, dict]]) -> dict[str, list[dict]]:
    """(provider reference, object) pairs → objects per cluster, when any provider
    names a cluster."""
    clusters: dict[str, list[dict]] = {}
    for reference, obj in objects:
        cluster = _cluster_of(reference)
        if cluster is not None:
            clusters.setdefault(cluster, []).append(obj)
    return clusters


def service_calls(settings: Settings) -> tuple[tuple[ServiceEnd, ServiceEnd], ...]:
    """The application's calls (`Application.calls`) between services this stack
    deploys, each end with the namespace it runs in."""
    app, deployed = settings.app.application, settings.services

    def end(name: str) -> ServiceEnd:
        return service_namespace(app.service(name), settings.app.namespace), name

    return tuple((end(caller), end(callee)) for caller, callee in app.calls()
                 if caller in deployed and callee in deployed)


def state_from_render_json(document: Mapping, label: str) -> State:
    """A state from `meshplan render --format json` output (used for --base-ref)."""
    resources, objects = {}, []
    for r in _resource_records(document.get("resources") if isinstance(document, dict) else document,
                               label, "resources"):
        if _skipped(r["type"]) or r["type"].startswith("bookinfo-mesh:") or not r.get("custom", True):
            continue
        resources[urn_key(r["urn"])] = Resource(r["urn"], r["type"], r.get("name", ""), r.get("inputs") or {})
        inputs = r.get("inputs") or {}
        if "apiVersion" in inputs and "kind" in inputs:
            objects.append((r.get("provider"), inputs))
    return _state_of(label, resources, objects)


def _state_of(label: str, resources: dict[str, Resource], objects: list[tuple[str | None, dict]]) -> State:
    """A state of objects read back: over several clusters each object once, and
    each cluster's own (every primary holds the traffic objects)."""
    clusters = _by_cluster(objects)
    shown = [obj for _, obj in objects]
    return State(label, resources, each_once(shown) if clusters else shown, clusters=clusters)


_RECORD = obj(urn=STR, type=STR, name=STR, custom=BOOL, delete=BOOL, external=BOOL, provider=STR, inputs=obj())


def _resource_records(records: Any, file: str, path: str) -> list[dict]:
    """The resource records of a state, each checked for the fields read here and
    its inputs, when they are a Kubernetes object, for the fields the analyzers read."""
    if records is None:
        return []
    if not isinstance(records, list):
        raise ConfigError(file=file, path=path, value=records, message="expected a list of resources")
    checked = []
    for index, record in enumerate(records):
        where = f"{path}[{index}]"
        for field, value, expected in _RECORD(record, where):
            raise ConfigError(file=file, path=field, value=value, message=f"expected {expected}")
        if "urn" not in record or "type" not in record:
            raise ConfigError(file=file, path=where, message="a resource needs urn and type")
        inputs = record.get("inputs") or {}
        if "apiVersion" in inputs and "kind" in inputs:
            checked_object(_mask_secrets(plain(inputs)), file=file, where=f"{where}.inputs")
        checked.append(record)
    return checked


def state_from_export(path: str | os.PathLike) -> State:
    """A state from `pulumi stack export` JSON: custom resources' inputs, secrets
    masked (`{"4dabf18193072939515e22adb298388d": "1b47...", "ciphertext": ...}`)."""
    document = load_json_file(str(path), STATE, what="a pulumi stack export", missing="no such state file")
    deployment = document.get("deployment") if isinstance(document, dict) else None
    if not isinstance(deployment, dict):
        raise ConfigError(file=str(path), path="deployment", message="not a pulumi stack export (no deployment)")
    resources, objects = {}, []
    for r in _resource_records(deployment.get("resources"), str(path), "deployment.resources"):
        urn, type_token = r.get("urn", ""), r.get("type", "")
        if (not urn or _skipped(type_token) or not r.get("custom", True) or r.get("delete")
                or r.get("external")):
            continue
        inputs = _mask_secrets(plain(r.get("inputs") or {}))
        resources[urn_key(urn)] = Resource(urn, type_token, urn.rsplit("::", 1)[-1], inputs)
        if "apiVersion" in inputs and "kind" in inputs:
            objects.append((r.get("provider"), inputs))
    return _state_of(str(path), resources, objects)


def _mask_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if "ciphertext" in value or "plaintext" in value:
            return SECRET_SHOWN
        return {k: _mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_secrets(v) for v in value]
    return value


def render_at_ref(ref: str, config: str, stack: str, *, repo: Path = PROJECT_DIR,
                  python: str = sys.executable) -> State:
    """Render the stack file `config` (a path inside the repository) with the program
    as both are at git `ref`, in a temporary worktree and a separate process: one
    process cannot import two versions of the same modules."""
    try:
        relative = Path(config).resolve().relative_to(repo.resolve())
    except ValueError:
        raise ConfigError(file=str(config), path="", message="--base-ref needs a stack file inside the repository") from None
    commit = _resolve_ref(ref, repo)
    tmp = Path(tempfile.mkdtemp(prefix="meshplan-base-"))
    tree = tmp / "tree"
    children: list[subprocess.Popen] = []

    def remove_worktree() -> None:
        for child in children:
            child.kill()
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)

    with undo_on_interrupt(remove_worktree):
        return _render_in_worktree(ref, relative, stack, repo, python, tree, commit, children, remove_worktree)


def _render_in_worktree(ref: str, relative: Path, stack: str, repo: Path, python: str, tree: Path, commit: str,
                        children: list, remove_worktree) -> State:
    try:
        # SIGTERM or Ctrl-C while git adds the worktree would leave a half-made one
        # registered: hold them until git is done, then `finally` removes it whole.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        try:
            added = subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", "--quiet", "--",
                                    str(tree), commit], capture_output=True, text=True)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        if added.returncode != 0:
            raise ConfigError(file=ref, path="", message=f"cannot check out git ref ({_last_line(added.stderr)})")
        if not (tree / relative).exists():
            # The stack is new in this change: nothing was there before.
            return State(f"{ref}:{relative}", {}, [])
        env = {**os.environ, "PYTHONPATH": str(tree), "NO_COLOR": "1"}
        # `python -m meshplan` with the worktree first on the path, not the `meshplan`
        # command: the ref's own meshplan and program must run, and a ref from before
        # the command existed has no other entry point.
        child = subprocess.Popen([python, "-m", "meshplan", "render", "--format", "json", "--stack", stack,
                                  "--config", str(relative)], cwd=tree, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        children.append(child)
        stdout, stderr = child.communicate()
        done = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
        if done.returncode != 0:
            raise ConfigError(file=f"{ref}:{relative}", path="",
                              message=f"base does not render ({_last_line(done.stderr)})")
        label = f"{ref}:{relative}"
        return state_from_render_json(load_json_text(done.stdout, file=label, limits=STATE), label)
    finally:
        children.clear()
        remove_worktree()


def _resolve_ref(ref: str, repo: Path) -> str:
    """The commit a user-given ref names. A ref starting with `-` would reach git as
    an option (`--lock`), so it is refused; `--end-of-options` keeps git from
    reading any other ref as one."""
    if not ref or ref.startswith("-") or any(not ch.isprintable() for ch in ref):
        raise ConfigError(file="--base-ref", path="", value=ref,
                          message="expected a git ref or commit (a branch, tag or SHA; not starting with '-')")
    found = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", "--end-of-options",
                            f"{ref}^{{commit}}"], capture_output=True, text=True)
    if found.returncode != 0:
        raise ConfigError(file="--base-ref", path="", value=ref, message="no such commit in this repository")
    return found.stdout.strip()


def stack_file_at_ref(ref: str, config: str, *, repo: Path = PROJECT_DIR) -> str | None:
    """The text of stack file `config` as it is at git `ref`; None when it is new
    (or the ref is not one git should read as a revision)."""
    if ref.startswith("-"):
        return None
    relative = Path(config).resolve().relative_to(repo.resolve())
    shown = subprocess.run(["git", "-C", str(repo), "show", f"{ref}:{relative.as_posix()}"],
                           capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else None


def settings_at_ref(ref: str, path: Path, stack: str):
    """(the multi-cluster settings of stack file `path` as it is at git `ref`, or
    None; why they are not known, or ''), read with this code's parser: what the
    diff's install section compares the proposed settings with."""
    from model.settings import parse_settings, read_stack_file

    text = stack_file_at_ref(ref, str(path))
    if text is None:
        return None, ""  # a stack new in this change had no clusters before
    with tempfile.TemporaryDirectory(prefix="meshplan-base-") as folder:
        copy = Path(folder) / path.name
        copy.write_text(text, encoding="utf-8")
        try:
            settings = parse_settings(read_stack_file(str(copy)), stack=stack, source=f"{ref}:{path}",
                                      unset_secrets_allowed=True)
        except ConfigError as error:
            # The copy's temporary path means nothing to the reader: name the file at the ref.
            return None, f"the base stack file does not parse here ({str(error).replace(str(copy), f'{ref}:{path}')})"
    return settings.multicluster, ""


def _last_line(text: str) -> str:
    """The last non-blank line of a tool's stderr: where Python and git put the error."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
