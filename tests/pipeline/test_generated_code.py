"""Generated code: names from BTF are checked before any source is made from them, and
every generated function is named after its gadget and stage."""

from __future__ import annotations

import linecache
import traceback

import pytest
from support.workloads import ROOT

from espia.ebpf.btf import Kind
from espia.ebpf.compile import compile_program
from espia.ebpf.object import BpfObject
from espia.engine.tracer import RingBufferTracer
from espia.errors import LoadError
from espia.gadget.registry import builtin
from espia.gadget.spec import GadgetSpec
from espia.pipeline.filter import compile_filter

PROGRAM = """#include <espia/gadget.bpf.h>
struct event {{ gadget_pid pid; __u32 {member}; }};
GADGET_TRACER_MAP(events);
GADGET_TRACER(mine, events, event);
char LICENSE[] SEC("license") = "GPL";
"""


def gadget(folder, member: str) -> GadgetSpec:
    """A gadget folder whose event struct has a member called `member`, built."""
    folder.mkdir(exist_ok=True)
    (folder / "gadget.yaml").write_text("name: mine\ncategory: trace\n")
    source = folder / "program.bpf.c"
    source.write_text(PROGRAM.format(member=member))
    compile_program(source, folder / "program.bpf.o", ROOT / "build")
    return GadgetSpec.from_folder(folder)


def member_names(spec: GadgetSpec) -> list[str]:
    with BpfObject.open(spec.object_path) as obj:
        struct = obj.btf.find("event", Kind.STRUCT)
        return [name for name, _, _ in obj.btf.members(struct)]


def prepare(spec: GadgetSpec) -> None:
    tracer = RingBufferTracer(spec)
    try:
        tracer.prepare()
    finally:
        tracer.close()


def test_a_member_named_like_a_python_keyword_is_refused(tmp_path):
    spec = gadget(tmp_path / "mine", "from")  # fine in C, a syntax error as e.from
    with pytest.raises(LoadError) as caught:
        prepare(spec)
    assert str(caught.value) == (
        f"read {spec.object_path}: member 'from' of struct event is not a plain identifier "
        "(ASCII letters, digits and _, not a Python keyword)"
    )


def test_a_member_taking_an_events_own_attribute_is_refused(tmp_path):
    spec = gadget(tmp_path / "mine", "container")
    with pytest.raises(LoadError, match="'container' of struct event takes the name of an"):
        prepare(spec)


def test_a_crafted_member_name_runs_no_code(tmp_path):
    """clang emits only C identifiers, so the object's BTF string is patched in place, as
    whoever ships a crafted object would."""
    proof = tmp_path / "code-ran"
    hostile = f'x = open("{proof}", "w").close() #'
    placeholder = "p" * (len(hostile) + 8)
    spec = gadget(tmp_path / "mine", placeholder)
    raw = spec.object_path.read_bytes()
    needle = b"\0" + placeholder.encode() + b"\0"
    assert needle in raw
    crafted = hostile.ljust(len(placeholder), "#")
    spec.object_path.write_bytes(raw.replace(needle, b"\0" + crafted.encode() + b"\0"))
    assert member_names(spec) == ["pid", crafted]  # libbpf reads it as it is

    with pytest.raises(LoadError) as caught:
        prepare(spec)
    assert str(caught.value) == (
        f"read {spec.object_path}: member {crafted!r} of struct event is not a plain "
        "identifier (ASCII letters, digits and _, not a Python keyword)"
    )
    assert not proof.exists()


def test_each_generated_function_is_named_after_its_gadget_and_stage():
    run = RingBufferTracer(builtin("trace", "open"))
    try:
        schema = run.prepare()
        decode, keep = run._decode, compile_filter("comm:cat", schema).predicate
        assert decode.__code__.co_filename.startswith("<espia:trace open decode")
        assert keep.__code__.co_filename.startswith("<espia:trace open filter")
        # The source is in linecache: a traceback through it shows the generated line.
        lines = linecache.getlines(keep.__code__.co_filename)
        assert lines == ["def keep(e):\n", "    return (e.comm == _value0)\n"]
        with pytest.raises(AttributeError) as caught:
            keep(object())
        frame = traceback.extract_tb(caught.value.__traceback__)[-1]
        assert frame.filename == keep.__code__.co_filename
        assert frame.line == "return (e.comm == _value0)"
    finally:
        run.close()


def test_a_second_run_of_one_gadget_gets_its_own_file_name():
    names = []
    for text in ("comm:cat", "comm:dog"):
        run = RingBufferTracer(builtin("trace", "open"))
        try:
            predicate = compile_filter(text, run.prepare()).predicate
            assert predicate is not None
            names.append(predicate.__code__.co_filename)
        finally:
            run.close()
    assert names[0] != names[1]
    assert "'dog'" not in "".join(linecache.getlines(names[0]))
    assert all(name.startswith("<espia:trace open filter") for name in names)


def test_a_promised_kernel_filter_must_be_applied_by_the_program(tmp_path):
    """gadget_pid promises `-F pid:N` in the kernel: a program that never calls
    gadget_should_discard_current() is refused (one that does, as in test_decode.py, loads)."""
    spec = gadget(tmp_path / "mine", "count")
    with pytest.raises(LoadError) as caught:
        prepare(spec)
    assert str(caught.value) == (
        f"read {spec.object_path}: field 'pid' promises an in-kernel pid filter, but no "
        "program reads gadget_filter_pid: call gadget_should_discard_current() (or "
        "gadget_should_discard_task(); espia/filter.bpf.h), or gadget_netns_dropped() for "
        "netns (espia/net.bpf.h)"
    )
