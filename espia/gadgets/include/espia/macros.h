/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Markers that make a program a gadget.  They cost nothing at run time: they
 * only leave names in the object's BTF, which espia reads to find the event
 * struct and the map that carries it.
 */
#ifndef __ESPIA_MACROS_H
#define __ESPIA_MACROS_H

/*
 * GADGET_TRACER(name, map, type): the program streams `struct type` records
 * through the ring buffer `map` (declared with GADGET_TRACER_MAP).  Names must
 * not contain a double underscore, which separates them here.
 */
#define GADGET_TRACER(name, map, type) \
	const struct type *const volatile gadget_tracer__##name##__##map SEC(".rodata") = 0

/*
 * GADGET_HELPER(helper): `gadget_helper_<helper>` is true where the kernel
 * has the BPF helper `helper` (a name of enum bpf_func_id without
 * BPF_FUNC_): espia probes it before load, so the verifier keeps one path.
 * GADGET_FALLBACK(program, helper): attach `program` only where the kernel
 * lacks `helper`.  Together they make a faster path the default without
 * dropping older kernels.  Both start out holding the helper's id, which is
 * how espia knows what to probe; it then writes 1 or 0 in its place.
 */
/*
 * GADGET_PARAM(name): the `const volatile` global `name` (declared just before,
 * with its default value) is a parameter of the gadget: espia offers it as
 * `--name VALUE` and `--param name=VALUE`, typed by the variable's own type
 * (an integer, bool, char array, an enum, or a semantic type such as
 * gadget_signal), and writes the value into .rodata before load, so the
 * verifier drops the branches the value rules out.  gadget.yaml may describe
 * it under `params:`.  The marker's pointer type only checks at compile time
 * that `name` exists; it is never dereferenced.
 */
#define GADGET_PARAM(name) \
	const volatile typeof(name) *const volatile gadget_param__##name SEC(".rodata") = 0

#define GADGET_HELPER(helper) const volatile __u32 gadget_helper_##helper = BPF_FUNC_##helper

#define GADGET_FALLBACK(program, helper) \
	const volatile __u32 gadget_fallback__##program##__##helper SEC(".rodata") = \
		BPF_FUNC_##helper

#endif /* __ESPIA_MACROS_H */
