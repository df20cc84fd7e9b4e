"""Fixtures shared by every suite: these tests load real programs into this kernel, and
start the container runtimes they need once per session (support/runtimes.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.runtimes import Ctr, Docker, Podman, Services
from support.workloads import EspiaCli


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.geteuid() != 0:
        raise pytest.UsageError("espia's tests load eBPF programs: run them as root")
    # `espia run x.bpf.c` keeps what it compiles: in the session's own folder, not the
    # machine's cache (the tests of the cache itself choose theirs).
    if "ESPIA_COMPILE_CACHE" not in os.environ:
        os.environ["ESPIA_COMPILE_CACHE"] = tempfile.mkdtemp(prefix="espia-compile-cache-")
        session.config.add_cleanup(
            lambda: shutil.rmtree(os.environ["ESPIA_COMPILE_CACHE"], ignore_errors=True)
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """A skipped test would be reported as not failing: here it fails, with its reason.

    The README's set-up installs everything the suite needs, so a skip can
    only mean a broken set-up, which must not pass unnoticed.
    """
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped, which this suite does not allow: {reason}"


@pytest.fixture(autouse=True)
def _no_gadget_outlives_its_test() -> object:
    yield
    EspiaCli.kill_all()


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    started = Services(tmp_path_factory.mktemp("runtimes"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def containerd_socket(services: Services) -> str:
    return services.containerd()


@pytest.fixture(scope="session")
def rootfs(services: Services) -> Path:
    return services.rootfs


@pytest.fixture
def ctr(containerd_socket: str) -> Ctr:
    return Ctr(containerd_socket, "k8s.io")


@pytest.fixture(scope="session")
def docker_socket(services: Services) -> str:
    return services.dockerd()


@pytest.fixture
def docker(docker_socket: str) -> Docker:
    return Docker(docker_socket)


@pytest.fixture(scope="session")
def podman_socket(services: Services) -> str:
    return services.podman()


@pytest.fixture
def podman(podman_socket: str, services: Services) -> Podman:
    return Podman(services.podman_env)
