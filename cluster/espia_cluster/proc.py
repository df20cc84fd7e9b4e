"""Running commands and the cluster's daemons: pid files that survive a killed `up`.

A daemon's pid file holds its pid and its start time (field 22 of
/proc/PID/stat), so a pid the kernel reused for another process is never
taken for ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from espia_cluster import layout


class ClusterError(Exception):
    """A step that failed: its message is the one line the user sees."""


def say(message: str) -> None:
    print(f"espia-cluster: {message}", file=sys.stderr, flush=True)


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command; with ``check``, a failure raises with the command's last stderr line."""
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            env={**os.environ, **env} if env else None,
            cwd=cwd,
            timeout=timeout,
            input=input,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ClusterError(f"{argv[0]}: not installed (./bootstrap.sh --test installs it)") from exc
    except subprocess.TimeoutExpired as exc:
        raise ClusterError(f"{' '.join(argv[:3])}: no answer after {timeout:.0f} s") from exc
    if check and done.returncode:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        raise ClusterError(f"{' '.join(argv[:3])}: {lines[-1]}")
    return done


def wait_until(predicate: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses: split after its closing one.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] if fields[0] != "Z" else None


def _pidfile(name: str) -> Path:
    return layout.PIDS / f"{name}.pid"


def start(name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    """Start a daemon in a session of its own, logging to LOGS/name.log; returns its pid."""
    layout.PIDS.mkdir(parents=True, exist_ok=True)
    layout.LOGS.mkdir(parents=True, exist_ok=True)
    with (layout.LOGS / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env} if env else None,
            start_new_session=True,
        )
    _pidfile(name).write_text(f"{process.pid} {_start_time(process.pid)}\n")
    return process.pid


def pid_of(name: str) -> int | None:
    """The pid of daemon ``name`` if it is still the process we started."""
    try:
        pid_text, started = _pidfile(name).read_text().split()
    except (OSError, ValueError):
        return None
    pid = int(pid_text)
    return pid if _start_time(pid) == started else None


def running(name: str) -> bool:
    return pid_of(name) is not None


def exited(name: str) -> str:
    """The end of a daemon's log, for the error that says it died."""
    log = layout.LOGS / f"{name}.log"
    tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
    return f"{name} exited (log {log}): " + " | ".join(tail)


def alive(pid: int) -> bool:
    return _start_time(pid) is not None


def kill(pids: Sequence[int], grace: float) -> None:
    """SIGTERM, then SIGKILL to those still there after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not any(alive(p) for p in pids):
            return


def stop(name: str, grace: float = 10.0) -> None:
    """Stop daemon ``name`` if it runs; forget its pid file either way."""
    pid = pid_of(name)
    if pid is not None:
        started = time.monotonic()
        kill([pid], grace)
        if os.environ.get("ESPIA_CLUSTER_DEBUG"):
            say(f"stopped {name} in {time.monotonic() - started:.1f} s")
    _pidfile(name).unlink(missing_ok=True)


#: The daemons a cluster runs (clients such as kubectl or ctr are never counted or killed).
DAEMONS = frozenset(
    {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
        "containerd",
        "containerd-shim-runc-v2",
    }
)


def strays() -> list[int]:
    """Daemons of a cluster whose pid files are gone: a daemon's name and our folders in argv."""
    found = []
    needles = (str(layout.STATE).encode(), str(layout.BIN).encode())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if Path(argv[0].decode(errors="replace")).name not in DAEMONS:
            continue
        if any(needle in arg for arg in argv for needle in needles):
            found.append(int(entry.name))
    return found
