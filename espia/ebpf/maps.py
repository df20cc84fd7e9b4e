"""eBPF maps: the shared memory between a program and us.

Keys and values are bytes in the kernel's layout; the caller packs them
(with ``struct``), since only the caller knows what they mean.
"""

from __future__ import annotations

import ctypes
import errno as errno_names
import mmap

from espia.ebpf import _libbpf
from espia.errors import KernelError

BPF_NOEXIST = 1  # bpf_map_update_elem: only if the key is not there yet


class Map:
    """One map of an object: its definition before load, its fd after."""

    def __init__(self, handle: int) -> None:
        self._handle = handle
        lib = _libbpf.lib()
        self.name: str = lib.bpf_map__name(handle).decode()
        self.value_size: int = lib.bpf_map__value_size(handle)
        self.key_size: int = lib.bpf_map__key_size(handle)
        # BPF_MAP_TYPE_*: BPF_MAP_TYPE_RINGBUF (27) sizes max_entries in bytes.
        self.type: int = lib.bpf_map__type(handle)

    @property
    def fd(self) -> int:
        return int(_libbpf.lib().bpf_map__fd(self._handle))

    @property
    def max_entries(self) -> int:
        return int(_libbpf.lib().bpf_map__max_entries(self._handle))

    @max_entries.setter
    def max_entries(self, value: int) -> None:
        err = _libbpf.lib().bpf_map__set_max_entries(self._handle, value)
        if err:
            raise KernelError(f"resize map {self.name}: {_libbpf.strerror(err)}")

    def initial_value(self) -> tuple[int, int]:
        """(address, size) of a global-data map's memory (mmapped once loaded)."""
        size = ctypes.c_size_t()
        address = _libbpf.lib().bpf_map__initial_value(self._handle, ctypes.byref(size))
        if not address:
            raise KernelError(f"read map {self.name}: it has no data section")
        return address, size.value

    def mmap(self) -> mmap.mmap:
        """The map's memory, shared with the kernel (maps created BPF_F_MMAPABLE: .bss, .data)."""
        length = -(-self.value_size // mmap.PAGESIZE) * mmap.PAGESIZE
        try:
            return mmap.mmap(self.fd, length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError as exc:
            raise KernelError(f"map {self.name} into memory: {exc.strerror}") from exc

    def update(self, key: bytes, value: bytes) -> None:
        err = _libbpf.lib().bpf_map_update_elem(self.fd, key, value, 0)
        if err:
            raise KernelError(f"update map {self.name}: {_libbpf.strerror(ctypes.get_errno())}")

    def insert(self, key: bytes, value: bytes) -> bool:
        """Adds `key` unless it is there already (then False: what is there stays)."""
        if _libbpf.lib().bpf_map_update_elem(self.fd, key, value, BPF_NOEXIST) == 0:
            return True
        if ctypes.get_errno() == errno_names.EEXIST:
            return False
        raise KernelError(f"update map {self.name}: {_libbpf.strerror(ctypes.get_errno())}")

    def delete(self, key: bytes) -> bool:
        """Removes `key`; False if it was not there."""
        if _libbpf.lib().bpf_map_delete_elem(self.fd, key) == 0:
            return True
        if ctypes.get_errno() == errno_names.ENOENT:
            return False
        raise KernelError(f"delete from map {self.name}: {_libbpf.strerror(ctypes.get_errno())}")

    def is_empty(self) -> bool:
        """Whether a hash map holds no key now (one get_next_key call)."""
        key = ctypes.create_string_buffer(self.key_size)
        if _libbpf.lib().bpf_map_get_next_key(self.fd, None, key) == 0:
            return False
        self._check_end()
        return True

    def count(self) -> int:
        """The number of keys of a hash map no program is changing (a deleted key would
        start the walk over): one get_next_key call per key."""
        lib = _libbpf.lib()
        keys = (
            ctypes.create_string_buffer(self.key_size),
            ctypes.create_string_buffer(self.key_size),
        )
        count = 0
        previous = None
        while lib.bpf_map_get_next_key(self.fd, previous, keys[count % 2]) == 0:
            previous = keys[count % 2]
            count += 1
        self._check_end()
        return count

    def _check_end(self) -> None:
        """Raises unless get_next_key stopped at the end of the map (ENOENT)."""
        code = ctypes.get_errno()
        if code != errno_names.ENOENT:
            raise KernelError(f"read map {self.name}: {_libbpf.strerror(code)}")

    def take_all(self) -> list[tuple[bytes, bytes]]:
        """Every (key, value) of a hash map, removed as it is read (lookup_and_delete_batch).

        Meant for a map no program is writing to at that moment (see
        espia.engine.interval): on a live map, an update racing with the
        delete could be lost.  The buffers hold the whole map, so a batch
        never stops short of a bucket (ENOSPC).
        """
        lib = _libbpf.lib()
        capacity = self.max_entries
        keys = ctypes.create_string_buffer(capacity * self.key_size)
        values = ctypes.create_string_buffer(capacity * self.value_size)
        cursor, following = ctypes.c_uint32(), ctypes.c_uint32()
        taken: list[tuple[bytes, bytes]] = []
        first = True
        while True:
            count = ctypes.c_uint32(capacity)
            start = None if first else ctypes.byref(cursor)
            err = lib.bpf_map_lookup_and_delete_batch(
                self.fd, start, ctypes.byref(following), keys, values, ctypes.byref(count), None
            )
            code = ctypes.get_errno() if err else 0
            if err and code != errno_names.ENOENT:
                raise KernelError(f"read and empty map {self.name}: {_libbpf.strerror(code)}")
            raw_keys, raw_values = keys.raw, values.raw
            ks, vs = self.key_size, self.value_size
            taken += [
                (raw_keys[i * ks : (i + 1) * ks], raw_values[i * vs : (i + 1) * vs])
                for i in range(count.value)
            ]
            if err:
                return taken
            cursor.value, first = following.value, False
