"""A stand-in for the `pulumi` CLI, as the Automation API drives it, for the tests of
a real `meshplan rollout` (no CLI can be installed here). `install(bin_dir, state)`
writes it as an executable `pulumi`; put `bin_dir` first on PATH.

What it does, after the CLI's sources (pulumi/pulumi, pkg/cmd/pulumi and
pkg/backend/display) and the Automation API (pulumi/automation/_stack.py,
_local_workspace.py, _cmd.py):
- `version` prints `v3.272.0` (so the Automation API streams engine events to it
  over gRPC, `--event-log tcp://...`, as it does for every CLI after 3.205.0).
- `stack select --stack S` fails for a stack it does not hold with
  `error: no stack named 'S' found`, and without a login with `error:
  PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions`.
- `config set-all [--path] --plaintext k=v ...` and `config rm k [--path]` edit
  `Pulumi.<last segment of S>.yaml` in the working directory (or `--config-file`),
  storing `--path` values as the CLI's adjustObjectValue does.
- `preview` and `up` "run the program" (meshplan's render of the config: URNs and
  inputs) and compare it with what the stand-in last deployed: a step per URN
  (same, create, update, delete), sent as engine events; `--target` limits `up` to
  the URNs given and the stack's outputs (the root stack is always targeted);
  `--expect-no-changes` fails a preview with changes as the CLI does.
- SIGINT during `up`: prints the CLI's "^C received; cancelling" line, finishes
  (a step in flight completes, none starts), prints its summary, exits 255 with
  `error: update canceled`. A second SIGINT terminates at once, leaving the stack
  locked, as does SIGTERM (the CLI does not trap it) or a write to a closed pipe
  (SIGPIPE at its default, as for the Go CLI, which installs no handler).
- An `up` holds a lock file while it runs; a locked stack refuses the next `up`.

State lives in a directory (`PULUMI_STANDIN_STATE`): `settings.json` (stacks it
holds, login, failures and slow steps on demand), `deployed.<stack>.json`, the
lock, a log of every invocation (`log.jsonl`) and `up-running`, written when a slow
`up` starts its slow part, for a test to send its signal then."""
from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
VERSION = "v3.272.0"
FAILED = 255
NO_CHANGE = ("same",)


def install(bin_dir: Path, state: Path, **settings) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "pulumi"
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                      "from tests.pulumi_standin import main\nsys.exit(main(sys.argv[1:]))\n")
    script.chmod(0o755)
    configure(state, **{"stacks": [], "logged_in": True, **settings})
    return script


def configure(state: Path, **settings) -> None:
    path = state / "settings.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**current, **settings}))


def calls(state: Path) -> list[list[str]]:
    """Every command run, without the Automation API's `--non-interactive`."""
    return [[a for a in e["argv"] if a != "--non-interactive"] for e in log(state) if e["event"] == "start"]


def log(state: Path) -> list[dict]:
    path = state / "log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def deploy(state: Path, config_file: Path, stack: str) -> None:
    """Record a stack as last deployed from a config file (as a finished `pulumi up`)."""
    resources, outputs = _program(state, config_file, stack)
    _save_deployed(state, stack, {"resources": resources, "outputs": outputs})


def deployed(state: Path, stack: str) -> dict:
    path = state / f"deployed.{stack.rsplit('/', 1)[-1]}.json"
    return json.loads(path.read_text()) if path.exists() else {"resources": {}, "outputs": {}}


# --------------------------------------------------------------------------- the CLI


class _Failed(Exception):
    pass


def main(argv: list[str]) -> int:
    state = Path(os.environ["PULUMI_STANDIN_STATE"])
    _log(state, "start", argv=argv, pgid=os.getpgrp())
    args = [a for a in argv if a != "--non-interactive"]
    try:
        code = _dispatch(state, args)
    except _Failed as failed:
        print(f"error: {failed}", file=sys.stderr, flush=True)
        code = FAILED
    _log(state, "exit", code=code)
    return code


def _dispatch(state: Path, args: list[str]) -> int:
    settings = json.loads((state / "settings.json").read_text())
    if args == ["version"]:
        print(VERSION)
        return 0
    stack = _option(args, "--stack")
    if stack is not None:
        _require_stack(settings, stack)
    if args[:2] == ["stack", "select"]:
        return 0
    if args[:2] == ["config", "set-all"]:
        return _config_set_all(state, settings, args, stack)
    if args[:2] == ["config", "rm"]:
        return _config_rm(state, settings, args, stack)
    if args[:2] == ["stack", "output"]:
        print(json.dumps(deployed(state, stack)["outputs"]))
        return 0
    if args[:2] == ["stack", "history"]:
        print(json.dumps(deployed(state, stack).get("history", [])[-1:]))
        return 0
    if args[:1] in (["preview"], ["up"]):
        return _operation(state, settings, args, stack)
    raise _Failed(f"unknown command {' '.join(args)}")


