"""Semantic types: how values are shown, and how filter values are read for them."""

from __future__ import annotations

import os

import pytest
from support.schemas import event, schema

from espia import semantic
from espia.errors import UsageError
from espia.gadget.fields import ValueKind
from espia.pipeline.filter import compile_filter
from espia.semantic.dns import DnsMessage, parse_duration
from espia.semantic.files import file_mode, open_flags


def test_open_flags_use_the_names_a_user_writes():
    assert open_flags(os.O_WRONLY | os.O_CREAT | os.O_TRUNC) == "O_WRONLY|O_CREAT|O_TRUNC"
    assert open_flags(os.O_WRONLY | os.O_SYNC) == "O_WRONLY|O_SYNC"  # __O_SYNC|O_DSYNC
    assert open_flags(os.O_WRONLY | os.O_DSYNC) == "O_WRONLY|O_DSYNC"
    assert open_flags(os.O_RDWR | os.O_TMPFILE) == "O_RDWR|O_TMPFILE"  # with O_DIRECTORY
    assert open_flags(os.O_DIRECTORY) == "O_RDONLY|O_DIRECTORY"
    assert open_flags(0o4000000) == "O_RDONLY|__O_SYNC"
    assert open_flags(1 << 30) == "O_RDONLY|0x40000000"


def test_modes_have_four_digits():
    assert [file_mode(m) for m in (0, 0o640, 0o4755, 0o100644)] == [
        "0000",
        "0640",
        "4755",
        "-rw-r--r--",
    ]


def test_booleans_print_as_json_does():
    made = schema(cut="bool")
    field = made.field("cut")
    assert (field.text(True), field.text(False)) == ("true", "false")


def test_every_registered_type_has_one_meaning():
    assert semantic.lookup("gadget_errno").kind is ValueKind.INT
    assert "gadget_dns_message" in semantic.names()
    with pytest.raises(ValueError, match="registered twice"):
        semantic.register("gadget_pid", semantic.SemanticType(ValueKind.INT))


def dns_event(of, **fields):
    message = DnsMessage()
    for name, value in fields.items():
        setattr(message, name, value)
    return event(of, dns=message)


@pytest.fixture(scope="module")
def dns_schema():
    return schema(dns="gadget_dns_message", err="gadget_errno", flags="gadget_file_flags")


def kept(of, text, events):
    return compile_filter(text, of).apply(events)


def test_enumeration_values_in_any_case(dns_schema):
    a = dns_event(dns_schema, qtype="AAAA", rcode="NOERROR", qr="R")
    b = dns_event(dns_schema, qtype="A", rcode="NXDOMAIN", qr="R")
    c = dns_event(dns_schema, qtype="A", rcode="UNANSWERED", qr="Q")
    for e, err, flags in ((a, 2, 0o1), (b, 0, 0o2), (c, 13, 0o2)):
        e.err, e.flags = err, flags
    events = [a, b, c]
    assert kept(dns_schema, "qtype:aaaa", events) == [a]
    assert kept(dns_schema, "qtype:!aaaa", events) == [b, c]
    assert kept(dns_schema, "rcode:noerror", events) == [a]
    assert kept(dns_schema, "rcode:unanswered", events) == [c]
    assert kept(dns_schema, "qr:q", events) == [c]
    assert kept(dns_schema, "errname:enoent", events) == [a]
    assert kept(dns_schema, "flags:o_rdwr", events) == [b, c]
    assert kept(dns_schema, "qtype:~^A$", events) == [b, c]  # a regex is taken as written


def test_names_match_with_or_without_the_final_dot(dns_schema):
    a = dns_event(dns_schema, name="foo.test.")
    b = dns_event(dns_schema, name="bar.foo.test.")
    assert kept(dns_schema, "name:foo.test", [a, b]) == [a]
    assert kept(dns_schema, "name:foo.test.", [a, b]) == [a]
    assert kept(dns_schema, "name:!foo.test", [a, b]) == [b]


def test_latency_takes_units(dns_schema):
    fast = dns_event(dns_schema, latency=800_000)
    slow = dns_event(dns_schema, latency=12_000_000)
    events = [fast, slow]
    assert kept(dns_schema, "latency:>5ms", events) == [slow]
    assert kept(dns_schema, "latency:<=800us", events) == [fast]
    assert kept(dns_schema, "latency:>0.01s", events) == [slow]
    assert kept(dns_schema, "latency:800000", events) == [fast]  # nanoseconds, as in JSON
    assert kept(dns_schema, "latency:>1000000ns", events) == [slow]
    assert parse_duration("1.5s") == 1_500_000_000
    with pytest.raises(UsageError, match=r"filter 'latency:>5 parsecs': '5 parsecs' is not a"):
        compile_filter("latency:>5 parsecs", dns_schema)
