/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The interface between klptest's guest agent and its test modules. The Go
 * side (guest/agent/target_linux.go) mirrors these numbers and layouts; keep them in step.
 */
#ifndef KLPT_UAPI_H
#define KLPT_UAPI_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define KLPT_VERSION_OLD 1
#define KLPT_VERSION_NEW 2

#define KLPT_PARK_INTERRUPTIBLE   0
#define KLPT_PARK_UNINTERRUPTIBLE 1

/* One call into the patched function, as seen from the kernel side. */
struct klpt_call {
	__u64 t0;          /* CLOCK_MONOTONIC ns before reading patch_state */
	__u64 t1;          /* CLOCK_MONOTONIC ns after the second read */
	__s32 before;      /* current->patch_state before the call */
	__s32 after;       /* current->patch_state after the call */
	__s32 version;     /* KLPT_VERSION_OLD or KLPT_VERSION_NEW */
	__s32 mode;        /* PARK only: KLPT_PARK_* */
};

/* /dev/klpt_target ioctls; the argument is a struct klpt_call pointer. */
#define KLPT_IOC_CALL    _IO('k', 1)  /* call klpt_func() once */
#define KLPT_IOC_PARK    _IO('k', 2)  /* sleep inside klpt_park_func() until released */
#define KLPT_IOC_RELEASE _IO('k', 3)  /* wake every parked task; no argument */
#define KLPT_IOC_PARKED  _IO('k', 4)  /* returns the number of parked tasks */

#endif
