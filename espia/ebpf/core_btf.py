"""The part of the kernel's BTF that one object's CO-RE relocations need, made at build time.

Loading an object with CO-RE relocations makes libbpf parse the whole
kernel BTF (5.5 MB here): some 25-40 ms of CPU and 11 MB of memory for
each object, twice for a gadget and the container tracker loaded side by
side.  `make` writes, beside each shipped object, the few types it needs
(`bpftool gen min_core_btf`, a kilobyte or two), in a file named after
the digest of the kernel BTF it was cut from (its CRC-32 and size: this
tells one kernel build from another, nobody forges a kernel to fool it,
and zlib's CRC needs none of OpenSSL's 3 MB that hashlib would map); libbpf relocates against
that file instead (its open option btf_custom_path).

The file is used only when it is exactly right: its kernel BTF digest is
the running kernel's, it is newer than the object (an object rebuilt since
might need a type the file lacks, and a missing type would silently turn a
`bpf_core_field_exists` to false), and the object asks for no kernel type
id (`bpf_core_type_id_kernel`, for bpf_rdonly_cast: an id is the kernel
BTF's numbering, which a cut renumbers).  Anything else, a user's object
among them, is relocated against the whole kernel BTF as before.
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from functools import cache
from pathlib import Path

from espia.ebpf.elf import section
from espia.ebpf.features import VMLINUX_BTF
from espia.errors import LoadError

# The digest's hex digits: the CRC-32, then the size.
DIGEST_DIGITS = 16
_CHUNK = 1 << 20  # read in chunks: the whole BTF at once would add its 5.5 MB to the peak


@cache
def kernel_btf_digest() -> str | None:
    """The running kernel BTF's digest (DIGEST_DIGITS hex digits), or None where it
    cannot be read (no BTF: the load then says so)."""
    crc = total = 0
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    try:
        with VMLINUX_BTF.open("rb", buffering=0) as btf:
            while size := btf.readinto(buffer):
                crc = zlib.crc32(view[:size], crc)
                total += size
    except OSError:
        return None
    return f"{crc:08x}{total & 0xFFFFFFFF:08x}"


def core_btf_name(obj: Path, digest: str) -> Path:
    """Where `make` puts the BTF cut for `obj` from the kernel BTF of `digest`."""
    return obj.with_name(f"{obj.name.removesuffix('.o')}.core-{digest}.btf")


def core_btf_for(obj: Path) -> Path | None:
    """The BTF to relocate the shipped object `obj` against, if one was cut for it from
    this kernel's BTF since it was built and it can serve; None: the whole kernel BTF."""
    digest = kernel_btf_digest()
    if digest is None:
        return None
    path = core_btf_name(obj, digest)
    try:
        if os.stat(path).st_mtime_ns < os.stat(obj).st_mtime_ns:
            return None
        data = obj.read_bytes()
    except OSError:
        return None
    return None if asks_kernel_type_ids(data) else path


# linux/bpf.h: enum bpf_core_relo_kind
_TYPE_ID_TARGET = 7
_EXT_HEADER = struct.Struct("<HBBIIIIIII")  # struct btf_ext_header, with core_relo_off/len
_RECORD = struct.Struct("<IIII")  # struct bpf_core_relo: insn_off, type_id, access_str_off, kind


def asks_kernel_type_ids(data: bytes) -> bool:
    """Whether the ELF object `data` has a CO-RE relocation to a kernel BTF type id.

    Any doubt (no .BTF.ext, a layout this does not know) answers True: the
    whole kernel BTF is always right.
    """
    try:
        ext = section(data, ".BTF.ext")
    except LoadError:
        return True
    if ext is None or len(ext) < _EXT_HEADER.size:
        return True
    magic, _, _, header_len, *_, relo_off, relo_len = _EXT_HEADER.unpack_from(ext)
    if magic != 0xEB9F or header_len < _EXT_HEADER.size:
        return True
    if relo_len == 0:
        return False
    start = header_len + relo_off
    end = start + relo_len
    (record_size,) = struct.unpack_from("<I", ext, start)
    if record_size < _RECORD.size or end > len(ext):
        return True
    at = start + 4
    while at + 8 <= end:
        _, count = struct.unpack_from("<II", ext, at)
        at += 8
        for _ in range(count):
            if at + record_size > end:
                return True
            if _RECORD.unpack_from(ext, at)[3] == _TYPE_ID_TARGET:
                return True
            at += record_size
    return False


if __name__ == "__main__":  # make names the files it cuts after this
    digest = kernel_btf_digest()
    if digest is None:
        sys.exit(f"no kernel BTF at {VMLINUX_BTF}")
    print(digest)
