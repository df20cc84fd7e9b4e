"""Helpers shared by the text outputs."""

from __future__ import annotations

# Bytes that were not UTF-8 reach the outputs as the lone surrogates U+DC80..U+DCFF
# ("surrogateescape", as Python does for file names): each stands for one byte.
_BYTE_ESCAPES = range(0xDC80, 0xDD00)


def _escaped(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if char.isprintable():
        return char
    if ord(char) in _BYTE_ESCAPES:
        return f"\\x{ord(char) - 0xDC00:02x}"
    return repr(char)[1:-1]


def escape_control(text: str) -> str:
    """Shows control characters as escapes (\\x1b, \\n...): traced strings are
    attacker-controlled and must not drive the terminal.  The backslash is escaped
    too (\\\\), so that an escape can never be confused with the same text typed
    out: an ESC byte shows as \\x1b, the four characters `\\x1b` as \\\\x1b.  A
    byte that was not UTF-8 shows as \\xNN, as an ESC does."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(map(_escaped, text))


def escape_frame(name: str) -> str:
    """A symbol name shown as one frame of a ``;``-joined stack: escaped as
    `escape_control` does, and ``;`` as ``\\x3b``, so that no name passes for two frames."""
    return escape_control(name).replace(";", "\\x3b")
