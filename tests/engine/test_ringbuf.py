"""The ring walk: every record read whole and in order, those that wrap around the end too."""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

from espia.engine.tracer import RingBufferTracer
from espia.gadget.registry import builtin
from espia.pipeline.operator import KernelConfig

PAGE = 4096


def test_records_are_read_in_order_and_whole_across_the_end_of_a_small_ring(tmp_path):
    tracer = RingBufferTracer(builtin("trace", "open"), buffer_size=PAGE)
    wrapped = 0
    try:
        tracer.prepare()
        decode = tracer._decode

        def counting(buf: Any, offset: int, length: int) -> Any:
            # A record that wraps comes copied into bytes of its own (ringbuf.drain).
            nonlocal wrapped
            wrapped += isinstance(buf, bytes)
            return decode(buf, offset, length)

        tracer._decode = counting
        # This thread's opens only, filtered in the kernel.
        tracer.start(KernelConfig({"tid": threading.get_native_id()}))
        tracer.poll()  # attaching opened files of tracefs
        wrapped = 0
        expected: list[str] = []
        seen: list[str] = []
        # Paths of every length from 1 to 150 bytes past the folder, so that records of
        # many sizes go around the one page many times; read every 4 records (under a
        # page), so that nothing is lost.
        for i in range(1200):
            path = str(tmp_path / ("x" * (i % 150 + 1)))
            expected.append(path)
            with contextlib.suppress(FileNotFoundError):
                os.close(os.open(path, os.O_RDONLY))
            if i % 4 == 3:
                events, lost = tracer.poll()
                assert lost == 0
                seen += [e.path for e in events]
        events, lost = tracer.poll()
        seen += [e.path for e in events]
    finally:
        tracer.close()
    assert lost == 0
    assert seen == expected
    assert wrapped > 0