def _require_stack(settings: dict, stack: str) -> None:
    if not settings.get("logged_in", True):
        raise _Failed("PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions")
    if stack not in settings["stacks"]:
        raise _Failed(f"no stack named '{stack}' found")


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def _options(args: list[str], name: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == name]


def _config_path(args: list[str], stack: str) -> Path:
    given = _option(args, "--config-file")
    return Path(given) if given else Path.cwd() / f"Pulumi.{stack.rsplit('/', 1)[-1]}.yaml"


def _once(state: Path, settings: dict, key: str, text: str) -> bool:
    """A failure asked for in settings (`key`: a substring of `text`), used up by happening."""
    wanted = settings.get(key)
    if wanted and wanted in text:
        configure(state, **{key: None})
        return True
    return False


def adjust_object_value(text: str):
    """The CLI's adjustObjectValue for `--path` values."""
    if text in ("true", "false"):
        return text == "true"
    if len(text) > 1 and text[0] == "0":
        return text
    try:
        return int(text)
    except ValueError:
        return text


def _config_set_all(state: Path, settings: dict, args: list[str], stack: str) -> int:
    path = _config_path(args, stack)
    document = yaml.safe_load(path.read_text()) or {}
    config = document.setdefault("config", {})
    pairs = _options(args, "--plaintext")
    if _once(state, settings, "fail_config_set", " ".join(pairs)):
        raise _Failed("could not save the stack configuration")
    for pair in pairs:
        key, _, value = pair.partition("=")
        namespace, _, name = key.partition(":")
        if "--path" not in args:
            config[key] = value
            continue
        first, *rest = name.split(".")
        node_key, node = f"{namespace}:{first}", config
        for part in rest:
            if not isinstance(node.get(node_key), dict):
                node[node_key] = {}
            node, node_key = node[node_key], part
        node[node_key] = adjust_object_value(value)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return 0


def _config_rm(state: Path, settings: dict, args: list[str], stack: str) -> int:
    key = args[2]
    if _once(state, settings, "fail_config_rm", key):
        raise _Failed("could not save the stack configuration")
    path = _config_path(args, stack)
    document = yaml.safe_load(path.read_text()) or {}
    config = document.setdefault("config", {})
    namespace, _, name = key.partition(":")
    first, *rest = name.split(".") if "--path" in args else [name]
    node, node_key = config, f"{namespace}:{first}"
    for part in rest:
        node = node.get(node_key) if isinstance(node, dict) else None
        node_key = part
    if isinstance(node, dict):
        node.pop(node_key, None)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return 0


# --------------------------------------------------------------------------- preview and up


def _program(state: Path, config_file: Path, stack: str) -> tuple[dict, dict]:
    """What the program registers for this config: {urn: {type, inputs}}, and its
    outputs. A render is a pure function of the config, so it is kept for the next
    command that runs the program on the same config."""
    import hashlib

    name = stack.rsplit("/", 1)[-1]
    text = config_file.read_text()
    cache = state / f"render.{hashlib.sha256((name + text).encode()).hexdigest()[:16]}.json"
    if cache.exists():
        found = json.loads(cache.read_text())
        return found["resources"], found["outputs"]
    from meshplan.render.engine import render
    from model.errors import ConfigError

    try:
        rendered = render(config_file, stack=name)
    except ConfigError as error:
        raise _Failed(f"program failed: {error}") from None
    resources = {r.urn: {"type": r.type, "inputs": r.inputs} for r in rendered.resources}
    cache.write_text(json.dumps({"resources": resources, "outputs": rendered.outputs}))
    return resources, rendered.outputs


def _save_deployed(state: Path, stack: str, record: dict) -> None:
    (state / f"deployed.{stack.rsplit('/', 1)[-1]}.json").write_text(json.dumps(record))


class _Events:
    """Engine events to the Automation API's gRPC Events service, as they happen."""

    def __init__(self, address: str | None):
        self.sequence = 0
        self.queue: queue.Queue = queue.Queue()
        self.thread = None
        if address and address.startswith("tcp://"):
            import grpc

            from pulumi.runtime.proto import events_pb2, events_pb2_grpc

            self.request = events_pb2.EventRequest
            stub = events_pb2_grpc.EventsStub(grpc.insecure_channel(address.removeprefix("tcp://")))
            self.thread = threading.Thread(target=lambda: stub.StreamEvents(iter(self.queue.get, None)))
            self.thread.start()

    def send(self, kind: str, body: dict) -> None:
        if self.thread is not None:
            self.sequence += 1
            event = {"sequence": self.sequence, "timestamp": int(time.time()), kind: body}
            self.queue.put(self.request(event=json.dumps(event)))

    def close(self) -> None:
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()


