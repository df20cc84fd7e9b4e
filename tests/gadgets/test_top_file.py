"""top file against a real program: each call of the read/write family, counted exactly,
in totals that add up over intervals."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from support.bpf import loaded_programs
from support.intervals import intervals_around, totals
from support.workloads import EspiaCli, comm_name, espia, run_python, unique

import espia as api

# x86-64 syscall numbers: each call is made as itself, whatever libc would pick.
READS = {"read": 0, "pread64": 17, "readv": 19, "preadv": 295, "preadv2": 327}
WRITES = {"write": 1, "pwrite64": 18, "writev": 20, "pwritev": 296, "pwritev2": 328}
# Each call's file gets ROUNDS calls of a size of its own, so a miscount shows which call.
SIZES = {name: 100 + 37 * i for i, name in enumerate([*READS, *WRITES])}
ROUNDS = 6

# The child: ROUNDS rounds, each one call of every kind on its own file, then a pause so
# that the rounds fall into several intervals.
WORKLOAD = """
import ctypes, time
libc = ctypes.CDLL(None, use_errno=True)
folder, pause = sys.argv[2], float(sys.argv[3])
reads, writes, sizes, rounds = {reads!r}, {writes!r}, {sizes!r}, {rounds}
buf = ctypes.create_string_buffer(4096)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
fds = {{}}
for name in reads:
    fds[name] = os.open(os.path.join(folder, name), os.O_RDONLY)
for name in writes:
    fds[name] = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
