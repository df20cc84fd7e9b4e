"""snapshot process: known processes and threads, field for field as trace exec saw them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.runtimes import Docker
from support.workloads import PRELUDE, EspiaCli, comm_name, espia, require, unique

NOBODY = 65534
COMPARED = ("pid", "ppid", "comm", "uid", "gid", "mntns")


def snapshot(*flags: str) -> list[dict]:
    done = espia("snapshot", "process", "-o", "json", *flags)
    assert done.returncode == 0, done.stderr
    (listed,) = [json.loads(line) for line in done.stdout.splitlines()]  # one list
    return listed


def exec_event(cli: EspiaCli, start, wanted) -> dict:
    """Starts `start()` once trace exec shows events, and returns its exec's event."""
    cli.wait_ready(lambda: subprocess.run(["true"]), '"comm":"true"')
    started = start()
    line = cli.wait_for(lambda text: text.startswith("{") and wanted(json.loads(text)))
    return started, json.loads(line)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder other users may run programs from (pytest's own are root's only)."""
    folder = Path(tempfile.mkdtemp(prefix="espia-snapshot-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_a_process_shows_the_fields_trace_exec_showed(shared_dir):
    comm = comm_name()
    program = shared_dir / comm
    shutil.copy("/bin/sleep", program)
    program.chmod(0o755)
    cli = EspiaCli(["trace", "exec", "-o", "json", "-F", "comm:~^(true|es)"])

    def start() -> subprocess.Popen:
        return subprocess.Popen([str(program), "60"], user=NOBODY, group=NOBODY)

    proc, event = exec_event(cli, start, lambda e: e["comm"] == comm)
    try:
        listed = snapshot("-F", f"comm:{comm}")
        assert len(listed) == 1
        (row,) = listed
        assert {k: row[k] for k in COMPARED} == {k: event[k] for k in COMPARED}
        assert (row["pid"], row["tid"], row["uid"], row["gid"]) == (
            proc.pid,
            proc.pid,
            NOBODY,
            NOBODY,
        )
        assert row["runtime"] == event["runtime"]
        assert row["runtime"]["containerName"] == ""
    finally:
        proc.kill()
        proc.wait()
    assert snapshot("-F", f"comm:{comm}") == []


# The main thread ends (pthread_exit, a zombie now) while another runs on.
MAIN_THREAD_EXITS = r"""
#include <pthread.h>
#include <unistd.h>
static void *run(void *unused) { sleep(60); return unused; }
int main(void) { pthread_t t; pthread_create(&t, 0, run, 0); pthread_exit(0); }
"""


def test_a_process_whose_main_thread_exited_keeps_its_namespace(tmp_path):
    require("gcc")
    comm = comm_name()
    (tmp_path / "main.c").write_text(MAIN_THREAD_EXITS)
    program = tmp_path / comm
    subprocess.run(["gcc", "-o", str(program), str(tmp_path / "main.c"), "-lpthread"], check=True)
    cli = EspiaCli(["trace", "exec", "-o", "json", "-F", "comm:~^(true|es)"])
    proc, event = exec_event(
        cli, lambda: subprocess.Popen([str(program)]), lambda e: e["comm"] == comm
    )
    try:
        stat = Path(f"/proc/{proc.pid}/stat")
        for _ in range(100):  # the main thread is a zombie soon after its exec
            if stat.read_text().rpartition(")")[2].split()[0] == "Z":
                break
            time.sleep(0.05)
        (thread,) = set(os.listdir(f"/proc/{proc.pid}/task")) - {str(proc.pid)}
        # Before: the zombie main thread's ns/ could not be read, and the mount
        # namespace (so the container) of the process and of every thread was 0.
        for flags in ((), ("--threads",)):
            rows = snapshot("-F", f"pid:{proc.pid}", *flags)
            assert rows and all(
                {k: r[k] for k in COMPARED} == {k: event[k] for k in COMPARED} for r in rows
            )
            assert event["mntns"] == os.stat(f"/proc/{proc.pid}/task/{thread}/ns/mnt").st_ino
        assert len(rows) == 2
    finally:
        proc.kill()
        proc.wait()


THREADS = """
import threading, time
ready = threading.Barrier(4)
def named(name):
    ctypes.CDLL(None).prctl(15, name.encode(), 0, 0, 0)
    ready.wait()
    time.sleep(60)
for name in ("alpha", "beta", "gamma"):
    threading.Thread(target=named, args=(f"{sys.argv[1][:8]}-{name}",), daemon=True).start()
