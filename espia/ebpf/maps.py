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


class Map:
    """One map of an object: its definition before load, its fd after."""

    def __init__(self, handle: int) -> None:
        self._handle = handle
        lib = _libbpf.lib()
        self.name: str = lib.bpf_map__name(handle).decode()
        self.value_size: int = lib.bpf_map__value_size(handle)

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

    def delete(self, key: bytes) -> bool:
        """Removes `key`; False if it was not there."""
        if _libbpf.lib().bpf_map_delete_elem(self.fd, key) == 0:
            return True
        if ctypes.get_errno() == errno_names.ENOENT:
            return False
        raise KernelError(f"delete from map {self.name}: {_libbpf.strerror(ctypes.get_errno())}")
