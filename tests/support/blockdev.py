"""A real block device for a test: a loop device over a scratch file, detached after."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def loop_device(folder: Path, size: int = 64 << 20) -> Iterator[tuple[str, int, int]]:
    """(path, major, minor) of a loop device over a sparse file of `size` bytes in `folder`."""
    backing = folder / "disk.img"
    with open(backing, "wb") as f:
        f.truncate(size)
    path = subprocess.run(
        ["losetup", "--find", "--show", str(backing)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        rdev = os.stat(path).st_rdev
        yield path, os.major(rdev), os.minor(rdev)
    finally:
        subprocess.run(["losetup", "--detach", path], check=True)


TRACING = Path("/sys/kernel/tracing")
_COMPLETE = re.compile(r" block_rq_complete: (\d+),(\d+) (\S+) \(.*?\) \d+ \+ (\d+) ")


@contextmanager
def kernel_completions(major: int, minor: int) -> Iterator[Counter[str]]:
    """The data I/Os of one device that the kernel reported complete, by direction
    ("R", "W"), filled in when the block ends.

    Read from the block_rq_complete tracepoint through an ftrace instance of the
    test's own, not through BPF: a test can then tell a completion the kernel
    reported from one a BPF program saw.  Flushes (no sectors) are left out.
    """
    instance = TRACING / "instances" / f"espia-test-{uuid.uuid4().hex[:8]}"
    instance.mkdir()
    done: Counter[str] = Counter()
    try:
        event = instance / "events" / "block" / "block_rq_complete"
        (event / "filter").write_text(f"dev == {major << 20 | minor}\n")
        (event / "enable").write_text("1\n")
        yield done
        (event / "enable").write_text("0\n")
        for line in (instance / "trace").read_text().splitlines():
            found = _COMPLETE.search(line)
            if found and int(found[4]) and found[3][0] in "RW":
                done[found[3][0]] += 1
    finally:
        instance.rmdir()


# A child's body: `writes` O_DIRECT writes of `size` bytes (page-aligned buffer, so the
# kernel hands each one to the device as one request), an fsync, then `reads` reads.
DIRECT_IO = """
import mmap
device, writes, reads, size = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
fd = os.open(device, os.O_RDWR | os.O_DIRECT)
buf = mmap.mmap(-1, size)
buf.write(b"e" * size)
for i in range(writes):
    assert os.pwrite(fd, buf, i * size) == size
os.fsync(fd)
for i in range(reads):
    assert os.preadv(fd, [buf], i * size) == size
print(os.getpid())
"""