ready.wait()
print(os.getpid(), flush=True)
time.sleep(60)
"""


def test_threads_are_one_row_each_with_their_own_comm():
    comm = comm_name()
    proc = subprocess.Popen(
        [sys.executable, "-c", PRELUDE + THREADS, comm], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        pid = int(proc.stdout.readline())
        tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
        threads = snapshot("--threads", "-F", f"pid:{pid}")
        assert [t["tid"] for t in threads] == tids
        assert {t["pid"] for t in threads} == {pid}
        names = {f"{comm[:8]}-{n}" for n in ("alpha", "beta", "gamma")}
        assert {t["comm"] for t in threads} == {comm} | names
        assert [t["tid"] for t in threads if t["comm"] == comm] == [pid]
        processes = snapshot("-F", f"pid:{pid}")
        assert [(p["pid"], p["tid"], p["comm"]) for p in processes] == [(pid, pid, comm)]
    finally:
        proc.kill()
        proc.communicate()


def test_a_container_process_shows_its_container_as_trace_exec_does(docker: Docker, docker_socket):
    name = unique("snap")
    runtime = ["--runtimes", "docker", "--runtime-socket", f"docker={docker_socket}"]
    cli = EspiaCli(["trace", "exec", "-o", "json", "-F", "comm:~^(true|sleep)$", *runtime])
    cid, event = exec_event(
        cli, lambda: docker.run(name), lambda e: e["runtime"]["containerName"] == name
    )
    try:
        pid = docker.pid(cid)
        listed = snapshot("-c", name, *runtime)
        assert [row["pid"] for row in listed] == [pid]
        (row,) = listed
        assert {k: row[k] for k in COMPARED} == {k: event[k] for k in COMPARED}
        assert row["runtime"] == event["runtime"]
        assert row["runtime"]["containerId"] == cid
    finally:
        docker.remove(cid)


def test_columns_and_help():
    done = espia("snapshot", "process", "-F", "pid:1")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["RUNTIME.CONTAINERNAME", "PID", "TID", "PPID", "UID", "GID", "COMM"]
    assert [row.split()[:5] for row in rows] == [["1", "1", "0", "0", "0"]]
    shown = espia("snapshot", "process", "--help")
    assert "--threads" in shown.stdout and "Parent process ID" in shown.stdout
    bad = espia("snapshot", "process", "--threads=yes")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def proc_tasks(threads: bool) -> dict[int, tuple]:
    """(pid, ppid, comm, uid, gid, mntns) of every task /proc shows now, by tid, read
    here independently of espia's reader: stat's last ')' ends the comm, status has
    the real ids, and a process's mount namespace is that of any of its live threads."""
    tasks = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        namespaces = []
        for tid in tids:
            try:
                namespaces.append(os.stat(f"/proc/{pid}/task/{tid}/ns/mnt").st_ino)
            except OSError:
                continue  # a kernel thread, a zombie, or it ended
        for tid in tids if threads else [pid]:
            base = f"/proc/{pid}/task/{tid}" if threads else f"/proc/{pid}"
            try:
                stat = Path(f"{base}/stat").read_bytes()
                status = Path(f"{base}/status").read_text(errors="surrogateescape")
            except OSError:
                continue
            comm, _, rest = stat.partition(b" (")[2].rpartition(b") ")
            lines = (line.partition(":\t") for line in status.splitlines())
            ids = {key: value.split()[0] for key, _, value in lines if key in ("Uid", "Gid")}
            tasks[int(tid)] = (
                int(pid),
                int(rest.split()[1]),
                os.fsdecode(comm),
                int(ids["Uid"]),
                int(ids["Gid"]),
                namespaces[0] if namespaces else 0,
            )
    return tasks


@pytest.mark.parametrize("threads", [False, True])
def test_every_task_of_the_machine_is_listed_as_proc_shows_it(threads, tmp_path):
    # One process whose main thread exited among them (its namespace is a live thread's).
    require("gcc")
    (tmp_path / "main.c").write_text(MAIN_THREAD_EXITS)
    program = tmp_path / comm_name()
    subprocess.run(["gcc", "-o", str(program), str(tmp_path / "main.c"), "-lpthread"], check=True)
    odd = subprocess.Popen([str(program)])
    try:
        time.sleep(0.5)
        before = proc_tasks(threads)
        rows = snapshot(*(["--threads"] if threads else []))
        after = proc_tasks(threads)
    finally:
        odd.kill()
        odd.wait()
    # Tasks that lived, unchanged, through the snapshot: each listed, exactly as /proc shows it.
    stable = {tid: task for tid, task in before.items() if after.get(tid) == task}
    listed = {row["tid"]: row for row in rows}
    assert len(listed) == len(rows)  # no task twice
    assert odd.pid in stable and len(stable) > 20
    fields = ("pid", "ppid", "comm", "uid", "gid", "mntns")
    assert {tid: tuple(listed[tid][k] for k in fields) for tid in stable} == stable
    assert all(row["tid"] == row["pid"] for row in rows) != threads
