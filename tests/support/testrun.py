"""A gadget's programs run on packets of a test's making: BPF_PROG_TEST_RUN.

The gadget is loaded and attached as a trace does (so its maps, the socket
owners included, are the real ones), and `test_run` hands one packet to one
of its cgroup_skb programs: the kernel runs it behind an Ethernet header,
with a socket of its own, and what reaches the ring buffer is what that
packet would have given.  `repeat` runs it many times, for its cost: the
kernel reports the mean time of one run.
"""

from __future__ import annotations

import ctypes
import struct

from espia.ebpf import _libbpf
from espia.engine.tracer import RingBufferTracer
from espia.gadget.event import Event
from espia.gadget.registry import builtin
from espia.pipeline.operator import KernelConfig


class _TestRunOpts(ctypes.Structure):
    """struct bpf_test_run_opts (libbpf 1.1)."""

    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("data_in", ctypes.c_void_p),
        ("data_out", ctypes.c_void_p),
        ("data_size_in", ctypes.c_uint32),
        ("data_size_out", ctypes.c_uint32),
        ("ctx_in", ctypes.c_void_p),
        ("ctx_out", ctypes.c_void_p),
        ("ctx_size_in", ctypes.c_uint32),
        ("ctx_size_out", ctypes.c_uint32),
        ("retval", ctypes.c_uint32),
        ("repeat", ctypes.c_int),
        ("duration", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("cpu", ctypes.c_uint32),
        ("batch_size", ctypes.c_uint32),
    ]


class TestRun:
    """`trace <gadget>` loaded and attached; `test_run(program, packet, ethertype, repeat)`
    -> (verdict, mean ns per run, the events in the ring buffer since the last call)."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, gadget: str) -> None:
        self.tracer = RingBufferTracer(builtin("trace", gadget))
        self.tracer.prepare()
        self.tracer.start(KernelConfig())
        obj = self.tracer._object
        assert obj is not None
        lib = _libbpf.lib()
        lib.bpf_program__fd.restype = ctypes.c_int
        lib.bpf_program__fd.argtypes = [ctypes.c_void_p]
        lib.bpf_prog_test_run_opts.restype = ctypes.c_int
        lib.bpf_prog_test_run_opts.argtypes = [ctypes.c_int, ctypes.POINTER(_TestRunOpts)]
        self._lib = lib
        self.fds = {p.name: lib.bpf_program__fd(p.handle) for p in obj.programs}

    def test_run(
        self, program: str, packet: bytes, ethertype: int, repeat: int = 1
    ) -> tuple[int, int, list[Event]]:
        frame = b"\2" * 6 + b"\4" * 6 + struct.pack("!H", ethertype) + packet
        buffer = ctypes.create_string_buffer(frame, len(frame))
        opts = _TestRunOpts(sz=ctypes.sizeof(_TestRunOpts))
        opts.data_in = ctypes.cast(buffer, ctypes.c_void_p)
        opts.data_size_in = len(frame)
        opts.repeat = repeat
        err = self._lib.bpf_prog_test_run_opts(self.fds[program], ctypes.byref(opts))
        if err:
            raise OSError(-err, f"test run {program}: {_libbpf.strerror(err)}")
        events, _ = self.tracer.poll()
        return opts.retval, opts.duration, events

    def close(self) -> None:
        self.tracer.close()
