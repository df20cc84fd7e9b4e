"""Where each microsecond of `espia trace open -o json` goes, stage by stage.

    sudo python3 bench/open/json_profile.py [--calls 100000] [--repeat 7]

Runs the real gadget in this process (the CLI's own runtime, stages and
JSON writer), lets bench/loadgen.c fill its ring buffer with the calls'
records, then copies the ring and replays that copy through each stage
apart, timing each with the process's CPU clock: the ring walk alone (a
decoder that does nothing), the walk with the generated decoder, the
pipeline's stages (container enrichment), the output's formatting and its
write to a file.  The figure of each stage is the median over `repeat`
replays, in microseconds per event.  A profiler's shares say the same but
add their own cost to the smallest functions; this says it in time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import mmap
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from operator import attrgetter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import generate

from espia.cli.main import _tune_gc
from espia.ebpf.ringbuf import RingBuffer
from espia.engine.containers import ContainerSources
from espia.engine.runtime import GadgetRef, LocalRuntime
from espia.engine.source import RunOptions
from espia.output import make_output


class _Copy:
    """A frozen copy of a ring buffer's memory, walked by RingBuffer.drain as the real one."""

    def __init__(self, ring: RingBuffer) -> None:
        self._page, self._size, self._mask = ring._page, ring._size, ring._mask
        self._data = mmap.mmap(-1, len(ring._data))
        self._data[:] = ring._data[:]
        self._start = ring._consumer[0]
        self._consumer = memoryview(bytearray(8)).cast("Q")
        self._producer = memoryview(self._data)[:8].cast("Q")
        self._words = memoryview(self._data).cast("I")  # what a newer drain reads headers from

    def rewind(self) -> None:
        self._consumer[0] = self._start

    def drain(self, decode: Callable[..., Any], out: list[Any], limit: int) -> int:
        return RingBuffer.drain(self, decode, out, limit)  # type: ignore[arg-type]


def cpu_ns(work: Callable[[], object], then: Callable[[], None]) -> int:
    """The CPU time `work` takes; `then` runs after it, untimed."""
    start = time.process_time_ns()
    work()
    spent = time.process_time_ns() - start
    then()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--batch", type=int, default=8192, help="records per batch (the CLI: 8192)")
    args = parser.parse_args()
    options = RunOptions(filter="comm:loadgen", buffer_size=256 << 20, exclude_self=True)
    written_to = f"/tmp/espia-bench-json-{os.getpid()}"
    run = LocalRuntime(ContainerSources()).run(GadgetRef("trace", "open"), options)
    try:
        run.start()
        generate(args.calls, f"/tmp/espia-bench-missing-{uuid.uuid4().hex[:8]}")
        tracer: Any = run.source
        copy = _Copy(tracer._ring)
        decode = tracer._decode
        pipeline = run._pipeline
        sink = open(os.devnull, "w")  # noqa: SIM115 - closed below
        output = make_output("json", run.fields, [], sink, sys.stderr, title="trace open")
        # The CLI's stdout: a text stream over a file, 8 KiB of buffer.
        stream = io.TextIOWrapper(open(written_to, "wb"))  # noqa: SIM115 - closed below
        rows: dict[str, list[float]] = {}
        # The C plan's bytes to the stream's buffer (this tree), else the batch
        # formatter's or the per-event one's text (before it).
        plan = getattr(output, "_plan", None)
        if plan is not None:
            lines, write = plan.lines, stream.buffer.write
        else:
            text_lines = getattr(output, "_lines", None)
            if text_lines is None:
                line = output._line  # type: ignore[attr-defined]

                def text_lines(events: list[Any]) -> Any:
                    return map(line, events)

            def lines(events: list[Any]) -> Any:
                return "".join(text_lines(events))

            write = stream.write

        # The timestamp's JSON renderer, timed apart (its share of the lines).
        stamp = next(f for f in run.fields if f.json_render is not None)
        render, when = stamp.json_render, attrgetter(".".join(stamp.path))
        _tune_gc()  # the CLI's collector settings
        for _ in range(args.repeat):
            copy.rewind()
            walk = cpu_ns(lambda: copy.drain(lambda b, o, n: None, [], 1 << 30), copy.rewind)
            stages = ("decode", "pipeline stages", "JSON lines", "of which timestamps", "write")
            times = dict.fromkeys(stages, 0)
            count = 0
            while True:
                # Batch by batch, as the CLI does.
                start = time.process_time_ns()
                batch: list[Any] = []
                if not copy.drain(decode, batch, args.batch):
                    break
                decoded = time.process_time_ns()
                batch = pipeline.process(batch)
                processed = time.process_time_ns()
                text = lines(batch)
                formatted = time.process_time_ns()
                [render(when(e)) for e in batch]  # again, alone
                stamped = time.process_time_ns()
                write(text)
                stream.flush()
                written = time.process_time_ns()
                times["of which timestamps"] += stamped - formatted
                count += len(batch)
                times["decode"] += decoded - start
                times["pipeline stages"] += processed - decoded
                times["JSON lines"] += formatted - processed
                times["write"] += written - stamped
            times["decode"] -= walk
            total = walk + sum(times.values()) - times["of which timestamps"]
            figures = {"ring walk": walk, **times, "total": total}
            for name, ns in figures.items():
                rows.setdefault(name, []).append(ns / 1000 / count)
        stream.close()
        sink.close()
        print(f"{count:,} events; load average {os.getloadavg()[0]:.1f}")
        for name, values in rows.items():
            print(f"| {name} | {statistics.median(values):.2f} us |")
    finally:
        run.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(written_to)


if __name__ == "__main__":
    main()
