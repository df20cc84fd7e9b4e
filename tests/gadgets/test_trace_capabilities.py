"""trace capabilities: a raw socket opened by root (allowed) and by a process without (denied)."""

from __future__ import annotations

import errno
import os

import pytest

# Kernel paths: with bpf_task_pt_regs (5.15) the syscall is known; without it, not.
PATHS = {"exit-only": (), "no-task-regs": ("task_pt_regs",)}

RAW_SOCKETS = """
import socket
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
os.setuid(65534)  # gives up every capability
try:
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
except PermissionError:
    print("denied")
"""

CAP_SETUID, CAP_NET_RAW = 7, 13


@pytest.mark.parametrize("path", list(PATHS))
def test_raw_socket_is_allowed_for_root_and_denied_without_cap_net_raw(recorder, path):
    events, stdout, comm = recorder.python("capabilities", RAW_SOCKETS, without_helpers=PATHS[path])
    assert stdout.strip() == "denied"
    known = path == "exit-only"
    seen = [
        (e.cap, e.get("capname"), e.get("verdict"), e.ret, e.get("syscall"), e.uid)
        for e in events
        if e.cap in (CAP_SETUID, CAP_NET_RAW)
    ]
    assert seen == [
        (CAP_NET_RAW, "CAP_NET_RAW", "allow", 0, "socket" if known else "", 0),
        (CAP_SETUID, "CAP_SETUID", "allow", 0, "setuid" if known else "", 0),
        (CAP_NET_RAW, "CAP_NET_RAW", "deny", -errno.EPERM, "socket" if known else "", 65534),
    ]
    assert {e.comm for e in events} == {comm}
    assert events[0].userns == os.stat("/proc/self/ns/user").st_ino
