"""Where everything lives, and the addresses: one place, so that `down` knows what `up` made.

Addresses are private ranges that exist only on this machine: the control
plane and node1 on a dummy interface, node2 in a network namespace of its own
behind a veth pair, pods on a bridge per node, services virtual.  No route
sends any of them off the machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
GO_MODULES = HERE / "build"
IMAGE_SOURCES = HERE / "images"
PROJECT = HERE.parent

#: Build outputs (kept by `down`: rebuilding costs minutes).
PREFIX = Path("/opt/espia-cluster")
BIN = PREFIX / "bin"
IMAGES = PREFIX / "images"
PODMAN = PREFIX / "podman"

#: Everything the running cluster writes (removed by `down`, but for the logs).
STATE = Path("/var/lib/espia-cluster")
PKI = STATE / "pki"
CONFIG = STATE / "config"
LOGS = STATE / "logs"
PIDS = STATE / "pids"
ETCD_DATA = STATE / "etcd"
ADMIN_KUBECONFIG = CONFIG / "admin.kubeconfig"

PREFIX_NAME = "espia"  # prefix of every interface, namespace and cgroup made here
DUMMY = "espia-cp0"  # holds the control plane's address
CONTROL_PLANE_IP = "10.250.0.1"
API_PORT = 6443
API_SERVER = f"https://{CONTROL_PLANE_IP}:{API_PORT}"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the `kubernetes` service
POD_CIDR = "10.244.0.0/16"
CLUSTER_CIDRS = ("10.250.0.0/16", POD_CIDR, SERVICE_CIDR)
FIREWALL_COMMENT = "espia-cluster: pod traffic stays on this machine"

#: Files other programs keep outside our folders, named after what we made.
NETNS_DIR = Path("/run/netns")
CNI_CACHE = Path("/var/lib/cni/results")
CONTAINER_LOG_LINKS = Path("/var/log/containers")  # the kubelet's, not configurable
SHIM_SOCKETS = Path("/run/containerd/s")  # containerd 1.6 puts every shim's socket here
CGROUP_ROOT = Path("/sys/fs/cgroup")

#: Kernel settings the kubelet rewrites at start (container_manager_linux.go
#: setupKernelTunables): restored by `down`; panic_on_oops right after start.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)

IMAGE_NAMES = {
    "pause": "localhost/espia-pause:1",
    "busybox": "localhost/espia-busybox:1",
    "agent": "localhost/espia:dev",
}


@dataclass(frozen=True)
class Node:
    """A node: its own address, network namespace (None: the host's), containerd and cgroups."""

    name: str
    ip: str
    pod_subnet: str
    netns: str | None
    host_veth: str | None = None
    host_ip: str | None = None

    @property
    def dir(self) -> Path:
        return STATE / self.name

    @property
    def containerd_socket(self) -> Path:
        return self.dir / "containerd.sock"

    @property
    def cgroup(self) -> str:
        return f"{PREFIX_NAME}-{self.name}"

    @property
    def bridge(self) -> str:
        return f"{PREFIX_NAME}-br{self.name.removeprefix('node')}"

    @property
    def cni_network(self) -> str:
        return f"{PREFIX_NAME}-{self.name}"

    @property
    def pod_logs(self) -> Path:
        return self.dir / "pod-logs"

    @property
    def wrap(self) -> list[str]:
        """The prefix that runs a command in this node's network namespace."""
        if self.netns is None:
            return []
        # Not `ip netns exec`: it also remounts /sys, hiding the cgroup hierarchies.
        return ["nsenter", f"--net={NETNS_DIR / self.netns}", "--"]


NODES = (
    Node("node1", CONTROL_PLANE_IP, "10.244.1.0/24", None),
    Node("node2", "10.250.2.2", "10.244.2.0/24", "espia-node2", "espia-n2", "10.250.2.1"),
)


def module_version(module_dir: Path, module: str) -> str:
    """The version of ``module`` that the pinned go.mod in ``module_dir`` requires."""
    text = (module_dir / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if match is None:
        raise ValueError(f"{module_dir / 'go.mod'} does not require {module}")
    return match.group(1)


def kubernetes_version() -> str:
    return module_version(GO_MODULES / "kubernetes", "k8s.io/kubernetes")


def etcd_version() -> str:
    return module_version(GO_MODULES / "etcd", "go.etcd.io/etcd/server/v3")
