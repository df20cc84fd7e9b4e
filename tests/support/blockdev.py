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
def loop_device(
    folder: Path, size: int = 64 << 20, scheduler: str = "none"
) -> Iterator[tuple[str, int, int]]:
    """(path, major, minor) of a loop device over a sparse file of `size` bytes in `folder`,
    its I/O scheduler `scheduler` (mq-deadline merges whole requests; none does not)."""
    backing = folder / "disk.img"
    with open(backing, "wb") as f:
        f.truncate(size)
    path = subprocess.run(
        ["losetup", "--find", "--show", str(backing)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        Path(f"/sys/block/{Path(path).name}/queue/scheduler").write_text(f"{scheduler}\n")
        rdev = os.stat(path).st_rdev
        yield path, os.major(rdev), os.minor(rdev)
    finally:
        subprocess.run(["losetup", "--detach", path], check=True)


TRACING = Path("/sys/kernel/tracing")
_COMPLETE = re.compile(r" block_rq_complete: (\d+),(\d+) (\S+) \(.*?\) \d+ \+ (\d+) ")


@contextmanager
def kernel_completions(major: int, minor: int) -> Iterator[Counter[str]]:
    """The data I/Os of one device that the kernel reported complete, by direction
    ("R", "W"), and the requests it merged into others ("merged"), filled in when the
    block ends.

    Read from the block_rq_complete tracepoint through an ftrace instance of the
    test's own, not through BPF: a test can then tell a completion the kernel
    reported from one a BPF program saw.  Flushes (no sectors) are left out.
    """
    instance = TRACING / "instances" / f"espia-test-{uuid.uuid4().hex[:8]}"
    instance.mkdir()
    done: Counter[str] = Counter()
    try:
        block = instance / "events" / "block"
        events = [block / "block_rq_complete", block / "block_rq_merge"]
        for event in events:
            (event / "filter").write_text(f"dev == {major << 20 | minor}\n")
            (event / "enable").write_text("1\n")
        yield done
        for event in events:
            (event / "enable").write_text("0\n")
        for line in (instance / "trace").read_text().splitlines():
            found = _COMPLETE.search(line)
            if found and int(found[4]) and found[3][0] in "RW":
                done[found[3][0]] += 1
            elif " block_rq_merge: " in line:
                done["merged"] += 1
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


# A child's body: O_DIRECT writes of `size` bytes at the byte offsets given, comma-separated,
# submitted in one io_submit(2), which plugs the queue across them: adjacent ones merge in
# the kernel, bios into a request that already started, and, under mq-deadline, a request
# into another (0,8192,4096 makes one request of three writes, one of them merged away).
AIO_WRITES = """
import ctypes, mmap, struct
IO_SETUP, IO_DESTROY, IO_GETEVENTS, IO_SUBMIT, PWRITE = 206, 207, 208, 209, 1
libc = ctypes.CDLL(None, use_errno=True)
device, offsets, size = sys.argv[2], [int(o) for o in sys.argv[3].split(",")], int(sys.argv[4])
fd = os.open(device, os.O_RDWR | os.O_DIRECT)
buf = mmap.mmap(-1, size * len(offsets))
buf.write(b"e" * len(buf))
base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
ctx = ctypes.c_ulong(0)
assert libc.syscall(IO_SETUP, len(offsets), ctypes.byref(ctx)) == 0, ctypes.get_errno()
# struct iocb: data, key, rw_flags, opcode, reqprio, fildes, buf, nbytes, offset, 2 x 0
iocbs = [
    ctypes.create_string_buffer(
        struct.pack("<QIIHhIQQqQII", i, 0, 0, PWRITE, 0, fd, base + i * size, size, o, 0, 0, 0)
    )
    for i, o in enumerate(offsets)
]
ptrs = (ctypes.c_void_p * len(iocbs))(*[ctypes.addressof(b) for b in iocbs])
assert libc.syscall(IO_SUBMIT, ctx, len(iocbs), ptrs) == len(iocbs), ctypes.get_errno()
done = ctypes.create_string_buffer(32 * len(iocbs))
assert libc.syscall(IO_GETEVENTS, ctx, len(iocbs), len(iocbs), done, None) == len(iocbs)
assert all(struct.unpack_from("<q", done, 32 * i + 16)[0] == size for i in range(len(iocbs)))
libc.syscall(IO_DESTROY, ctx)
print(os.getpid())
"""
