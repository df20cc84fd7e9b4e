"""The kernel ids of processes, read from /proc: the one reader of them in espia.

Gadgets see namespaces and cgroups, not container ids: these numbers are what
ties a kernel event to a container.  Runtimes ask them of a container's init
process, the collection of every process at start.  A process can die while
we look, so every lookup degrades to zeros instead of raising.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple


class ProcessIds(NamedTuple):
    """What /proc says about one pid; all zero once the process is gone."""

    pid: int = 0
    mntns: int = 0
    netns: int = 0
    cgroup: str = ""


GONE = ProcessIds()


def process_ids(pid: int, proc: str = "/proc") -> ProcessIds:
    """Mount and network namespace inodes and the cgroup v2 path of ``pid``.

    The cgroup is the ``0::`` line of /proc/PID/cgroup, which exists on
    cgroup v2 and on hybrid hosts (cgroup2 at /sys/fs/cgroup/unified) and is
    empty on a pure cgroup v1 host. A pid that vanished (or is not ours to
    read) yields :data:`GONE`, so that a stale pid is never handed on.
    """
    if pid <= 0:
        return GONE
    base = f"{proc}/{pid}"
    try:
        mntns = os.stat(f"{base}/ns/mnt").st_ino
        netns = os.stat(f"{base}/ns/net").st_ino
        with open(f"{base}/cgroup", encoding="utf-8") as f:
            cgroup = next((line[3:].rstrip("\n") for line in f if line.startswith("0::")), "")
    except OSError:
        return GONE
    return ProcessIds(pid, mntns, netns, cgroup)


def every_process(proc: str = "/proc") -> Iterator[ProcessIds]:
    """The ids of each process alive in `proc` (those that vanish meanwhile are skipped)."""
    for name in os.listdir(proc):
        if name.isdigit():
            ids = process_ids(int(name), proc)
            if ids is not GONE:
                yield ids
