"""The container tracker's cgroup paths at their bound: whole as far as the kernel gives them."""

from __future__ import annotations

import os
import uuid

import pytest

from espia.containers.collection import NEW_CGROUP, TRACKER_DIR
from espia.ebpf import features
from espia.engine.tracer import RingBufferTracer
from espia.gadget.spec import GadgetSpec
from espia.pipeline.operator import KernelConfig

# What the cgroup_mkdir tracepoint carries at most (TRACE_CGROUP_PATH_LEN, NUL included).
KERNEL_PATH_MAX = 1023


def nested(length: int) -> str:
    """A cgroup path (from the v2 root) of exactly `length` bytes, in steps of <= 200."""
    path = f"/espia-{uuid.uuid4().hex[:8]}"
    while len(path) < length:
        path += "/" + "c" * (min(200, length - len(path)) - 1)
    assert len(path) == length, path
    return path


@pytest.mark.parametrize("length", [511, 512, 513, KERNEL_PATH_MAX])
def test_new_cgroups_are_reported_with_their_whole_path(length):
    root = str(features.cgroup2_root())
    path = nested(length)
    parts = path.strip("/").split("/")
    made = [os.path.join(root, *parts[: i + 1]) for i in range(len(parts))]
    run = RingBufferTracer(GadgetSpec.from_folder(TRACKER_DIR), buffer_size=1 << 18)
    try:
        run.start(KernelConfig())
        for directory in made:
            os.mkdir(directory)
        reported = set()
        for _ in range(20):
            events, _ = run.poll()
            reported |= {e.cgroup for e in events if e.kind == NEW_CGROUP}
            if path in reported:
                break
    finally:
        run.close()
        for directory in reversed(made):
            if os.path.isdir(directory):
                os.rmdir(directory)
    assert path in reported
