"""The names the catalog's semantic types render, at their edges (pure Python)."""

from __future__ import annotations

import signal

from support.schemas import event, schema

from espia.pipeline.filter import compile_filter
from espia.semantic.capabilities import cap_verdict, capability_name
from espia.semantic.mounts import mount_call, mount_flags
from espia.semantic.net import bind_opts
from espia.semantic.process import syscall_name, syscall_names
from espia.semantic.signals import signal_name, signal_result
from espia.semantic.tcp import tcp_flags, tcp_state


def test_signal_names_cover_real_time_signals_and_unknown_numbers():
    assert signal_name(9) == "SIGKILL"
    assert signal_name(signal.SIGRTMIN) == "SIGRTMIN"
    assert signal_name(signal.SIGRTMIN + 3) == "SIGRTMIN+3"
    assert [signal_name(n) for n in (0, 200)] == ["0", "200"]


def test_capabilities_verdicts_and_results():
    assert [capability_name(n) for n in (0, 13, 40, 41)] == [
        "CAP_CHOWN",
        "CAP_NET_RAW",
        "CAP_CHECKPOINT_RESTORE",
        "41",
    ]
    assert [cap_verdict(v) for v in (0, 1)] == ["allow", "deny"]
    assert [signal_result(v) for v in (0, 1, 255, 9)] == ["delivered", "ignored", "", "9"]


def test_flags_are_named_per_call_and_unknown_bits_kept_in_hex():
    assert mount_flags(0x6) == "MS_NOSUID|MS_NODEV"
    assert mount_flags(1 << 32 | 2) == "MNT_DETACH"
    assert mount_flags(1 << 32 | 2 | 0x100) == "MNT_DETACH|0x100"
    assert mount_flags(99 << 32 | 1) == "0x1"
    assert mount_call(4) == "move_mount" and mount_call(99) == "99"
    assert bind_opts(0) == "" and bind_opts(3) == "REUSEADDR|REUSEPORT"
    assert tcp_flags(0x12) == "SYN|ACK" and tcp_flags(0x19) == "FIN|PSH|ACK"
    assert tcp_state(1) == "ESTABLISHED" and tcp_state(0) == "0"


def test_syscall_names_come_from_this_machines_table():
    names = syscall_names()
    number = next(n for n, name in names.items() if name == "bind")
    assert syscall_name(number) == "bind"
    assert syscall_name(-1) == ""
    assert syscall_name(100_000) == "100000"


def test_filter_values_are_names_in_any_case():
    of = schema(
        sig="gadget_signal",
        capname="gadget_capability",
        call="gadget_mount_call",
        state="gadget_tcp_state",
        tcpflags="gadget_tcp_flags",
        syscall="gadget_syscall_nr",
    )
    bind = next(n for n, name in syscall_names().items() if name == "bind")
    a = event(of, sig=9, capname=13, call=1, state=1, tcpflags=0x12, syscall=bind)
    b = event(of, sig=15, capname=21, call=0, state=2, tcpflags=0x10, syscall=0)

    def kept(text: str) -> list[object]:
        return compile_filter(text, of).apply([a, b])

    assert kept("sig:sigkill") == [a]
    assert kept("sig:9") == [a]  # the number, as in JSON's raw form, still works
    assert kept("sig:!sigkill") == [b]
    assert kept("capname:cap_net_raw") == [a]
    assert kept("call:UMOUNT") == [a]
    assert kept("state:syn_sent") == [b]
    assert kept("tcpflags:syn|ack") == [a]
    assert kept("syscall:BIND") == [a]