def call(name, nr):
    size = sizes[name]
    base = ctypes.addressof(buf)
    vec = (iovec * 2)(iovec(base, size // 2), iovec(base + 2048, size - size // 2))
    fd = fds[name]
    if name in ("read", "write"):
        got = libc.syscall(nr, fd, buf, size)
    elif name in ("pread64", "pwrite64"):
        got = libc.syscall(nr, fd, buf, size, ctypes.c_long(0))
    elif name in ("readv", "writev"):
        got = libc.syscall(nr, fd, vec, 2)
    elif name in ("preadv", "pwritev"):
        got = libc.syscall(nr, fd, vec, 2, ctypes.c_long(0), ctypes.c_long(0))
    else:
        got = libc.syscall(nr, fd, vec, 2, ctypes.c_long(0), ctypes.c_long(0), 0)
    assert got == size, (name, got, ctypes.get_errno())
for _ in range(rounds):
    for name, nr in {{**reads, **writes}}.items():
        call(name, nr)
    time.sleep(pause)
print(os.getpid())
"""


def _workload(folder: Path, comm: str, pause: float) -> int:
    for name in READS:
        (folder / name).write_bytes(os.urandom(4096))
    body = WORKLOAD.format(reads=READS, writes=WRITES, sizes=SIZES, rounds=ROUNDS)
    return int(run_python(comm, body, str(folder), str(pause)).stdout)


def test_every_call_of_the_family_counts_its_bytes_exactly_over_intervals(tmp_path):
    comm = comm_name()
    intervals, pid, stderr = intervals_around(
        ["top", "file", "--interval", "0.3", "--max-rows", "100", "-F", f"comm:{comm}"],
        lambda: _workload(tmp_path, comm, 0.25),
    )
    files = {str(tmp_path / name) for name in SIZES}
    summed, spread = totals(intervals, lambda r: r["file"], ["reads", "writes", "rbytes", "wbytes"])
    mine = {path: counts for path, counts in summed.items() if path in files}
    expected = {
        str(tmp_path / name): {
            "reads": ROUNDS if name in READS else 0,
            "writes": ROUNDS if name in WRITES else 0,
            "rbytes": ROUNDS * SIZES[name] if name in READS else 0,
            "wbytes": ROUNDS * SIZES[name] if name in WRITES else 0,
        }
        for name in SIZES
    }
    assert mine == expected
    # The counts were split over intervals, and still add up.
    assert max(spread[path] for path in files) >= 3
    rows = [row for rows in intervals for row in rows if row["file"] in files]
    assert {(row["pid"], row["comm"], row["t"]) for row in rows} == {(pid, comm, "R")}
    assert "lost" not in stderr


def test_fallback_path_at_entry_counts_the_same(tmp_path):
    """Where bpf_task_pt_regs is missing, the descriptor is recorded at entry."""
    comm = comm_name()
    with api.run(
        "top",
        "file",
        filter=f"comm:{comm}",
        params={"interval": 0.2},
        without_helpers=("task_pt_regs",),
    ) as rows:
        pid = _workload(tmp_path, comm, 0.05)
        time.sleep(0.3)
        rows.stop()
        seen = [row for row in rows if row.file.startswith(str(tmp_path))]
    by_file: dict[str, list[int]] = {}
    for row in seen:
        counts = by_file.setdefault(Path(row.file).name, [0, 0, 0, 0])
        for i, value in enumerate((row.reads, row.writes, row.rbytes, row.wbytes)):
            counts[i] += value
    assert by_file == {
        name: [ROUNDS, 0, ROUNDS * SIZES[name], 0]
        if name in READS
        else [0, ROUNDS, 0, ROUNDS * SIZES[name]]
        for name in SIZES
    }
    assert {row.pid for row in seen} == {pid}


PIPE_AND_SOCKET = """
import socket
r, w = os.pipe()
os.write(w, b"p" * 300)
os.read(r, 300)
a, b = socket.socketpair()
os.write(a.fileno(), b"s" * 700)
os.read(b.fileno(), 700)
with open(sys.argv[2], "wb") as f:
    f.write(b"f" * 50)
print(*(os.fstat(fd).st_ino for fd in (r, a.fileno(), b.fileno())))
"""


@pytest.mark.parametrize("all_files", [False, True])
def test_sockets_and_pipes_only_with_all_files(tmp_path, all_files):
    comm = comm_name()
    target = tmp_path / "regular"
    flags = ["--all-files"] if all_files else []
    intervals, inodes, _ = intervals_around(
        ["top", "file", "--interval", "0.3", "--max-rows", "100", "-F", f"comm:{comm}", *flags],
        lambda: run_python(comm, PIPE_AND_SOCKET, str(target)).stdout.split(),
    )
    summed, _ = totals(intervals, lambda r: r["t"], ["reads", "writes", "rbytes", "wbytes"])
    by_file, _ = totals(
        intervals, lambda r: (r["t"], r["file"]), ["reads", "writes", "rbytes", "wbytes"]
    )
    # (`import socket` reads Python's own modules: regular files too, not ours.)
    assert by_file["R", str(target)] == {"reads": 0, "writes": 1, "rbytes": 0, "wbytes": 50}
    if all_files:
        # A pipe or socket has no path: each is named as in /proc/PID/fd, one row per end
        # written or read, not all of them "/". (The inodes go out through a pipe too.)
        pipe, end_a, end_b = inodes
        assert by_file["P", f"pipe:[{pipe}]"] == {
            "reads": 1,
            "writes": 1,
            "rbytes": 300,
            "wbytes": 300,
        }
        assert by_file["S", f"socket:[{end_a}]"] == {
            "reads": 0,
            "writes": 1,
            "rbytes": 0,
            "wbytes": 700,
        }
        assert by_file["S", f"socket:[{end_b}]"] == {
            "reads": 1,
            "writes": 0,
            "rbytes": 700,
            "wbytes": 0,
        }
        assert summed["S"] == {"reads": 1, "writes": 1, "rbytes": 700, "wbytes": 700}
    else:
        assert set(summed) == {"R"}


def test_rows_are_sorted_cut_and_shown_per_interval_when_piped(tmp_path):
    comm = comm_name()
    body = """
for i in range(1, 6):
    with open(os.path.join(sys.argv[2], f"f{i}"), "wb") as f:
        f.write(b"x" * (1000 * i))
import time; time.sleep(0.5)
"""
    cli = EspiaCli(["top", "file", "--interval", "1", "--max-rows", "3", "-F", f"comm:{comm}"])
    cli.wait_for(lambda line: line.startswith("RUNTIME"), timeout=30)  # attached
    run_python(comm, body, str(tmp_path))
    cli.wait_for(lambda line: line.endswith("/f3"))
    cli.proc.send_signal(signal.SIGINT)
    code, lines, _ = cli.finish()
    assert code == 0
    out = "\n".join(lines)
    blocks = [b for b in out.split("\n\n") if b.strip()]
    block = next(b for b in blocks if "f5" in b)
    stamp, header, *rows = block.splitlines()
    assert stamp.endswith("3 of 5 rows")
    assert header.split() == [
        "RUNTIME.CONTAINERNAME",
        "PID",
        "COMM",
        "READS",
        "WRITES",
        "RBYTES",
        "WBYTES",
        "T",
        "FILE",
    ]
    assert [row.split()[-1] for row in rows] == [str(tmp_path / f"f{i}") for i in (5, 4, 3)]
    assert [int(row.split()[-3]) for row in rows] == [5000, 4000, 3000]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--sort", "nosuch"], "unknown column 'nosuch'"),
        (["--sort=-rbytes,,pid"], "an empty column name"),
        (["--interval", "-1"], "must be a positive number of seconds"),
        (["--interval", "soon"], "interval 'soon' is not a number"),
        (["--max-rows", "0"], "must be a positive number of rows"),
        (["--max-rows", "x"], "is not a number"),
        (["--buffer-size", "1M"], "has no ring buffer"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(flags, message):
    done = espia("top", "file", *flags, "-t", "1")
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""


def test_a_full_table_counts_what_it_could_not_hold(tmp_path):
    """One interval, more distinct files than the kernel's table holds (10240 keys):
    each update that found it full is counted as lost, none silently dropped."""
    comm = comm_name()
    files = 10240 + 75
    body = """
folder, count = sys.argv[2], int(sys.argv[3])
for i in range(count):
    fd = os.open(os.path.join(folder, str(i)), os.O_WRONLY | os.O_CREAT)
    os.write(fd, b"z")
    os.close(fd)
"""
    cli = EspiaCli(
        [
            "top",
            "file",
            "--interval",
            "60",
            "--max-rows",
            "20000",
            "-F",
            f"comm:{comm}",
            "-o",
            "json",
        ]
    )
    # Nothing is shown before the interval ends: attached is when its programs are loaded.
    deadline = time.monotonic() + 30
    while "exit_pwritev2" not in loaded_programs():
        assert time.monotonic() < deadline, cli.stderr_text()
        time.sleep(0.1)
    run_python(comm, body, str(tmp_path), str(files))
    cli.proc.send_signal(signal.SIGINT)
    code, lines, stderr = cli.finish()
    assert code == 0, stderr
    rows = [row for line in lines if line.startswith("[") for row in json.loads(line)]
    lost = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(rows) == 10240
    assert sum(row["writes"] for row in rows) == 10240
    assert [record["lost_events"] for record in lost] == [files - 10240]


def test_a_containers_rows_carry_it_and_the_selector_keeps_only_them(docker, docker_socket):
    """-c selects in the kernel (by mount namespace); the rows name their container."""
    name = unique("topf")
    cid = docker.run(name)
    try:
        runtime = ["--runtimes", "docker", "--runtime-socket", f"docker={docker_socket}"]
        intervals, _, _ = intervals_around(
            ["top", "file", "--interval", "0.3", "--max-rows", "1000", "-c", name, *runtime],
            lambda: docker.cli("exec", cid, "sh", "-c", "head -c 5000 /dev/zero > /tmp/out"),
        )
    finally:
        docker.remove(cid)
    rows = [row for rows in intervals for row in rows]
    assert rows and {row["runtime"]["containerName"] for row in rows} == {name}
    written = [row for row in rows if row["file"].endswith("/tmp/out")]
    assert sum(row["wbytes"] for row in written) == 5000
    assert {row["comm"] for row in written} == {"head"}


# A log deleted while its writer holds it open, a new one created under its name (what a
# careless rotation does): two files, one path. The deleted one is marked, so the rows
# tell them apart; a name that merely ends like /proc's marker is shown as it is.
DELETED_WHILE_OPEN = """
folder = sys.argv[2]
log, lookalike = os.path.join(folder, "app.log"), os.path.join(folder, "app.log (deleted)")
old = os.open(log, os.O_WRONLY | os.O_CREAT)
os.unlink(log)
new = os.open(log, os.O_WRONLY | os.O_CREAT)
other = os.open(lookalike, os.O_WRONLY | os.O_CREAT)
os.write(old, b"o" * 310)
os.write(new, b"n" * 120)
os.write(other, b"l" * 45)
"""


def test_a_file_deleted_while_open_is_marked_deleted(tmp_path):
    comm = comm_name()
    intervals, _, _ = intervals_around(
        ["top", "file", "--interval", "0.3", "--max-rows", "100", "-F", f"comm:{comm}"],
        lambda: run_python(comm, DELETED_WHILE_OPEN, str(tmp_path)),
    )
    by_file, _ = totals(intervals, lambda r: r["file"], ["writes", "wbytes"])
    mine = {path: counts for path, counts in by_file.items() if str(tmp_path) in path}
    assert mine == {
        f"(deleted) {tmp_path}/app.log": {"writes": 1, "wbytes": 310},
        f"{tmp_path}/app.log": {"writes": 1, "wbytes": 120},
        f"{tmp_path}/app.log (deleted)": {"writes": 1, "wbytes": 45},
    }
