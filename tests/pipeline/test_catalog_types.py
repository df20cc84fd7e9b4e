"""The names the catalog's semantic types render, at their edges (pure Python)."""

from __future__ import annotations

import signal

from espia.gadget import catalog_types as cat


def test_signal_names_cover_real_time_signals_and_unknown_numbers():
    assert cat.signal_name(9) == "SIGKILL"
    assert cat.signal_name(signal.SIGRTMIN) == "SIGRTMIN"
    assert cat.signal_name(signal.SIGRTMIN + 3) == "SIGRTMIN+3"
    assert [cat.signal_name(n) for n in (0, 200)] == ["0", "200"]


def test_capabilities_verdicts_and_results():
    assert [cat.capability_name(n) for n in (0, 13, 40, 41)] == [
        "CAP_CHOWN",
        "CAP_NET_RAW",
        "CAP_CHECKPOINT_RESTORE",
        "41",
    ]
    assert [cat.cap_verdict(v) for v in (0, 1)] == ["allow", "deny"]
    assert [cat.signal_result(v) for v in (0, 1, 255, 9)] == ["delivered", "ignored", "", "9"]


def test_flags_are_named_per_call_and_unknown_bits_kept_in_hex():
    assert cat.mount_flags(0x6) == "MS_NOSUID|MS_NODEV"
    assert cat.mount_flags(1 << 32 | 2) == "MNT_DETACH"
    assert cat.mount_flags(1 << 32 | 2 | 0x100) == "MNT_DETACH|0x100"
    assert cat.mount_flags(99 << 32 | 1) == "0x1"
    assert cat.mount_call(4) == "move_mount" and cat.mount_call(99) == "99"
    assert cat.bind_opts(0) == "" and cat.bind_opts(3) == "REUSEADDR|REUSEPORT"
    assert cat.tcp_flags(0x12) == "SYN|ACK" and cat.tcp_flags(0x19) == "FIN|PSH|ACK"
    assert cat.tcp_state(1) == "ESTABLISHED" and cat.tcp_state(0) == "0"


def test_syscall_names_come_from_this_machines_table():
    names = cat.syscall_names()
    number = next(n for n, name in names.items() if name == "bind")
    assert cat.syscall_name(number) == "bind"
    assert cat.syscall_name(-1) == ""
    assert cat.syscall_name(100_000) == "100000"
