"""top file and top block-io under load: the cost per operation, beside libbpf-tools.

    sudo python3 bench/top/bench.py [WRITES] [IOS] [ROUNDS]

In one run, rounds interleaved so that the machine's drift hits every
configuration alike:
- a loop of 64-byte write(2) calls to a regular file: untraced, under
  `espia top file`, and under libbpf-tools' filetop;
- O_DIRECT random 4 KiB writes to a loop device (fio's randwrite pattern):
  untraced, under `espia top block-io`, `espia profile block-io`, and
  libbpf-tools' biotop and biolatency.
A tool that cannot run on this kernel (kprobes are absent) is reported so,
with its own error line.  The medians go to bench/RESULTS.md with the load.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import OUT, Tracer, machine, markdown_table, replace_section

HERE = Path(__file__).resolve().parent


def ioload() -> Path:
    OUT.mkdir(exist_ok=True)
    binary, source = OUT / "ioload", HERE / "ioload.c"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        subprocess.run(["gcc", "-O2", "-o", str(binary), str(source)], check=True)
    return binary


def load(mode: str, n: int, path: str) -> float:
    """Nanoseconds per operation: of the process's CPU time for the write loop (the
    syscall programs run on its behalf; see ioload.c), of wall-clock time for the
    block I/O, whose programs run at completion too, in interrupts and kworkers."""
    argv = [str(ioload()), "-c", "ioload", mode, str(n), path]
    cpu, wall = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
    return float(cpu if mode == "write" else wall)


# The least a counting tool can do on the same hook: no file, no path, per process only
# (bpftrace's count() and sum() are per-CPU values, with no atomic add).
BPFTRACE = (
    "tracepoint:syscalls:sys_exit_write /args->ret >= 0/ { @calls[pid] = count(); "
    "@bytes[pid] = sum(args->ret); } "
    "interval:s:1 { print(@calls); clear(@calls); print(@bytes); clear(@bytes); }"
)


def under(argv: list[str] | None, name: str, run: callable) -> float | str:
    """ns per operation of `run()` while `argv` traces (None: untraced); a string when
    the tool cannot run here (its error)."""
    if argv is None:
        return run()
    tracer = Tracer(argv, OUT / f"top-{name}.out")
    time.sleep(4)  # attached: each tool prints at its first interval, 1 s in
    if tracer.proc.poll() is not None:
        lines = [line for line in tracer.stderr().splitlines() if line.strip()]
        return lines[-1] if lines else f"exited {tracer.proc.returncode}"
    try:
        return run()
    finally:
        tracer.stop()


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    writes = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
    ios = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    espia = ["espia"]
    scratch = Path(tempfile.mkdtemp(prefix="espia-bench-top-"))
    target = str(scratch / "written")
    backing = scratch / "disk.img"
    with open(backing, "wb") as f:
        f.truncate(64 << 20)
    device = subprocess.run(
        # --direct-io: the loop device writes through to its file, so that no dirty page
        # cache builds up and throttles whichever configuration runs later in a round.
        ["losetup", "--find", "--show", "--direct-io=on", str(backing)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    file_tools = {
        "untraced": None,
        "espia top file, filters drop all (the tracepoint floor)": [
            *espia,
            "top",
            "file",
            "-F",
            "pid:1",
            "-o",
            "json",
        ],
        "espia top file": [*espia, "top", "file", "-o", "json"],
        "libbpf-tools filetop": ["filetop", "-C", "1"],
        "bpftrace, calls and bytes per process at sys_exit_write": ["bpftrace", "-e", BPFTRACE],
    }
    block_tools = {
        "untraced": None,
        "espia top block-io": [*espia, "top", "block-io", "-o", "json"],
        "espia profile block-io": [*espia, "profile", "block-io", "-o", "json"],
        "libbpf-tools biotop": ["biotop", "-C", "1"],
        "libbpf-tools biolatency": ["biolatency", "1"],
    }
    results: dict[str, list[float | str]] = {}
    loads: list[str] = []
    try:
        for _ in range(rounds):
            loads.append(loadavg())
            for name, argv in file_tools.items():
                got = under(argv, name, lambda: load("write", writes, target))
                results.setdefault(f"write:{name}", []).append(got)
            for name, argv in block_tools.items():
                got = under(argv, name, lambda: load("direct", ios, device))
                results.setdefault(f"direct:{name}", []).append(got)
    finally:
        subprocess.run(["losetup", "--detach", device], check=False)
        backing.unlink()
        Path(target).unlink(missing_ok=True)
        scratch.rmdir()

    def rows(kind: str, tools: dict[str, list[str] | None]) -> list[list[str]]:
        base = statistics.median(results[f"{kind}:untraced"])
        out = []
        for name in tools:
            got = results[f"{kind}:{name}"]
            numbers = [g for g in got if isinstance(g, float)]
            if not numbers:
                out.append([name, "does not run here", f"`{got[0]}`"[:120], ""])
                continue
            ns = statistics.median(numbers)
            out.append([name, f"{ns:,.0f}", f"{(ns / base - 1) * 100:+.1f}%", str(len(numbers))])
        return out

    header = ["", "ns per op (median)", "vs untraced", "rounds"]
    body = f"""Machine: {machine()}.  `python3 bench/top/bench.py {writes} {ios} {rounds}`,
rounds interleaved; load average (1, 5, 15 min) at the start of each round: {"; ".join(loads)}.

{writes:,} `write(2)` calls of 64 bytes to a regular file, per round (CPU time of the
writing process per call, user and kernel: the tracing programs run in its syscalls):

{markdown_table(header, rows("write", file_tools))}

{ios:,} O_DIRECT random 4 KiB writes to a loop device over a file, per round
(fio's `--rw=randwrite --direct=1` pattern; fio itself is not installed), wall-clock
time per I/O (the programs also run at completion, outside the writing process):

{markdown_table(header, rows("direct", block_tools))}
"""
    print(body)
    replace_section("top file, top block-io, profile block-io", body)


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("run as root: the tracers load eBPF programs")
    main()
