"""trace bind against a real process: TCP and UDP, IPv4 and IPv6, options, device, errors."""

from __future__ import annotations

import errno
import json
import os

import pytest
from support.workloads import comm_name, run_python

import espia

# The two kernel paths of a syscall gadget: arguments read at exit from the
# task's registers (bpf_task_pt_regs, 5.15), or recorded at entry.
PATHS = {"exit-only": (), "entry-and-exit": ("task_pt_regs", "get_current_task_btf")}

BINDS = """
import json, socket
S = socket
tcp = S.socket(S.AF_INET, S.SOCK_STREAM)
tcp.setsockopt(S.SOL_SOCKET, S.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", 0))
tcp.listen()
port = tcp.getsockname()[1]
taken = S.socket(S.AF_INET, S.SOCK_STREAM)
try:
    taken.bind(("127.0.0.1", port))
except OSError as exc:
    in_use = exc.errno
local = S.socket(S.AF_UNIX, S.SOCK_DGRAM)
local.bind("\\0espia-test-unix-" + sys.argv[1])
udp = S.socket(S.AF_INET6, S.SOCK_DGRAM)
udp.setsockopt(S.SOL_SOCKET, S.SO_REUSEPORT, 1)
udp.setsockopt(S.SOL_SOCKET, S.SO_BINDTODEVICE, b"lo")
udp.bind(("::1", 0))
free = S.socket(S.AF_INET6, S.SOCK_STREAM)
free.setsockopt(S.SOL_IP, 15, 1)  # IP_FREEBIND
free.bind(("fd00:e5b1:ffff::9", 4242))
os.setuid(65534)
low = S.socket(S.AF_INET, S.SOCK_STREAM)
try:
    low.bind(("0.0.0.0", 80))
except OSError as exc:
    denied = exc.errno
print(json.dumps([os.getpid(), port, in_use, udp.getsockname()[1], denied]))
"""


@pytest.mark.parametrize("path", list(PATHS))
def test_binds_have_exact_protocol_address_port_options_and_error(recorder, path):
    events, stdout, comm = recorder.python("bind", BINDS, without_helpers=PATHS[path])
    pid, port, in_use, udp_port, denied = json.loads(stdout)
    assert (in_use, denied) == (errno.EADDRINUSE, errno.EACCES)
    seen = [
        (e.get("proto"), e.addr, e.port, e.get("opts"), e.ifindex, e.err, e.get("errname"), e.uid)
        for e in events
    ]
    # The AF_UNIX bind is not shown: only IPv4 and IPv6 sockets are.
    assert seen == [
        ("TCP", "127.0.0.1", port, "REUSEADDR", 0, 0, "", 0),
        ("TCP", "127.0.0.1", port, "", 0, errno.EADDRINUSE, "EADDRINUSE", 0),
        ("UDP", "::1", udp_port, "REUSEPORT", 1, 0, "", 0),
        ("TCP", "fd00:e5b1:ffff::9", 4242, "FREEBIND", 0, 0, "", 0),
        ("TCP", "0.0.0.0", 80, "", 0, errno.EACCES, "EACCES", 65534),
    ]
    assert {(e.pid, e.tid, e.comm) for e in events} == {(pid, pid, comm)}
    assert len({e.netns for e in events}) == 1 and events[0].netns > 0


# A bind in this network namespace, then one in a namespace of its own (unshare(2)).
TWO_NAMESPACES = """
import json, socket
here = socket.socket()
here.bind(("0.0.0.0", 0))
if ctypes.CDLL(None, use_errno=True).unshare(0x40000000):  # CLONE_NEWNET
    raise OSError(ctypes.get_errno(), "unshare")
there = socket.socket()
there.bind(("0.0.0.0", 0))
print(json.dumps([here.getsockname()[1], there.getsockname()[1]]))
"""


def test_netns_filter_drops_in_the_kernel():
    """-F netns:N is the socket's namespace, checked before an event is made: the bind in
    the other namespace is never received."""
    comm, out = comm_name(), []
    netns = os.stat("/proc/self/ns/net").st_ino
    with espia.trace("bind", filter=f"comm:{comm},netns:{netns}") as trace:
        out.append(run_python(comm, TWO_NAMESPACES).stdout)
        trace.stop()
        events = list(trace)
    here, there = json.loads(out[0])
    assert here != 0 and there != 0
    assert [(e.port, e.netns) for e in events] == [(here, netns)]
    assert trace.received == 1
