"""`espia run PATH` and `espia.run(PATH)`: a user's gadget, written as a user would.

The gadget is the example of docs/writing-a-gadget.md, taken from the page
verbatim (its `<!-- gadget-file: NAME -->` blocks): built, loaded, run in a
real container, with exact fields; then every way a gadget can be bad.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support.guide import guide_files, write_guide_gadget
from support.runtimes import Ctr
from support.workloads import EspiaCli, comm_name, run_python, unique

import espia
from espia.containers.collection import TRACKER_DIR
from espia.ebpf import _libbpf
from espia.ebpf.compile import compile_program
from espia.ebpf.object import BpfObject
from espia.errors import LoadError
from espia.gadget.local import vmlinux_dir


@pytest.fixture
def guide_gadget(tmp_path: Path) -> Path:
    return write_guide_gadget(tmp_path / "mkdir")


@pytest.fixture
def lone_source(tmp_path: Path) -> Path:
    """The guide's program alone: a .bpf.c without a gadget.yaml."""
    path = tmp_path / "mkdir.bpf.c"
    path.write_text(guide_files()["program.bpf.c"])
    return path


def _espia(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "espia.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _ready(cli: EspiaCli, tag: str) -> None:
    """Waits until the gadget shows a failed mkdir of the host (it is attached)."""
    marker = f"/nonexistent/ready-{tag}"
    cli.wait_ready(lambda: _mkdir(marker), marker, timeout=60)


def _mkdir(path: str) -> None:
    with contextlib.suppress(OSError):
        os.mkdir(path)


@pytest.mark.parametrize("which", ["guide folder", "lone .bpf.c"])
def test_a_user_gadget_sees_a_containers_mkdirs_with_exact_fields(
    which, guide_gadget, lone_source, ctr: Ctr, rootfs
):
    path = guide_gadget if which == "guide folder" else lone_source
    tag = unique("mk")
    name = unique("run")
    cli = EspiaCli(["run", str(path), "-o", "json", "-F", f"path:~{tag}"])
    _ready(cli, tag)
    script = f"mkdir /tmp/{tag}; mkdir /tmp/{tag}; mkdir /no/{tag}; true"
    ctr.run_once(name, rootfs, "/bin/sh", "-c", script)
    cli.wait_for(lambda line: f"/no/{tag}" in line)
    cli.proc.send_signal(2)
    code, _, err = cli.finish()
    assert code == 0, err
    events = [e for e in cli.json_events() if "ready" not in e["path"]]
    seen = [
        (e["runtime"]["containerName"], e["comm"], e["path"], e["err"], e["errname"], e["mode"])
        for e in events
    ]
    assert seen == [
        (name, "mkdir", f"/tmp/{tag}", 0, "", "0777"),
        (name, "mkdir", f"/tmp/{tag}", errno.EEXIST, "EEXIST", "0777"),
        (name, "mkdir", f"/no/{tag}", errno.ENOENT, "ENOENT", "0777"),
    ]
    assert all(e["runtime"]["runtimeName"] == "containerd" for e in events)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", e["timestamp"]) for e in events)
    assert all(e["path_truncated"] is False for e in events)


def _mkdirs(comm: str, base: Path) -> None:
    body = f"""
for path in ({str(base / "a")!r}, {str(base / "a")!r}, {str(base / ("x" * 300))!r}):
    try:
        os.mkdir(path, 0o750)
    except OSError:
        pass
"""
    run_python(comm, body)


def test_python_api_runs_a_path_and_its_parameter_changes_what_the_kernel_sends(
    guide_gadget, tmp_path
):
    before = set(glob.glob("/tmp/espia-run-*"))
    results = {}
    for params in ({}, {"failed_only": True}):
        base = tmp_path / f"w{len(results)}"
        base.mkdir()
        comm = comm_name()
        with espia.run(guide_gadget, filter=f"comm:{comm}", params=params) as trace:
            _mkdirs(comm, base)
            trace.stop()
            events = [(e.path, e.err, e.mode, e.path_truncated) for e in trace]
        results[bool(params)] = (events, trace.received, base)
    events, received, base = results[False]
    long = str(base / ("x" * 300))
    assert events == [
        (str(base / "a"), 0, 0o750, False),
        (str(base / "a"), errno.EEXIST, 0o750, False),
        (long[:255] + " [...]", errno.ENAMETOOLONG, 0o750, True),
    ]
    assert received == 3
    events, received, base = results[True]
    assert [e[1] for e in events] == [errno.EEXIST, errno.ENAMETOOLONG] and received == 2
    # The build directories are gone with the runs.
    assert set(glob.glob("/tmp/espia-run-*")) <= before


def test_a_build_directory_a_killed_espia_left_is_removed_by_the_next_run(guide_gadget):
    gone = subprocess.Popen(["true"])
    gone.wait()
    orphan = Path(f"/tmp/espia-run-{gone.pid}-left")
    orphan.mkdir()
    (orphan / "mkdir.bpf.o").write_bytes(b"")
    with espia.run(guide_gadget, timeout=0.1) as trace:
        list(trace)
    assert not orphan.exists()


def test_a_built_object_runs_too(guide_gadget, tmp_path):
    built = compile_program(guide_gadget / "program.bpf.c", tmp_path / "m.bpf.o", vmlinux_dir())
    comm = comm_name()
    with espia.run(built, filter=f"comm:{comm}") as trace:
        _mkdirs(comm, tmp_path)
        trace.stop()
        assert [e.err for e in trace] == [0, errno.EEXIST, errno.ENAMETOOLONG]


def test_help_lists_the_fields_and_parameters(guide_gadget):
    done = _espia("run", str(guide_gadget), "--help")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith(f"usage: espia run {guide_gadget}")
    assert "  * ERR " in out and "    ERRNAME " in out and "  * PATH " in out
    assert "The directory, as the caller named it" in out
    assert "parameters (--NAME VALUE or --param NAME=VALUE):" in out
    assert "  --failed-only  bool=false  Only the calls that failed" in out


GOOD_HEAD = """
#include <espia/gadget.bpf.h>
#include <espia/process.bpf.h>
struct event { GADGET_PROCESS_MEMBERS; __u32 x; };
GADGET_TRACER_MAP(events);
GADGET_TRACER(bad, events, event);
"""
PROGRAM = """
SEC("%s")
int run_bad_enter(void *ctx)
{
	struct event *e;
	if (gadget_should_discard_current())
		return 0;
	e = gadget_current_event(&events, event);
	%s
	gadget_submit(e);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""
CHECKED = "if (!e) return 0; e->x = 1;"
TP = "tracepoint/syscalls/sys_enter_mkdirat"


def _source(head: str = GOOD_HEAD, section: str = TP, body: str = CHECKED, extra: str = "") -> str:
    return head + extra + PROGRAM % (section, body)


@pytest.mark.parametrize(
    ("source", "code", "lines"),
    [
        (
            _source(body="e->x = 1; /* no NULL check */"),
            1,
            [
                "espia: load bad.bpf.o: the verifier refused program run_bad_enter: "
                "R6 invalid mem access 'scalar'",
                "  at bad.bpf.c:15: e->x = 1; /* no NULL check */",
            ],
        ),
        (
            _source(section="kprobe/do_sys_openat2"),
            1,
            [
                "espia: read bad.bpf.o: program run_bad_enter is of kind "
                "SEC('kprobe/do_sys_openat2'), "
                "which espia does not run (supported: tracepoint, tp, raw_tracepoint, raw_tp, "
                "cgroup_skb/ingress, cgroup_skb/egress)"
            ],
        ),
        (
            _source(
                extra="""
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1 << 24);
         __type(key, __u64); __type(value, __u64); } huge SEC(".maps");
