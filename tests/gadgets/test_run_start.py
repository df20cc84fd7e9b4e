"""What `espia run` does before its gadget runs: a parser of its own command only, and an
image's object read where it lies in the store, checked once."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
from support.guide import write_guide_gadget
from support.workloads import unique

import espia
from espia.cli import parser as cli_parser
from espia.errors import ImageError
from espia.gadget.spec import GadgetSpec
from espia.images.gadget import build_image, open_image
from espia.images.store import Reference, Store


def test_run_builds_its_own_command_only(monkeypatch: pytest.MonkeyPatch):
    def refuse(*args: object) -> None:
        raise AssertionError("the catalog or a gadget.yaml was read")

    monkeypatch.setattr(cli_parser, "catalog", refuse)
    monkeypatch.setattr(GadgetSpec, "from_folder", refuse)
    built = cli_parser.build_parser(["run", "x.bpf.c", "-o", "json"])
    (commands,) = [a for a in built._actions if a.dest == "command"]
    assert list(commands.choices) == ["run"]  # type: ignore[union-attr]
    args = built.parse_args(["run", "x.bpf.c", "-o", "json"])
    assert (args.command, args.path, args.flags) == ("run", "x.bpf.c", ["-o", "json"])


def test_run_imports_no_other_commands_module():
    probe = (
        "import sys; from espia.cli.parser import build_parser; "
        "build_parser(['run', 'x.bpf.c']); "
        "print(sorted(m for m in ('yaml', 'espia.cli.metrics', 'espia.cli.diagnose', "
        "'espia.agent.metrics', 'espia.cli.completion') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout == "[]\n"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    folder = write_guide_gadget(tmp_path / "mkdir")
    store = Store(tmp_path / "store")
    build_image(folder, Reference.parse("mkdir:v1"), store)
    return store


def _blob(store: Store, ref: Reference, media: str) -> Path:
    _, manifest, _ = store.manifest(ref)
    (layer,) = [layer for layer in manifest["layers"] if layer["mediaType"].startswith(media)]
    return store.root / "blobs" / "sha256" / layer["digest"].removeprefix("sha256:")


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_an_images_object_is_its_checked_blob_held_open(store: Store):
    ref = Reference.parse("mkdir:v1")
    blob = _blob(store, ref, "application/vnd.espia.gadget.object")
    original = blob.read_bytes()
    before = _fds()
    with ExitStack() as stack:
        spec = open_image(ref, store, stack)
        assert spec.built is not None and spec.built.name == "mkdir.bpf.o"
        assert spec.built.is_symlink()  # not a copy
        assert os.path.samefile(spec.built, blob)
        assert (spec.folder / "gadget.yaml").is_symlink()
        assert spec.description == "Directories made, or refused, with their path and errno"
        # A blob renamed over after the check is not what is read: the checked file is.
        other = blob.with_name("other")
        other.write_bytes(b"not the object")
        os.replace(other, blob)
        assert spec.built.read_bytes() == original
        work = spec.folder
    assert not work.exists() and _fds() == before


def test_an_images_corrupt_object_is_refused_and_nothing_stays_open(store: Store):
    ref = Reference.parse("mkdir:v1")
    blob = _blob(store, ref, "application/vnd.espia.gadget.object")
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    before = _fds()
    with pytest.raises(ImageError, match=r"blob sha256:[0-9a-f]{64} is corrupt"), ExitStack() as s:
        open_image(ref, store, s)
    assert _fds() == before


def test_an_image_from_its_blob_runs(store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("ESPIA_IMAGE_STORE", str(store.root))
    monkeypatch.chdir(tmp_path)  # no file called mkdir:v1 here
    tag = unique("/nonexistent/blob")
    with espia.run("mkdir:v1", filter=f"path:{tag}") as trace:
        with contextlib.suppress(OSError):
            os.mkdir(tag, 0o751)
        trace.stop()
        assert [(e.path, e.err, e.mode, e.pid) for e in trace] == [
            (tag, errno.ENOENT, 0o751, os.getpid())
        ]


@pytest.mark.parametrize("flag", ["--compile-cache", "--store"])
def test_a_flag_read_before_the_gadget_opens_is_checked_in_one_line(tmp_path, flag):
    source = write_guide_gadget(tmp_path / "mkdir") / "program.bpf.c"
    done = subprocess.run(
        [sys.executable, "-m", "espia.cli.main", "run", str(source), flag],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"espia: argument {flag}: expected one argument (see `espia run {source} --help`)\n"
    )
