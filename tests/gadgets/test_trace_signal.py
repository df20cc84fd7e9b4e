"""trace signal against real processes: kill, tgkill, failed kills, and signals of the kernel."""

from __future__ import annotations

import errno
import json
import os
import signal
from pathlib import Path

from support.workloads import comm_name, run_python

import espia

# A parent (comm sys.argv[1]) and the children it forks (comm argv[1] + "-N"):
# a kill, the SIGCHLD that follows, a kill of nobody, a tgkill of itself, a
# SIGPIPE, a child that crashes (SIGSEGV), and one that may not kill init.
SIGNALS = """
import ctypes, json, resource, signal, threading
libc = ctypes.CDLL(None, use_errno=True)
me = sys.argv[1]
def child(suffix, job):
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        libc.prctl(15, (me + suffix).encode(), 0, 0, 0)
        os.write(ready_w, b"x")
        job()
        os._exit(0)
    os.read(ready_r, 1)
    return pid
def crash():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    ctypes.string_at(0)
def not_allowed():
    os.setuid(65534)
    try:
        os.kill(1, signal.SIGTERM)
    except PermissionError:
        pass
paused = child("-1", signal.pause)
os.kill(paused, signal.SIGTERM)
os.waitpid(paused, 0)
nobody = 4194000
while os.path.exists(f"/proc/{nobody}"):
    nobody -= 1
try:
    os.kill(nobody, signal.SIGKILL)
except ProcessLookupError:
    pass
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
r, w = os.pipe()
os.close(r)
try:
    os.write(w, b"x")
except BrokenPipeError:
    pass
crashed = child("-2", crash)
os.waitpid(crashed, 0)
denied = child("-3", not_allowed)
os.waitpid(denied, 0)
print(json.dumps([os.getpid(), paused, nobody, crashed, denied]))
"""


def test_signals_sent_generated_and_refused_have_exact_fields():
    comm = comm_name()
    # The senders are the parent and its children: a user-space regex on their comms.
    with espia.trace("signal", filter=f"comm:~^{comm}") as trace:
        done = run_python(comm, SIGNALS)
        trace.stop()
        events = list(trace)
    assert trace.lost == 0
    me, paused, nobody, crashed, denied = json.loads(done.stdout)
    c1, c2, c3 = (f"{comm}-{n}"[:15] for n in (1, 2, 3))
    test_comm = Path("/proc/self/comm").read_text().strip()
    seen = [
        (e.comm, e.pid, e.get("sig"), e.tpid, e.tcomm, e.ret, e.get("retname"), e.get("result"))
        for e in events
    ]
    assert seen == [
        (comm, me, "SIGTERM", paused, c1, 0, "", "delivered"),
        (c1, paused, "SIGCHLD", me, comm, 0, "", "ignored"),
        (comm, me, "SIGKILL", nobody, "", -errno.ESRCH, "ESRCH", ""),
        (comm, me, "SIGUSR1", me, comm, 0, "", "ignored"),
        (comm, me, "SIGPIPE", me, comm, 0, "", "ignored"),
        (c2, crashed, "SIGSEGV", crashed, c2, 0, "", "delivered"),
        (c2, crashed, "SIGCHLD", me, comm, 0, "", "ignored"),
        (c3, denied, "SIGTERM", 1, "", -errno.EPERM, "EPERM", ""),
        (c3, denied, "SIGCHLD", me, comm, 0, "", "ignored"),
        # The parent's own end: SIGCHLD to the test (SIGCHLD's default action is to ignore it).
        (comm, me, "SIGCHLD", os.getpid(), test_comm, 0, "", "ignored"),
    ]
    # si_code: kill is SI_USER, tgkill SI_TKILL, the fault SEGV_MAPERR.
    assert [events[0].code, events[3].code, events[5].code] == [0, -6, 1]
    assert events[7].uid == 65534 and {e.uid for e in events[:7]} == {0}
    assert events[0].sig == signal.SIGTERM


def test_kernel_side_comm_filter_keeps_only_the_sender():
    comm, other = comm_name(), comm_name()
    body = "import signal\nos.kill(os.getpid(), 0)\nsignal.signal(signal.SIGUSR2, signal.SIG_IGN)\n"
    body += "for _ in range(20):\n    os.kill(os.getpid(), signal.SIGUSR2)\n"
    with espia.trace("signal", filter=f"comm:{comm}") as trace:
        run_python(other, body)
        run_python(comm, body)
        trace.stop()
        events = list(trace)
    # 20 SIGUSR2 and the SIGCHLD of its end; nothing of the other process reached user space.
    assert trace.received == 21
    test_comm = Path("/proc/self/comm").read_text().strip()
    assert [(e.comm, e.get("sig"), e.tcomm) for e in events] == [(comm, "SIGUSR2", comm)] * 20 + [
        (comm, "SIGCHLD", test_comm)
    ]
