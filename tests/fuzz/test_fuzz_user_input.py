"""What a user types or writes: filters, label selectors, a gadget's gadget.yaml.

Each comes out as its value or as the documented error (UsageError for a
flag's syntax; for gadget.yaml an EspiaError, the one-line kind a user gets
for a gadget that does not read), never as another exception.  A filter
value also reaches generated code (the compiled predicate): whatever the
text, compiling must not fail in Python's compiler or run what it says.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support.fuzzing import CORPUS, texts

from espia.containers.selector import parse_labels
from espia.ebpf.object import BpfObject
from espia.engine.runtime import GadgetRef, LocalRuntime
from espia.engine.source import RunOptions
from espia.errors import EspiaError, UsageError
from espia.gadget.registry import BUILTIN_DIR
from espia.gadget.schema import build_schema
from espia.gadget.spec import GadgetSpec
from espia.pipeline.filter import compile_filter, parse_all


@pytest.fixture(scope="module")
def dns_schema():
    run = LocalRuntime().run(GadgetRef("trace", "dns"), RunOptions())
    yield run.event_schema
    run.close()


@given(text=texts("filter"))
def test_filters_compile_or_say_why(dns_schema, text: str) -> None:
    try:
        terms = parse_all(text)
        compiled = compile_filter(text, dns_schema)
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    assert len(terms) <= text.count(",") + 1
    assert compiled is not None


@given(text=texts("selector"), labels=st.dictionaries(st.text(max_size=8), st.text(max_size=8)))
def test_label_selectors_parse_or_say_why(text: str, labels: dict[str, str]) -> None:
    try:
        terms = parse_labels(text)
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    for term in terms:
        assert isinstance(term.holds(labels), bool)


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_REAL = [
    yaml.safe_load((CORPUS / "gadget_yaml" / name).read_text())
    for name in ("trace_dns.yaml", "trace_signal.yaml", "profile_cpu.yaml")
]


@st.composite
def _edited(draw: st.DrawFn) -> str:
    """A real gadget.yaml with some of its values, or the entries of its fields, params
    and options, replaced by anything YAML can hold."""
    data: dict[str, Any] = yaml.safe_load(yaml.safe_dump(draw(st.sampled_from(_REAL))))
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            keys = [*data, "source", "columns", "join", "params", "options", "sampler", "view"]
            data[draw(st.sampled_from(keys))] = draw(_VALUES)
        else:
            table = draw(st.sampled_from(["fields", "params", "options"]))
            if isinstance(data.get(table), dict) and data[table]:
                name = draw(st.sampled_from(sorted(data[table], key=str)))
                data[table][name] = draw(_VALUES)
    return yaml.safe_dump(data)


_YAML = st.one_of(_edited(), texts("gadget_yaml"), _VALUES.map(yaml.safe_dump))
_OBJECT = BUILTIN_DIR / "trace_dns" / "program.bpf.o"


@pytest.fixture(scope="module")
def dns_btf():
    obj = BpfObject.open(_OBJECT)
    yield obj.btf
    obj.close()


# Each example writes a folder and reads the object's BTF: half as many.
@settings(max_examples=max(settings.default.max_examples // 2, 1))
@given(text=_YAML)
# What the fuzzer found once the params and options of other gadgets were seeds.
@example(text="params: {signal: 5}")
@example(text="params: {signal: [1]}")
@example(text="options: {frequency: [x]}")
def test_gadget_yaml_reads_or_says_why(dns_btf, text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "fuzzed"
        folder.mkdir()
        (folder / "gadget.yaml").write_text(text, errors="surrogateescape")
        (folder / "program.bpf.o").symlink_to(_OBJECT)
        try:
            spec = GadgetSpec.from_folder(folder)
            if spec.data_source is None:
                build_schema(spec, dns_btf)
        except EspiaError as exc:
            assert "\n" not in str(exc).strip()
