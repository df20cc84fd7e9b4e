"""`espia run x.bpf.c` through the compile cache: clang runs once per distinct input.

The gadget is the guide's (docs/writing-a-gadget.md) with one change: its
`mode` field is a constant from a header of its own folder, so which build
ran is seen in the events the kernel sends.  clang is reached through a
wrapper on PATH that logs its runs: C, a compile; H, espia/gadget.bpf.h
precompiled (beside the cache's second compile); P, a compile with it
precompiled.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.guide import guide_files
from support.workloads import unique

import espia
from espia.ebpf import compile_cache
from espia.ebpf.compile_cache import CompileCache, leads_with_prefix, parse_depfile
from espia.gadget.local import vmlinux_dir

COMPUTED_MODE = "e->mode = call == CALL_MKDIR ? args->a[1] : args->a[2];"


class Clang:
    """A clang on PATH that logs each run, then runs the real one."""

    def __init__(self, folder: Path) -> None:
        real = shutil.which("clang")
        assert real is not None
        folder.mkdir()
        self.log = folder / "runs"
        self.log.write_text("")
        wrapper = folder / "clang"
        wrapper.write_text(
            "#!/bin/sh\n"
            'case "$*" in *c-header*) k=H ;; *-include-pch*) k=P ;; *) k=C ;; esac\n'
            f'echo $k >> "{self.log}"\n'
            f'exec "{real}" "$@"\n'
        )
        wrapper.chmod(0o755)
        self.path = f"{folder}{os.pathsep}{os.environ['PATH']}"

    @property
    def runs(self) -> str:
        """The runs so far, sorted (a precompile runs beside a compile, in either order)."""
        return "".join(sorted(self.log.read_text().split()))


@pytest.fixture
def clang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Clang:
    wrapper = Clang(tmp_path / "bin")
    monkeypatch.setenv("PATH", wrapper.path)
    return wrapper


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("ESPIA_COMPILE_CACHE", str(root))
    return root


def marked_gadget(folder: Path, mode: int) -> Path:
    """The guide's program with `mode` set to MARK, from folder/mark.h."""
    text = guide_files()["program.bpf.c"]
    assert COMPUTED_MODE in text
    text = text.replace(COMPUTED_MODE, "e->mode = MARK;").replace(
        "#define PATH_LEN", '#include "mark.h"\n#define PATH_LEN'
    )
    folder.mkdir(exist_ok=True)
    source = folder / "mkdir.bpf.c"
    write(source, text)
    mark(folder / "mark.h", mode)
    return source


def write(path: Path, text: str) -> None:
    """Writes `path` dated a while ago: a file changed in the last instant may have
    changed while clang read it, so its build is not kept (compile_cache)."""
    path.write_text(text)
    old = path.stat().st_mtime - 10
    os.utime(path, (old, old))


def mark(header: Path, mode: int) -> None:
    write(header, f"#define MARK 0{mode:o}\n")


def mode_seen(source: Path) -> int:
    """The mode of the one event a failed mkdir makes, run through the Python API."""
    tag = unique("/nonexistent/cache")
    with espia.run(source, filter=f"path:{tag}") as trace:
        with contextlib.suppress(OSError):
            os.mkdir(tag)
        trace.stop()
        events = [(e.path, e.err, e.mode) for e in trace]
    assert len(events) == 1 and events[0][:2] == (tag, errno.ENOENT), events
    return events[0][2]


def objects(cache: Path, suffix: str = ".bpf.o") -> list[Path]:
    return sorted((cache / "objects").glob(f"*{suffix}"))


def test_a_second_run_reuses_the_object_and_a_changed_header_misses(
    tmp_path: Path, clang: Clang, cache: Path
):
    source = marked_gadget(tmp_path / "g", 0o751)
    assert (mode_seen(source), clang.runs) == (0o751, "C")
    assert (mode_seen(source), clang.runs) == (0o751, "C")  # from the cache
    (built,) = objects(cache)
    manifest = cache / "manifests" / f"{built.name.partition('-')[0]}.json"
    read = json.loads(manifest.read_text())
    assert str(tmp_path / "g" / "mark.h") in read
    assert str(vmlinux_dir() / "vmlinux.h") in read  # this kernel's BTF, through vmlinux.h
    assert any(h.endswith("/espia/gadget.bpf.h") for h in read)

    mark(tmp_path / "g" / "mark.h", 0o752)
    assert (mode_seen(source), clang.runs) == (0o752, "CCH")
    assert (mode_seen(source), clang.runs) == (0o752, "CCH")
    # Back to the first header: its object is still kept.
    mark(tmp_path / "g" / "mark.h", 0o751)
    assert (mode_seen(source), clang.runs) == (0o751, "CCH")
    assert len(objects(cache)) == 2

    # The source itself, changed (a comment): another object.
    write(source, source.read_text() + "/* changed */\n")
    assert (mode_seen(source), clang.runs) == (0o751, "CCHP")


def test_a_header_behind_a_link_pointed_elsewhere_misses(tmp_path: Path, clang: Clang, cache: Path):
    source = marked_gadget(tmp_path / "g", 0o751)
    header = tmp_path / "g" / "mark.h"
    for mode in (0o741, 0o742):
        mark(tmp_path / f"mark-{mode:o}.h", mode)
    header.unlink()
    header.symlink_to(tmp_path / "mark-741.h")
    assert (mode_seen(source), clang.runs) == (0o741, "C")
    header.unlink()
    header.symlink_to(tmp_path / "mark-742.h")
    assert (mode_seen(source), clang.runs) == (0o742, "CCH")


def _espia(clang: Clang, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "espia.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": clang.path},
    )


