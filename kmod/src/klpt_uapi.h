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

#define KLPT_PARK_INTERRUPTIBLE   0 /* wait_event_interruptible(): a signal ends it */
#define KLPT_PARK_UNINTERRUPTIBLE 1 /* wait_event_idle(): nothing but a release ends it */
#define KLPT_PARK_ONCE            2 /* one interruptible sleep: any wake-up ends it */
#define KLPT_PARK_SPIN            3 /* no sleep: spin on the CPU (preemptible) until released */

#define KLPT_SLOTS 16 /* parking slots, released one by one */

/* One call into the patched function, as seen from the kernel side. */
struct klpt_call {
	__u64 t0;          /* CLOCK_MONOTONIC ns before reading patch_state */
	__u64 t1;          /* CLOCK_MONOTONIC ns after the second read */
	__s32 before;      /* current->patch_state before the call */
	__s32 after;       /* current->patch_state after the call */
	__s32 version;     /* KLPT_VERSION_OLD or KLPT_VERSION_NEW */
	__s32 mode;        /* PARK only: KLPT_PARK_* */
	__s32 slot;        /* PARK only: which release ends the sleep */
	__s32 entries;     /* PARK only: entries into the handler on this fd (2 = restarted) */
};

/*
 * One call into a chain of patched functions: klpt_chain_outer() spins on
 * its CPU for spin_us, then calls klpt_chain_inner() (of this module, or
 * with cross set, of klpt_target, through the pointer klpt_target registers
 * at load), which returns at once. With park set, one of them sleeps in a
 * parking slot as KLPT_IOC_PARK does: the inner one, with the outer below
 * it, or the outer one before its call, so that the task wakes into the
 * rest of the chain. Each function, old or new, writes its version into
 * the next of v0..v3 and counts itself in n.
 */
struct klpt_chain_call {
	__u64 t0;          /* CLOCK_MONOTONIC ns before reading patch_state */
	__u64 t1;          /* CLOCK_MONOTONIC ns after the second read */
	__s32 before;      /* current->patch_state before the chain */
	__s32 after;       /* current->patch_state after it */
	__s32 spin_us;     /* how long the outer function spins before the call */
	__s32 cross;       /* 1: the inner function is klpt_target's */
	__s32 park;        /* KLPT_CHAIN_PARK_*: which function sleeps (mode, slot) */
	__s32 mode;        /* park: KLPT_PARK_* */
	__s32 slot;        /* park: which release ends the sleep */
	__s32 n;           /* functions that ran, in order */
	__s32 v0;          /* their versions: the outer's, */
	__s32 v1;          /* the inner's, */
	__s32 v2;          /* spare (a loop park: the calls made), */
	__s32 v3;          /* spare */
	__s32 entries;     /* park: entries into the handler on this fd (2 = restarted) */
	__s32 pad;         /* explicit: the struct's size is a multiple of 8 */
};

#define KLPT_CHAIN_MAX 4 /* v0..v3 */

#define KLPT_CHAIN_PARK_NONE  0 /* no sleep: the outer function spins, then calls */
#define KLPT_CHAIN_PARK_INNER 1 /* the inner function sleeps, the outer one below it */
#define KLPT_CHAIN_PARK_OUTER 2 /* the outer function sleeps, then calls the inner one */
/*
 * The ioctl calls the chain again and again (each spinning spin_us in the
 * outer function), sleeping briefly outside it between calls, until the
 * slot's release; it then reports n = 0 and the calls made in v2.
 */
#define KLPT_CHAIN_PARK_LOOP  3

/* Where in its chain a task was when the kernel tried to switch it (/proc/klpt_switches). */
#define KLPT_CHAIN_AT_SPIN 1 /* spinning (KLPT_PARK_SPIN, or the outer function's spin_us) */
#define KLPT_CHAIN_AT_PARK 2 /* asleep in a parking slot, in the inner or the outer function */

/*
 * The kernel thread (parked, or spinning), as KLPT_IOC_KTHREAD_INFO reports
 * it. A spinning one reports its spins in rounds and its freezable sleeps
 * in wakes.
 */
struct klpt_kthread_info {
	__s32 pid;
	__s32 alive;       /* 1 until KLPT_IOC_KTHREAD_STOP */
	__s32 wakes;       /* times it left klpt_park_func() (spinning: its sleeps) */
	__s32 version;     /* what klpt_park_func() returned, 0 before */
	__u64 woke;        /* CLOCK_MONOTONIC ns just after it first left klpt_park_func(), 0 before */
	__u64 rounds;      /* spinning: spins done, each followed by cond_resched() */
	__u64 pending_resched; /* spinning: passes into cond_resched() with TIF_PATCH_PENDING set */
	__u64 pending_freeze;  /* spinning: passes into a freezable sleep with TIF_PATCH_PENDING set */
};

/* /proc/klpt_switches' HOOK: what a record is. */
#define KLPT_HOOK_NONE 0 /* an attempt of klp_check_and_switch_task()'s */
#define KLPT_HOOK_RUN  1 /* a run of the scheduler's switch point, __klp_sched_try_switch() */

/*
 * The name (comm) the exits case's threads give themselves before they
 * exit: KLPT_EXIT_COMM and a decimal number of milliseconds (at most
 * KLPT_EXIT_SLEEP_MAX_MS), which a livepatch's proc_flush_pid() sleeps in
 * them, and only in them, recorded (/proc/klpt_exits).
 */
#define KLPT_EXIT_COMM "klpt-exit"
#define KLPT_EXIT_SLEEP_MAX_MS 10000

/* /dev/klpt_target ioctls; the argument is a struct klpt_call pointer. */
#define KLPT_IOC_CALL    _IO('k', 1)  /* call klpt_func() once */
#define KLPT_IOC_PARK    _IO('k', 2)  /* sleep inside klpt_park_func() until released */
#define KLPT_IOC_RELEASE _IO('k', 3)  /* wake the tasks parked in slot (arg) */
#define KLPT_IOC_PARKED  _IO('k', 4)  /* returns the number of parked tasks in slot (arg) */
#define KLPT_IOC_KTHREAD_START _IO('k', 5) /* start a kthread parked (ONCE) in slot (arg) */
#define KLPT_IOC_KTHREAD_INFO  _IO('k', 6) /* struct klpt_kthread_info */
#define KLPT_IOC_KTHREAD_STOP  _IO('k', 7)
#define KLPT_IOC_CHAIN   _IO('k', 8)  /* struct klpt_chain_call: run the chain once */
#define KLPT_IOC_SPIN_START _IO('k', 9) /* start a kthread spinning outside the patched functions */

#endif
