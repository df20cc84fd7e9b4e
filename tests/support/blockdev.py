"""A real block device for a test: a loop device over a scratch file, detached after."""

from __future__ import annotations

import os
import subprocess
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
