// SPDX-License-Identifier: Apache-2.0
/*
 * profile cpu: on each tick of a cpu-clock perf event (one per online CPU,
 * at --frequency), the interrupted task's kernel and user stacks.
 *
 * Every sample goes to user space, which symbolizes and counts them: at 49 Hz
 * that is about a hundred small records a second per two CPUs, and each
 * process's memory maps are read while it still runs.  The idle task
 * (pid 0) is not sampled.
 */
#include <espia/gadget.bpf.h>
#include <espia/stack.bpf.h>

GADGET_TRACER_MAP(samples);
GADGET_STACK_SAMPLER(samples);

SEC("perf_event")
int profile_cpu(struct bpf_perf_event_data *ctx)
{
	if (!(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (gadget_should_discard_current())
		return 0;
	gadget_sample_current(ctx, &samples);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
