"""trace exec against real processes: exact fields for known execs, failed ones too."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support.workloads import comm_name, run_python

# The bounds of trace exec's program.bpf.c (CWD_SIZE, FILENAME_SIZE).
CWD_SIZE = 512
FILENAME_SIZE = 512


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
    assert event.filename == "/bin/echo"  # as passed
    assert event.exe == os.path.realpath("/bin/echo")  # the file the kernel runs
    assert event.exe_truncated is False and event.filename_truncated is False
    assert event.cwd == str(tmp_path)
    assert event.cwd_truncated is False
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
    assert event.filename == "/nonexistent/espia-missing"
    assert event.exe == ""  # no program ran
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
        "filename": str,
        "args_truncated": bool,
    }
    assert {name: type(getattr(event, name)) for name in types} == types
    annotations = type(event).__annotations__
    assert {name: annotations[name] for name in types} == types
    assert (event.comm, event.filename, event.args) == ("true", "/bin/true", "/bin/true")
    assert event.exe == os.path.realpath("/bin/true")


def test_exe_is_the_file_run_even_through_a_descriptor(recorder, tmp_path):
    """fexecve() passes an empty name: EXE still names the program, from the kernel."""
    program = tmp_path / "copy-of-true"
    shutil.copy("/bin/true", program)
    body = f"""
fd = os.open({str(program)!r}, os.O_RDONLY)
pid = os.fork()
if pid == 0:
    os.execve(fd, ["by-fd", "arg"], {{}})
os.waitpid(pid, 0)
"""
    events = recorder("exec", lambda: run_python(comm_name(), body), filter="comm:copy-of-true")
    assert [(e.exe, e.filename, e.args, e.ret) for e in events] == [
        (str(program), "", "by-fd arg", 0)
    ]


def deep_dir(root: Path, length: int) -> Path:
    """A directory under `root` whose path is exactly `length` bytes, in 100-byte steps."""
    path = str(root)
    while len(path) < length:
        step = min(100, length - len(path))
        if step < 2:  # too short for "/x": lengthen the previous component instead
            path = path[: -(2 - step)] if step else path
            step = 2 if step else 0
        path += "/" + "d" * (step - 1)
    assert len(path) == length
    os.makedirs(path, exist_ok=True)
    return Path(path)


@pytest.mark.parametrize("length", [CWD_SIZE - 1, CWD_SIZE, CWD_SIZE + 1])
def test_cwd_at_its_bound_is_whole_and_beyond_it_cut_with_a_marker(recorder, tmp_path, length):
    cwd = deep_dir(tmp_path, length)

    def workload():
        subprocess.run(["/bin/true", "cwd-bound"], cwd=cwd, check=True)

    events = [e for e in recorder("exec", workload, filter="comm:true") if "cwd-bound" in e.args]
    assert len(events) == 1
    event = events[0]
    if length <= CWD_SIZE:
        assert (event.cwd, event.cwd_truncated) == (str(cwd), False)
    else:
        # Whole components nearest the working directory are kept; the marker replaces the rest.
        assert event.cwd_truncated is True
        assert event.cwd.startswith("[...]/")
        kept = event.cwd.removeprefix("[...]")
        assert str(cwd).endswith(kept) and len(kept) < length


def test_cwd_deeper_than_the_walk_is_cut_with_a_marker(recorder, tmp_path):
    cwd = tmp_path.joinpath(*["d"] * 40)
    cwd.mkdir(parents=True)

    def workload():
        subprocess.run(["/bin/true", "cwd-depth"], cwd=cwd, check=True)

    events = [e for e in recorder("exec", workload, filter="comm:true") if "cwd-depth" in e.args]
    assert len(events) == 1
    assert events[0].cwd_truncated is True
    assert events[0].cwd.startswith("[...]/d/d/")


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_arguments_at_their_bound(recorder, extra):
    """4096 bytes of arguments (NULs included) fit exactly; one more byte is cut."""
    fill = "y" * (4096 - len("/bin/true\0") - 1 + extra)

    def workload():
        subprocess.run(["/bin/true", fill], check=True)

    events = [e for e in recorder("exec", workload, filter="comm:true") if "yyy" in e.args]
    assert len(events) == 1
    if extra <= 0:
        assert (events[0].args, events[0].args_truncated) == (f"/bin/true {fill}", False)
    else:
        assert events[0].args_truncated is True
        assert events[0].args == f"/bin/true {fill[:-1]} [...]"


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_filename_at_its_bound(recorder, tmp_path, extra):
    """FILENAME keeps 511 bytes whole (a 512-byte buffer); a longer name is cut visibly."""
    # A name of 511 + extra bytes that exists: "/" repeated, then the program.
    program = tmp_path / "t"
    shutil.copy("/bin/true", program)
    name = "/" * (FILENAME_SIZE - 1 + extra - len(str(program))) + str(program)

    def workload():
        subprocess.run([name, "filename-bound"], executable=name, check=True)

    events = [e for e in recorder("exec", workload, filter="comm:t") if "filename-bound" in e.args]
    assert len(events) == 1
    event = events[0]
    assert event.exe == str(program)
    if extra <= 0:
        assert (event.filename, event.filename_truncated) == (name, False)
    else:
        assert event.filename_truncated is True
        assert event.filename == name[:-1] + " [...]"
