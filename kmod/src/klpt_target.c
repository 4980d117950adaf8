// SPDX-License-Identifier: GPL-2.0
/*
 * klpt_target: the functions klptest livepatches. Userspace calls them
 * through /dev/klpt_target and learns which version ran, and with the task's
 * own patch_state read just before and just after, in the same syscall.
 *
 * klpt_target2.c and klpt_target3.c build twins of it under other names
 * (KLPT_TARGET_NAME), for modules that come and go mid-transition.
 */
#ifndef KLPT_TARGET_NAME
#define KLPT_TARGET_NAME "klpt_target"
#define KLPT_PRIMARY 1 /* klpt_target itself, not a twin */
#endif
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
#include <linux/uaccess.h>
#include <linux/sched.h>
#include <linux/ktime.h>
#include <linux/kthread.h>
#include <linux/slab.h>
#include <linux/sched/task.h>
#include <linux/mutex.h>
#include <linux/delay.h>
#include "klpt_park.h"

static DECLARE_WAIT_QUEUE_HEAD(klpt_wq);
static atomic_t klpt_gen[KLPT_SLOTS];
static atomic_t klpt_parked[KLPT_SLOTS];

static DEFINE_MUTEX(klpt_kthread_lock); /* guards klpt_kthread */
static struct task_struct *klpt_kthread;
static atomic_t klpt_kthread_wakes = ATOMIC_INIT(0);
static atomic_t klpt_kthread_version = ATOMIC_INIT(0);
static atomic64_t klpt_kthread_woke = ATOMIC64_INIT(0);
static atomic64_t klpt_kthread_rounds = ATOMIC64_INIT(0);
/* The spinning thread's passes into cond_resched() and into a freezable sleep with TIF_PATCH_PENDING set. */
static atomic64_t klpt_kthread_pending_resched = ATOMIC64_INIT(0);
static atomic64_t klpt_kthread_pending_freeze = ATOMIC64_INIT(0);
static int klpt_kthread_slot;

int klpt_func(void);
int klpt_park_func(struct klpt_park *p);
int klpt_chain_outer(struct klpt_chain *c);
int klpt_chain_inner(struct klpt_chain *c);

/*
 * The inner function a cross-module chain calls: klpt_target's, registered
 * when klpt_target loads (it is loaded at boot and never removed, so a
 * twin that comes and goes can always call it).
 */
#ifdef KLPT_PRIMARY
int (*klpt_chain_cross_inner)(struct klpt_chain *c);
EXPORT_SYMBOL_GPL(klpt_chain_cross_inner);
#else
extern int (*klpt_chain_cross_inner)(struct klpt_chain *c);
#endif

/*
 * noipa: keep GCC from inlining, cloning or propagating the constant return
 * value into the caller, which would bypass the ftrace hook livepatch uses.
 */
__attribute__((noipa)) int klpt_func(void)
{
	return KLPT_VERSION_OLD;
}

__attribute__((noipa)) int klpt_park_func(struct klpt_park *p)
{
	int ret = klpt_park_wait(p);

	return ret ? ret : KLPT_VERSION_OLD;
}

/* A chain of two patched functions, the outer calling the inner. */
__attribute__((noipa)) int klpt_chain_outer(struct klpt_chain *c)
{
	return klpt_chain_outer_body(c, KLPT_VERSION_OLD);
}

__attribute__((noipa)) int klpt_chain_inner(struct klpt_chain *c)
{
	return klpt_chain_inner_body(c, KLPT_VERSION_OLD);
}

static int klpt_state(void)
{
	/* task_struct.patch_state exists under CONFIG_LIVEPATCH only. */
	return READ_ONCE(current->patch_state);
}

static void klpt_park_init(struct klpt_park *p, int slot, int mode)
{
	p->wq = &klpt_wq;
	p->gen = &klpt_gen[slot];
	p->parked = &klpt_parked[slot];
	p->seen_gen = atomic_read(p->gen);
	p->mode = mode;
}

/*
 * The parked kthread: one sleep inside klpt_park_func(), then asleep outside
 * it until stopped, so that once woken (by a release, or by the livepatch
 * fallback's wake-up) its stack no longer holds the patched function.
 */
static int klpt_kthread_fn(void *data)
{
	struct klpt_park p;

	klpt_park_init(&p, klpt_kthread_slot, KLPT_PARK_ONCE);
	atomic_set(&klpt_kthread_version, klpt_park_func(&p));
	/*
	 * When it woke, for the host to place the wake among the kernel's
	 * tries: a fallback's wake-up comes at the 16th.
	 */
	atomic64_set(&klpt_kthread_woke, ktime_get_ns());
	atomic_inc(&klpt_kthread_wakes);
	while (!kthread_should_stop()) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (!kthread_should_stop())
			schedule();
		__set_current_state(TASK_RUNNING);
	}
	return 0;
}

