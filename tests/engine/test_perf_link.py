"""Perf-event links: a program on a software cpu-clock sampler, per CPU, really sampling."""

from __future__ import annotations

import os
import time

from support.workloads import ROOT

from espia.ebpf.compile import compile_program
from espia.ebpf.link import attach_perf_event
from espia.ebpf.object import BpfObject

PROGRAM = """
#include <espia/gadget.bpf.h>
__u64 samples = 0;
__u32 sampled_pid = 0;
SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
    __sync_fetch_and_add(&samples, 1);
    if ((bpf_get_current_pid_tgid() >> 32) == sampled_pid)
        __sync_fetch_and_add(&samples, 1ULL << 32);
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_a_cpu_clock_sampler_runs_the_program_until_the_link_is_destroyed(tmp_path):
    source = tmp_path / "program.bpf.c"
    source.write_text(PROGRAM)
    path = compile_program(source, tmp_path / "program.bpf.o", ROOT / "build")
    with BpfObject.open(path) as obj:
        bss = obj.data(".bss")
        assert bss is not None
        bss.write("sampled_pid", os.getpid().to_bytes(4, "little"))  # before load: its start value
        obj.load()
        samples = bss.counter("samples")
        (program,) = obj.programs
        links = [attach_perf_event(program, cpu, 1000) for cpu in range(os.cpu_count() or 1)]
        try:
            cpu = time.process_time()
            deadline = time.monotonic() + 0.3
            while time.monotonic() < deadline:
                pass  # on a CPU: the sampler must catch this process
            on_cpu = time.process_time() - cpu
            total = samples()
        finally:
            for link in links:
                link.destroy()
        ours, all_samples = total >> 32, total & 0xFFFFFFFF
        # 1000 samples per second this process spent on a CPU (some jitter either way).
        assert 0.7 * on_cpu * 1000 <= ours <= 1.3 * on_cpu * 1000 + 5, (ours, on_cpu)
        assert all_samples >= ours
        after = samples()
        time.sleep(0.1)
        assert samples() == after  # destroyed: no more samples
