/* SPDX-License-Identifier: Apache-2.0 */
/* Everything a gadget's program.bpf.c needs, in one include. */
#ifndef __ESPIA_GADGET_BPF_H
#define __ESPIA_GADGET_BPF_H

#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#ifndef TASK_COMM_LEN
#define TASK_COMM_LEN 16
#endif

#include <espia/types.h>
#include <espia/macros.h>
#include <espia/core_fixes.bpf.h>
#include <espia/buffer.bpf.h>
#include <espia/filter.bpf.h>
#include <espia/strings.bpf.h>

#endif /* __ESPIA_GADGET_BPF_H */