/*
 * The spinning kthread: CPU-bound, and never inside a patched function. It
 * spins KLPT_SPIN_NS at a time, calls cond_resched() after each spin, and
 * every KLPT_SPIN_SLEEP_EVERY spins sleeps briefly TASK_INTERRUPTIBLE |
 * TASK_FREEZABLE. A transition's tries from other CPUs find it running
 * (-EBUSY) all but a sliver of the time; what switches it is the
 * scheduler's own switch point, klp_sched_try_switch(), where the kernel
 * has one: in cond_resched() from 6.4, in __schedule() of a task going to
 * a freezable sleep once "sched,livepatch: Untangle cond_resched() and
 * live-patching" took it out of cond_resched(). It registers with the
 * probe as a chain call that never enters a function, so that every
 * attempt on it, and every run of the hook in it, is recorded.
 */
#define KLPT_SPIN_NS (2 * NSEC_PER_MSEC)
#define KLPT_SPIN_SLEEP_EVERY 10
#define KLPT_SPIN_SLEEP_US 50

static int klpt_spin_fn(void *data)
{
	struct klpt_chain c = {};
	int reg = klpt_probe_chain_enter(&c);
	unsigned long n = 0;

	while (!kthread_should_stop()) {
		u64 end = ktime_get_ns() + KLPT_SPIN_NS;

		while (ktime_get_ns() < end && !kthread_should_stop())
			cpu_relax();
		/*
		 * Each pass into a switch point with the flag still set is
		 * counted: where the kernel's hook works, the first pass into
		 * its own point switches the thread.
		 */
		if (test_thread_flag(TIF_PATCH_PENDING))
			atomic64_inc(&klpt_kthread_pending_resched);
		cond_resched();
		atomic64_inc(&klpt_kthread_rounds);
		if (++n % KLPT_SPIN_SLEEP_EVERY == 0) {
			if (test_thread_flag(TIF_PATCH_PENDING))
				atomic64_inc(&klpt_kthread_pending_freeze);
			usleep_range_state(KLPT_SPIN_SLEEP_US, 2 * KLPT_SPIN_SLEEP_US,
					   TASK_INTERRUPTIBLE | TASK_FREEZABLE);
			atomic_inc(&klpt_kthread_wakes);
		}
	}
	klpt_probe_chain_leave(reg);
	return 0;
}

/* Starts the one kernel thread (parked or spinning), its counts zeroed. */
static long klpt_kthread_start(int (*fn)(void *data), const char *name)
{
	if (klpt_kthread)
		return -EBUSY;
	atomic_set(&klpt_kthread_wakes, 0);
	atomic64_set(&klpt_kthread_woke, 0);
	atomic64_set(&klpt_kthread_rounds, 0);
	atomic64_set(&klpt_kthread_pending_resched, 0);
	atomic64_set(&klpt_kthread_pending_freeze, 0);
	klpt_kthread = kthread_run(fn, NULL, "%s", name);
	if (IS_ERR(klpt_kthread)) {
		long err = PTR_ERR(klpt_kthread);

		klpt_kthread = NULL;
		return err;
	}
	get_task_struct(klpt_kthread);
	return task_pid_nr(klpt_kthread);
}

static long klpt_kthread_ioctl_locked(unsigned int cmd, unsigned long arg)
{
	struct klpt_kthread_info info = {};
	int slot = (int)arg;

	switch (cmd) {
	case KLPT_IOC_KTHREAD_START:
		if (slot < 0 || slot >= KLPT_SLOTS)
			return -EINVAL;
		if (klpt_kthread)
			return -EBUSY;
		klpt_kthread_slot = slot;
		return klpt_kthread_start(klpt_kthread_fn, "klpt_kthread");
	case KLPT_IOC_SPIN_START:
		return klpt_kthread_start(klpt_spin_fn, "klpt_spin");
	case KLPT_IOC_KTHREAD_INFO:
		info.pid = klpt_kthread ? task_pid_nr(klpt_kthread) : 0;
		info.alive = klpt_kthread ? 1 : 0;
		info.wakes = atomic_read(&klpt_kthread_wakes);
		info.version = atomic_read(&klpt_kthread_version);
		info.woke = atomic64_read(&klpt_kthread_woke);
		info.rounds = atomic64_read(&klpt_kthread_rounds);
		info.pending_resched = atomic64_read(&klpt_kthread_pending_resched);
		info.pending_freeze = atomic64_read(&klpt_kthread_pending_freeze);
		if (copy_to_user((void __user *)arg, &info, sizeof(info)))
			return -EFAULT;
		return 0;
	case KLPT_IOC_KTHREAD_STOP:
		if (!klpt_kthread)
			return -ESRCH;
		kthread_stop(klpt_kthread);
		put_task_struct(klpt_kthread);
		klpt_kthread = NULL;
		return 0;
	}
	return -ENOTTY;
}

