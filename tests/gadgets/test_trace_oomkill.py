"""trace oomkill: a memory-limited cgroup, a big victim and the small process that triggers it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.workloads import PRELUDE, comm_name

import espia

MEMORY = Path("/sys/fs/cgroup/memory")
LIMIT = 96 << 20

# Joins the cgroup argv[2], takes argv[3] MiB of resident memory a MiB at a
# time (says "ready" when done), then waits to be killed.
HOG = """
import time
Path = __import__("pathlib").Path
(Path(sys.argv[2]) / "cgroup.procs").write_text(str(os.getpid()))
hold = []
for _ in range(int(sys.argv[3])):
    hold.append(b"\\1" * (1 << 20))
print("ready", flush=True)
time.sleep(120)
"""


@pytest.fixture
def cgroup() -> Iterator[Path]:
    """A cgroup v1 memory cgroup limited to LIMIT bytes, without swap; removed after."""
    path = MEMORY / f"espia-oom-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    try:
        (path / "memory.limit_in_bytes").write_text(str(LIMIT))
        yield path
    finally:
        for pid in (path / "cgroup.procs").read_text().split():
            os.kill(int(pid), signal.SIGKILL)
        while (path / "cgroup.procs").read_text().strip():
            pass
        path.rmdir()


def hog(cgroup: Path, comm: str, mib: int, *prefix: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*prefix, sys.executable, "-c", PRELUDE + HOG, comm, str(cgroup), str(mib)],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_the_victim_and_its_trigger_are_named_exactly(cgroup):
    victim_comm, trigger_comm = comm_name(), comm_name()
    with espia.trace("oomkill") as trace:
        # The victim, in its own mount namespace: the event's container key is the victim's.
        with hog(cgroup, victim_comm, 60, "unshare", "-m") as victim:
            assert victim.stdout is not None and victim.stdout.readline().strip() == "ready"
            victim_mntns = os.stat(f"/proc/{victim.pid}/ns/mnt").st_ino
            # The trigger asks for less than the victim holds, but more than the limit leaves.
            with hog(cgroup, trigger_comm, 40) as trigger:
                assert trigger.stdout is not None
                assert trigger.stdout.readline().strip() == "ready"
                assert victim.wait(30) == -signal.SIGKILL
                trigger.kill()
        trace.stop()
        events = [e for e in trace if e.tcomm in (victim_comm, trigger_comm)]
    assert trace.lost == 0
    assert [(e.tpid, e.tcomm, e.fpid, e.fcomm) for e in events] == [
        (victim.pid, victim_comm, trigger.pid, trigger_comm)
    ]
    (event,) = events
    assert event.mntns == victim_mntns != event.fmntns
    assert event.fmntns == os.stat(f"/proc/{os.getpid()}/ns/mnt").st_ino
    assert (event.tuid, event.fuid, event.oom_score_adj) == (0, 0, 0)
    # 60 MiB and the interpreter's own pages, all resident: between 60 and the limit.
    assert 60 << 8 <= event.pages < LIMIT >> 12
    assert event.pages == event.anon_pages + event.file_pages + event.shmem_pages
    assert event.anon_pages >= 60 << 8 and event.total_vm >= event.pages


def test_a_pod_container_over_its_limit_is_named_with_its_victim(ctr, rootfs):
    pod = ctr.run_pod(rootfs, "oom-app", "oom-ns", {"app": "oom"}, ["app"])
    cid = pod.containers["app"]
    try:
        memory = MEMORY / "k8s.io" / cid
        (memory / "memory.limit_in_bytes").write_text(str(LIMIT))
        before = set((memory / "cgroup.procs").read_text().split())
        with espia.trace("oomkill", podname="oom-app") as trace:
            # dd fills a buffer larger than the limit; it starts a second later, so that
            # its pid (the shell's, which execs it) is known before it is killed.
            command = f"sleep 1; exec dd if=/dev/zero of=/dev/null bs={2 * LIMIT} count=1"
            exec_ = threading.Thread(
                target=lambda: _quietly(ctr.exec, cid, "/bin/sh", "-c", command)
            )
            exec_.start()
            # The shell, among the new processes (its sleep, a fork not yet exec'd).
            shells: list[int] = []
            deadline = time.monotonic() + 20
            while not shells and time.monotonic() < deadline:
                news = set((memory / "cgroup.procs").read_text().split()) - before
                shells = [int(p) for p in news if comm_of(p) == "sh" and parent_of(p) not in news]
            (victim,) = shells
            exec_.join(30)
            trace.stop()
            events = list(trace)
    finally:
        ctr.remove_pod(pod)
    assert [(e.tpid, e.tcomm, e.fpid, e.fcomm) for e in events] == [(victim, "dd", victim, "dd")]
    (event,) = events
    assert event.container.id == cid
    assert (event.container.k8s.pod, event.container.k8s.namespace) == ("oom-app", "oom-ns")
    assert event.pages >= LIMIT >> 13  # at least half the limit was dd's when it was killed


def comm_of(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def parent_of(pid: str) -> str:
    """The parent's pid ("" if gone); /proc/PID/stat's fourth field, after the comm."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    except (OSError, IndexError):
        return ""


def _quietly(call, *args):
    """`call(*args)`, whose failure is expected (a process killed under it)."""
    with contextlib.suppress(RuntimeError):
        call(*args)
