"""The processes (or threads) running now, for snapshot process, read from /proc.

A BPF task iterator would walk the kernel's task list in one pass, but this
kernel refuses iterators (they are BTF tracing programs), so every process
is read from /proc/PID: its stat (the real parent, the comm), its status
(the real uid and gid, as trace exec reports them) and its mount
namespace.  A process that ends while it is read is left out; the list is
the kernel's order, by pid.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from espia.engine.user import SourceContext

PROC = "/proc"


def rows(context: SourceContext) -> Iterator[list[dict[str, Any]]]:
    """One snapshot: a row per process, or per thread with the `threads` parameter."""
    yield list(_tasks(bool(context.params.get("threads"))))


def _numbers(path: str) -> list[int]:
    try:
        return sorted(int(entry.name) for entry in os.scandir(path) if entry.name.isdigit())
    except OSError:
        return []  # the process ended


def _tasks(threads: bool) -> Iterator[dict[str, Any]]:
    for pid in _numbers(PROC):
        base = f"{PROC}/{pid}"
        tids = _numbers(f"{base}/task") if threads else [pid]
        mntns = _mntns(base)
        if not mntns:
            # A main thread that exited (pthread_exit) is a zombie whose ns/ cannot
            # be read while the other threads run on: the process's is theirs.
            others = (_mntns(f"{base}/task/{tid}") for tid in _numbers(f"{base}/task"))
            mntns = next(filter(None, others), 0)
        for tid in tids:
            task = read_task(f"{base}/task/{tid}" if threads else base)
            if task is not None:
                yield {"mntns": mntns, "pid": pid, "tid": tid, **task}


def _mntns(path: str) -> int:
    """The mount namespace of the task at `path`; 0 when it cannot be read (a kernel
    thread, a zombie, or the task ended)."""
    try:
        return os.stat(f"{path}/ns/mnt").st_ino
    except OSError:
        return 0


def read_task(path: str) -> dict[str, Any] | None:
    """{"ppid", "uid", "gid", "comm"} of the task at `path` (/proc/PID or its task/TID)."""
    try:
        with open(f"{path}/stat", "rb") as stat:
            text = stat.read()
        with open(f"{path}/status", "rb") as status:
            lines = status.read().splitlines()
    except OSError:
        return None
    # "pid (comm) state ppid ...": the comm may hold spaces and parentheses itself.
    opening, closing = text.find(b"("), text.rfind(b")")
    ppid = int(text[closing + 2 :].split()[1])
    ids = {}
    for line in lines:
        key, _, value = line.partition(b":")
        if key in (b"Uid", b"Gid"):
            ids[key] = int(value.split()[0])  # real, effective, saved, filesystem
    return {
        "ppid": ppid,
        "uid": ids.get(b"Uid", 0),
        "gid": ids.get(b"Gid", 0),
        "comm": os.fsdecode(text[opening + 1 : closing]),
    }