static long klpt_kthread_ioctl(unsigned int cmd, unsigned long arg)
{
	long ret;

	mutex_lock(&klpt_kthread_lock);
	ret = klpt_kthread_ioctl_locked(cmd, arg);
	mutex_unlock(&klpt_kthread_lock);
	return ret;
}

/*
 * The loop park's sleep, in frames with large locals below the loop's own:
 * the chain, run next from the loop, reaches less deep into the stack
 * (with an interrupt's entry frame below it) than these frames' locals, so
 * that it overwrites only locals, never the frame records the unwinder
 * follows from the task's saved state: on arm64 a frame's record sits at
 * its low end, below its locals.
 */
#define KLPT_DEEP_FRAMES 2
static noinline void klpt_deep_sleep(int depth)
{
	volatile char pad[1200];

	pad[0] = depth;
	if (depth > 1)
		klpt_deep_sleep(depth - 1);
	else
		usleep_range(200, 400);
	pad[1] = pad[0]; /* no tail call: each frame stays until the sleep ends */
}

/*
 * A loop park: chain calls again and again until the slot's release, with a
 * short sleep outside the chain between them. Each call enters the chain
 * fresh after the sleep and runs with preemption off (it is short), so
 * that while it runs, the task's stack as last saved is the sleep's,
 * intact, and holds none of the chain; an arch whose unwinder walks a
 * running task's saved stack (arm64) would find it reliable and clean, and
 * only klp_check_and_switch_task()'s refusal of a task on a CPU keeps the
 * task from being switched inside its chain. Asleep between the calls it
 * may be switched, and its next call then runs the other set.
 */
static long klpt_chain_loop(struct klpt_chain_call __user *arg, struct klpt_chain_call *cc,
			    struct klpt_park *p, int (*inner)(struct klpt_chain *c))
{
	int calls = 0, reg, ret = 0;

	atomic_inc(p->parked);
	cc->t0 = ktime_get_ns();
	cc->before = klpt_state();
	while (atomic_read(p->gen) == p->seen_gen && !fatal_signal_pending(current)) {
		struct klpt_chain c = { .inner = inner, .spin_ns = (u64)cc->spin_us * NSEC_PER_USEC };

		preempt_disable();
		reg = klpt_probe_chain_enter(&c);
		ret = klpt_chain_outer(&c);
		klpt_probe_chain_leave(reg);
		preempt_enable();
		if (ret < 0)
			break;
		calls++;
		klpt_deep_sleep(KLPT_DEEP_FRAMES);
	}
	atomic_dec(p->parked);
	cc->after = klpt_state();
	cc->t1 = ktime_get_ns();
	if (ret < 0)
		return ret;
	cc->n = 0;
	cc->v2 = calls;
	if (copy_to_user(arg, cc, sizeof(*cc)))
		return -EFAULT;
	return 0;
}

/* One chain call: the task's state around it, the versions along it. */
static long klpt_chain_ioctl(struct file *f, struct klpt_chain_call __user *arg)
{
	struct klpt_chain_call cc;
	struct klpt_chain c = { .inner = klpt_chain_inner };
	struct klpt_park p;
	int ret, reg;

	if (copy_from_user(&cc, arg, sizeof(cc)))
		return -EFAULT;
	if (cc.spin_us < 0 || cc.spin_us > 100000)
		return -EINVAL;
	if (cc.cross) {
		if (!klpt_chain_cross_inner)
			return -ENOENT;
		c.inner = klpt_chain_cross_inner;
	}
	switch (cc.park) {
	case KLPT_CHAIN_PARK_NONE:
		break;
	case KLPT_CHAIN_PARK_LOOP:
		if (cc.slot < 0 || cc.slot >= KLPT_SLOTS)
			return -EINVAL;
		cc.entries = atomic_inc_return((atomic_t *)f->private_data);
		klpt_park_init(&p, cc.slot, cc.mode);
		return klpt_chain_loop(arg, &cc, &p, c.inner);
	case KLPT_CHAIN_PARK_OUTER:
		c.park_outer = 1;
		fallthrough;
	case KLPT_CHAIN_PARK_INNER:
		if (cc.slot < 0 || cc.slot >= KLPT_SLOTS)
			return -EINVAL;
		cc.entries = atomic_inc_return((atomic_t *)f->private_data);
		klpt_park_init(&p, cc.slot, cc.mode);
		c.park = &p;
		break;
	default:
		return -EINVAL;
	}
	c.spin_ns = (u64)cc.spin_us * NSEC_PER_USEC;
	cc.t0 = ktime_get_ns();
	cc.before = klpt_state();
	reg = klpt_probe_chain_enter(&c);
	ret = klpt_chain_outer(&c);
	klpt_probe_chain_leave(reg);
	cc.after = klpt_state();
	cc.t1 = ktime_get_ns();
	if (ret < 0)
		return ret;
	cc.n = c.n;
	cc.v0 = c.v[0];
	cc.v1 = c.v[1];
	cc.v2 = c.v[2];
	cc.v3 = c.v[3];
	if (copy_to_user(arg, &cc, sizeof(cc)))
		return -EFAULT;
	return 0;
}

