"""What profile cpu costs at 49 Hz, side by side with bpftrace and perf sampling the same way.

    sudo python3 bench/profile/bench.py [ROUNDS] [SECONDS] [NAME=TREE...]

Two spinning processes keep both CPUs busy, so every tick finds a task to
sample (the idle task is not sampled): the most samples a second there can
be at 49 Hz.  Each tool runs in turn, rounds interleaved; once it has
started (startup is not counted), its process's CPU time (user + system,
from /proc/PID/stat) is read over a window of SECONDS, as a share of one
core.  espia's program in the kernel is timed too (BPF_ENABLE_STATS, on
for the window only, without turning off another user's statistics): the
time its perf-event program runs, per sample and as a share of a core.
Debian's libbpf-tools has no `profile` (the package leaves it out), so
bpftrace's `profile:hz:49` and `perf record -F 49 -a -g` are the peers.
Results go to bench/RESULTS.md.  Given NAME=TREE arguments (roots of espia
trees, built), only espia runs, once from each tree, in the same rounds: a
comparison of versions, printed and not written to RESULTS.md.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]
from _common import OUT, machine, markdown_table, replace_section  # noqa: E402
from top.kernel import enable_stats  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
STARTUP = 10.0  # seconds a tool gets to start before its window opens
SPIN = "int main(void) { volatile unsigned long n = 0; for (;;) n++; }\n"


def espia_tools(name: str, tree: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    """espia's two rows, run from `tree`."""
    env = {**os.environ, "PYTHONPATH": tree}
    argv = ["espia", "profile", "cpu", "-o", "folded"]
    return {
        f"espia profile cpu ({name})": (argv, env),
        f"espia profile cpu -F comm:spin ({name})": ([*argv, "-F", "comm:spin"], env),
    }


def tools(out: Path) -> dict[str, list[str]]:
    return {
        "espia profile cpu": ["espia", "profile", "cpu", "-o", "folded"],
        # Only the spinners' samples (the rest dropped in the kernel): every sample is of a
        # process and a binary already seen, what a profile of a steady node costs.
        "espia profile cpu -F comm:spin": [
            "espia",
            "profile",
            "cpu",
            "-o",
            "folded",
            "-F",
            "comm:spin",
        ],
        "bpftrace profile:hz:49": [
            "bpftrace",
            "-e",
            "profile:hz:49 { @[kstack, ustack, comm] = count(); }",
        ],
        "perf record -F 49 -a -g": ["perf", "record", "-F", "49", "-a", "-g", "-o", str(out)],
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def sampler_stats() -> tuple[int, int]:
    """(run time in ns, runs) of espia's sampler program, summed over its instances."""
    shown = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, check=True)
    progs = [p for p in json.loads(shown.stdout or "[]") if p.get("name") == "profile_cpu"]
    return sum(p.get("run_time_ns", 0) for p in progs), sum(p.get("run_cnt", 0) for p in progs)


def measure(
    name: str, argv: list[str], seconds: float, env: dict[str, str] | None = None
) -> dict[str, float]:
    stats: int | None = None
    with (OUT / "profile-tool.out").open("w") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env)
        try:
            time.sleep(STARTUP)
            assert proc.poll() is None, f"{name} ended early: see {OUT / 'profile-tool.out'}"
            stats = enable_stats()
            ns0, runs0 = sampler_stats()
            cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(seconds)
            cpu1, wall1 = cpu_seconds(proc.pid), time.monotonic()
            ns1, runs1 = sampler_stats()
        finally:
            if stats is not None:
                os.close(stats)
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    wall = wall1 - wall0
    return {
        "core": (cpu1 - cpu0) / wall,
        "bpf_core": (ns1 - ns0) / 1e9 / wall,
        "bpf_per_run": (ns1 - ns0) / max(1, runs1 - runs0),
        "runs": (runs1 - runs0) / wall,
    }


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    trees = [arg.split("=", 1) for arg in sys.argv[3:]]
    configs: dict[str, tuple[list[str], dict[str, str] | None]] = {}
    for name, tree in trees:
        configs.update(espia_tools(name, tree))
    if not trees:
        configs = {name: (argv, None) for name, argv in tools(OUT / "perf.data").items()}
    OUT.mkdir(exist_ok=True)
    spin = OUT / "spin"
    (OUT / "spin.c").write_text(SPIN)
    subprocess.run(["gcc", "-O0", "-o", str(spin), str(OUT / "spin.c")], check=True)
    spinners = [subprocess.Popen([str(spin)]) for _ in range(os.cpu_count() or 1)]
    results: dict[str, list[dict[str, float]]] = {}
    loads = [os.getloadavg()[0]]
    try:
        for _ in range(rounds):
            for name, (argv, env) in configs.items():
                results.setdefault(name, []).append(measure(name, argv, seconds, env))
                loads.append(os.getloadavg()[0])
    finally:
        for proc in spinners:
            proc.kill()
            proc.wait()
    rows = []
    for name, runs in results.items():
        core = statistics.median(r["core"] for r in runs)
        row = [name, f"{100 * core:.2f}%"]
        if name.startswith("espia"):
            bpf = statistics.median(r["bpf_core"] for r in runs)
            per_run = statistics.median(r["bpf_per_run"] for r in runs)
            rate = statistics.median(r["runs"] for r in runs)
            row += [f"{100 * bpf:.3f}%", f"{per_run / 1000:.1f} us", f"{rate:.1f}"]
        else:
            row += ["-", "-", "-"]
        rows.append(row)
    body = f"""Machine: {machine()}, shared with other work while measured (load average
{min(loads):.1f} to {max(loads):.1f} over the run; 2 spinning processes of the benchmark's own
keep both CPUs busy).  Medians of {rounds} interleaved rounds of {seconds:.0f} s each, after
{STARTUP:.0f} s of startup (bench/profile/bench.py).  "CPU" is the tool's own process (user +
system) as a share of one core; espia's program in the kernel is timed apart
(BPF_ENABLE_STATS).  Debian's libbpf-tools ships no `profile` (left out of the
package), so the peers are bpftrace and perf, sampling the same way (cpu-clock, 49 Hz, every
CPU, kernel and user stacks).  espia reads the samples every quarter second (a sample
wakes it only when the ring is a quarter full) and symbolizes them then: a new process costs
a read of its memory map, a new binary a read of its symbol table, so the whole machine's
figure depends on how many processes the other work here starts (many: tests, builds); the
`-F comm:spin` row profiles only the benchmark's steady processes, every tick.

{markdown_table(["tool", "CPU", "its BPF program", "per sample", "samples/s"], rows)}
"""
    print(body)
    if not trees:
        replace_section("profile cpu at 49 Hz", body)


if __name__ == "__main__":
    main()
