"""Every bad input: one line naming the problem, exit 2 for usage, 1 for the rest."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time

import pytest
from support.bpf import loaded_espia_objects
from support.workloads import espia

from espia.cli.main import main
from espia.ebpf import features
from espia.gadget import registry


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("espia: ")
    return lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["trace", "nope"], "invalid choice: 'nope'"),
        (["nope"], "invalid choice: 'nope'"),
        (["trace", "open", "-o", "columns=pid,nope"], "unknown column 'nope'"),
        (["trace", "open", "-o", "columns=+flgas"], "did you mean 'flags'"),
        (["trace", "open", "-o", "columns=pid,+flags"], "either list the columns"),
        (["trace", "open", "-o", "xml"], "unknown mode; use one of columns, json"),
        (["trace", "open", "-o", "json=pid"], "only columns takes a list"),
        (["trace", "open", "-F", "nope:1"], "has no field 'nope'"),
        (["trace", "open", "-F", "comm:~("], "bad regex"),
        (["trace", "open", "-F", "comm"], "unknown operator after 'comm'"),
        (["trace", "open", "-F", "=1"], "expected field:value"),
        (["trace", "open", "-F", "pid:>abc"], "'abc' is not a number"),
        (["trace", "open", "-F", "pid:abc"], "pid is a number"),
        (["trace", "open", "-F", "comm:>3"], "comm is text"),
        (["trace", "open", "-t", "-1"], "is negative"),
        (["trace", "open", "-t", "soon"], "not a number of seconds"),
        (["trace", "open", "-t", "nan"], "timeout 'nan' is not a number of seconds"),
        (["trace", "open", "--buffer-size", "0"], "buffer size 0: must be a power of two"),
        (["list-containers", "-o", "xml"], "unknown mode; use one of columns, json"),
        (["trace", "open", "--buffer-size", "1000"], "must be a power of two"),
        (["trace", "open", "--buffer-size", "lots"], "is not a size"),
        (["trace", "open", "--no-such-flag"], "unrecognized arguments"),
        (["trace", "open", "--buffer-size", "4G"], "buffer size 4G: at most 2G (a ring buffer"),
        (["trace", "open", "--buffer-size", "8g"], "buffer size 8G: at most 2G"),
        (["snapshot", "socket", "-t", "5"], "snapshot socket is taken once and ends at once"),
        (["snapshot", "socket", "--buffer-size", "1M"], "it has no ring buffer"),
        (["trace", "open", "-F", "pid:-5"], "-5 is out of range for pid (0 to 4294967295)"),
        (["trace", "open", "-F", f"pid:{2**64}"], f"{2**64} is out of range for pid"),
        (["trace", "open", "-F", "tid:>=-1"], "-1 is out of range for tid"),
        (["trace", "exec", "-F", "ret:<-2147483649"], "out of range for ret (-2147483648 to"),
        (["trace", "open", "-F", "comm:abcdefghijklmnop"], "a comm holds at most 15 bytes"),
        (["trace", "open", "-F", "comm:!abcdefghijklmnop"], "use its first 15, 'abcdefghijklmno'"),
        (["trace", "open", "-F", "err:==x"], "err is a number, not 'x'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args, says):
    result = espia(*args)
    assert result.returncode == 2, result.stderr
    assert says in one_line(result.stderr)
    assert result.stdout == ""


def test_without_privileges_says_so_and_exits_1():
    result = subprocess.run(
        ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "espia", "trace", "open"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith("espia: trace open needs CAP_BPF (load eBPF programs), CAP_PERFMON (")
    assert "run espia as root" in line


def test_without_btf_says_so_and_exits_1(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(features, "VMLINUX_BTF", tmp_path / "vmlinux")
    features.require_btf.cache_clear()
    try:
        assert main(["trace", "open"]) == 1
    finally:
        features.require_btf.cache_clear()
    line = one_line(capsys.readouterr().err)
    assert "no kernel BTF" in line and "CONFIG_DEBUG_INFO_BTF" in line


def test_unbuilt_gadget_says_how_to_build_and_exits_1(monkeypatch, tmp_path, capsys):
    gadgets = tmp_path / "espia" / "gadgets"
    shutil.copytree(
        registry.BUILTIN_DIR / "trace_open",
        gadgets / "trace_open",
        ignore=shutil.ignore_patterns("*.o"),
    )
    monkeypatch.setattr(registry, "BUILTIN_DIR", gadgets)
    registry.catalog.cache_clear()
    try:
        assert main(["trace", "open"]) == 1
    finally:
        registry.catalog.cache_clear()
    line = one_line(capsys.readouterr().err)
    assert "gadget trace open is not built: run `make`" in line


def test_no_command_prints_help_and_exits_2():
    result = espia()
    assert result.returncode == 2
    assert "trace" in result.stdout


def test_version():
    result = espia("version")
    assert result.returncode == 0
    from espia import __version__

    assert result.stdout == f"espia v{__version__}\n"


def test_gadget_help_lists_every_field_with_a_line():
    result = espia("trace", "open", "--help")
    assert result.returncode == 0
    fields = result.stdout.split("fields (* shown by default")[1].splitlines()[1:]
    names = [line[4:].split()[0] for line in fields if line.strip()]
    assert names[:2] == ["RUNTIME.CONTAINERNAME", "RUNTIME.CONTAINERID"]
    for name in ("PID", "TID", "COMM", "FD", "ERR", "ERRNAME", "FLAGS", "MODE", "PATH"):
        assert name in names
    shown = {line[4:].split()[0] for line in fields if line.startswith("  *")}
    assert shown == {"RUNTIME.CONTAINERNAME", "PID", "COMM", "FD", "ERR", "PATH"}
    described = dict(line[4:].split(None, 1) for line in fields if line.strip())
    assert described["ERRNAME"] == "ERR by name"
    assert described["FD"] == "File descriptor returned, -1 on error"


def test_exec_help_describes_args():
    result = espia("trace", "exec", "-h")
    assert result.returncode == 0
    assert "ARGS" in result.stdout and "shell-quoted" in result.stdout


def left_behind(before: list[str], settle: float = 3.0) -> list[str]:
    """espia's objects in the kernel now that were not there `before` (another
    engineer's or a daemon's running gadget is not this test's leak)."""
    deadline = time.monotonic() + settle
    while True:
        new = sorted(set(loaded_espia_objects(settle=0)) - set(before))
        if not new or time.monotonic() > deadline:
            return new
        time.sleep(0.1)


