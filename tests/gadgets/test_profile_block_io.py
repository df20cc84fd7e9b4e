"""profile block-io on a real block device: every I/O of a known program in exactly one
latency bucket, per device and, with --per-container, per mount namespace."""

from __future__ import annotations

import signal
import subprocess
import sys

from support.blockdev import DIRECT_IO, loop_device
from support.intervals import intervals_around
from support.workloads import PRELUDE, EspiaCli, comm_name, run_python


def _histograms(intervals, major, minor):
    return [h for rows in intervals for h in rows if (h["major"], h["minor"]) == (major, minor)]


def _check_buckets(histogram):
    buckets = histogram["buckets"]
    assert histogram["unit"] == "usecs"
    assert buckets[0]["low"] == 0 and buckets[0]["high"] == 1
    for i, bucket in enumerate(buckets[1:], start=1):
        assert (bucket["low"], bucket["high"]) == (2**i, 2 ** (i + 1) - 1)
    assert buckets[-1]["count"] > 0  # up to the highest bucket counted, no further


def test_every_io_of_a_program_is_in_one_bucket_of_its_device(tmp_path):
    comm = comm_name()
    with loop_device(tmp_path) as (device, major, minor):
        intervals, _, _ = intervals_around(
            ["profile", "block-io", "--interval", "0.5", "-F", f"major:{major},minor:{minor}"],
            lambda: run_python(comm, DIRECT_IO, device, "16", "8", "8192"),
        )
    mine = _histograms(intervals, major, minor)
    assert mine
    for histogram in mine:
        _check_buckets(histogram)
    assert sum(b["count"] for h in mine for b in h["buckets"]) == 16 + 8
    # Nothing of other devices (nobody else uses this new one, no udev here).
    assert all((h["major"], h["minor"]) == (major, minor) for rows in intervals for h in rows)


def test_per_container_splits_by_mount_namespace(tmp_path):
    comm = comm_name()

    def workload() -> None:
        run_python(comm, DIRECT_IO, device, "6", "0", "4096")
        # The same program in a mount namespace of its own.
        code = PRELUDE + DIRECT_IO + "\nsys.stdout.flush()\nos._exit(0)\n"
        argv = [sys.executable, "-c", code, comm, device, "10", "0", "4096"]
        subprocess.run(["unshare", "--mount", *argv], check=True, capture_output=True)

    with loop_device(tmp_path) as (device, major, minor):
        args = ["profile", "block-io", "--interval", "0.5", "-F", f"major:{major},minor:{minor}"]
        split, _, _ = intervals_around([*args, "--per-container"], workload)
        merged, _, _ = intervals_around(args, workload)
    counts: dict[int, int] = {}
    for histogram in _histograms(split, major, minor):
        counts[histogram["mntns"]] = counts.get(histogram["mntns"], 0) + sum(
            b["count"] for b in histogram["buckets"]
        )
    assert sorted(counts.values()) == [6, 10]
    assert 0 not in counts
    together = _histograms(merged, major, minor)
    assert {h["mntns"] for h in together} == {0}
    assert sum(b["count"] for h in together for b in h["buckets"]) == 16


def test_text_histogram_has_bars_and_bounds_like_biolatency(tmp_path):
    comm = comm_name()
    with loop_device(tmp_path) as (device, major, minor):
        cli = EspiaCli(["profile", "block-io", "--interval", "1", "-F", f"major:{major}"])
        cli.wait_for(lambda line: line.startswith("20"), timeout=30)  # the first interval
        run_python(comm, DIRECT_IO, device, "12", "0", "4096")
        cli.wait_for(lambda line: line == f"MAJOR {major} MINOR {minor}")
        cli.proc.send_signal(signal.SIGINT)
        code, lines, stderr = cli.finish()
    assert code == 0, stderr
    total = 0
    starts = [i for i, line in enumerate(lines) if line == f"MAJOR {major} MINOR {minor}"]
    for start in starts:
        assert lines[start + 1].split() == ["usecs", ":", "count", "distribution"]
        rows = lines[start + 2 :]
        for i, row in enumerate(rows):
            if not row.strip():
                break
            low, arrow, high, colon, count, bar = row.split(None, 5)
            assert (arrow, colon) == ("->", ":")
            assert (int(low), int(high)) == ((0, 1) if i == 0 else (2**i, 2 ** (i + 1) - 1))
            assert bar.startswith("|") and bar.endswith("|") and len(bar) == 42
            total += int(count)
        # The largest bucket of each histogram fills the bar.
        assert any("*" * 40 in row for row in rows[:i])
    assert total == 12
