"""The generated decoder on records made in the test: layout from a compiled object's BTF,
strings cut short by the kernel, the truncation flag, and what is not UTF-8."""

from __future__ import annotations

import struct

import pytest
from support.workloads import ROOT

from espia.ebpf.compile import compile_program
from espia.ebpf.object import BpfObject
from espia.gadget.schema import build_schema
from espia.gadget.spec import GadgetSpec
from espia.pipeline.decode import make_decoder
from espia.semantic.files import TRUNCATED_MARKER

PROGRAM = """#include <espia/gadget.bpf.h>
struct event {
	gadget_pid pid;
	gadget_errno err;
	gadget_comm comm[TASK_COMM_LEN];
	gadget_truncated args_truncated;
	bool flag;
	__u16 raw[2]; /* not chars: bytes */
	gadget_string_list args[64];
};
GADGET_TRACER_MAP(events);
GADGET_TRACER(made, events, event);
SEC("tracepoint/syscalls/sys_exit_openat")
int made(void *ctx) { return gadget_should_discard_current(); }
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def decoded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("made")
    (folder / "gadget.yaml").write_text("name: made\ncategory: trace\n")
    (folder / "program.bpf.c").write_text(PROGRAM)
    compile_program(folder / "program.bpf.c", folder / "program.bpf.o", ROOT / "build")
    spec = GadgetSpec.from_folder(folder)
    with BpfObject.open(spec.object_path) as obj:
        schema = build_schema(spec, obj.btf)
    return schema, make_decoder(schema)


def record(schema, args: bytes, truncated: int = 0, comm: bytes = b"cat") -> bytes:
    """The struct as the kernel lays it out, the tail (args) cut to what it used."""
    offsets = {leaf.name: leaf.offset for leaf in schema.leaves}
    head = bytearray(offsets["args"])
    struct.pack_into("<II", head, offsets["pid"], 42, 2)
    head[offsets["comm"] : offsets["comm"] + len(comm)] = comm
    head[offsets["args_truncated"]] = truncated
    head[offsets["flag"]] = 1
    head[offsets["raw"] : offsets["raw"] + 4] = b"\x01\xab\xff\x00"
    return bytes(head) + args


def test_members_and_a_tail_cut_to_its_length(decoded):
    schema, decode = decoded
    data = record(schema, b"sh\0-c\0echo hi\0")
    e = decode(data, 0, len(data))
    assert (e.pid, e.err, e.comm, e.flag, e.raw) == (42, 2, "cat", True, "01abff00")
    assert e.args == "sh -c 'echo hi'"
    assert e.args_truncated is False
    assert type(e).__name__ == "MadeEvent" and e.get("errname") == "ENOENT"


def test_a_record_inside_a_larger_buffer(decoded):
    schema, decode = decoded
    data = record(schema, b"ls\0")
    buffer = b"\xee" * 8 + data + b"stale\0after\0"
    assert decode(buffer, 8, len(data)).args == "ls"


def test_a_cut_list_ends_with_the_marker(decoded):
    schema, decode = decoded
    data = record(schema, b"a\0b\0", truncated=1)
    e = decode(data, 0, len(data))
    assert e.args == "a b" + TRUNCATED_MARKER and e.args_truncated is True


def test_bytes_that_are_not_utf8_are_kept_losslessly(decoded):
    schema, decode = decoded
    data = record(schema, b"caf\xe9\0", comm=b"c\xffx")
    e = decode(data, 0, len(data))
    # surrogateescape: each such byte is one code point U+DC80+byte, the bytes come back.
    assert (e.comm, e.args) == ("c\udcffx", "'caf\udce9'")
    assert e.comm.encode("utf-8", "surrogateescape") == b"c\xffx"


def test_an_empty_tail(decoded):
    schema, decode = decoded
    data = record(schema, b"")
    assert decode(data, 0, len(data)).args == ""