"""
            ),
            1,
            ["espia: read bad.bpf.o: map huge would take 268435456 bytes (at most 67108864)"],
        ),
        (
            _source(extra="const volatile bool timeout = 0;\nGADGET_PARAM(timeout);\n"),
            2,
            [
                "espia: run {path}: a parameter's flag is one of espia's own (--timeout): "
                "rename the parameter"
            ],
        ),
        (_source(body="this does not compile"), 1, ["espia: compile {path}:"]),
    ],
    ids=["verifier", "kprobe", "huge map", "flag clash", "compile error"],
)
def test_a_bad_gadget_is_refused_in_one_message(tmp_path, source, code, lines):
    path = tmp_path / "bad.bpf.c"
    path.write_text(source)
    done = _espia("run", str(path), "-t", "1")
    assert done.returncode == code, done.stderr
    err = [line for line in done.stderr.splitlines() if "warning:" not in line]
    for expected, got in zip(lines, err, strict=False):
        assert got.startswith(expected.format(path=path)), done.stderr
    if code == 1 and "compile" not in lines[0]:
        assert len(err) <= 3, done.stderr
    assert _left_behind() == []
    assert done.stdout == ""


def test_a_refused_loads_verifier_message_is_its_own_while_another_thread_opens(
    tmp_path, monkeypatch
):
    """A gadget's object loads in one thread while the container tracker's opens and
    loads in another (espia.engine.background), and each begins by emptying libbpf's
    messages.  When they were shared, the tracker opening between the verifier's print
    and the refused load's reading of it left only "failed to load object" (1 run in
    10 on a busy machine).  Here the other thread opens an object at that very moment."""
    source = tmp_path / "bad.bpf.c"
    source.write_text(_source(body="e->x = 1; /* no NULL check */"))
    built = compile_program(source, tmp_path / "bad.bpf.o", vmlinux_dir())
    real = _libbpf.lib()

    class OpenedMeanwhile:
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def bpf_object__load(self, handle: object) -> int:
            err = real.bpf_object__load(handle)
            opener = threading.Thread(
                target=lambda: BpfObject.open(TRACKER_DIR / "program.bpf.o", trusted=True).close()
            )
            opener.start()
            opener.join()
            return int(err)

    monkeypatch.setattr(_libbpf, "lib", OpenedMeanwhile)
    with BpfObject.open(built) as obj, pytest.raises(LoadError) as refused:
        obj.load()
    assert str(refused.value).splitlines()[0] == (
        "load bad.bpf.o: the verifier refused program run_bad_enter: R6 invalid mem access 'scalar'"
    )
    assert _left_behind() == []


def _left_behind() -> list[str]:
    """The test gadget's program and maps still in the kernel (their names are its own)."""
    found = []
    for kind, names in (("prog", {"run_bad_enter"}), ("map", {"bad.rodata", "bad.bss", "huge"})):
        listing = json.loads(
            subprocess.run(
                ["bpftool", "-j", kind, "show"], capture_output=True, text=True, check=True
            ).stdout
        )
        found += [f"{kind} {o['name']}" for o in listing if o.get("name") in names]
    return found


