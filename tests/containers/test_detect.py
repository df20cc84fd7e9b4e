"""detect(): which runtimes answer on this host, --runtimes selection, socket overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from espia.containers.runtimes import KINDS, Runtime, detect
from espia.errors import RuntimeUnavailable, UsageError


@pytest.fixture
def all_running(containerd_socket: str, docker_socket: str, podman_socket: str) -> None:
    """containerd, dockerd and podman all serving on their default sockets."""


def close_all(runtimes: list[Runtime]) -> list[str]:
    for runtime in runtimes:
        runtime.close()
    return [r.name for r in runtimes]


def test_autodetects_every_running_runtime(all_running):
    runtimes = detect()
    assert all(isinstance(r, Runtime) for r in runtimes)
    assert close_all(runtimes) == ["containerd", "docker", "podman"]  # no cri-o here


def test_autodetect_skips_runtimes_that_are_absent(all_running, tmp_path: Path):
    found = detect(sockets={"docker": str(tmp_path / "none.sock")})
    assert close_all(found) == ["containerd", "podman"]


def test_selected_runtimes_only(all_running):
    assert close_all(detect(["podman", "containerd"])) == ["podman", "containerd"]


def test_the_cri_endpoint_is_only_used_when_selected(containerd_socket: str):
    assert close_all(detect(["cri"])) == ["cri"]
    assert KINDS["cri"].autodetect is False


def test_containerd_namespaces_are_passed_on(containerd_socket: str):
    (runtime,) = detect(["containerd"], containerd_namespaces=["k8s.io", "default"])
    assert runtime.namespaces == ("k8s.io", "default")
    runtime.close()


def test_a_selected_runtime_that_is_down_raises(tmp_path: Path):
    path = tmp_path / "containerd.sock"
    with pytest.raises(
        RuntimeUnavailable, match=r"^containerd: cannot connect to .*: no such file"
    ):
        detect(["containerd"], {"containerd": str(path)})


def test_unknown_names_are_usage_errors():
    with pytest.raises(UsageError, match=r"unknown container runtime 'rkt' \(known: containerd, "):
        detect(["rkt"])
    with pytest.raises(UsageError, match="'lxd'"):
        detect(sockets={"lxd": "/run/lxd.sock"})


def test_one_daemon_behind_two_sockets_counts_once(podman_socket: str, tmp_path: Path):
    """Podman hosts often link docker.sock to podman.sock."""
    link = tmp_path / "docker.sock"
    link.symlink_to(podman_socket)
    absent = str(tmp_path / "absent.sock")
    found = detect(sockets={"containerd": absent, "docker": str(link), "cri-o": absent})
    assert close_all(found) == ["docker"]
