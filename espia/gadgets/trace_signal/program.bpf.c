// SPDX-License-Identifier: Apache-2.0
/*
 * trace signal: every signal sent, by kill(2), tkill(2), tgkill(2) or by
 * the kernel itself (SIGSEGV of a faulting program, SIGCHLD of a dying
 * child, SIGPIPE of a write to a closed pipe...), and the kill calls that
 * failed.
 *
 * signal/signal_generate runs wherever a signal is generated, in the task
 * that sends it (for SIGCHLD, the dying child; for SIGSEGV, the faulting
 * task itself), and names the target: it is the event of every signal
 * generated, whatever its source.  A kill call that fails (ESRCH, EPERM)
 * generates nothing, so the kill family is traced at its exit too, and
 * sends an event of its own only when it failed.  A successful kill(pid, 0)
 * (an existence check) generates no signal and is not shown.
 */
#include <espia/gadget.bpf.h>
#include <espia/process.bpf.h>
#include <espia/syscall.bpf.h>

struct event {
	GADGET_PROCESS_MEMBERS;
	gadget_signal sig;
	__s32 tpid;
	char tcomm[TASK_COMM_LEN]; /* not a gadget_comm: the in-kernel comm filter is the sender's */
	gadget_syscall_ret ret;
	gadget_signal_result result;
	__s32 code;
};

enum kill_call {
	CALL_KILL,
	CALL_TKILL,
	CALL_TGKILL,
};

GADGET_TRACER_MAP(events);
GADGET_TRACER(signal, events, event);

/* -s SIG: only this signal (0: every one). */
const volatile gadget_signal signal = 0;
GADGET_PARAM(signal);
/* --failed-only: only the kill calls that failed; signal_generate then sends nothing. */
const volatile bool failed_only = false;
GADGET_PARAM(failed_only);

/* The si_code the kernel's own tracepoint shows for `info` (include/trace/events/signal.h). */
static __always_inline int signal_code(struct kernel_siginfo *info)
{
	if (info == (void *)0) /* SEND_SIG_NOINFO */
		return 0;      /* SI_USER */
	if (info == (void *)1) /* SEND_SIG_PRIV */
		return 0x80;   /* SI_KERNEL */
	return BPF_CORE_READ(info, si_code);
}

/*
 * signal_generate(int sig, struct kernel_siginfo *info, struct task_struct *task,
 *                 int group, int result), in its raw form: no trace record is
 * built, which is the larger part of the cost of a tracepoint that drops.
 */
SEC("raw_tracepoint/signal_generate")
int signal_generated(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *target = (struct task_struct *)ctx->args[2];
	struct event *e;

	if (failed_only || (signal && ctx->args[0] != signal))
		return 0;
	if (gadget_should_discard_current())
		return 0;
	e = gadget_current_event(&events, event);
	if (!e)
		return 0;
	e->sig = ctx->args[0];
	e->tpid = BPF_CORE_READ(target, pid);
	BPF_CORE_READ_STR_INTO(&e->tcomm, target, comm);
	e->ret = 0;
	e->result = ctx->args[4];
	e->code = signal_code((struct kernel_siginfo *)ctx->args[1]);
	gadget_submit(e);
	return 0;
}

/* A kill call returned `ret`: a failure is the only trace it leaves. */
static __always_inline void killed(enum kill_call call, long ret,
				   const struct gadget_syscall_args *args)
{
	int sig = call == CALL_TGKILL ? args->a[2] : args->a[1];
	struct event *e;

	if (ret >= 0 || (signal && sig != signal))
		return;
	e = gadget_current_event(&events, event);
	if (!e)
		return;
	/* kill(pid, sig), tkill(tid, sig), tgkill(tgid, tid, sig) */
	e->sig = sig;
	e->tpid = call == CALL_TGKILL ? args->a[1] : args->a[0];
	e->tcomm[0] = '\0';
	e->ret = ret;
	e->result = GADGET_SIGNAL_NOT_SENT;
	e->code = 0;
	gadget_submit(e);
}

GADGET_SYSCALL(kill, 2, killed, CALL_KILL)
GADGET_SYSCALL(tkill, 2, killed, CALL_TKILL)
GADGET_SYSCALL(tgkill, 3, killed, CALL_TGKILL)

char LICENSE[] SEC("license") = "GPL";
