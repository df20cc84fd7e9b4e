"""`espia agent` on this host, on a loopback port, driven by the cluster client's RemoteRun.

The agent is the real daemon (a subprocess, as the DaemonSet runs it); the
client is the one `kubectl espia` uses, so the bytes on the wire are the
ones a cluster sees, only without the port-forward in between.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from support.workloads import comm_name, run_python

from cluster_door.agents import AgentProcess, programs_held_by
from espia.agent.client import RemoteBatch, RemoteRun, agent_info, run_request
from espia.agent.wire import RemoteSchema
from espia.errors import UsageError

NODE = "node-under-test"


@pytest.fixture
def agent() -> Iterator[AgentProcess]:
    started = AgentProcess(NODE)
    try:
        yield started
    finally:
        code = started.stop()
        assert code == 0, "".join(started.stderr)


def collect(run: RemoteRun, schema: RemoteSchema) -> tuple[list, list[str]]:
    events, warnings = [], []
    for item in run.batches(schema):
        if isinstance(item, RemoteBatch):
            events += item.events
        else:
            warnings.append(item)
    return events, warnings


OPENS = """
for path in sys.argv[2:]:
    try:
        os.close(os.open(path, os.O_RDONLY))
    except FileNotFoundError:
        pass
"""


def test_a_known_workload_arrives_exactly_with_its_node(agent, tmp_path):
    comm = comm_name()
    present = tmp_path / "present"
    present.write_text("x")
    missing = tmp_path / "missing"
    run = RemoteRun(agent.address, run_request("trace", "open", filter=f"comm:{comm}", timeout=3))
    try:
        schema = RemoteSchema(run.open())  # the schema comes once the gadget is attached
        assert schema.default_columns(pods=False) == [
            "runtime.containerName",
            "pid",
            "comm",
            "fd",
            "err",
            "path",
        ]
        run_python(comm, OPENS, str(present), str(missing), str(present))
        events, warnings = collect(run, schema)
    finally:
        run.close()
    rows = [(e.get("path"), e.get("err"), e.get("errname"), e.get("fd") >= 0) for e in events]
    assert rows == [
        (str(present), 0, "", True),
        (str(missing), 2, "ENOENT", False),
        (str(present), 0, "", True),
    ]
    assert {e.get("comm") for e in events} == {comm}
    assert {e.get("k8s.node") for e in events} == {NODE}
    assert all(e.get("flags") == "O_RDONLY|O_CLOEXEC" for e in events), [
        e.get("flags") for e in events
    ]
    assert warnings == []
    assert run.lost == 0
    assert run.summary is not None
    assert run.summary.delivered == 3 and run.summary.error == ""
    assert run.summary.received >= 3


def test_a_stalled_client_never_blocks_and_every_drop_is_counted(agent, tmp_path):
    comm = comm_name()
    flood = 300_000
    body = f"""
path = {str(tmp_path)!r} + "/flood"
for i in range({flood}):
    try:
        os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        pass
