"""What every benchmark here needs: the load generator, espia and bpftrace under measure.

Benchmarks measure ratios within one run (traced vs untraced, espia vs
bpftrace), since absolute times on a shared machine drift between runs.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
RESULTS = BENCH / "RESULTS.md"


def loadgen() -> Path:
    """The static load generator, built from bench/loadgen.c if it is not yet."""
    OUT.mkdir(exist_ok=True)
    binary = OUT / "loadgen"
    source = BENCH / "loadgen.c"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        subprocess.run(["gcc", "-O2", "-static", "-o", str(binary), str(source)], check=True)
    return binary


def generate(n: int, path: str, comm: str = "loadgen", prefix: list[str] | None = None) -> float:
    """Runs the generator; nanoseconds per openat."""
    argv = [*(prefix or []), str(loadgen()), "-c", comm, str(n), path]
    return float(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // (1024 * 1024)
    return f"{os.cpu_count()} x {cpu}, {memory} GiB, Linux {platform.release()}"


@dataclass
class Finished:
    """A traced run that ended: its exit status and resource use."""

    returncode: int
    cpu_seconds: float
    max_rss_mib: float


class Tracer:
    """A tracer process (espia or bpftrace) writing to a file, measured when it ends."""

    def __init__(self, argv: list[str], output: Path, env: dict[str, str] | None = None) -> None:
        self.output = output
        self._out = output.open("w")
        self._err = output.with_suffix(".err").open("w")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=self._err, env=env)

    def wait_for_text(self, poke: Callable[[], None], text: str, timeout: float = 30) -> float:
        """Pokes until `text` shows in the output; seconds since start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            poke()
            if text in self.output.read_text(errors="replace"):
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        raise RuntimeError(f"{self.proc.args}: never showed {text!r}: {self.stderr()}")

    def stderr(self) -> str:
        return self.output.with_suffix(".err").read_text(errors="replace")

    def peak_rss_mib(self) -> float:
        """The tracer's peak resident memory so far (VmHWM), while it still runs."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> Finished:
        """SIGINT (the tracer drains what it holds), then its CPU time and peak memory."""
        peak = self.peak_rss_mib()
        self.proc.send_signal(signal.SIGINT)
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self._out.close()
        self._err.close()
        return Finished(self.proc.returncode, usage.ru_utime + usage.ru_stime, peak)


def touch_missing(path: str) -> Callable[[], None]:
    def poke() -> None:
        with contextlib.suppress(FileNotFoundError):
            os.close(os.open(path, os.O_RDONLY))

    return poke


def replace_section(title: str, body: str) -> None:
    """Writes `body` under `## title` in RESULTS.md, replacing an earlier run's."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text.rstrip("\n") + "\n")


def markdown_table(header: list[str], rows: list[list[str]], right_from: int = 1) -> str:
    """A Markdown table; columns from `right_from` on are right-aligned (numbers)."""
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def split_arguments(argv: list[str]) -> tuple[list[str], list[str]]:
    """A benchmark's own arguments, and the flags after `--` it passes to every espia."""
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1 :]
