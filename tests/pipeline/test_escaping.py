"""The escaping functions on their own: DNS names, columns text, JSON strings."""

from __future__ import annotations

import json
import struct

import dns.message
import dns.name
import pytest

from espia.output import _jsonfmt
from espia.output._text import escape_control
from espia.semantic.dns import parse


def query(labels: list[bytes]) -> bytes:
    wire = b"".join(bytes([len(label)]) + label for label in labels) + b"\0"
    return struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + wire + struct.pack("!HH", 1, 1)


@pytest.mark.parametrize(
    "labels",
    [
        [b"www", b"example", b"com"],
        [b"a.b", b"example"],  # one label with a dot, not two labels
        [b"a", b"b", b"example"],
        [b"back\\slash", b"test"],
        [b"dot.", b".", b"x"],
    ],
)
def test_dns_names_read_as_presentation_format(labels):
    name = parse(query(labels)).name
    # dnspython's presentation format is the reference (it also escapes \ and .).
    assert name == dns.name.Name([*labels, b""]).to_text()
    assert dns.name.from_text(name).labels == (*labels, b"")


def test_a_dot_in_a_label_does_not_read_as_two_labels():
    assert parse(query([b"a.b", b"test"])).name != parse(query([b"a", b"b", b"test"])).name


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain", "plain"),
        ("a\x1bb", "a\\x1bb"),
        ("a\\x1bb", "a\\\\x1bb"),
        ("new\nline", "new\\nline"),
        (b"c\xffd".decode("utf-8", "surrogateescape"), "c\\xffd"),
        ("c\\xffd", "c\\\\xffd"),
        ("é", "é"),
    ],
)
def test_columns_escape_is_unambiguous(text, shown):
    assert escape_control(text) == shown


@pytest.mark.parametrize(
    "raw", [b"plain", b"c\xffd", b"\x80\x81", "é".encode(), b"\\udcff", b"\x1b"]
)
def test_json_strings_round_trip_to_the_bytes(raw):
    string = _jsonfmt.Plan([(b"", _jsonfmt.STR, (), None)], b"")  # a string field's step
    quoted = string.render(raw.decode("utf-8", "surrogateescape")).decode()
    assert quoted.isascii() or "é" in quoted
    assert json.loads(quoted).encode("utf-8", "surrogateescape") == raw
    json.loads(quoted)  # valid JSON text, encodable as UTF-8
    quoted.encode("utf-8")
