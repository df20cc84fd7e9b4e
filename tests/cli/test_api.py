"""The Python API takes what the command line takes, and says clearly what it refuses."""

from __future__ import annotations

import pytest
from support.workloads import comm_name, run_python

import espia

OPENS = (
    "for name in ('a', 'b'):\n    try: open('/tmp/espia-api-' + name)\n    except OSError: pass\n"
)


def test_a_list_of_filters_is_repeated_terms_all_of_which_must_hold():
    comm = comm_name()
    with espia.trace("open", filter=[f"comm:{comm}", "path:~^/tmp/espia-api-", "path:!~b$"]) as t:
        run_python(comm, OPENS)
        t.stop()
        assert [e.path for e in t] == ["/tmp/espia-api-a"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": -1}, "timeout -1 is negative"),
        ({"timeout": float("nan")}, "timeout nan is not a number"),
        ({"buffer_size": "lots"}, "size 'lots' is not a size"),
        ({"buffer_size": "12K"}, "must be a power of two"),
        ({"filter": [3]}, "filter 3: expected a string"),
    ],
)
def test_bad_values_are_usage_errors(options, message):
    with pytest.raises(espia.UsageError, match=message):
        espia.trace("open", **options)


def test_a_buffer_size_can_be_written_as_on_the_command_line():
    comm = comm_name()
    with espia.trace("open", buffer_size="64K", filter=f"comm:{comm}") as trace:
        run_python(comm, OPENS)
        trace.stop()
        assert [e.path for e in trace][-2:] == ["/tmp/espia-api-a", "/tmp/espia-api-b"]


def test_a_trace_runs_once_and_says_so():
    trace = espia.trace("open", filter="comm:nothing-here")
    with trace:
        trace.stop()
        assert list(trace) == []
        with pytest.raises(espia.UsageError, match="has ended"):
            list(trace)
    closed = espia.trace("open", filter="comm:nothing-here")
    closed.close()
    with pytest.raises(espia.UsageError, match="has ended"):
        iter(closed)
