"""`make bench`, diff part: how fast `meshplan diff` of two stack files is.

Median wall time of
    python -m meshplan diff --config examples/istio-tasks/reviews-50-v3.yaml \
        --base-config examples/istio-tasks/all-v1.yaml
(both states rendered in one process) against a process that only imports pulumi
and the pulumi_kubernetes groups the program uses (the floor no render can beat),
interleaved run by run so drift hits both alike. Goal: ratio ≤ 1.5."""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = ("import pulumi, pulumi_kubernetes.core.v1, pulumi_kubernetes.apps.v1, "
         "pulumi_kubernetes.apiextensions, pulumi_kubernetes.helm.v3")
DIFF = ["-m", "meshplan", "diff", "--config", "examples/istio-tasks/reviews-50-v3.yaml",
        "--base-config", "examples/istio-tasks/all-v1.yaml"]
RUNS = int(os.environ.get("BENCH_RUNS", "11"))
GOAL = 1.5


def wall(args: list[str], expected: int = 0) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=ROOT, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if done.returncode != expected:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}, expected {expected}")
    return elapsed


def main() -> int:
    wall(["-c", FLOOR])  # warm the file cache once
    wall(DIFF, 2)
    floor, measured = [], []
    for _ in range(RUNS):
        floor.append(wall(["-c", FLOOR]))
        measured.append(wall(DIFF, 2))
    f, m = statistics.median(floor), statistics.median(measured)
    print(f"python {platform.python_version()} on {platform.machine()}, median of {RUNS} interleaved runs")
    print(f"meshplan diff (two renders)        {m:6.3f} s   import floor {f:6.3f} s   ratio {m / f:4.2f}"
          f"   goal ≤ {GOAL}")
    return 0 if m / f <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
