"""`make bench`: how fast `meshplan render` and `meshplan diff` are, measured, not assumed.

1. Median wall time of `python -m meshplan render --stack dev` against a process
   that only imports pulumi and the pulumi_kubernetes groups the program uses (the
   floor no render can beat), interleaved run by run so drift hits both alike; the
   same for `meshplan diff` of two stack files (both rendered in one process).
2. In-process render time of synthetic applications with 200 and 1,000 services
   (each: Service, ServiceAccount, two Deployments, DestinationRule, VirtualService
   with a 90/10 split), to show the cost per resource stays flat.
"""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLOOR = ("import pulumi, pulumi_kubernetes.core.v1, pulumi_kubernetes.apps.v1, "
         "pulumi_kubernetes.apiextensions, pulumi_kubernetes.helm.v3")
RUNS = int(os.environ.get("BENCH_RUNS", "11"))


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    # `meshplan diff` exits 2 when it finds changes, as `terraform plan -detailed-exitcode`.
    if done.returncode not in (0, 2):
        raise subprocess.CalledProcessError(done.returncode, cmd)
    return elapsed


def compare(label: str, command: list[str]) -> tuple[float, float]:
    floor, measured = [], []
    wall([sys.executable, "-c", FLOOR])  # warm the file cache once
    for _ in range(RUNS):
        floor.append(wall([sys.executable, "-c", FLOOR]))
        measured.append(wall(command))
    f, m = statistics.median(floor), statistics.median(measured)
    print(f"{label:<34} {m:6.3f} s   import floor {f:6.3f} s   ratio {m / f:4.2f}")
    return f, m


def synthetic(services: int) -> float:
    from meshplan.engine import run_program
    from model import apps
    from model.settings import parse_settings

    name = f"synthetic{services}"
    apps.APPLICATIONS[name] = apps.Application(
        name=name, default_namespace="synthetic", image_registry="registry.example.com", image_tag="1.0.0",
        services=tuple(
            apps.Service(name=f"svc{i}", port=8080, account=f"svc{i}", default_versions=("v1", "v2"),
                         versions=(apps.Version(name="v1", image=f"svc{i}-v1"),
                                   apps.Version(name="v2", image=f"svc{i}-v2")))
            for i in range(services)
        ),
        ingress_routes=(apps.IngressRoute(uris=(("prefix", "/"),), service="svc0"),),
    )
    raw = {"environment": "dev", "istio": {"install": False}, "app": {"name": name},
           "services": {f"svc{i}": {"weights": {"v1": 90, "v2": 10}} for i in range(services)}}
    start = time.perf_counter()
    settings = parse_settings(raw, stack="bench", source="synthetic")
    rendered = run_program(raw, settings=settings, stack="bench", source="synthetic")
    elapsed = time.perf_counter() - start
    print(f"render {services:>5} services ({len(rendered.resources):>5} resources)  {elapsed:6.2f} s"
          f"   {1000 * elapsed / len(rendered.resources):.2f} ms/resource")
    return elapsed


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{RUNS} interleaved runs, medians")
    compare("meshplan render --stack dev", [sys.executable, "-m", "meshplan", "render", "--stack", "dev"])
    # Both states of a diff of two stack files render in one process (goal: ratio ≤ 1.5).
    compare("meshplan diff all-v1 → 50/50 v3", [
        sys.executable, "-m", "meshplan", "diff", "--config", "examples/istio-tasks/reviews-50-v3.yaml",
        "--base-config", "examples/istio-tasks/all-v1.yaml"])
    small, large = synthetic(200), synthetic(1000)
    print(f"1,000 / 200 services time ratio {large / small:.2f} (5.00 = linear)")


if __name__ == "__main__":
    main()
