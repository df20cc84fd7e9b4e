"""Nothing is lost silently: what the ring buffer could not take is counted, exactly."""

from __future__ import annotations

import pytest
from support.workloads import comm_name, run_python

import espia

FLOOD = 3000


@pytest.mark.parametrize("without", [(), ("task_pt_regs",)], ids=["exit-only", "entry-and-exit"])
def test_received_plus_lost_equals_generated_with_a_tiny_buffer(tmp_path, without):
    comm = comm_name()
    body = f"""
path = {str(tmp_path)!r} + "/flood"
for i in range({FLOOD}):
    try:
        os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        pass
"""
    # One page holds a few dozen records; nothing is read while the flood runs.
    with espia.trace(
        "open", filter=f"comm:{comm}", buffer_size=4096, without_helpers=without
    ) as trace:
        run_python(comm, body)
        trace.stop()
        received = list(trace)
    assert all(e.comm == comm and e.path == str(tmp_path / "flood") for e in received)
    assert 0 < len(received) < FLOOD
    assert trace.lost > 0
    assert len(received) + trace.lost == FLOOD


def test_default_buffer_loses_nothing_for_a_burst(tmp_path):
    comm = comm_name()
    body = f"""
for i in range({FLOOD}):
    try:
        os.open({str(tmp_path)!r} + "/burst", os.O_RDONLY)
    except FileNotFoundError:
        pass
"""
    with espia.trace("open", filter=f"comm:{comm}") as trace:
        run_python(comm, body)
        trace.stop()
        received = list(trace)
    assert len(received) == FLOOD
    assert trace.lost == 0
