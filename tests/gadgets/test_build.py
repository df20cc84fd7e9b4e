"""Building a gadget: clang's own message when the C does not compile."""

from __future__ import annotations

import pytest
from support.workloads import ROOT

from espia.ebpf.btf import Kind
from espia.ebpf.compile import compile_program
from espia.ebpf.object import BpfObject
from espia.errors import BuildError


def test_a_compile_error_carries_the_compilers_message(tmp_path):
    source = tmp_path / "program.bpf.c"
    source.write_text("#include <espia/gadget.bpf.h>\nint broken( { return 0; }\n")
    with pytest.raises(BuildError) as caught:
        compile_program(source, tmp_path / "program.bpf.o", ROOT / "build")
    message = str(caught.value)
    assert message.startswith(f"compile {source}:")
    assert "program.bpf.c:2:" in message and "error:" in message


def test_a_good_program_builds_to_an_object_with_btf(tmp_path):
    source = tmp_path / "program.bpf.c"
    source.write_text(
        "#include <espia/gadget.bpf.h>\n"
        "struct event { gadget_pid pid; };\n"
        "GADGET_TRACER_MAP(events);\n"
        "GADGET_TRACER(mine, events, event);\n"
        'char LICENSE[] SEC("license") = "GPL";\n'
    )
    output = compile_program(source, tmp_path / "program.bpf.o", ROOT / "build")
    with BpfObject.open(output) as obj:
        assert "events" in obj.maps
        assert obj.btf.find("event", Kind.STRUCT) is not None
