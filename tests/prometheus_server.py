"""Prometheus's own binaries for the tests: `promtool` to test the gates' PromQL and to
turn synthetic series into TSDB blocks, and a real `prometheus` server started on
127.0.0.1 with a free port and a temporary data dir, stopped by the test.

The tests never install them: `.ci/run` and the workflow install Debian's / Ubuntu's
`prometheus` package (it brings both). Where they are missing the tests skip, saying
so, or fail under BOOKINFO_MESH_REQUIRE_UPSTREAM=1 (tests/upstream.py)."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.istio_series import openmetrics
from tests.upstream import missing_tool


def binaries() -> tuple[str, str]:
    """Paths of prometheus and promtool."""
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not (prometheus and promtool):
        missing_tool("prometheus/promtool", "apt-get install prometheus")
    return prometheus, promtool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrometheusServer:
    """A Prometheus loaded with series, on 127.0.0.1, until `stop()`."""

    def __init__(self, workdir: Path, all_series):
        prometheus, promtool = binaries()
        self.data = workdir / "data"
        self.data.mkdir(parents=True)
        source = workdir / "series.om"
        source.write_text(openmetrics(all_series))
        made = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(self.data)],
                              capture_output=True, text=True)
        assert made.returncode == 0, made.stderr or made.stdout
        config = workdir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "prometheus.log", "w")
        self.process = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={self.data}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=100y"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.process.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"prometheus not ready after {timeout:g}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
