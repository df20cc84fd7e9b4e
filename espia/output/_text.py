"""Helpers shared by the text outputs."""

from __future__ import annotations


def escape_control(text: str) -> str:
    """Shows control characters as escapes (\\x1b, \\n...): traced strings are
    attacker-controlled and must not drive the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
