"""top block-io on a real block device: the I/Os a known program issues, by number and size,
charged to it although they complete elsewhere."""

from __future__ import annotations

from support.blockdev import DIRECT_IO, kernel_completions, loop_device
from support.intervals import intervals_around, run_intervals, totals
from support.workloads import comm_name, run_python


def test_direct_io_is_charged_to_the_issuer_with_exact_bytes_and_count(tmp_path):
    comm = comm_name()
    with loop_device(tmp_path) as (device, major, minor):
        intervals, pid, stderr = intervals_around(
            ["top", "block-io", "--interval", "0.5", "-F", f"comm:{comm}"],
            lambda: int(run_python(comm, DIRECT_IO, device, "8", "4", "65536").stdout),
        )
    summed, _ = totals(
        intervals, lambda r: (r["pid"], r["comm"], r["rw"], r["major"], r["minor"]), ["bytes", "io"]
    )
    assert summed == {
        (pid, comm, "W", major, minor): {"bytes": 8 * 65536, "io": 8},
        (pid, comm, "R", major, minor): {"bytes": 4 * 65536, "io": 4},
    }
    times = [r["time"] for rows in intervals for r in rows]
    assert all(t > 0 for t in times)
    assert "lost" not in stderr


def test_totals_add_up_over_intervals(tmp_path):
    """Many I/Os spread over many short intervals: each counted once."""
    comm = comm_name()
    body = DIRECT_IO.replace(
        "for i in range(writes):", "import time\nfor i in range(writes):\n    time.sleep(0.01)"
    )
    with (
        loop_device(tmp_path) as (device, major, minor),
        kernel_completions(major, minor) as reported,
    ):
        run = run_intervals(
            ["top", "block-io", "--interval", "0.1", "-F", f"comm:{comm}"],
            lambda: int(run_python(comm, body, device, "200", "0", "4096").stdout),
        )
    key = (run.result, "W", major, minor)
    summed, spread = totals(
        run.intervals, lambda r: (r["pid"], r["rw"], r["major"], r["minor"]), ["bytes", "io"]
    )
    # Each I/O the kernel reported complete is counted whole, or reported lost, except
    # (a known gap, issue 11) a completion whose BPF run the kernel skips without counting
    # it anywhere: seen in about 1 run of this test in 10, a softirq completing the I/O on
    # top of another task; ftrace sees it, no BPF program does (bpftrace's neither), and
    # recursion_misses stays 0.  The fix to come: count a started I/O whose completion
    # never came as lost.  At most one such miss per run has been seen.
    counted = summed[key]["io"]
    assert reported["W"] == 200, reported
    unseen = reported["W"] - counted - run.lost
    assert 0 <= unseen <= 1, (counted, run.lost, reported, run.stderr)
    assert summed == {key: {"bytes": counted * 4096, "io": counted}}
    assert spread[key] >= 5
