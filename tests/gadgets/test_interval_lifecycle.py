"""Every interval gadget attaches its programs, shows intervals, and leaves nothing loaded
after Ctrl-C, SIGTERM or a reader that goes away."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from support.bpf import loaded_programs, wait_until
from support.workloads import EspiaCli, comm_name

from espia.ebpf.object import BpfObject

GADGETS = Path(__file__).resolve().parents[2] / "espia" / "gadgets"
INTERVAL_GADGETS = {
    ("top", "file"): "top_file",
    ("top", "block-io"): "top_block_io",
    ("top", "tcp"): "top_tcp",
    ("profile", "block-io"): "profile_block_io",
}


def programs_of(folder: str) -> set[str]:
    with BpfObject.open(GADGETS / folder / "program.bpf.o") as obj:
        # The entry programs are the fallback of kernels without bpf_task_pt_regs.
        return {p.name for p in obj.programs if not p.name.startswith("enter_")}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("gadget", list(INTERVAL_GADGETS))
def test_signal_detaches_every_program_and_exits_zero(gadget, sig):
    mine = programs_of(INTERVAL_GADGETS[gadget])
    cli = EspiaCli([*gadget, "--interval", "0.2", "-o", "json"])
    cli.wait_for(lambda line: line.startswith("["), timeout=30)
    assert wait_until(lambda: mine <= loaded_programs()), cli.stderr_text()
    cli.proc.send_signal(sig)
    code, _lines, stderr = cli.finish()
    assert (code, stderr) == (0, "")
    assert wait_until(lambda: not (mine & loaded_programs()), timeout=5)


def test_reader_going_away_ends_quietly():
    mine = programs_of("top_file")
    proc = subprocess.Popen(
        ["bash", "-c", "set -o pipefail; espia top file --interval 0.2 -o json | head -n 2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert len(out.splitlines()) == 2 and err == ""
    assert wait_until(lambda: not (mine & loaded_programs()), timeout=5)


@pytest.mark.parametrize("gadget", list(INTERVAL_GADGETS))
def test_a_run_shorter_than_its_interval_still_shows_one(gadget):
    """`--timeout 1` under the default 1 s interval, or any longer one, used to end
    before the first interval was drawn and print nothing at all.  (A top gadget is
    filtered to a name nothing has: this machine's own work could fill its table.)"""
    quiet = ["-F", f"comm:{comm_name()}"] if gadget[0] == "top" else []
    proc = subprocess.run(
        ["espia", *gadget, "--interval", "30", "--timeout", "1", *quiet, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("["), proc.stdout
