"""trace exec against real processes: exact fields for known execs, failed ones too."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support.workloads import comm_name, run_python


def test_exec_of_known_binary_has_exact_fields(recorder, tmp_path):
    child: list[subprocess.Popen] = []

    def workload():
        proc = subprocess.Popen(
            ["/bin/echo", "hello", "two words", ""], cwd=tmp_path, stdout=subprocess.DEVNULL
        )
        proc.wait()
        child.append(proc)

    events = recorder("exec", workload, filter=f"comm:echo,pid:{os.getpid()}")
    # The filter is on the new program's pid, which is the child's, not ours.
    assert events == []
    events = recorder("exec", workload, filter="comm:echo,args:~hello")
    pid = child[-1].pid
    mine = [e for e in events if e.pid == pid]
    assert len(mine) == 1
    event = mine[0]
    assert event.ret == 0
    assert event.comm == "echo"
    assert event.ppid == os.getpid()
    assert event.tid == pid
    assert event.uid == 0 and event.gid == 0
    assert event.args == "/bin/echo hello 'two words' ''"
    assert event.args_truncated is False
    assert event.exe == "/bin/echo"
    assert event.cwd == str(tmp_path)
    assert event.pcomm == Path(f"/proc/{os.getpid()}/comm").read_text().strip()
    assert event.mntns == os.stat("/proc/self/ns/mnt").st_ino


def test_failed_exec_is_reported_with_its_error(recorder):
    body = """
try:
    os.execv("/nonexistent/espia-missing", ["espia-missing", "arg1"])
except OSError as exc:
    print(exc.errno)
"""
    events, stdout, comm = recorder.python("exec", body)
    assert stdout == "2\n"
    assert len(events) == 1
    event = events[0]
    assert event.ret == -2
    assert event.get("retname") == "ENOENT"
    assert event.comm == comm  # the caller's comm: the exec never happened
    assert event.exe == "/nonexistent/espia-missing"
    assert event.args == "espia-missing arg1"


def test_exec_from_a_thread_is_attributed_to_the_process(recorder):
    comm = comm_name()
    # A non-leader thread calls exec: the kernel gives the process the leader's
    # pid; sched_process_exec's old_pid still finds the arguments.
    body = """
import threading
def run():
    os.execv("/bin/true", ["/bin/true", "from-thread"])
t = threading.Thread(target=run)
t.start()
t.join()
"""
    proc: list[subprocess.CompletedProcess] = []
    events = recorder(
        "exec", lambda: proc.append(run_python(comm, body, check=False)), filter="comm:true"
    )
    mine = [e for e in events if e.args == "/bin/true from-thread"]
    assert len(mine) == 1
    assert mine[0].ret == 0
    assert mine[0].pid == mine[0].tid


def test_long_argument_lists_are_cut_with_a_marker(recorder):
    many = [f"a{i}" for i in range(100)]
    huge = "x" * 5000

    def workload():
        subprocess.run(["/bin/true", *many], check=True)
        subprocess.run(["/bin/true", huge], check=True)

    events = recorder("exec", workload, filter="comm:true")
    by_first = {e.args.split()[1][:2]: e for e in events if e.args.startswith("/bin/true ")}
    counted = by_first["a0"]
    assert counted.args_truncated is True
    assert counted.args == "/bin/true " + " ".join(many[:63]) + " [...]"
    long_one = by_first["xx"]
    assert long_one.args_truncated is True
    assert long_one.args.endswith(" [...]")
    # The copy is bounded to 4096 bytes: "/bin/true\0" then the start of the argument.
    assert long_one.args == "/bin/true " + "x" * (4096 - len("/bin/true") - 2) + " [...]"


def test_python_sees_typed_events(recorder):
    events = recorder("exec", lambda: subprocess.run(["/bin/true"], check=True), filter="comm:true")
    assert events
    event = events[0]
    assert type(event).__name__ == "ExecEvent"
    types = {
        "pid": int,
        "ppid": int,
        "tid": int,
        "uid": int,
        "gid": int,
        "ret": int,
        "mntns": int,
        "timestamp": int,
        "comm": str,
        "pcomm": str,
        "args": str,
        "cwd": str,
        "exe": str,
        "args_truncated": bool,
    }
    assert {name: type(getattr(event, name)) for name in types} == types
    annotations = type(event).__annotations__
    assert {name: annotations[name] for name in types} == types
    assert (event.comm, event.exe, event.args) == ("true", "/bin/true", "/bin/true")
