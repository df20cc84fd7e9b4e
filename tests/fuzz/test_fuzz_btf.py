"""The BTF of a user's object: a gadget built elsewhere may carry anything there.

Each example corrupts bytes of the .BTF section of a real gadget object (its
type records and strings), then opens it and reads its event struct as
`espia run` would, in a forked child: a crash (libbpf or ctypes reading
where BTF points) or a hang (a cycle of typedefs, a struct that contains
itself) shows as the child's death or its time-out; anything but an
EspiaError raised is reported with its traceback.

The .BTF.ext section (each program's function and line records and its
CO-RE relocations) is read by libbpf alone, never by espia: libbpf checks
its layout when it opens the object and uses its records when it loads the
programs, so its examples are opened and loaded, in the kernel, as `espia
run` does.  A libbpf that crashed on one would take espia down; one that
refuses it gives a one-line error.
"""

from __future__ import annotations

import os
import select
import signal
import struct
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from espia.ebpf.btf_check import _extra
from espia.ebpf.object import BpfObject
from espia.errors import EspiaError
from espia.gadget.registry import BUILTIN_DIR
from espia.gadget.schema import build_schema
from espia.gadget.spec import GadgetSpec

GADGET = BUILTIN_DIR / "trace_dns"
ORIGINAL = (GADGET / "program.bpf.o").read_bytes()
HANG = 10.0  # seconds: reading a gadget's BTF takes milliseconds


def _section(data: bytes, wanted: str) -> tuple[int, int]:
    """(offset, size) of ELF section `wanted`."""
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names = headers[shstrndx]
    for header in headers:
        start = names[4] + header[0]
        if data[start : data.index(b"\0", start)].decode() == wanted:
            return header[4], header[5]
    raise AssertionError(f"no {wanted} section")


BTF_AT, BTF_SIZE = _section(ORIGINAL, ".BTF")
BTF_HEADER = 24  # magic, version, flags, hdr_len, type_off/len, str_off/len: kept, mostly


