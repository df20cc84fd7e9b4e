"""Decode: ring-buffer records to Event objects, with a decoder made from BTF.

The decoder is one generated function per gadget: a single
``struct.unpack_from`` for the fixed members, then the string conversions
the semantic types ask for.  A trailing char array may be cut short by the
program (``gadget_output`` sends only the used length), so it is read from
the record's actual length, not the struct's size.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from espia._codegen import access, compile_function
from espia.containers.model import NO_CONTAINER
from espia.ebpf.btf import Leaf, Scalar
from espia.errors import EspiaError
from espia.gadget.event import Event
from espia.gadget.fields import SEMANTIC_TYPES, Memo, ValueKind, quote_args
from espia.gadget.schema import EventSchema, attribute, semantic_typedef

_UNSIGNED = {1: "B", 2: "H", 4: "I", 8: "Q"}
_SIGNED = {1: "b", 2: "h", 4: "i", 8: "q"}
_STRING_TAILS = {Scalar.CHARS}
TRUNCATED_MARKER = " [...]"


def cstring(raw: bytes) -> str:
    """A NUL-terminated C string; bytes that are not UTF-8 are kept as \\xNN."""
    return raw.partition(b"\0")[0].decode("utf-8", "backslashreplace")


def string_list(raw: bytes, truncated: bool = False) -> str:
    """NUL-separated strings (an argv) shell-quoted; a marker if it was cut short."""
    parts = raw.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    text = quote_args([p.decode("utf-8", "backslashreplace") for p in parts])
    return text + TRUNCATED_MARKER if truncated else text


def path_components(raw: bytes) -> str:
    """Components leaf first, as the kernel walked them, then an empty one -> "/a/b/c".

    b"c\\0b\\0a\\0\\0" is "/a/b/c"; what follows the empty component is stale.
    """
    used = raw.split(b"\0\0", 1)[0] if not raw.startswith(b"\0") else b""
    parts = [p.decode("utf-8", "backslashreplace") for p in used.split(b"\0") if p]
    return "/" + "/".join(reversed(parts))


def _code(leaf: Leaf) -> str:
    if leaf.scalar in (Scalar.CHARS, Scalar.BYTES):
        return f"{leaf.size}s"
    if leaf.scalar is Scalar.BOOL:
        return "?" if leaf.size == 1 else _UNSIGNED[leaf.size]
    if leaf.scalar is Scalar.SINT:
        return _SIGNED[leaf.size]
    return _UNSIGNED[leaf.size]


def _converter(leaf: Leaf, kind: ValueKind) -> str:
    """The function the raw unpacked value of `leaf` goes through, by name."""
    typedef = semantic_typedef(leaf)
    if typedef and SEMANTIC_TYPES[typedef].decode:
        return f"_{typedef}"
    if "gadget_string_list" in leaf.typedefs:
        return "_string_list"
    if "gadget_path_components" in leaf.typedefs:
        return "_path"
    if "gadget_comm" in leaf.typedefs:
        return "_comms[]"
    if leaf.scalar is Scalar.CHARS:
        return "_strings[]"
    if leaf.scalar is Scalar.BOOL or kind is ValueKind.BOOL:
        return "bool"
    if leaf.scalar is Scalar.BYTES:
        return "bytes.hex"
    return ""


def _call(function: str, args: str) -> str:
    """`function(args)`; a table ("name[]") is subscripted instead: a dict lookup, no call."""
    if function.endswith("[]"):
        return f"{function[:-2]}[{args}]"
    return f"{function}({args})" if function else args


def make_decoder(schema: EventSchema) -> Callable[[Any, int, int], Event]:
    """A function (buffer, offset, length) -> Event for `schema`'s records."""
    leaves = list(schema.leaves)
    tail: Leaf | None = None
    if leaves and leaves[-1].scalar in _STRING_TAILS:
        tail = leaves.pop()
    fmt = ["<"]
    position = 0
    for leaf in leaves:
        if leaf.offset < position:
            raise EspiaError(f"decode {schema.spec.title}: overlapping member {leaf.name}")
        fmt.append("x" * (leaf.offset - position))
        fmt.append(_code(leaf))
        position = leaf.offset + leaf.size
    fixed = struct.Struct("".join(fmt))

    truncation = {
        leaf.name.removesuffix("_truncated"): i
        for i, leaf in enumerate(leaves)
        if "gadget_truncated" in leaf.typedefs
    }
    kinds = {field.name: field.kind for field in schema.fields}
    lines = ["def decode(buf, off, length):"]
    lines.append("    v = _unpack(buf, off)" if leaves else "    v = ()")
    lines.append("    e = _new(_Event)")
    for i, leaf in enumerate(leaves):
        convert = _converter(leaf, kinds.get(leaf.name, ValueKind.STR))
        value = f"v[{i}]"
        if convert == "_string_list" and leaf.name in truncation:
            value = f"v[{i}], v[{truncation[leaf.name]}]"
        lines.append(f"    {access((attribute(leaf.name),))} = {_call(convert, value)}")
    if tail is not None:
        convert = _converter(tail, kinds.get(tail.name, ValueKind.STR))
        value = f"buf[off + {tail.offset}:off + length]"
        if convert == "_string_list" and tail.name in truncation:
            value += f", v[{truncation[tail.name]}]"
        lines.append(f"    {access((attribute(tail.name),))} = {_call(convert, value)}")
    lines.append("    e.container = _NO_CONTAINER")
    lines.append("    return e")
    return compile_function(
        "decode",
        "\n".join(lines) + "\n",
        {
            "_unpack": fixed.unpack_from,
            "_new": object.__new__,
            "_Event": schema.event_class,
            # Comms and paths repeat: each is decoded once (a bounded table).
            "_comms": Memo(cstring),
            "_strings": Memo(cstring),
            "_string_list": string_list,
            "_path": path_components,
            "_NO_CONTAINER": NO_CONTAINER,
            **{f"_{name}": t.decode for name, t in SEMANTIC_TYPES.items() if t.decode},
        },
        label=f"{schema.spec.title} decode",
    )