def espia_writing_to(target: str, *args: str) -> subprocess.CompletedProcess:
    """`espia args...` with stdout on /dev/full (every write fails, ENOSPC) or closed."""
    redirect = "> /dev/full" if target == "full" else ">&-"
    command = " ".join(["espia", *args]) + f" {redirect}"
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("target", ["full", "closed"])
@pytest.mark.parametrize(
    "args", [("version",), ("--help",), ("trace", "open", "--help"), ("trace", "exec", "-t", "5")]
)
def test_output_that_cannot_be_written_is_one_line_and_exit_1(args, target):
    result = espia_writing_to(target, *args)
    assert result.returncode == 1, result.stderr
    says = "No space left on device" if target == "full" else "standard output is closed"
    assert one_line(result.stderr) == f"espia: write output: {says}"


@pytest.mark.parametrize("target", ["full", "closed"])
def test_a_trace_whose_output_fails_unloads_its_gadget(target):
    before = loaded_espia_objects(settle=0)
    # json prints nothing before the first event: the failure comes mid-run.
    cli = subprocess.Popen(
        [
            "sh",
            "-c",
            f"exec espia trace open -o json -F path:~{target}-marker -t 20 "
            + ("> /dev/full" if target == "full" else ">&-"),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while cli.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            os.open(f"/tmp/{target}-marker", os.O_RDONLY)
        time.sleep(0.05)
    _, stderr = cli.communicate(timeout=30)
    assert cli.returncode == 1, stderr
    assert one_line(stderr).startswith("espia: write output: ")
    assert left_behind(before) == []


# Sends SIGINT to the process the moment it imports `module` (as a Ctrl-C that
# lands while espia is still starting), says so on stderr, then runs the CLI.
CTRL_C_DURING_IMPORT = """
import os, signal, sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == sys.argv[1]:
            sys.stderr.write("interrupted\\n")
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Interrupt())
from espia.cli.main import main
sys.exit(main(["trace", "open", "-t", "5"]))
"""


@pytest.mark.parametrize(
    "module", ["logging", "espia.cli.parser", "espia.engine.runtime", "espia.ebpf.object"]
)
def test_ctrl_c_while_starting_exits_quietly(module):
    result = subprocess.run(
        [sys.executable, "-c", CTRL_C_DURING_IMPORT, module],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The signal really came during that import (not before or after espia's start).
    assert result.stderr == "interrupted\n", result.stderr
    assert result.returncode == 0
    # No event and no traceback; the header may be out already, as the programs load in a
    # thread while the main one prints it (then the interrupt lands).
    assert result.stdout in ("", "RUNTIME.CONTAINERNAME     PID COMM              FD ERR PATH\n")
