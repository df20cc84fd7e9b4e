"""Fixtures: the real runtimes, started once per session when not already running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.runtimes import Ctr, Docker, Podman, Services


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
