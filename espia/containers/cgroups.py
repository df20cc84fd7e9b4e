"""cgroup v2 paths: which container a cgroup belongs to, and the id-to-path table.

Every runtime puts a container in a cgroup whose path names it:

    containerd (ctr, nerdctl)       /<namespace>/<id>
    containerd CRI, systemd driver  .../cri-containerd-<id>.scope
    kubelet, cgroupfs driver        /kubepods/<qos>/pod<uid>/<id>
    Docker                          /docker/<id>, .../docker-<id>.scope
    Podman                          .../libpod-<id>.scope[/container], /libpod_parent/libpod-<id>
    CRI-O                           .../crio-<id>.scope

The kernel reports cgroup ids (bpf_get_current_cgroup_id is the inode of the
cgroup's directory); `CgroupTable` maps them back to paths, from a scan of
the hierarchy at start and the kernel's cgroup_mkdir reports afterwards.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

_HEX_ID = re.compile(r"^[0-9a-f]{64}$")
_SCOPED = re.compile(
    r"^(?:(?P<runtime>docker|libpod|crio|cri-containerd)-)(?P<id>[0-9a-f]{64})(?:\.scope)?$"
)
_RUNTIME_OF_PREFIX = {
    "docker": "docker",
    "libpod": "podman",
    "crio": "cri-o",
    "cri-containerd": "containerd",
}
_RUNTIME_OF_PARENT = {"docker": "docker", "libpod_parent": "podman"}


def container_of(path: str, containerd_namespaces: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """(runtime hint, container id) for a container's cgroup path, or None for the host.

    The runtime hint may be "" when only the id is certain (kubepods paths).
    """
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    if len(parts) == 2 and parts[0] in containerd_namespaces:
        return "containerd", parts[1]
    # Podman nests the workload in .../libpod-<id>.scope/container.
    for part in reversed(parts[-2:]):
        if match := _SCOPED.match(part):
            return _RUNTIME_OF_PREFIX[match["runtime"]], match["id"]
    last = parts[-1]
    if _HEX_ID.match(last):
        parent = parts[-2] if len(parts) > 1 else ""
        if parent in _RUNTIME_OF_PARENT:
            return _RUNTIME_OF_PARENT[parent], last
        if "kubepods" in parts[0]:
            return "", last
    return None


class CgroupTable:
    """cgroup v2 id -> path ("/k8s.io/abc"), relative to the hierarchy's root."""

    # A miss rescans the hierarchy, but not more often than this (seconds).
    RESCAN_INTERVAL = 1.0

    def __init__(self, root: Path) -> None:
        self.root = root
        self._paths: dict[int, str] = {}
        self._scanned = 0.0

    def scan(self) -> None:
        """Reads every cgroup that exists now: the inode of a directory is its id."""
        self._scanned = time.monotonic()
        root = str(self.root)
        for directory, _, _ in os.walk(root):
            try:
                inode = os.stat(directory).st_ino
            except OSError:
                continue  # removed while we walked
            self._paths[inode] = directory[len(root) :] or "/"

    def add(self, cgroup_id: int, path: str) -> None:
        self._paths[cgroup_id] = path

    def path(self, cgroup_id: int) -> str | None:
        found = self._paths.get(cgroup_id)
        if found is None and time.monotonic() - self._scanned > self.RESCAN_INTERVAL:
            # Created while the first scan ran: ask the file system again.
            self.scan()
            found = self._paths.get(cgroup_id)
        return found
