"""How an agent finds its node's container runtime from the kubelet (espia.agent.kubelet).

The real case (two kubelets on this machine's kernel, each with its config file
naming its own containerd) is tests/cluster's: the cluster is deployed without
--runtime-socket.  Here a /proc tree laid out as the kernel lays it out gives
each way a kubelet can say it: a flag, a config file, a drop-in, the default,
and a kubelet in a mount namespace of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from espia.agent.kubelet import find_runtime, runtime_name


def process(proc: Path, pid: int, argv: list[str], root: Path, mnt: str = "mnt:[1]") -> None:
    entry = proc / str(pid)
    (entry / "ns").mkdir(parents=True)
    (entry / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    os.symlink(root, entry / "root")
    os.symlink(root, entry / "cwd")
    os.symlink(mnt, entry / "ns" / "mnt")


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """A /proc with the host's init (pid 1) and a process that is no kubelet."""
    proc = tmp_path / "proc"
    host = tmp_path / "host"
    host.mkdir()
    process(proc, 1, ["/sbin/init"], host)
    process(proc, 50, ["/usr/bin/containerd"], host)
    return proc


def host(proc: Path) -> Path:
    return proc.parent / "host"


def test_the_flag_names_the_socket(proc):
    process(proc, 100, ["/usr/bin/kubelet", "--container-runtime-endpoint",
                        "unix:///run/crio/crio.sock"], host(proc))  # fmt: skip
    assert find_runtime("any", proc) == ("cri-o", f"{proc}/1/root/run/crio/crio.sock")


def test_the_config_file_and_its_drop_ins_name_it(proc):
    etc = host(proc) / "etc" / "kubelet"
    (etc / "conf.d").mkdir(parents=True)
    (etc / "config.yaml").write_text(
        "kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///a/containerd.sock\n"
    )
    process(proc, 100, ["kubelet", "--config=/etc/kubelet/config.yaml",
                        "--config-dir", "/etc/kubelet/conf.d"], host(proc))  # fmt: skip
    assert find_runtime("n", proc) == ("containerd", f"{proc}/1/root/a/containerd.sock")
    (etc / "conf.d" / "10-runtime.conf").write_text(
        "containerRuntimeEndpoint: unix:///b/runtime.sock\n"
    )
    assert find_runtime("n", proc) == ("cri", f"{proc}/1/root/b/runtime.sock")


def test_without_a_word_the_kubelets_default(proc):
    process(proc, 100, ["/usr/local/bin/kubelet", "--v=2"], host(proc))
    assert find_runtime("n", proc) == (
        "containerd",
        f"{proc}/1/root/run/containerd/containerd.sock",
    )


def test_kubelets_of_several_nodes_are_told_apart_by_hostname_override(proc):
    for pid, node in ((100, "node1"), (200, "node2")):
        process(proc, pid, ["kubelet", f"--hostname-override={node}",
                            f"--container-runtime-endpoint=unix:///s/{node}/containerd.sock"],
                host(proc))  # fmt: skip
    assert find_runtime("node2", proc)[1] == f"{proc}/1/root/s/node2/containerd.sock"
    with pytest.raises(ValueError, match="2 kubelets run on this kernel and none has"):
        find_runtime("node3", proc)


def test_a_kubelet_in_its_own_mount_namespace_is_reached_through_its_root(proc, tmp_path):
    own = tmp_path / "kubelet-root"
    own.mkdir()
    process(proc, 100, ["kubelet"], own, mnt="mnt:[2]")
    assert find_runtime("n", proc)[1] == f"{proc}/100/root/run/containerd/containerd.sock"


def test_no_kubelet_or_no_unix_socket_says_why(proc):
    with pytest.raises(ValueError, match="no kubelet process is visible"):
        find_runtime("n", proc)
    process(proc, 100, ["kubelet", "--container-runtime-endpoint=tcp://1.2.3.4:1"], host(proc))
    with pytest.raises(ValueError, match="is not a unix socket"):
        find_runtime("n", proc)


def test_runtime_names():
    assert runtime_name("/run/k3s/containerd/containerd.sock") == "containerd"
    assert runtime_name("/var/run/crio/crio.sock") == "cri-o"
    assert runtime_name("/run/cri-dockerd.sock") == "cri"
