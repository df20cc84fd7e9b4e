"""list_containers() on 20 running containers stays well under espia's 100 ms budget."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.runtimes import Ctr
from support.workloads import unique

from espia.containers.runtimes.containerd import ContainerdRuntime
from espia.containers.runtimes.docker import DockerRuntime
from espia.containers.runtimes.podman import PodmanRuntime

COUNT = 20
BUDGET = 0.1


def best_of(runtime, runs: int = 5) -> tuple[float, int]:
    """The fastest of ``runs`` listings (the first also warms up imports and channels)."""
    times, count = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        count = len(runtime.list_containers())
        times.append(time.perf_counter() - start)
    return min(times), count


def test_containerd_twenty_containers(containerd_socket: str, rootfs: Path):
    ctr = Ctr(containerd_socket, "default")
    ids = [unique("speed") for _ in range(COUNT)]
    runtime = ContainerdRuntime(containerd_socket, namespaces=["default"])
    try:
        for cid in ids:
            ctr.run(cid, rootfs)
        elapsed, count = best_of(runtime)
    finally:
        runtime.close()
        for cid in ids:
            ctr.remove(cid)
    assert count >= COUNT
    assert elapsed < BUDGET, f"{elapsed * 1000:.1f} ms"


@pytest.mark.parametrize("kind", ["docker", "podman"])
def test_engine_twenty_containers(kind: str, request):
    cli = request.getfixturevalue(kind)
    runtime = DockerRuntime(cli.socket) if kind == "docker" else PodmanRuntime()
    ids = []
    try:
        ids = [cli.run(unique("speed")) for _ in range(COUNT)]
        elapsed, count = best_of(runtime)
    finally:
        runtime.close()
        for cid in ids:
            cli.remove(cid)
    assert count >= COUNT
    assert elapsed < BUDGET, f"{elapsed * 1000:.1f} ms"
