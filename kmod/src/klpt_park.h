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
#include "klpt_uapi.h"

struct klpt_park {
	wait_queue_head_t *wq;
	atomic_t *gen;      /* bumped by each release */
	atomic_t *parked;   /* tasks asleep in klpt_park_func() now */
	int seen_gen;       /* the generation at entry */
	int mode;           /* KLPT_PARK_* */
};

/* Sleep until the next release; returns 0, or -EINTR when a signal (real or
 * the livepatch fake one) ended an interruptible sleep. */
static inline int klpt_park_wait(struct klpt_park *p)
{
	int ret = 0;

	atomic_inc(p->parked);
	if (p->mode == KLPT_PARK_UNINTERRUPTIBLE)
		wait_event(*p->wq, atomic_read(p->gen) != p->seen_gen);
	else if (wait_event_interruptible(*p->wq, atomic_read(p->gen) != p->seen_gen))
		ret = -EINTR;
	atomic_dec(p->parked);
	return ret;
}

#endif
