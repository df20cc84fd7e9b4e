"""The display flags peers' users expect: --no-header, -m, --summary, -T/--timestamp, --ready."""

from __future__ import annotations

import contextlib
import datetime
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from support.workloads import EspiaCli, comm_name, espia, run_python, unique

import espia as api
from tests.cli.test_errors import one_line


def opens_of(prefix: str, count: int) -> str:
    """A Python body that opens `prefix`-0 ... `prefix`-(count-1), all missing."""
    return (
        f"for i in range({count}):\n"
        f"    try:\n        os.open({prefix!r} + '-' + str(i), os.O_RDONLY)\n"
        "    except OSError:\n        pass\n"
    )


def attached(args: list[str], comm: str, tag: str) -> EspiaCli:
    """`espia trace open -F comm:<comm>,path:~<tag> args`, seen to show a first open of
    `tag`-ready (no header to wait for in these modes)."""
    cli = EspiaCli(["trace", "open", "-F", f"comm:{comm},path:~{tag}", *args])
    cli.wait_ready(lambda: run_python(comm, opens_of(f"{tag}-ready", 1)), f"{tag}-ready")
    return cli


def test_no_header_shows_only_rows(tmp_path):
    comm, tag = comm_name(), str(tmp_path / unique("nohdr"))
    cli = attached(["--no-header", "-o", "columns=comm,path"], comm, tag)
    run_python(comm, opens_of(tag, 2))
    cli.wait_for(lambda line: line.endswith(f"{tag}-1"))
    cli.proc.send_signal(2)
    code, lines, err = cli.finish()
    assert code == 0, err
    rows = [line.split() for line in lines]
    assert rows[0] == [comm, f"{tag}-ready-0"]  # no header before the first row
    assert rows[-2:] == [[comm, f"{tag}-0"], [comm, f"{tag}-1"]]


def programs_held_by(pid: int) -> set[int]:
    """The ids of the eBPF programs process `pid` holds a descriptor of."""
    held = set()
    for fdinfo in Path(f"/proc/{pid}/fdinfo").iterdir():
        with contextlib.suppress(OSError):
            for line in fdinfo.read_text().splitlines():
                if line.startswith("prog_id:"):
                    held.add(int(line.split()[1]))
    return held


def loaded_programs() -> set[int]:
    shown = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    return {program["id"] for program in json.loads(shown.stdout or "[]")}


def test_max_events_stops_cleanly_with_the_gadget_unloaded(tmp_path):
    comm, tag = comm_name(), str(tmp_path / unique("max"))
    cli = EspiaCli(
        ["trace", "open", "-F", f"comm:{comm},path:~{tag}", "-m", "3", "-o", "columns=path"]
    )
    cli.wait_for(lambda line: line == "PATH")
    held = programs_held_by(cli.proc.pid)  # its gadget's and its container tracker's
    assert len(held) >= 2
    run_python(comm, opens_of(tag, 10))
    code, lines, err = cli.finish(timeout=20)  # it ends by itself
    assert code == 0, err
    assert err == ""
    assert lines == ["PATH", f"{tag}-0", f"{tag}-1", f"{tag}-2"]
    # Exactly its own programs are gone (the kernel frees them a moment after exit).
    deadline = time.monotonic() + 5
    while held & loaded_programs() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert held & loaded_programs() == set()


def test_the_summary_counts_received_shown_and_lost(tmp_path):
    comm, tag = comm_name(), str(tmp_path / unique("sum"))
    cli = EspiaCli(
        ["trace", "open", "-F", f"comm:{comm},path:~{tag}-1", "--summary", "-o", "columns=path"]
    )
    cli.wait_for(lambda line: line == "PATH")
    run_python(comm, opens_of(tag, 3))
    cli.wait_for(lambda line: line.endswith(f"{tag}-1"))
    cli.proc.send_signal(2)
    code, lines, err = cli.finish()
    assert code == 0, err
    assert lines == ["PATH", f"{tag}-1"]
    summary = re.fullmatch(r"espia: (\d+) events received, 1 shown, 0 lost in \d+\.\d s\n", err)
    assert summary, err
    # The kernel handed over every open of that comm (its start-up's too): the path
    # filter ran in espia, after them.
    assert int(summary.group(1)) >= 3


def test_no_summary_when_stderr_is_not_a_terminal_or_when_silenced():
    for flags in ([], ["--no-summary"]):
        result = espia("trace", "open", "-F", "comm:nomatchatall", "-t", "1", *flags)
        assert result.returncode == 0 and result.stderr == "", result.stderr