@st.composite
def corrupted(draw: st.DrawFn) -> bytes:
    data = bytearray(ORIGINAL)
    for _ in range(draw(st.integers(1, 6))):
        # Mostly the type records and strings; now and then the header's offsets too.
        start = 8 if draw(st.integers(0, 9)) == 0 else BTF_HEADER
        at = BTF_AT + draw(st.integers(start, BTF_SIZE - 4))
        if draw(st.booleans()):
            data[at] ^= 1 << draw(st.integers(0, 7))
        else:
            value = draw(st.sampled_from([0, 1, 2, 0x7F, 0x80, 0xFF, 0xFFFF, 0xFFFFFFFF]))
            data[at : at + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")
    return bytes(data)


def _read_schema(folder: Path) -> None:
    spec = GadgetSpec.from_folder(folder)
    with BpfObject.open(spec.object_path) as obj:
        build_schema(spec, obj.btf)


def _in_child(folder: Path, work: Callable[[Path], None] = _read_schema) -> tuple[str, str]:
    """("ok" | "error" | "raised" | "died" | "hung", detail) of `work(folder)` (reading
    the gadget in `folder`) in a child."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running the parent's cleanup
        os.close(read)
        code, detail = 0, b""
        try:
            work(folder)
        except EspiaError as exc:
            code, detail = 1, str(exc).encode(errors="replace")
        except BaseException:
            code, detail = 2, traceback.format_exc().encode(errors="replace")
        os.write(write, detail[:4000])
        os._exit(code)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], HANG)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "hung", ""
        detail = os.read(read, 4000).decode(errors="replace")
        deadline = time.monotonic() + HANG
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return "hung", detail
            time.sleep(0.001)
    finally:
        os.close(read)
    if os.WIFSIGNALED(status):
        return "died", signal.Signals(os.WTERMSIG(status)).name
    return ("ok", "error", "raised")[os.WEXITSTATUS(status)], detail


# Each example forks a child that opens an object: a quarter as many.
@settings(max_examples=max(settings.default.max_examples // 4, 1))
@given(data=corrupted())
def test_corrupted_btf_is_refused_in_one_line_or_read(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "user"
        folder.mkdir()
        (folder / "gadget.yaml").write_bytes((GADGET / "gadget.yaml").read_bytes())
        (folder / "program.bpf.o").write_bytes(data)
        outcome, detail = _in_child(folder)
    assert outcome in ("ok", "error"), f"{outcome}: {detail}"
    assert "\n" not in detail.strip()


def _first(kind: int, data: bytes) -> tuple[int, int]:
    """(file offset of the first record of `kind` with members or a target, its type id)."""
    _, _, _, hdr_len, type_off, _, _, _ = struct.unpack_from("<HBBIIIII", data, BTF_AT)
    at, type_id = BTF_AT + hdr_len + type_off, 1
    while True:
        _, info, _ = struct.unpack_from("<III", data, at)
        if (info >> 24) & 0x1F == kind and (kind != 4 or info & 0xFFFF):
            return at, type_id
        at += 12 + _extra((info >> 24) & 0x1F, info & 0xFFFF)
        type_id += 1


def _outcome(data: bytes) -> tuple[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "user"
        folder.mkdir()
        (folder / "gadget.yaml").write_bytes((GADGET / "gadget.yaml").read_bytes())
        (folder / "program.bpf.o").write_bytes(data)
        return _in_child(folder)


def test_member_of_a_type_that_does_not_exist_is_refused_not_a_crash() -> None:
    """What the fuzzer found: libbpf 1.1 dies (SIGSEGV) on a member's type id out of range."""
    data = bytearray(ORIGINAL)
    at, type_id = _first(4, data)  # a STRUCT: its first member's type, 16 bytes in
    data[at + 16 : at + 20] = (0xFFFFFF00).to_bytes(4, "little")
    outcome, detail = _outcome(bytes(data))
    assert outcome == "error", detail
    assert f"type {type_id} refers to type {0xFFFFFF00}" in detail


def test_typedef_of_itself_is_refused_not_a_hang() -> None:
    data = bytearray(ORIGINAL)
    at, type_id = _first(8, data)  # a TYPEDEF naming itself
    data[at + 8 : at + 12] = type_id.to_bytes(4, "little")
    outcome, detail = _outcome(bytes(data))
    assert outcome == "error", detail
    assert f"type {type_id} contains itself" in detail


EXT_GADGET = BUILTIN_DIR / "trace_capabilities"
EXT_ORIGINAL = (EXT_GADGET / "program.bpf.o").read_bytes()
EXT_AT, EXT_SIZE = _section(EXT_ORIGINAL, ".BTF.ext")
# hdr_len, then (offset, length) of the func_info, line_info and core_relo parts.
_EXT_HEADER = struct.unpack_from("<7I", EXT_ORIGINAL, EXT_AT + 4)
EXT_PARTS = [(0, _EXT_HEADER[0])] + [
    (_EXT_HEADER[0] + offset, length)
    for offset, length in zip(_EXT_HEADER[1::2], _EXT_HEADER[2::2], strict=True)
    if length
]


# An edit of the object: (offset in the file, a byte to XOR in) or (offset, a word to write).
Edit = tuple[int, str, int]


@st.composite
def ext_edits(draw: st.DrawFn) -> list[Edit]:
    """A few words of the .BTF.ext changed: each part (the header, the function
    records, the line records, the CO-RE relocations) as likely as the others,
    whatever its size.  Drawn as edits, not as the whole object, so that a failure
    prints what was changed."""
    edits = []
    for _ in range(draw(st.integers(1, 4))):
        offset, length = draw(st.sampled_from(EXT_PARTS))
        at = EXT_AT + offset + draw(st.integers(0, max(0, length - 4)))
        if draw(st.booleans()):
            edits.append((at, "xor", 1 << draw(st.integers(0, 7))))
        else:
            value = draw(st.sampled_from([0, 1, 2, 4, 8, 0x7F, 0x80, 0xFF, 0xFFFF, 0xFFFFFFFF]))
            edits.append((at, "word", value))
    return edits


def edited(edits: list[Edit]) -> bytes:
    data = bytearray(EXT_ORIGINAL)
    for at, how, value in edits:
        if how == "xor":
            data[at] ^= value
        else:
            data[at : at + 4] = value.to_bytes(4, "little")
    return bytes(data)


def _load(folder: Path) -> None:
    """What `espia run` asks of libbpf: open the user's object, then load it."""
    with BpfObject.open(folder / "program.bpf.o") as obj:
        obj.load()


# Loading runs the verifier, whose time follows the machine's load: the child's
# own time-out (HANG) is what tells a hang, not hypothesis's deadline.
@settings(max_examples=max(settings.default.max_examples // 4, 1), deadline=None)
@given(edits=ext_edits())
def test_corrupted_btf_ext_is_refused_in_one_line_or_loaded(edits: list[Edit]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "user"
        folder.mkdir()
        (folder / "program.bpf.o").write_bytes(edited(edits))
        outcome, detail = _in_child(folder, _load)
    assert outcome in ("ok", "error"), f"{outcome}: {detail}"
    assert "\n" not in detail.strip()


def test_the_original_btf_ext_loads() -> None:
    """The fuzzer's starting point is sound: its examples differ from it only where changed."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "user"
        folder.mkdir()
        (folder / "program.bpf.o").write_bytes(EXT_ORIGINAL)
        assert _in_child(folder, _load) == ("ok", "")
