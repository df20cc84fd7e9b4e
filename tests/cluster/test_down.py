"""`make cluster-down` leaves nothing: checked here from the outside, not with the tool's own list.

Runs last in this folder (the session fixture's own `make cluster-down`
then finds nothing to do), with a pod still running on each node, so the
teardown has real containers, mounts and addresses to remove.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from kubernetes import client
from support.workloads import unique

from cluster.kube import BIN, NODES, STATE, make, pod_manifest, wait_phase

NETNS = Path("/run/netns/espia-node2")
INTERFACES = ("espia-cp0", "espia-n2", "espia-br1")


def _processes() -> list[str]:
    """Every process whose command line names the cluster's folders or binaries."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(STATE) in argv or str(BIN) in argv:
                found.append(f"{entry.name}: {argv}")
    return found


def _shim_sockets() -> list[Path]:
    """The sockets our containerd shims listen on (containerd keeps them outside STATE)."""
    paths = set()
    for pid in Path("/proc").iterdir():
        if not pid.name.isdigit():
            continue
        try:
            argv = (pid / "cmdline").read_bytes()
            if b"containerd-shim" not in argv or str(STATE).encode() not in argv:
                continue
            inodes = set()
            for fd in (pid / "fd").iterdir():
                if match := re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd)):
                    inodes.add(match.group(1))
            # Per network namespace: node2's shims are in node2's.
            table = (pid / "net" / "unix").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in table:
            fields = line.split()
            if len(fields) == 8 and fields[6] in inodes and fields[7].startswith("/"):
                paths.add(Path(fields[7]))
    return sorted(paths)


def test_cluster_down_leaves_nothing(core: client.CoreV1Api) -> None:
    namespace = "default"  # a namespace fixture would outlive the API server
    for node in NODES:
        name = unique(f"left-on-{node}")
        core.create_namespaced_pod(namespace, pod_manifest(name, ["sleep", "infinity"], node))
        wait_phase(core, namespace, name, {"Running"})
    sockets = _shim_sockets()
    assert len(sockets) >= len(NODES), sockets  # one shim per pod (its sandbox and containers)

    make("cluster-down", timeout=600)

    assert _processes() == []
    cgroups = [str(p) for p in Path("/sys/fs/cgroup").glob("*/espia-node*")]
    assert cgroups == []
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(STATE) not in mounts
    assert str(NETNS) not in mounts
    assert not NETNS.exists()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert [i for i in INTERFACES if f" {i}:" in links or f" {i}@" in links] == []
    for save in ("iptables-save", "ip6tables-save"):
        rules = subprocess.run([save], capture_output=True, text=True, check=True).stdout
        assert [r for r in rules.splitlines() if "KUBE-" in r or "espia-cluster" in r] == []
    assert [p for p in sockets if p.exists()] == []
    logs = Path("/var/log/containers")
    leaked = [p for p in logs.iterdir() if str(STATE) in os.readlink(p)] if logs.exists() else []
    assert leaked == []
    assert list(Path("/var/lib/cni/results").glob("espia-node*")) == []
    # Inside the state folder only what a next `up` reuses or a person reads.
    assert sorted(p.name for p in STATE.iterdir()) == ["config", "logs", "pki"]
