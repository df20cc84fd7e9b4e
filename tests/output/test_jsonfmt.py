"""The C plan's JSON lines against the Python formatting they replaced (the oracle here).

The oracle is the former writer's per-field formatting: the json module's string
encoder with a non-UTF-8 byte (U+DC80+byte) written as its \\udcNN escape, %d for
ints, BootClock.quoted for timestamps.  Every line must be those exact bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from espia.gadget.fields import Field, ValueKind
from espia.output import _jsonfmt
from espia.output.json_writer import _plan
from espia.semantic.process import BootClock

_quote = json.encoder.encode_basestring  # type: ignore[attr-defined]
_byte_escapes = re.compile("[\udc80-\udcff]")


def oracle_text(text: str) -> str:
    """The former writer's _quote_text."""
    quoted = _quote(text)
    return _byte_escapes.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


@dataclass
class Box:
    """An event: attributes, nested as espia's events' container is."""

    pid: int = 0
    comm: str = ""
    ok: bool = False
    path: list[str] | None = None
    ts: int = 0
    inner: Any = None


CLOCK = BootClock()

FIELDS = (
    Field("pid", ("pid",), ValueKind.INT),
    Field("comm", ("comm",), ValueKind.STR),
    Field("ok", ("ok",), ValueKind.BOOL),
    Field("args", ("path",), ValueKind.STR, json_value=list),
    Field("timestamp", ("ts",), ValueKind.INT, json_render=CLOCK.quoted),
    Field("k.name", ("inner", "comm"), ValueKind.STR),
)


def oracle_line(e: Box) -> bytes:
    args = "[" + ",".join(map(oracle_text, e.path or [])) + "]"
    line = (
        f'{{"pid":{"%d" % e.pid},"comm":{oracle_text(e.comm)},'  # noqa: UP031 - the former writer's %d
        f'"ok":{"true" if e.ok else "false"},"args":{args},'
        f'"timestamp":{CLOCK.quoted(e.ts)},"k":{{"name":{oracle_text(e.inner.comm)}}}}}\n'
    )
    return line.encode()


# What espia's strings can hold: any text, bytes that were not UTF-8 as U+DC80+byte.
hostile = st.one_of(
    st.text(),
    st.binary().map(lambda raw: raw.decode("utf-8", "surrogateescape")),
    st.text(alphabet=st.sampled_from('"\\\x00\x01\x1f\x7f\n\r\t\b\f/\u2028\udc80\udcff\xe9')),
)
ints = st.one_of(st.integers(), st.integers(min_value=-(2**70), max_value=2**70))
# Boot-clock times from before boot (negative) to centuries ahead, and beyond 64 bits.
stamps = st.one_of(st.integers(min_value=-(10**18), max_value=2**63 - 1), st.integers(0, 10**9))


@settings(max_examples=600, deadline=None)
@given(
    st.lists(
        st.builds(
            Box,
            pid=ints,
            comm=hostile,
            ok=st.booleans(),
            path=st.lists(hostile, max_size=4),
            ts=stamps,
            inner=st.builds(Box, comm=hostile),
        ),
        max_size=5,
    )
)
def test_lines_are_the_oracles_bytes(events):
    plan = _plan(FIELDS, "\n")
    assert plan.lines(events) == b"".join(map(oracle_line, events))
    for event in events:
        line = plan.render(event)
        assert line == oracle_line(event)
        decoded = json.loads(line)
        assert decoded["comm"] == event.comm  # lossless, surrogates included
        assert decoded["pid"] == event.pid


def test_timestamps_match_the_clock_across_seconds_and_out_of_order():
    plan = _plan(FIELDS[4:5], "")
    base = 1_000_000_000 * 86_400 * 365
    for ts in (base, base + 999_999_999, base + 1_000_000_000, base - 1, base, 0, -1, 5):
        assert plan.render(Box(ts=ts)) == f'{{"timestamp":{CLOCK.quoted(ts)}}}'.encode()


def test_two_clocks_in_one_plan_keep_their_own_seconds():
    """Each timestamp step remembers its own clock's last second (a shared one would
    write the second clock's times with the first's offset)."""
    later = BootClock()
    later.offset_ns = CLOCK.offset_ns + 3_600 * 10**9
    plan = _plan(
        (
            Field("a", ("ts",), ValueKind.INT, json_render=CLOCK.quoted),
            Field("b", ("ts",), ValueKind.INT, json_render=later.quoted),
        ),
        "",
    )
    for ts in (10**15, 10**15 + 1, 10**15 + 2 * 10**9):
        expected = f'{{"a":{CLOCK.quoted(ts)},"b":{later.quoted(ts)}}}'
        assert plan.render(Box(ts=ts)) == expected.encode()


def test_a_huge_timestamp_is_the_clocks_own_answer():
    """Beyond 64 bits the plan asks the clock: the same error as before (a year out of range)."""
    plan = _plan(FIELDS[4:5], "")
    try:
        expected: Any = CLOCK.quoted(2**80)
    except (OverflowError, ValueError, OSError) as exc:
        expected = type(exc)
    try:
        got: Any = plan.render(Box(ts=2**80))
    except (OverflowError, ValueError, OSError) as exc:
        got = type(exc)
    else:
        expected = f'{{"timestamp":{expected}}}'.encode()
    assert got == expected


def test_a_memo_and_a_renderer_write_their_text_and_errors_propagate():
    memo = {3: '"three"'}
    plan = _jsonfmt.Plan(
        [(b'{"n":', _jsonfmt.MEMO, ("pid",), memo), (b',"c":', _jsonfmt.CALL, ("comm",), len)],
        b"}",
    )
    try:
        plan.render(Box(pid=3, comm="ab"))
    except TypeError as exc:  # len gives an int, not JSON text
        assert "not str" in str(exc)
    else:
        raise AssertionError("an int from a renderer was written")
    ok = _jsonfmt.Plan([(b'{"n":', _jsonfmt.MEMO, ("pid",), memo)], b"}")
    assert ok.render(Box(pid=3)) == b'{"n":"three"}'
    try:
        ok.render(Box(pid=4))
    except KeyError:
        pass
    else:
        raise AssertionError("a missing memo entry was written")
    assert ok.lines([Box(pid=3)] * 3, b",") == b'{"n":"three"},{"n":"three"},{"n":"three"}'


def test_a_str_field_holding_bytes_is_an_error_not_a_crash():
    plan = _plan(FIELDS[1:2], "")
    try:
        plan.render(Box(comm=b"x"))  # type: ignore[arg-type]
    except TypeError as exc:
        assert "not str" in str(exc)
    else:
        raise AssertionError("bytes were written as a string")
