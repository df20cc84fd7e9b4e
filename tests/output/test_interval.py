"""The interval table and the histogram output, on injected rows and streams."""

from __future__ import annotations

import io
import json

import pytest
from support.schemas import event, schema

from espia.errors import UsageError
from espia.output import make_output
from espia.output.histogram import Histogram, HistogramOutput, bounds
from espia.output.interval import CLEAR, IntervalOutput


@pytest.fixture(scope="module")
def rows_schema():
    return schema(pid="gadget_pid", comm="gadget_comm", bytes="int", file="string")


def rows(of):
    return [
        event(of, pid=3, comm="c", bytes=10, file="/c"),
        event(of, pid=1, comm="a", bytes=30, file="/a"),
        event(of, pid=2, comm="b", bytes=30, file="/b\x1b[2J"),
        event(of, pid=4, comm="d", bytes=5, file="/d"),
    ]


def table(of, mode="columns", sort="-bytes,pid", max_rows=3, redraw=False):
    out, err = io.StringIO(), io.StringIO()
    inner = make_output(mode, of.fields, ["pid", "comm", "bytes", "file"], out, err, lists=True)
    output = IntervalOutput(inner, of.fields, sort, max_rows, redraw=redraw, clock=lambda: "T")
    return output, out, err


def test_piped_each_interval_is_a_block_under_its_timestamp(rows_schema):
    output, out, _ = table(rows_schema)
    output.begin()
    output.write(rows(rows_schema))
    output.write([])
    first, second, tail = out.getvalue().split("\n\n")
    assert first.splitlines() == [
        "T  3 of 4 rows",
        "    PID COMM                BYTES FILE",
        "      1 a                      30 /a",
        "      2 b                      30 /b\\x1b[2J",
        "      3 c                      10 /c",
    ]
    assert second.splitlines() == ["T", "    PID COMM                BYTES FILE"]
    assert tail == ""


def test_on_a_terminal_each_interval_redraws_the_screen(rows_schema):
    output, out, _ = table(rows_schema, redraw=True)
    output.write(rows(rows_schema))
    output.write(rows(rows_schema)[:1])
    text = out.getvalue()
    assert text.count(CLEAR) == 2 and text.startswith(CLEAR)
    assert text.split(CLEAR)[2].splitlines()[0] == "T"


def test_json_is_one_sorted_cut_list_per_interval(rows_schema):
    output, out, _ = table(rows_schema, mode="json", sort="bytes,-pid", max_rows=2)
    output.write(rows(rows_schema))
    output.write([])
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert [row["pid"] for row in first] == [4, 3]
    assert second == []


@pytest.mark.parametrize(
    "sort, message",
    [("nosuch", "unknown column 'nosuch'"), ("pid,,", "an empty column name")],
)
def test_bad_sort_is_a_usage_error(rows_schema, sort, message):
    with pytest.raises(UsageError, match=message):
        table(rows_schema, sort=sort)


def test_table_full_is_reported_as_such(rows_schema):
    output, _, err = table(rows_schema)
    output.lost(5, 12)
    assert "5 updates not counted" in err.getvalue() and "12 in all" in err.getvalue()


def test_histogram_buckets_bounds_bars_and_json():
    of = schema(major="int", minor="int", bucket="int", count="int")
    made = [
        event(of, major=7, minor=0, bucket=3, count=4),
        event(of, major=7, minor=0, bucket=1, count=2),
        event(of, major=8, minor=1, bucket=0, count=1),
    ]
    shape = Histogram("bucket", "count", "usecs")
    out, err = io.StringIO(), io.StringIO()
    text = HistogramOutput("columns", of.fields, ["major", "minor"], shape, out, err, lambda: "T")
    text.write(made)
    lines = out.getvalue().splitlines()
    at = lines.index("MAJOR 7 MINOR 0")
    assert lines[at + 1 : at + 6] == [
        "     usecs               : count    distribution",
        "         0 -> 1          : 0        |" + " " * 40 + "|",
        "         2 -> 3          : 2        |" + "*" * 20 + " " * 20 + "|",
        "         4 -> 7          : 0        |" + " " * 40 + "|",
        "         8 -> 15         : 4        |" + "*" * 40 + "|",
    ]
    out = io.StringIO()
    listed = HistogramOutput("json", of.fields, [], shape, out, err)
    listed.write(made)
    first, second = json.loads(out.getvalue())
    assert (first["major"], first["minor"], first["unit"]) == (7, 0, "usecs")
    assert first["buckets"] == [
        {"low": 0, "high": 1, "count": 0},
        {"low": 2, "high": 3, "count": 2},
        {"low": 4, "high": 7, "count": 0},
        {"low": 8, "high": 15, "count": 4},
    ]
    assert second["buckets"] == [{"low": 0, "high": 1, "count": 1}]
    assert [bounds(i) for i in range(3)] == [(0, 1), (2, 3), (4, 7)]
    with pytest.raises(UsageError, match="columns or json"):
        HistogramOutput("yaml", of.fields, [], shape, out, err)