def test_no_compile_cache_and_a_folder_others_may_write_build_afresh(tmp_path: Path, clang: Clang):
    source = marked_gadget(tmp_path / "g", 0o751)
    mine = tmp_path / "mine"
    for _ in range(2):
        done = _espia(clang, "run", str(source), "--compile-cache", str(mine), "-t", "0.1")
        assert (done.returncode, done.stderr) == (0, "")
    assert (clang.runs, len(objects(mine))) == ("C", 1)

    done = _espia(
        clang, "run", str(source), "--compile-cache", str(mine), "--no-compile-cache", "-t", "0.1"
    )
    assert (done.returncode, done.stderr, clang.runs, len(objects(mine))) == (0, "", "CC", 1)

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    for runs in ("CCC", "CCCC"):
        done = _espia(clang, "run", str(source), "--compile-cache", str(shared), "-t", "0.1")
        assert done.returncode == 0, done.stderr
        assert done.stderr == (
            f"espia: warning: compile cache {shared}: writable by another user, so not used "
            "(code from it would be loaded as root); compiling without it\n"
        )
        assert clang.runs == runs
    assert list(shared.iterdir()) == []


def test_the_least_recently_used_objects_are_removed(
    tmp_path: Path, clang: Clang, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(compile_cache, "MAX_OBJECTS", 2)
    store = CompileCache(tmp_path / "cache")
    sources = {}
    for name in "abc":
        sources[name] = marked_gadget(tmp_path / name, 0o751)

    def build(name: str) -> str:
        store.build(sources[name], tmp_path / f"{name}.bpf.o", vmlinux_dir())
        return clang.runs

    assert [build("a"), build("b"), build("a")] == ["C", "CCH", "CCH"]
    # What a killed espia left in tmp/ goes once it is an hour old.
    abandoned, recent = tmp_path / "cache" / "tmp" / "old", tmp_path / "cache" / "tmp" / "new"
    abandoned.mkdir()
    (abandoned / "prefix.pch").write_bytes(b"partial")
    recent.write_bytes(b"partial")
    for made in (abandoned / "prefix.pch", abandoned):
        os.utime(made, (time.time() - 3700, time.time() - 3700))
    assert build("c") == "CCHP"  # b, the least recently used, goes
    assert list((tmp_path / "cache" / "tmp").iterdir()) == [recent]
    assert len(objects(tmp_path / "cache")) == 2
    assert [build("a"), build("c"), build("b")] == ["CCHP", "CCHP", "CCHPP"]


@pytest.mark.parametrize(
    "text, paths",
    [
        ("object: /a/x.bpf.c /a/b.h\n", ["/a/x.bpf.c", "/a/b.h"]),
        ("object: /a/x.bpf.c \\\n  /my\\ dir/b.h \\\n  /c/d$$e.h /f\\#g.h\n",
         ["/a/x.bpf.c", "/my dir/b.h", "/c/d$e.h", "/f#g.h"]),
        ("no rule here", []),
    ],
)  # fmt: skip
def test_a_depfile_is_read_as_make_reads_it(text: str, paths: list[str]):
    assert parse_depfile(text) == paths


def test_a_source_not_led_by_the_prefix_is_compiled_without_it(
    tmp_path: Path, clang: Clang, cache: Path
):
    source = marked_gadget(tmp_path / "g", 0o751)
    write(source, "#define UNRELATED 1\n" + source.read_text())
    assert (mode_seen(source), clang.runs) == (0o751, "C")
    mark(tmp_path / "g" / "mark.h", 0o752)
    assert (mode_seen(source), clang.runs) == (0o752, "CC")
    assert objects(cache, ".pch") == []


def test_a_prefix_clang_refuses_is_made_again(tmp_path: Path, clang: Clang):
    """clang refuses a precompiled header whose headers' times changed, the contents
    alike (vmlinux.h made again from the same kernel): it is made again."""
    headers = tmp_path / "vmlinux"
    headers.mkdir()
    shutil.copyfile(vmlinux_dir() / "vmlinux.h", headers / "vmlinux.h")
    write(headers / "vmlinux.h", (headers / "vmlinux.h").read_text())
    store = CompileCache(tmp_path / "cache")
    source = marked_gadget(tmp_path / "g", 0o751)
    for mode in (0o751, 0o752):
        mark(tmp_path / "g" / "mark.h", mode)
        store.build(source, tmp_path / f"{mode:o}.bpf.o", headers)
    assert clang.runs == "CCH"
    (prefix,) = objects(tmp_path / "cache", ".pch")
    old = (headers / "vmlinux.h").stat().st_mtime - 10
    os.utime(headers / "vmlinux.h", (old, old))
    mark(tmp_path / "g" / "mark.h", 0o753)
    store.build(source, tmp_path / "3.bpf.o", headers)
    assert clang.runs == "CCCHHP"  # refused, then compiled and precompiled again
    assert objects(tmp_path / "cache", ".pch") == [prefix]  # the same contents, the same key
    mark(tmp_path / "g" / "mark.h", 0o754)
    store.build(source, tmp_path / "4.bpf.o", headers)
    assert clang.runs == "CCCHHPP"  # the one made again is taken


@pytest.mark.parametrize(
    "text, leads",
    [
        (guide_files()["program.bpf.c"], True),
        ("  /* a */ // b\n\n#  include <espia/gadget.bpf.h>\n", True),
        ("#define X 1\n#include <espia/gadget.bpf.h>\n", False),
        ("// a line comment going on \\\n#include <espia/gadget.bpf.h>\n", False),
        ("#include <vmlinux.h>\n#include <espia/gadget.bpf.h>\n", False),
    ],
)
def test_only_a_source_whose_first_directive_includes_the_prefix_uses_it(text: str, leads: bool):
    assert leads_with_prefix(text.encode()) is leads
