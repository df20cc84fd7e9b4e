"""Runs the kernel skipped are losses: a tracepoint program whose tracepoint fires while
another BPF program runs on that CPU is not run, and the kernel only counts it.

The gadget below streams one event per run of `bpf_trace/bpf_trace_printk`, the
tracepoint the bpf_trace_printk helper fires.  Two programs print:

- the gadget's own, on the raw `sys_enter` tracepoint, for getpgid: a raw tracepoint
  program keeps no guard against other programs, so each of its prints is streamed;
- the test's, on a 1000 Hz cpu-clock perf event of every CPU: it prints (and counts
  its prints) whenever it interrupts the workload.  The kernel runs it with the
  per-CPU guard held that keeps tracepoint programs from running inside another
  program (bpf_prog_active), so each of its prints is a skipped run of the gadget's,
  counted in the gadget's program's recursion_misses and nowhere else.

So every print of the workload's is either shown or reported lost: espia must show
the M getpgid prints and report exactly as many lost as the sampler printed.

(A tracepoint program cannot make such skips: a tracepoint fired inside it, in the
same context, is dropped earlier by perf's own recursion guard, and counted nowhere.)
"""

from __future__ import annotations

import json

from support.workloads import ROOT, EspiaCli, comm_name, run_python

from espia.ebpf.compile import compile_program
from espia.ebpf.link import attach_perf_event
from espia.ebpf.object import BpfObject
from espia.engine.sampler import online_cpus

GADGET = r"""
#include <espia/gadget.bpf.h>

struct event {
	gadget_pid pid;
	gadget_comm comm[TASK_COMM_LEN];
};

GADGET_TRACER_MAP(events);
GADGET_TRACER(printed, events, event);

SEC("tracepoint/bpf_trace/bpf_trace_printk")
int printed(void *ctx)
{
	struct event *e;

	if (gadget_should_discard_current())
		return 0;
	e = gadget_reserve(&events, sizeof(*e));
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	gadget_submit(e);
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int print_getpgid(struct bpf_raw_tracepoint_args *ctx)
{
	if (ctx->args[1] == 121 /* __NR_getpgid on x86-64 */ && !gadget_should_discard_current())
		bpf_printk("streamed");
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""

SAMPLER = r"""
#include <espia/gadget.bpf.h>
const volatile char target[TASK_COMM_LEN] = {};
__u64 prints = 0;
SEC("perf_event")
int print_on_sample(struct bpf_perf_event_data *ctx)
{
	char comm[TASK_COMM_LEN];

	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < TASK_COMM_LEN; i++) {
		if (comm[i] != target[i])
			return 0;
		if (!comm[i])
			break;
	}
	bpf_printk("skipped");
	__sync_fetch_and_add(&prints, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""

STREAMED = 200

# getpgid STREAMED times, then half a second on a CPU, where the sampler interrupts it.
WORKLOAD = """
import time
libc = ctypes.CDLL(None)
for _ in range(int(sys.argv[2])):
    libc.getpgid(0)
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    pass
"""


def _events(run: EspiaCli) -> list[dict[str, object]]:
    return [e for e in run.json_events() if "lost_events" not in e]


def test_runs_the_kernel_skipped_are_reported_lost_exactly(tmp_path):
    gadget = tmp_path / "printed.bpf.c"
    gadget.write_text(GADGET)
    sampler = tmp_path / "sampler.bpf.c"
    sampler.write_text(SAMPLER)
    comm = comm_name()
    run = EspiaCli(["run", str(gadget), "-F", f"comm:{comm}", "-o", "json"])
    built = compile_program(sampler, tmp_path / "sampler.bpf.o", ROOT / "build")
    with BpfObject.open(built, trusted=True) as obj:
        rodata = obj.data(".rodata")
        bss = obj.data(".bss")
        assert rodata is not None and bss is not None
        rodata.write("target", comm.encode())
        obj.load()
        prints = bss.counter("prints")
        # Ready once a getpgid print comes through (the sampler is not attached yet).
        run.wait_ready(lambda: run_python(comm, WORKLOAD, "1", "0"), comm, timeout=60)
        before = len(_events(run))
        (program,) = obj.programs
        links = [attach_perf_event(program, cpu, 1000) for cpu in online_cpus()]
        try:
            run_python(comm, WORKLOAD, str(STREAMED), "0.5")
        finally:
            for link in links:
                link.destroy()
        skipped = prints()
    run.wait_for(lambda line: len(_events(run)) >= before + STREAMED, timeout=20)
    run.proc.send_signal(2)
    code, lines, stderr = run.finish()
    assert code == 0, stderr
    ours = _events(run)[before:]
    assert [e["comm"] for e in ours] == [comm] * STREAMED
    assert skipped > 100  # half a second at 1000 Hz
    # Every print of the workload's is either shown or reported lost: none is missing.
    reports = [json.loads(line) for line in lines if line.startswith('{"lost_events"')]
    assert reports, stderr
    assert sum(r["lost_events"] for r in reports) == reports[-1]["lost_total"] == skipped
    assert f"{skipped} of the {skipped} events lost are runs of the gadget's programs" in stderr
