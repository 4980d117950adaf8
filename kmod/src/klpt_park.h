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

#endif
