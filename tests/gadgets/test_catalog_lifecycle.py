"""Each catalog gadget attaches its programs, and Ctrl-C leaves none of them loaded."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from support.bpf import loaded_programs, wait_until
from support.workloads import EspiaCli

from espia.ebpf.object import BpfObject

GADGETS = Path(__file__).resolve().parents[2] / "espia" / "gadgets"
# The programs each gadget attaches on this kernel (the fallbacks stay unloaded).
ATTACHED = {
    "bind": {"exit_bind"},
    "signal": {"signal_generated", "exit_kill", "exit_tkill", "exit_tgkill"},
    "oomkill": {"oom_victim"},
    "capabilities": {"cap_capable"},
    "mount": {"exit_mount", "exit_umount", "exit_fsopen", "exit_move_mount"},
    "tcpretrans": {"tcp_send", "tcp_retransmit", "tcp_retransmit_synack"},
    "sni": {"sni_egress"},
}


def programs_of(gadget: str) -> set[str]:
    """Every program of the gadget's object (bpftool shows their whole names, from BTF)."""
    with BpfObject.open(GADGETS / f"trace_{gadget}" / "program.bpf.o") as obj:
        return {p.name for p in obj.programs}


@pytest.mark.parametrize("gadget", list(ATTACHED))
def test_ctrl_c_detaches_every_program_and_exits_zero(gadget):
    mine = programs_of(gadget)
    attached = ATTACHED[gadget]
    assert attached <= mine
    # Nothing to show: the kernel drops every event (oomkill's process is the trigger, FCOMM).
    comm = "fcomm" if gadget == "oomkill" else "comm"
    cli = EspiaCli(["trace", gadget, "-F", f"{comm}:nomatch"])
    cli.wait_for(lambda line: line.startswith("RUNTIME.CONTAINERNAME"))
    assert wait_until(lambda: attached <= loaded_programs()), cli.stderr_text()
    cli.proc.send_signal(signal.SIGINT)
    code, _lines, stderr = cli.finish()
    assert (code, stderr) == (0, "")
    # Freed after an RCU grace period: a moment after the exit.
    assert wait_until(lambda: not (mine & loaded_programs()), timeout=5)