def _operation(state: Path, settings: dict, args: list[str], stack: str) -> int:
    preview = args[0] == "preview"
    for pack in _options(args, "--policy-pack"):
        if not (Path(pack) / "PulumiPolicy.yaml").is_file():
            raise _Failed(f"could not load policy pack {pack}")
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    cancels = []

    def cancel(signum, frame):
        cancels.append(signum)
        _log(state, "signal", signal=signal.Signals(signum).name)
        if len(cancels) > 1:
            print("^C received; terminating", flush=True)
            os._exit(FAILED)
        print("^C received; cancelling. If you would like to terminate immediately, press ^C again.", flush=True)

    signal.signal(signal.SIGINT, cancel)
    lock = state / f"lock.{stack.rsplit('/', 1)[-1]}"
    if not preview:
        if lock.exists():
            raise _Failed("the stack is currently locked by 1 lock(s). Either wait for the other process(es) to "
                          "end or delete the lock file with `pulumi cancel`.")
        lock.write_text(str(os.getpid()))
    events = _Events(_option(args, "--event-log"))
    try:
        return _run_steps(state, settings, args, stack, preview, events, cancels)
    finally:
        events.close()
        lock.unlink(missing_ok=True)


def _run_steps(state: Path, settings: dict, args: list[str], stack: str, preview: bool, events: _Events,
               cancels: list) -> int:
    message = _option(args, "--message") or ""
    print(f"{'Previewing update' if preview else 'Updating'} ({stack}):", flush=True)
    events.send("preludeEvent", {"config": {}})
    desired, outputs = _program(state, _config_path(args, stack), stack)
    before = deployed(state, stack)
    targets = set(_options(args, "--target"))
    after = {"resources": dict(before["resources"]), "outputs": outputs, "history": before.get("history", [])}
    counts: dict[str, int] = {}
    slow = settings.get("slow") or {}
    if not preview and slow.get("match") and slow["match"] in message:
        (state / "up-running").write_text(str(os.getpid()))
        deadline = time.time() + slow["seconds"]
        while time.time() < deadline and (slow.get("phase") == "during" or not cancels):
            time.sleep(0.05)
        if cancels:  # the engine waits for the operations in flight before it stops
            time.sleep(slow.get("wind_down", 0))
    failing = not preview and _once(state, settings, "fail_up", message)
    for urn in sorted(desired.keys() | before["resources"].keys()):
        old, new = before["resources"].get(urn), desired.get(urn)
        op = "create" if old is None else "delete" if new is None else \
            "update" if old["inputs"] != new["inputs"] else "same"
        if targets and urn not in targets:
            op = "same"
        counts[op] = counts.get(op, 0) + 1
        meta = {"op": op, "urn": urn, "type": (new or old)["type"], "provider": ""}
        events.send("resourcePreEvent", {"metadata": meta, "planning": preview})
        if op not in NO_CHANGE:
            print(f"    {'~' if op == 'update' else '+' if op == 'create' else '-'} {op} {urn}", flush=True)
        if preview or op in NO_CHANGE:
            continue
        if failing:
            events.send("resOpFailedEvent", {"metadata": meta, "status": 1, "steps": 1})
            continue
        if cancels and slow.get("phase") != "during":
            continue  # cancelled before this step started: it never does
        if new is None:
            after["resources"].pop(urn)
        else:
            after["resources"][urn] = new
        events.send("resOutputsEvent", {"metadata": meta, "planning": False})
    events.send("summaryEvent", {"maybeCorrupt": False, "durationSeconds": 1, "resourceChanges": counts,
                                 "PolicyPacks": {}})
    print("Resources:", ", ".join(f"{n} {op}" for op, n in sorted(counts.items())), flush=True)
    if preview:
        if "--expect-no-changes" in args and any(op not in NO_CHANGE for op in counts):
            raise _Failed("no changes were expected but changes were proposed")
        return 0
    result = "failed" if failing or cancels else "succeeded"
    after["history"] = [*after["history"], {
        "kind": "update", "startTime": "2025-01-01T00:00:00.000Z", "endTime": "2025-01-01T00:00:01.000Z",
        "message": message, "environment": {}, "config": {}, "result": result,
        "version": len(after["history"]) + 1, "resourceChanges": counts}]
    _save_deployed(state, stack, after if not failing else {**before, "history": after["history"]})
    if cancels:
        raise _Failed("update canceled")
    if failing:
        raise _Failed("update failed")
    return 0


def _log(state: Path, event: str, **fields) -> None:
    with open(state / "log.jsonl", "a") as out:
        out.write(json.dumps({"pid": os.getpid(), "event": event, **fields}) + "\n")
