"""Gadget parameters (GADGET_PARAM): they change what the kernel sends, and bad ones are refused.

Each test runs the same workload with and without a parameter and compares
`received`, the records the kernel handed over: a parameter is applied in
the kernel, so what it rules out is never sent.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys

import pytest
from support.workloads import comm_name, run_python

import espia

# Three SIGUSR1 and two SIGUSR2 to itself (both ignored), then a kill of nobody.
SIGNALS = """
import json, signal
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
signal.signal(signal.SIGUSR2, signal.SIG_IGN)
for _ in range(3):
    os.kill(os.getpid(), signal.SIGUSR1)
for _ in range(2):
    os.kill(os.getpid(), signal.SIGUSR2)
nobody = 4194000
while os.path.exists(f"/proc/{nobody}"):
    nobody -= 1
try:
    os.kill(nobody, signal.SIGKILL)
except ProcessLookupError:
    pass
print(json.dumps([os.getpid(), nobody]))
"""


def _signals(params: dict[str, object]) -> tuple[list[espia.Event], int, list[int]]:
    comm = comm_name()
    with espia.trace("signal", filter=f"comm:{comm}", params=params) as trace:
        done = run_python(comm, SIGNALS)
        trace.stop()
        events = list(trace)
    assert trace.lost == 0
    return events, trace.received, json.loads(done.stdout)


def test_signal_parameter_sends_only_that_signal():
    everything, received, _ = _signals({})
    # 3 SIGUSR1, 2 SIGUSR2, the failed SIGKILL, and the SIGCHLD of its exit.
    assert sorted(e.get("sig") for e in everything) == sorted(
        ["SIGUSR1"] * 3 + ["SIGUSR2"] * 2 + ["SIGKILL", "SIGCHLD"]
    )
    assert received == len(everything) == 7
    for value in ("SIGUSR1", "usr1", "10"):
        events, received, (me, _) = _signals({"signal": value})
        assert [(e.get("sig"), e.tpid, e.ret) for e in events] == [("SIGUSR1", me, 0)] * 3
        assert received == 3


def test_failed_only_sends_only_failed_kill_calls():
    events, received, (me, nobody) = _signals({"failed_only": True})
    assert [(e.pid, e.get("sig"), e.tpid, e.ret) for e in events] == [
        (me, "SIGKILL", nobody, -errno.ESRCH)
    ]
    assert received == 1
    # Both at once: the failed call was a SIGKILL, not a SIGUSR2.
    events, received, _ = _signals({"failed_only": "true", "signal": "SIGUSR2"})
    assert (events, received) == ([], 0)


BINDS = """
import socket
a = socket.socket(); a.bind(("127.0.0.1", 0))
b = socket.socket(); b.bind(("127.0.0.1", 0))
c = socket.socket()
try:
    c.bind(a.getsockname())
except OSError:
    pass
print(a.getsockname()[1], b.getsockname()[1])
"""


def test_ignore_errors_sends_only_successful_binds():
    def binds(params: dict[str, object]) -> tuple[list[tuple[int, int]], int, list[int]]:
        comm = comm_name()
        with espia.trace("bind", filter=f"comm:{comm}", params=params) as trace:
            done = run_python(comm, BINDS)
            trace.stop()
            events = [(e.port, e.err) for e in trace]
        return events, trace.received, [int(p) for p in done.stdout.split()]

    events, received, (a, b) = binds({})
    assert events == [(a, 0), (b, 0), (a, errno.EADDRINUSE)] and received == 3
    events, received, (a, b) = binds({"ignore_errors": "yes"})
    assert events == [(a, 0), (b, 0)] and received == 2


def _espia(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "espia.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_the_parameters_with_types_and_descriptions():
    out = _espia("trace", "signal", "--help").stdout
    assert "parameters (--NAME VALUE or --param NAME=VALUE):" in out
    assert "  -s, --signal   signal=0    Only this signal" in out
    assert "  --failed-only  bool=false  Only the kill, tkill and tgkill calls" in out
    assert (
        "--ignore-errors  bool=false  Only the binds that succeeded"
        in _espia("trace", "bind", "--help").stdout
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "SIGNOPE"], "parameter signal: 'SIGNOPE' is not a signal"),
        (["--signal", "99"], "parameter signal: '99' is not a signal number (1 to 64)"),
        (["--signal"], "parameter signal: expected a value"),
        (["--failed-only=maybe"], "parameter failed_only: 'maybe' is not true or false"),
        (["--param", "nope=1"], "trace signal has no parameter 'nope' (its parameters: "),
        (["--param", "signal"], "parameter 'signal': expected NAME=VALUE"),
    ],
)
def test_bad_parameters_are_one_line_and_exit_2(args, message):
    done = _espia("trace", "signal", "-t", "1", *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert done.stdout == ""


def test_api_refuses_a_bad_value_before_loading():
    with pytest.raises(espia.UsageError, match="parameter signal: 'x' is not a signal"):
        espia.trace("signal", params={"signal": "x"})
    with pytest.raises(espia.UsageError, match="parameter failed_only: 2 is not true or false"):
        espia.trace("signal", params={"failed_only": 2})


def test_unique_sends_each_capability_once_per_process():
    # Five raw sockets: five CAP_NET_RAW checks, one with --unique.
    body = """
import socket
for _ in range(5):
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
"""
    counts = {}
    for unique in (False, True):
        comm = comm_name()
        with espia.trace("capabilities", filter=f"comm:{comm}", params={"unique": unique}) as trace:
            run_python(comm, body)
            trace.stop()
            events = list(trace)
        raw = [e for e in events if e.get("capname") == "CAP_NET_RAW"]
        counts[unique] = (len(raw), len(events) == trace.received)
        assert len({e.pid for e in raw}) == 1
    assert counts == {False: (5, True), True: (1, True)}
