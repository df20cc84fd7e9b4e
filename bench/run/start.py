"""Time from `espia run ...` to its first event: a .bpf.c (compiled or cached), an image.

Each round starts espia on the guide's example gadget (docs/writing-a-gadget.md)
these ways, interleaved so that the machine's load weighs on each alike:

- `espia run mkdir.bpf.c --no-compile-cache`: clang compiles it, as without a cache;
- the same through an empty compile cache (cold: clang compiles it, and
  precompiles espia/gadget.bpf.h beside it for later misses);
- the same source changed (a new comment each round) through a cache that holds
  the precompiled header: an edited gadget's next run;
- the same source through a cache that holds its object (warm: no clang);
- `espia run IMAGE` with the image in the local store (digests checked, loaded
  from its blob);
- `espia trace exec`, a built-in gadget, for comparison.

A thread makes a failing mkdir (or runs /bin/true, for trace exec) every 5 ms
from the moment espia is started; the time is that of espia's first JSON line,
measured from just before the process is spawned.

    python3 bench/run/start.py [ROUNDS]
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

TREE = Path(__file__).resolve().parents[2]
GUIDE = TREE / "docs" / "writing-a-gadget.md"
_BLOCK = re.compile(r"<!-- gadget-file: (\S+) -->\n```\w*\n(.*?)```", re.S)


def first_event(argv: list[str], poke: str) -> tuple[float, float]:
    """Seconds from spawning `espia argv` to its first output line, while poking, and the
    CPU seconds of the whole run (clang included; stopped at that line by a SIGINT): on a
    shared machine the steadier of the two."""
    tag = uuid.uuid4().hex[:8]
    stop = threading.Event()

    def poker() -> None:
        while not stop.is_set():
            if poke == "mkdir":
                with contextlib.suppress(OSError):
                    os.mkdir(f"/nonexistent/{tag}")
            else:
                subprocess.run(["/bin/true", tag], check=False)
            time.sleep(0.005)

    started = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "espia.cli.main",
            *argv,
            "-o",
            "json",
            "-F",
            f"{'path' if poke == 'mkdir' else 'args'}:~{tag}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(TREE)},
    )
    thread = threading.Thread(target=poker, daemon=True)
    thread.start()
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.monotonic() - started
    stop.set()
    proc.stdout.close()  # what it prints after that line would fill the pipe: let it go
    proc.send_signal(2)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    thread.join()
    if not line:
        raise RuntimeError(f"espia {' '.join(argv)} printed nothing")
    return elapsed, usage.ru_utime + usage.ru_stime


def write_old(path: Path, text: str) -> None:
    """Writes `path` dated a minute ago: a file changed in the last instant is not kept by
    the compile cache (it may have changed while clang read it)."""
    path.write_text(text)
    old = time.time() - 60
    os.utime(path, (old, old))


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    before = Path("/proc/loadavg").read_text().split()[:3]
    work = Path(tempfile.mkdtemp(prefix="espia-bench-run-"))
    try:
        files = dict(_BLOCK.findall(GUIDE.read_text()))
        folder = work / "mkdir"
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text)
        source = work / "mkdir.bpf.c"
        write_old(source, files["program.bpf.c"])
        edited = work / "edited.bpf.c"
        store = work / "store"
        espia = [sys.executable, "-m", "espia.cli.main"]
        env = {**os.environ, "PYTHONPATH": str(TREE)}
        build = ["image", "build", str(folder), "-t", "mkdir:bench", "--store", str(store)]
        subprocess.run([*espia, *build], check=True, capture_output=True, env=env)
        warm, primed = work / "warm", work / "primed"
        # warm: the object kept; primed: two builds, so the precompiled header is made.
        for cache, built in ((warm, source), (primed, source), (primed, edited)):
            write_old(edited, f"{files['program.bpf.c']}/* {uuid.uuid4().hex} */\n")
            run = ["run", str(built), "--compile-cache", str(cache), "-t", "0.1"]
            subprocess.run([*espia, *run], check=True, capture_output=True, env=env)
        assert list(primed.glob("objects/*.pch")), "no precompiled header was made"

        def cold() -> list[str]:
            return ["run", str(source), "--compile-cache", str(work / uuid.uuid4().hex)]

        def edit() -> list[str]:
            write_old(edited, f"{files['program.bpf.c']}/* {uuid.uuid4().hex} */\n")
            return ["run", str(edited), "--compile-cache", str(primed)]

        cases: dict[str, tuple[Callable[[], list[str]], str]] = {
            "espia run mkdir.bpf.c --no-compile-cache": (
                lambda: ["run", str(source), "--no-compile-cache"],
                "mkdir",
            ),
            "espia run mkdir.bpf.c, cache empty (cold)": (cold, "mkdir"),
            "espia run edited.bpf.c, cache with the precompiled header": (edit, "mkdir"),
            "espia run mkdir.bpf.c, object cached (warm)": (
                lambda: ["run", str(source), "--compile-cache", str(warm)],
                "mkdir",
            ),
            "espia run mkdir:bench (from the store)": (
                lambda: ["run", "mkdir:bench", "--store", str(store)],
                "mkdir",
            ),
            "espia trace exec (built-in)": (lambda: ["trace", "exec"], "exec"),
        }
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, (argv, poke) in cases.items():
                times[name].append(first_event(argv(), poke))
        after = Path("/proc/loadavg").read_text().split()[:3]
        print(
            f"rounds: {rounds}; load average before: {' '.join(before)}, after: {' '.join(after)}"
        )
        for name, values in times.items():
            wall, cpu = ([v[i] * 1000 for v in values] for i in (0, 1))
            print(
                f"{name}: median {statistics.median(wall):.0f} ms (min {min(wall):.0f}, "
                f"max {max(wall):.0f}); CPU median {statistics.median(cpu):.0f} ms"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
