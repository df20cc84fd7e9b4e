"""clang alone on the guide's gadget: as espia compiled it before its cache, and with
espia/gadget.bpf.h precompiled (what a compile-cache miss runs), interleaved.

Also times making the precompiled header (once per cache, beside its second
compile) and checks that both objects have the same code and BTF.

    python3 bench/run/clang.py [ROUNDS]
"""

from __future__ import annotations

import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TREE = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TREE))

from espia.ebpf.compile import clang_command, clang_flags  # noqa: E402
from espia.ebpf.compile_cache import PREFIX  # noqa: E402

GUIDE = TREE / "docs" / "writing-a-gadget.md"
_BLOCK = re.compile(r"<!-- gadget-file: (\S+) -->\n```\w*\n(.*?)```", re.S)


def timed(command: list[str]) -> tuple[float, float]:
    """(wall-clock, CPU) seconds of `command`: on a shared machine the CPU time is the
    steadier of the two."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.monotonic() - started
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, now.ru_utime + now.ru_stime - used.ru_utime - used.ru_stime


def sections(obj: Path) -> bytes:
    """The object's code and BTF (the rest names files and is allowed to differ)."""
    dump = subprocess.run(
        ["llvm-objcopy", "--dump-section=.BTF=/dev/stdout", str(obj)],
        check=True,
        capture_output=True,
    ).stdout
    code = subprocess.run(
        ["llvm-objdump", "-d", "--no-show-raw-insn", str(obj)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dump + code.split("\n", 2)[2].encode()  # fmt: skip


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    before = Path("/proc/loadavg").read_text().split()[:3]
    work = Path(tempfile.mkdtemp(prefix="espia-bench-clang-"))
    try:
        source = work / "mkdir.bpf.c"
        source.write_text(dict(_BLOCK.findall(GUIDE.read_text()))["program.bpf.c"])
        headers = TREE / "build"
        pch = work / "prefix.pch"
        make_pch = [clang_command(source, pch, headers)[0], *clang_flags(headers)]
        make_pch += ["-x", "c-header", str(PREFIX), "-o", str(pch)]
        plain = clang_command(source, work / "plain.bpf.o", headers)
        with_pch = [*clang_command(source, work / "pch.bpf.o", headers), "-include-pch", str(pch)]
        times: dict[str, list[tuple[float, float]]] = {
            "precompile": [],
            "plain": [],
            "with pch": [],
        }
        for _ in range(rounds):
            times["precompile"].append(timed(make_pch))
            times["plain"].append(timed(plain))
            times["with pch"].append(timed(with_pch))
        same = sections(work / "plain.bpf.o") == sections(work / "pch.bpf.o")
        after = Path("/proc/loadavg").read_text().split()[:3]
        loads = f"load average before: {' '.join(before)}, after: {' '.join(after)}"
        print(f"rounds: {rounds}; {loads}")
        for name, values in times.items():
            wall, cpu = ([v[i] * 1000 for v in values] for i in (0, 1))
            print(
                f"{name}: wall median {statistics.median(wall):.0f} ms (min {min(wall):.0f}, "
                f"max {max(wall):.0f}); CPU median {statistics.median(cpu):.0f} ms"
            )
        print(f"same code and BTF: {same}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