def test_relative_timestamps_come_first_and_count_from_the_attach(tmp_path):
    comm, tag = comm_name(), str(tmp_path / unique("rel"))
    cli = EspiaCli(["trace", "open", "-T", "-F", f"comm:{comm},path:~{tag}", "-o", "columns=+tid"])
    header = cli.wait_for(lambda line: "PATH" in line)
    attached_at = time.monotonic()
    assert header.split()[:2] == ["TIMESTAMP", "RUNTIME.CONTAINERNAME"]
    time.sleep(0.5)
    run_python(comm, opens_of(tag, 2))
    cli.wait_for(lambda line: line.endswith(f"{tag}-1"))
    elapsed = time.monotonic() - attached_at
    cli.proc.send_signal(2)
    code, lines, err = cli.finish()
    assert code == 0, err
    stamps = [float(line.split()[0]) for line in lines[1:]]
    assert len(stamps) == 2 and stamps[0] <= stamps[1]
    assert 0.5 <= stamps[0] <= elapsed + 0.5


def test_local_timestamps_carry_the_utc_offset(tmp_path):
    comm, tag = comm_name(), str(tmp_path / unique("local"))
    cli = EspiaCli(
        [
            "trace", "open", "--timestamp", "local", "-F", f"comm:{comm},path:~{tag}",
            "-o", "columns=timestamp,path",
        ],
        env={"TZ": "Asia/Kolkata"},
    )  # fmt: skip
    cli.wait_for(lambda line: line.split() == ["TIMESTAMP", "PATH"])
    run_python(comm, opens_of(tag, 1))
    row = cli.wait_for(lambda line: line.endswith(f"{tag}-0"))
    cli.proc.send_signal(2)
    assert cli.finish()[0] == 0
    stamp = row.split()[0]
    assert stamp.endswith("+05:30") and re.search(r"\.\d{9}\+", stamp), stamp
    when = datetime.datetime.fromisoformat(stamp[:26] + stamp[-6:])
    assert abs(when.timestamp() - time.time()) < 30


@pytest.mark.parametrize("mode", ["json", "yaml"])
def test_ready_is_a_first_record_before_any_event(mode, tmp_path):
    comm, tag = comm_name(), str(tmp_path / unique("ready"))
    cli = EspiaCli(["trace", "open", "--ready", "-o", mode, "-F", f"comm:{comm},path:~{tag}"])
    if mode == "json":
        first = cli.wait_for(lambda line: bool(line))
        assert json.loads(first) == {"type": "ready", "gadget": "trace open"}
    else:
        cli.wait_for(lambda line: line == "gadget: trace open")
        assert cli.lines[:3] == ["---", "type: ready", "gadget: trace open"]
    run_python(comm, opens_of(tag, 1))  # attached: no retry needed
    cli.wait_for(lambda line: f"{tag}-0" in line)
    cli.proc.send_signal(2)
    assert cli.finish()[0] == 0


def test_json_has_the_arguments_as_a_list_beside_the_quoted_string():
    tag = unique("argv")
    with api.trace("exec", filter=f"args:~{tag}") as trace:
        run_python(comm_name(), f"os.execv('/bin/true', ['/bin/true', 'a b', \"it's\", {tag!r}])")
        trace.stop()
        events = list(trace)
    (event,) = [e for e in events if e.comm == "true"]  # not the failed execs of a PATH walk
    assert event.args == f"/bin/true 'a b' 'it'\"'\"'s' {tag}"
    assert event.args_list == ["/bin/true", "a b", "it's", tag]
    assert event.to_dict()["args_list"] == ["/bin/true", "a b", "it's", tag]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--ready"], "--ready is for json and yaml"),
        (["-T", "--timestamp", "iso"], "-T is --timestamp relative"),
        (["-m", "-1"], "-1 is negative"),
        (["-m", "lots"], "'lots' is not a number of events"),
        (["--timestamp", "utc"], "invalid choice: 'utc'"),
        (["-T", "snapshot"], "snapshot socket has no TIMESTAMP: -T and --timestamp do not"),
    ],
)
def test_bad_display_flags_are_usage_errors(args, says):
    gadget = ["snapshot", "socket"] if "snapshot" in args else ["trace", "open"]
    result = espia(*gadget, *[a for a in args if a != "snapshot"])
    assert result.returncode == 2, result.stderr
    assert says in one_line(result.stderr)
