"""Every bad input: one line naming the problem, exit 2 for usage, 1 for the rest."""

from __future__ import annotations

import shutil
import subprocess

import pytest
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
    assert "needs root (or CAP_BPF and CAP_PERFMON)" in one_line(result.stderr)


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