static long klpt_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	atomic_t *entries = f->private_data;
	struct klpt_call c;
	struct klpt_park p;
	int v;

	switch (cmd) {
	case KLPT_IOC_RELEASE:
		if (arg >= KLPT_SLOTS)
			return -EINVAL;
		atomic_inc(&klpt_gen[arg]);
		wake_up_all(&klpt_wq);
		mutex_lock(&klpt_kthread_lock);
		if (klpt_kthread && klpt_kthread_slot == (int)arg)
			wake_up_process(klpt_kthread);
		mutex_unlock(&klpt_kthread_lock);
		return 0;
	case KLPT_IOC_PARKED:
		if (arg >= KLPT_SLOTS)
			return -EINVAL;
		return atomic_read(&klpt_parked[arg]);
	case KLPT_IOC_KTHREAD_START:
	case KLPT_IOC_SPIN_START:
	case KLPT_IOC_KTHREAD_INFO:
	case KLPT_IOC_KTHREAD_STOP:
		return klpt_kthread_ioctl(cmd, arg);
	case KLPT_IOC_CHAIN:
		return klpt_chain_ioctl(f, (void __user *)arg);
	case KLPT_IOC_CALL:
	case KLPT_IOC_PARK:
		break;
	default:
		return -ENOTTY;
	}

	if (copy_from_user(&c, (void __user *)arg, sizeof(c)))
		return -EFAULT;
	c.t0 = ktime_get_ns();
	c.before = klpt_state();
	if (cmd == KLPT_IOC_CALL) {
		v = klpt_func();
	} else {
		if (c.slot < 0 || c.slot >= KLPT_SLOTS)
			return -EINVAL;
		c.entries = atomic_inc_return(entries);
		klpt_park_init(&p, c.slot, c.mode);
		v = klpt_park_func(&p);
	}
	c.after = klpt_state();
	c.t1 = ktime_get_ns();
	if (v < 0)
		return v;
	c.version = v;
	if (copy_to_user((void __user *)arg, &c, sizeof(c)))
		return -EFAULT;
	return 0;
}

static int klpt_open(struct inode *inode, struct file *f)
{
	atomic_t *entries = kzalloc(sizeof(*entries), GFP_KERNEL);

	if (!entries)
		return -ENOMEM;
	f->private_data = entries;
	return 0;
}

static int klpt_release(struct inode *inode, struct file *f)
{
	kfree(f->private_data);
	return 0;
}

static const struct file_operations klpt_fops = {
	.owner = THIS_MODULE,
	.open = klpt_open,
	.release = klpt_release,
	.unlocked_ioctl = klpt_ioctl,
};

static struct miscdevice klpt_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = KLPT_TARGET_NAME,
	.fops = &klpt_fops,
	.mode = 0666,
};

static int __init klpt_target_init(void)
{
#ifdef KLPT_PRIMARY
	klpt_chain_cross_inner = klpt_chain_inner;
#endif
	return misc_register(&klpt_dev);
}

static void __exit klpt_target_exit(void)
{
	int i;

	if (klpt_kthread) {
		kthread_stop(klpt_kthread);
		put_task_struct(klpt_kthread);
	}
	for (i = 0; i < KLPT_SLOTS; i++)
		atomic_inc(&klpt_gen[i]);
	wake_up_all(&klpt_wq);
	misc_deregister(&klpt_dev);
}

module_init(klpt_target_init);
module_exit(klpt_target_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klptest: functions to be livepatched");
