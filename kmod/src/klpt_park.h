/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The parking lot shared by the old and new klpt_park_func(). It travels as
 * an argument, so that the livepatch needs no symbol from klpt_target and can
 * be loaded before it.
 */
#ifndef KLPT_PARK_H
#define KLPT_PARK_H

#include <linux/wait.h>
#include <linux/atomic.h>
#include <linux/sched.h>
#include <linux/ktime.h>
#include <asm/processor.h>
#include "klpt_uapi.h"

struct klpt_park {
	wait_queue_head_t *wq;
	atomic_t *gen;      /* bumped by each release */
	atomic_t *parked;   /* tasks asleep in klpt_park_func() now */
	int seen_gen;       /* the generation at entry */
	int mode;           /* KLPT_PARK_* */
};

/*
 * Sleep until the slot's next release. Returns 0, or -ERESTARTSYS when a
 * signal (real, or livepatch's fake one) ended an interruptible sleep, so
 * that the syscall is restarted as the kernel does for any such sleep.
 */
static inline int klpt_park_wait(struct klpt_park *p)
{
	int ret = 0;

	atomic_inc(p->parked);
	switch (p->mode) {
	case KLPT_PARK_UNINTERRUPTIBLE:
		/*
		 * TASK_IDLE: uninterruptible, so no fallback moves it, but not
		 * counted by the hung-task detector, which would otherwise warn
		 * about a long hold on a slow host.
		 */
		wait_event_idle(*p->wq, atomic_read(p->gen) != p->seen_gen);
		break;
	case KLPT_PARK_SPIN:
		/*
		 * On the CPU until released: preemptible where the kernel is
		 * (the agent spins only on such a kernel), so that it is found
		 * running, or preempted, never asleep.
		 */
		while (atomic_read(p->gen) == p->seen_gen)
			cpu_relax();
		break;
	case KLPT_PARK_ONCE:
		/* A kthread's park: klp_send_signals() only wakes it. */
		set_current_state(TASK_INTERRUPTIBLE);
		if (atomic_read(p->gen) == p->seen_gen)
			schedule();
		__set_current_state(TASK_RUNNING);
		break;
	default:
		ret = wait_event_interruptible(*p->wq, atomic_read(p->gen) != p->seen_gen);
	}
	atomic_dec(p->parked);
	return ret;
}

/*
 * A chain call's state, passed down the chain as the park is: the old and
 * the new functions alike write their version into it, and the outer one
 * calls the inner one through it, so that the call goes through ftrace to
 * whichever version the task's state picks, and the livepatch needs no
 * symbol of the target's.
 */
struct klpt_chain {
	int (*inner)(struct klpt_chain *c);
	struct klpt_park *park; /* NULL: no sleep in the chain */
	int park_outer;         /* the outer function sleeps, not the inner one */
	/*
	 * where: KLPT_CHAIN_AT_SPIN while the outer function spins,
	 * KLPT_CHAIN_AT_PARK while one of them sleeps, 0 elsewhere; read,
	 * with n and returned, by klpt_probe when the kernel tries to switch
	 * the task (klpt_probe_chain_enter()).
	 */
	int where;
	u64 spin_ns;            /* the outer function spins this long first */
	int n;
	int v[KLPT_CHAIN_MAX];
	/*
	 * returned counts the functions that came back: written after each
	 * call, it keeps the compiler from making the calls tail calls,
	 * which would take a function off the stack while the chain still
	 * runs below it, out of the kernel's stack check's sight.
	 */
	int returned;
};

static inline void klpt_chain_note(struct klpt_chain *c, int version)
{
	if (c->n < KLPT_CHAIN_MAX)
		c->v[c->n] = version;
	WRITE_ONCE(c->n, c->n + 1);
}

/*
 * klpt_probe's registry of the chain calls under way (klpt_probe.c): a
 * target registers each chain call for its span, so that the probe can
 * tell, when the kernel tries to switch a task, whether that task is
 * inside a chain and where.
 */
int klpt_probe_chain_enter(struct klpt_chain *c);
void klpt_probe_chain_leave(int slot);

/*
 * One exit-path call (klpt_probe.c, /proc/klpt_exits): a livepatch's
 * proc_flush_pid() in a thread of the exits case, from its entry to the
 * end of its sleep. The probe fills it in at the entry and records it at
 * the end.
 */
struct pid;
struct klpt_exit_call {
	u64 t0;
	int version;       /* the livepatch's KLPT_PATCH_VERSION */
	s8 state, pend;    /* the task's patch state and TIF_PATCH_PENDING at the entry */
	s8 listed;         /* still on the task list (pid_alive()) at the entry */
	s8 enabled;        /* the livepatch's klp_patch.enabled at the entry */
	s8 open;           /* a transition open at the entry (klp_transition_patch), -1 unknown */
	unsigned int sleep_ms; /* how long to sleep: the number after KLPT_EXIT_COMM in the comm */
};

/*
 * klpt_probe_exit_enter() says whether current is a thread of the exits
 * case and, if so, fills in c; klpt_probe_exit_leave() records it, with
 * the patch's enabled flag at the end. klpt_probe_flush_pid() does
 * proc_flush_pid()'s own work, which the livepatches' version must do too.
 */
bool klpt_probe_exit_enter(struct klpt_exit_call *c, int version, bool enabled);
void klpt_probe_exit_leave(struct klpt_exit_call *c, bool enabled);
void klpt_probe_flush_pid(struct pid *pid);

/*
 * The outer function's body, old or new: on the CPU, inside the chain, for
 * spin_ns (interrupts arrive; on a preemptible kernel it may be preempted
 * here), then the call down the chain.
 */
static inline int klpt_chain_outer_body(struct klpt_chain *c, int version)
{
	u64 end = ktime_get_ns() + c->spin_ns;
	int ret;

	klpt_chain_note(c, version);
	WRITE_ONCE(c->where, KLPT_CHAIN_AT_SPIN);
	while (ktime_get_ns() < end)
		cpu_relax();
	WRITE_ONCE(c->where, 0);
	if (c->park && c->park_outer) {
		WRITE_ONCE(c->where, c->park->mode == KLPT_PARK_SPIN ? KLPT_CHAIN_AT_SPIN : KLPT_CHAIN_AT_PARK);
		ret = klpt_park_wait(c->park);
		WRITE_ONCE(c->where, 0);
		if (ret)
			return ret;
	}
	ret = c->inner(c);
	WRITE_ONCE(c->returned, c->returned + 1);
	return ret;
}

/* The inner function's body: asleep in it, with the outer one below. */
static inline int klpt_chain_inner_body(struct klpt_chain *c, int version)
{
	int ret = 0;

	klpt_chain_note(c, version);
	if (c->park && !c->park_outer) {
		WRITE_ONCE(c->where, c->park->mode == KLPT_PARK_SPIN ? KLPT_CHAIN_AT_SPIN : KLPT_CHAIN_AT_PARK);
		ret = klpt_park_wait(c->park);
		WRITE_ONCE(c->where, 0);
	}
	WRITE_ONCE(c->returned, c->returned + 1);
	return ret;
}

#endif