def test_a_keyword_member_name_is_refused_before_code_is_generated(tmp_path):
    path = tmp_path / "bad.bpf.c"
    path.write_text(_source(head=GOOD_HEAD.replace("__u32 x;", "__u32 x; __u32 lambda;")))
    done = _espia("run", str(path), "-t", "1")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "espia: read bad.bpf.o: member 'lambda' of struct event is not a plain identifier "
        "(ASCII letters, digits and _, not a Python keyword)"
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.bpf.c", "no such file or folder"),
        ("notes.txt", "expected a .bpf.c or .bpf.o file, or a gadget folder"),
        ("", "the folder has neither program.bpf.c nor program.bpf.o"),
    ],
    ids=["missing", "not a gadget file", "empty folder"],
)
def test_a_path_that_is_no_gadget_is_a_usage_error(tmp_path, name, message):
    path = tmp_path / name
    if name == "notes.txt":
        path.write_text("")
    done = _espia("run", str(path))
    assert (done.returncode, done.stderr) == (2, f"espia: run {path}: {message}\n")


def test_a_bad_parameter_value_is_a_usage_error(guide_gadget):
    done = _espia("run", str(guide_gadget), "--failed-only=perhaps", "-t", "1")
    assert (done.returncode, done.stderr) == (
        2,
        "espia: parameter failed_only: 'perhaps' is not true or false\n",
    )
