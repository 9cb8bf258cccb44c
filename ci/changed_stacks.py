"""Which stacks a change touches, for CI previews: `git diff --name-only` on stdin,
a JSON list of stack names on stdout.

A stack file touches its own stack; code owned by one layer touches the stacks
holding that layer (a monolith holds all three; code of the app layer also touches
traffic stacks, whose routes are checked against the app's objects); docs, tests,
the tests' upstream artifacts (upstream/), their requirements (requirements-dev.txt),
examples and CI files touch none; any other file (shared program code, Pulumi.yaml,
requirements.txt) touches every stack. Stacks
referencing a touched stack through stackRefs are touched too, so a PR that removes a
version from an app stack shows the traffic stack that still routes to it. A weight
change touches `*-traffic` only."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from model.errors import ConfigError
from model.safe_files import STACK_FILE as STACK_FILE_LIMITS, load_yaml_file

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("mesh", "app", "traffic")
LAYER_CODE = {
    "mesh": ("components/mesh.py",),
    "app": ("components/workloads.py", "components/security.py", "model/workloads.py", "model/stores.py",
            "model/security.py"),
    "traffic": ("components/routing.py", "components/egress.py", "model/routing.py", "model/egress.py",
                "model/observability.py", "model/traffic.py", "model/gateway_api_routing.py",
                "model/routing_common.py"),
}
TOUCHES_ALSO = {"mesh": ("mesh",), "app": ("app", "traffic"), "traffic": ("traffic",)}
NO_STACK = re.compile(r"^(README\.md|requirements-dev\.txt|\.github/.*|tests/.*|bench/.*|examples/.*|upstream/.*)\Z")
STACK_FILE = re.compile(r"^Pulumi\.([^/]+)\.yaml\Z")


def _stack_config(path: Path) -> dict:
    try:
        documents = load_yaml_file(str(path), STACK_FILE_LIMITS)
    except ConfigError:
        return {}  # its own preview says what is wrong with it
    document = documents[0] if documents else None
    config = document.get("config") if isinstance(document, dict) else None
    return config if isinstance(config, dict) else {}


def touched_stacks(changed: list[str], root: Path = ROOT) -> list[str]:
    configs = {STACK_FILE.match(p.name).group(1): _stack_config(p) for p in sorted(root.glob("Pulumi.*.yaml"))}
    layers = {s: tuple(c.get("bookinfo-mesh:layers") or LAYERS) for s, c in configs.items()}
    touched: set[str] = set()
    for path in filter(None, (line.strip() for line in changed)):
        stack = STACK_FILE.match(path)
        if stack:
            touched.add(stack.group(1))
        elif NO_STACK.match(path):
            continue
        elif owner := next((layer for layer, files in LAYER_CODE.items() if path in files), None):
            touched |= {s for s, held in layers.items() if set(held) & set(TOUCHES_ALSO[owner])}
        else:
            touched |= set(configs)
    refs = {s: {str(name).rsplit("/", 1)[-1] for name in (c.get("bookinfo-mesh:stackRefs") or {}).values()}
            for s, c in configs.items()}
    while True:
        dependents = {s for s, names in refs.items() if names & touched} - touched
        if not dependents:
            break
        touched |= dependents
    return sorted(s for s in touched if s in configs)


if __name__ == "__main__":
    print(json.dumps(touched_stacks(sys.stdin.read().splitlines())))
