"""The types of files and programs: open flags, modes, paths, argument lists.

A string the kernel had to cut short comes with a ``gadget_truncated``
member named after it (``args`` and ``args_truncated``): a type whose
decoder takes ``truncation`` is then handed that flag, and shows the cut
with :data:`TRUNCATED_MARKER`; the flag stays a field of its own too.
"""

from __future__ import annotations

import shlex
import stat
import sys

from espia.gadget.fields import ValueKind, memoized
from espia.semantic import SemanticType, register

TRUNCATED_MARKER = " [...]"
TRUNCATED_SUFFIX = "_truncated"
# Where a path walked up from its leaf was cut: it no longer starts at the root.
CUT_PATH_MARKER = "[...]/"
# Before the path of a file deleted while it was open (a path starts with "/" or "[").
DELETED_MARKER = "(deleted) "

_ACCESS = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR", 3: "O_ACCMODE"}
# Bits of asm-generic/fcntl.h (x86 and arm64 agree on these); the names a user
# writes come first: O_SYNC is __O_SYNC|O_DSYNC, O_TMPFILE __O_TMPFILE|O_DIRECTORY.
_OPEN_BITS = (
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o4010000, "O_SYNC"),
    (0o10000, "O_DSYNC"),
    (0o20000, "O_ASYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o20200000, "O_TMPFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o4000000, "__O_SYNC"),
    (0o10000000, "O_PATH"),
    (0o20000000, "__O_TMPFILE"),
)


def open_flags(value: int) -> str:
    """ "O_WRONLY|O_CREAT|O_TRUNC" for 0o1101: access mode first, then flags in bit order."""
    names = [_ACCESS[value & 3]]
    rest = value & ~3
    for bits, name in _OPEN_BITS:
        if rest & bits == bits:
            names.append(name)
            rest &= ~bits
    if rest:
        names.append(hex(rest))
    return "|".join(names)


def file_mode(value: int) -> str:
    """ "0644", "0000" (with the type, "-rw-r--r--", where the mode carries one)."""
    if stat.S_IFMT(value):
        return stat.filemode(value)
    return f"{value & 0o7777:04o}"


def quote_args(args: list[str]) -> str:
    """Shell-quoted arguments: `sh -c 'echo hi'`, so that spaces stay readable."""
    return " ".join(shlex.quote(a) for a in args)


def split_args(text: str) -> list[str]:
    """The arguments of a `quote_args` text (its cut marker left out: the `_truncated`
    field says it); the marker cannot be an argument, which would be quoted."""
    return shlex.split(text.removesuffix(TRUNCATED_MARKER))


def string_list(raw: bytes, truncated: bool = False) -> str:
    """NUL-separated strings (an argv) shell-quoted; a marker if it was cut short."""
    parts = raw.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    text = quote_args([p.decode("utf-8", "surrogateescape") for p in parts])
    return text + TRUNCATED_MARKER if truncated else text


_PSEUDO_NUMBERED = {ord("S"): "socket", ord("P"): "pipe"}


def _pseudo_name(raw: bytes) -> str:
    """The name of a file without a path, from path.bpf.h's kind byte and what follows."""
    kind = _PSEUDO_NUMBERED.get(raw[0]) if raw else None
    if kind is not None:
        inode = int.from_bytes(raw[1:9].ljust(8, b"\0"), sys.byteorder)  # the kernel's order
        return f"{kind}:[{inode}]"
    name = raw[1:].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    return "anon_inode:" + name if raw[:1] == b"A" else name


def path_components(raw: bytes, truncated: bool = False) -> str:
    """Components leaf first, as the kernel walked them, then an empty one -> "/a/b/c".

    b"c\\0b\\0a\\0\\0" is "/a/b/c"; what follows the empty component is stale.
    b"\\0/" is the root; all NUL is no path at all (""); a cut path is "[...]/b/c".
    b"\\0:S" and an inode number (8 bytes) is a file that has no path, named as the
    kernel names it in /proc/PID/fd: "socket:[12]" (P: "pipe:[12]"; A and a name:
    "anon_inode:NAME"; N and a name: the name as it is; path.bpf.h). A first component "/"
    (no name can be that) marks a file deleted while open: "(deleted) /a/b/c", which no
    path nor pseudo name starts with, where /proc's " (deleted)" suffix could be a name's.
    """
    if raw.startswith(b"\0\0") or not raw:
        return ""
    if raw.startswith(b"\0:"):
        return _pseudo_name(raw[2:])
    used = raw.split(b"\0\0", 1)[0] if not raw.startswith(b"\0") else b""
    parts = [p.decode("utf-8", "surrogateescape") for p in used.split(b"\0") if p]
    deleted = bool(parts) and parts[0] == "/"
    if deleted:
        parts.pop(0)
    path = (CUT_PATH_MARKER if truncated else "/") + "/".join(reversed(parts))
    return DELETED_MARKER + path if deleted else path


register(
    "gadget_file_flags",
    SemanticType(
        ValueKind.INT,
        render=memoized(open_flags),
        json_text=True,
        hidden=True,
        width=24,
        parse=str.upper,
    ),
)
register(
    "gadget_file_mode",
    SemanticType(ValueKind.INT, render=memoized(file_mode), json_text=True, hidden=True, width=6),
)
register(
    "gadget_string_list",
    SemanticType(
        ValueKind.STR,
        decode=string_list,
        truncation=True,
        untrusted=True,
        wide=True,
        # <name>_list: the same arguments as a JSON list, for scripts.
        companion=("_list", str, None, split_args),
    ),
)
register(
    "gadget_path_components",
    SemanticType(
        ValueKind.STR,
        decode=path_components,
        truncation=True,
        untrusted=True,
        width=24,
        wide=True,
    ),
)
register("gadget_truncated", SemanticType(ValueKind.BOOL, decode=bool, hidden=True, width=5))
