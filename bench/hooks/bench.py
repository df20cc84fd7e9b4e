"""Which hook for syscall gadgets: per-syscall tracepoints or raw sys_enter/sys_exit?

    sudo python3 bench/hooks/bench.py [ROUNDS]

Attaches, one pair at a time, the programs of hooks.bpf.c doing what trace
open does when its filter drops everything, and times two loads: openat(2)
(the traced syscall) and getppid(2) (a syscall nobody traces, which a node
makes far more of).  Rounds are interleaved and medians reported, since
this machine's timings drift.  Results go to bench/RESULTS.md.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]
from _common import OUT, generate, machine, markdown_table, replace_section  # noqa: E402

from espia.ebpf import features  # noqa: E402
from espia.ebpf.compile import compile_program  # noqa: E402
from espia.ebpf.link import attach  # noqa: E402
from espia.ebpf.object import BpfObject  # noqa: E402

PAIRS = {
    "none": (),
    "tracepoints, entry and exit": ("tp_enter", "tp_exit"),
    "raw tracepoints, entry and exit": ("raw_enter", "raw_exit"),
    "tracepoint at exit only (bpf_task_pt_regs)": ("exit_only",),
    "raw tracepoint at exit only": ("raw_exit_only",),
}


def getppid(n: int) -> float:
    binary = OUT / "getppid"
    if not binary.exists():
        subprocess.run(["gcc", "-O2", "-o", str(binary), str(HERE / "getppid.c")], check=True)
    return float(subprocess.run([str(binary), str(n)], capture_output=True, text=True).stdout)


def measure(obj_path: Path, names: tuple[str, ...]) -> tuple[float, float]:
    with BpfObject.open(obj_path) as obj:
        for program in obj.programs:
            program.autoload = program.name in names
        rodata = obj.data(".rodata")
        assert rodata is not None
        rodata.write("gadget_filter_comm", b"nomatch")
        rodata.write("gadget_helper_task_pt_regs", b"\1")
        obj.load()
        links = [attach(p) for p in obj.programs if p.autoload]
        try:
            return generate(1_000_000, "/tmp/espia-bench-hooks"), getppid(3_000_000)
        finally:
            for link in links:
                link.destroy()


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    OUT.mkdir(exist_ok=True)
    features.tracefs()
    obj_path = compile_program(HERE / "hooks.bpf.c", OUT / "hooks.bpf.o", HERE.parents[1] / "build")
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in PAIRS}
    for _ in range(rounds):
        for name, programs in PAIRS.items():
            times[name].append(measure(obj_path, programs))
    base_open = statistics.median(t[0] for t in times["none"])
    base_other = statistics.median(t[1] for t in times["none"])
    rows = []
    for name in PAIRS:
        opened = statistics.median(t[0] for t in times[name])
        other = statistics.median(t[1] for t in times[name])
        rows.append(
            [
                name,
                f"{opened:,.0f} ({opened / base_open:.2f}x)",
                f"{other:,.0f} ({other / base_other:.2f}x)",
            ]
        )
    table = markdown_table(["hooks", "ns per openat (traced)", "ns per getppid (not traced)"], rows)
    body = f"""
Machine: {machine()}.  Medians of {rounds} interleaved rounds; each pair does
what trace open does when its filter drops everything.

{table}

Raw tracepoints cost less on the traced syscall (no perf record is built),
but run on every syscall of the machine; per-syscall tracepoints cost more
on the traced one and less on all the others.  A node makes far more
syscalls than it opens files, so espia's syscall gadgets use per-syscall
tracepoints, and where the kernel has bpf_task_pt_regs() (5.15) only the
one at exit, reading the arguments from the task's registers: trace open
does so, and falls back to the entry and exit pair on older kernels.
"""
    replace_section("syscall hooks", body)
    print(body)


if __name__ == "__main__":
    main()
