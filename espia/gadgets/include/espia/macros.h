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
	const volatile struct type *gadget_tracer__##name##__##map SEC(".rodata") = 0

#endif /* __ESPIA_MACROS_H */