"""
    # One batch held for this client: the flood overflows it while the client reads nothing.
    request = run_request(
        "trace", "open", filter=f"comm:{comm}", timeout=0, queue_batches=1, buffer_size=64 << 20
    )
    run = RemoteRun(agent.address, request)
    try:
        schema = RemoteSchema(run.open())
        started = time.monotonic()
        run_python(comm, body)
        flood_took = time.monotonic() - started
        time.sleep(1.0)  # the agent has read the whole flood by now; the client has read nothing
        events: list = []
        guard = threading.Timer(20.0, run.stop)
        guard.start()
        for item in run.batches(schema):
            if isinstance(item, RemoteBatch):
                events += item.events
                if len(events) + run.lost >= flood:
                    run.stop()
        guard.cancel()
    finally:
        run.close()
    assert all(e.get("comm") == comm for e in events)
    assert run.queue_lost > 0, "the client stalled yet nothing was dropped"
    assert len(events) + run.lost == flood, (len(events), run.kernel_lost, run.queue_lost)
    assert len(events) == run.delivered
    # The node's side did not wait for the client: the flood ran at tracing speed.
    assert flood_took < 30


def test_two_clients_at_once_each_get_their_own_events(agent, tmp_path):
    comms = [comm_name(), comm_name()]
    runs = [
        RemoteRun(
            agent.address, run_request("trace", "open", filter=f"comm:{comms[0]}", timeout=3)
        ),
        RemoteRun(
            agent.address, run_request("trace", "exec", filter=f"comm:{comms[1]}", timeout=3)
        ),
    ]
    try:
        schemas = [RemoteSchema(run.open()) for run in runs]
        target = tmp_path / "two"
        run_python(comms[0], OPENS, str(target))
        exe = tmp_path / comms[1]
        exe.symlink_to("/bin/true")
        subprocess.run([str(exe), "arg"], check=True)
        results: list[list] = [[], []]
        threads = [
            threading.Thread(target=lambda i=i: results[i].extend(collect(runs[i], schemas[i])[0]))
            for i in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    finally:
        for run in runs:
            run.close()
    assert [(e.get("comm"), e.get("path"), e.get("err")) for e in results[0]] == [
        (comms[0], str(target), 2)
    ]
    assert [(e.get("comm"), e.get("args"), e.get("ret")) for e in results[1]] == [
        (comms[1], f"{exe} arg", 0)
    ]


def test_info_and_health(agent):
    info = agent_info(agent.address)
    assert info.version and info.node == NODE
    assert info.kernel == os.uname().release
    assert "trace open" in info.gadgets and "trace dns" in info.gadgets
    health = subprocess.run(
        ["espia", "agent", "--health", "--listen", agent.address], capture_output=True, text=True
    )
    assert health.returncode == 0, health.stdout + health.stderr


def test_health_fails_where_no_agent_listens():
    result = subprocess.run(
        ["espia", "agent", "--health", "--listen", "127.0.0.1:1"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stdout.strip().startswith("espia agent: not serving on 127.0.0.1:1")


@pytest.mark.parametrize("address", ["0.0.0.0:7450", "10.1.2.3:7450", "[::]:7450"])
def test_the_agent_refuses_to_listen_beyond_loopback(address):
    result = subprocess.run(
        ["espia", "agent", "--listen", address], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "listens on loopback only" in result.stderr


def test_a_bad_gadget_or_filter_is_one_clear_error(agent):
    for request, words in (
        (run_request("trace", "nope"), "nope"),
        (run_request("trace", "open", filter="nosuchfield:1"), "nosuchfield"),
    ):
        run = RemoteRun(agent.address, request)
        try:
            with pytest.raises(UsageError, match=words):
                run.open()
        finally:
            run.close()


def test_a_cancelled_run_leaves_only_the_shared_tracker_loaded(agent):
    idle = programs_held_by(agent.proc.pid)
    assert idle, "the container tracker should be loaded once, for every run"
    runs = [
        RemoteRun(agent.address, run_request("trace", gadget, filter="comm:nobody-at-all"))
        for gadget in ("open", "exec", "open")
    ]
    try:
        for run in runs:
            RemoteSchema(run.open())
        busy = programs_held_by(agent.proc.pid)
        assert len(busy) > len(idle)
        # One collection for all three runs: the tracker's programs are there once.
        assert [name for name in busy if name in idle] == idle
    finally:
        for run in runs:
            run.close()
    deadline = time.monotonic() + 10
    while programs_held_by(agent.proc.pid) != idle and time.monotonic() < deadline:
        time.sleep(0.1)
    assert programs_held_by(agent.proc.pid) == idle


def test_sigterm_with_a_client_attached_exits_cleanly():
    started = AgentProcess(NODE)
    run = RemoteRun(started.address, run_request("trace", "open", filter="comm:nobody-at-all"))
    try:
        schema = RemoteSchema(run.open())
        assert started.stop() == 0, "".join(started.stderr)
        collect(run, schema)
    finally:
        run.close()
    assert "Traceback" not in "".join(started.stderr)
    # The client learns the run was cut short, not finished.
    assert run.summary is not None
    assert run.summary.error == f"the agent of node {NODE} stopped (SIGTERM)"


def test_a_sigterm_handed_to_another_thread_still_stops_the_agent():
    # Linux hands a process's signal to any thread not blocking it (seen after a busy
    # run: a gRPC thread got the DaemonSet's SIGTERM); Python runs the handler in the
    # main thread only.  tgkill makes that choice here: a thread other than the main one.
    started = AgentProcess(NODE)
    pid = started.proc.pid
    sigterm = 1 << (signal.SIGTERM - 1)
    others = [
        int(tid)
        for tid in sorted(os.listdir(f"/proc/{pid}/task"))
        if int(tid) != pid and not _blocked(pid, int(tid)) & sigterm
    ]
    assert others, "the agent has no other thread to hand the signal to"
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.tgkill(pid, others[0], signal.SIGTERM) == 0, os.strerror(ctypes.get_errno())
    try:
        code = started.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        started.proc.kill()
        started.proc.wait()
        pytest.fail("the agent did not stop 10 s after a SIGTERM its main thread did not get")
    finally:
        started._reader.join(5)
    assert code == 0, "".join(started.stderr)


def _blocked(pid: int, tid: int) -> int:
    """The signal mask of thread `tid` of process `pid`."""
    with open(f"/proc/{pid}/task/{tid}/status") as status:
        line = next(line for line in status if line.startswith("SigBlk:"))
    return int(line.split()[1], 16)
