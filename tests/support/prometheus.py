"""A real Prometheus server, on loopback, scraping one endpoint every second.

    with PrometheusServer(tmp_path, "127.0.0.1:40123") as prom:
        prom.wait(lambda: prom.value("sum(espia_dns_queries_total)") == 3)

Debian's prometheus package (bootstrap.sh --test); its storage lives in the
test's temporary folder and it is killed at the end.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.workloads import require


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrometheusServer:
    def __init__(self, folder: Path, target: str, interval: str = "1s") -> None:
        require("prometheus")
        self.port = free_port()
        config = folder / "prometheus.yml"
        config.write_text(
            "global:\n"
            f"  scrape_interval: {interval}\n"
            "scrape_configs:\n"
            "  - job_name: espia\n"
            f"    scrape_interval: {interval}\n"
            "    static_configs:\n"
            f"      - targets: [{json.dumps(target)}]\n"
        )
        self.log = (folder / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    def _get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = f"http://127.0.0.1:{self.port}{path}{query}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.loads(answer.read()) if path.startswith("/api/") else answer.read()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited ({self.proc.returncode})")
            try:
                self._get("/-/ready")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
        """The instant vector of `promql`: (labels, value) per series."""
        answer = self._get("/api/v1/query", query=promql)
        assert answer["status"] == "success", answer
        return [(r["metric"], float(r["value"][1])) for r in answer["data"]["result"]]

    def by(self, promql: str, *labels: str) -> dict[tuple[str, ...], float]:
        """{(label values...): value} of `promql`."""
        return {tuple(m.get(k, "") for k in labels): v for m, v in self.query(promql)}

    def value(self, promql: str) -> float | None:
        result = self.query(promql)
        return result[0][1] if len(result) == 1 else None

    def targets_up(self) -> bool:
        answer = self._get("/api/v1/targets")
        active = answer["data"]["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    def wait(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"prometheus: condition not met in {timeout} s")
            time.sleep(0.5)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.log.close()

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
