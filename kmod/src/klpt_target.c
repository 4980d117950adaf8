// SPDX-License-Identifier: GPL-2.0
/*
 * klpt_target: the functions klptest livepatches. Userspace calls them
 * through /dev/klpt_target and learns which version ran, and with the task's
 * own patch_state read just before and just after, in the same syscall.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
#include <linux/uaccess.h>
#include <linux/sched.h>
#include <linux/ktime.h>
#include "klpt_park.h"

static DECLARE_WAIT_QUEUE_HEAD(klpt_wq);
static atomic_t klpt_gen = ATOMIC_INIT(0);
static atomic_t klpt_parked = ATOMIC_INIT(0);

int klpt_func(void);
int klpt_park_func(struct klpt_park *p);

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

static int klpt_state(void)
{
	/* task_struct.patch_state exists under CONFIG_LIVEPATCH only. */
	return READ_ONCE(current->patch_state);
}

static long klpt_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct klpt_call c;
	struct klpt_park p;
	int v;

	switch (cmd) {
	case KLPT_IOC_RELEASE:
		atomic_inc(&klpt_gen);
		wake_up_all(&klpt_wq);
		return 0;
	case KLPT_IOC_PARKED:
		return atomic_read(&klpt_parked);
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
		p.wq = &klpt_wq;
		p.gen = &klpt_gen;
		p.parked = &klpt_parked;
		p.seen_gen = atomic_read(&klpt_gen);
		p.mode = c.mode;
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

static const struct file_operations klpt_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = klpt_ioctl,
};

static struct miscdevice klpt_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "klpt_target",
	.fops = &klpt_fops,
	.mode = 0666,
};

static int __init klpt_target_init(void)
{
	return misc_register(&klpt_dev);
}

static void __exit klpt_target_exit(void)
{
	atomic_inc(&klpt_gen);
	wake_up_all(&klpt_wq);
	misc_deregister(&klpt_dev);
}

module_init(klpt_target_init);
module_exit(klpt_target_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klptest: functions to be livepatched");
