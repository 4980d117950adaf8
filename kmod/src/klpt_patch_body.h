/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The body of klptest's livepatches; klpt_patch.c, klpt_patch2.c,
 * klpt_patch3.c and klpt_patch4.c each set KLPT_PATCH_VERSION (what the new
 * functions return, and the version /proc/cmdline names),
 * KLPT_PATCH_REPLACE (atomic replace) and KLPT_PATCH_NOPS (leave some
 * functions out, below), then include it.
 *
 * A patch replaces the four functions of klpt_target (the called one, the
 * parked one, and the chain's outer and inner) and of its twins
 * klpt_target2 and klpt_target3 (which may come and go mid-transition), and
 * two vmlinux functions: cmdline_proc_show() (as the kernel's own sample
 * does), so that both module and core-kernel patching are exercised, and
 * proc_flush_pid(), which an exiting thread calls off the task list.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>
#include <linux/sched.h>
#include <linux/jiffies.h>
#include "klpt_park.h"

/* What /proc/cmdline shows while this patch's cmdline_proc_show() runs. */
static int livepatch_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "klptest: live patched v%d\n", KLPT_PATCH_VERSION);
	return 0;
}

static struct klp_patch patch;

/*
 * proc_flush_pid() is called by release_task(): for a thread, which is
 * reaped at once, in the exiting thread itself, after __unhash_process()
 * took it off the task list, so that no transition's loop over the tasks
 * sees it any more. This version does the original's work; in the exits
 * case's threads it first sleeps here, called from this module's text, as
 * long as the thread's name says (KLPT_EXIT_COMM), recorded by the probe with the task's state and this
 * patch's enabled flag before and after: an atomic replace or a disable
 * then completes, and the agent removes this module, while exiting threads
 * are to return into this code. ftrace's unregistering of the patch's ops
 * must wait for them (RCU Tasks holds exiting tasks to the end of
 * exit_rcu()), or they fault in freed module text. A sleep, not a spin: a
 * second or more of it in each of dozens of threads costs no CPU, and
 * covers the first try of a transition and its retry a second later.
 */
static void livepatch_proc_flush_pid(struct pid *pid)
{
	struct klpt_exit_call c;

	if (klpt_probe_exit_enter(&c, KLPT_PATCH_VERSION, READ_ONCE(patch.enabled))) {
		schedule_timeout_idle(msecs_to_jiffies(c.sleep_ms));
		klpt_probe_exit_leave(&c, READ_ONCE(patch.enabled));
	}
	klpt_probe_flush_pid(pid);
}

static int livepatch_klpt_func(void)
{
	return KLPT_PATCH_VERSION;
}

static int livepatch_klpt_park_func(struct klpt_park *p)
{
	int ret = klpt_park_wait(p);

	return ret ? ret : KLPT_PATCH_VERSION;
}

static int livepatch_klpt_chain_outer(struct klpt_chain *c)
{
	return klpt_chain_outer_body(c, KLPT_PATCH_VERSION);
}

static int livepatch_klpt_chain_inner(struct klpt_chain *c)
{
	return klpt_chain_inner_body(c, KLPT_PATCH_VERSION);
}

static struct klp_func vmlinux_funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = livepatch_cmdline_proc_show, },
	{ .old_name = "proc_flush_pid", .new_func = livepatch_proc_flush_pid, },
	{ }
};

/* Each object needs its own klp_func array: the kernel keeps state in it. */
#define KLPT_TARGET_FUNCS(name)							\
	static struct klp_func name[] = {					\
		{ .old_name = "klpt_func", .new_func = livepatch_klpt_func, },	\
		{ .old_name = "klpt_park_func", .new_func = livepatch_klpt_park_func, }, \
		{ .old_name = "klpt_chain_outer", .new_func = livepatch_klpt_chain_outer, }, \
		{ .old_name = "klpt_chain_inner", .new_func = livepatch_klpt_chain_inner, }, \
		{ }								\
	}
#if KLPT_PATCH_NOPS
/*
 * An atomic replace that leaves out klpt_target's parking function,
 * klpt_target2's inner chain function and the whole of klpt_target3: over
 * a patch that has them, klp_add_nops() adds a nop for each (single ones,
 * and a dynamic object), which runs the original.
 */
static struct klp_func target_funcs[] = {
	{ .old_name = "klpt_func", .new_func = livepatch_klpt_func, },
	{ .old_name = "klpt_chain_outer", .new_func = livepatch_klpt_chain_outer, },
	{ .old_name = "klpt_chain_inner", .new_func = livepatch_klpt_chain_inner, },
	{ }
};
static struct klp_func target2_funcs[] = {
	{ .old_name = "klpt_func", .new_func = livepatch_klpt_func, },
	{ .old_name = "klpt_park_func", .new_func = livepatch_klpt_park_func, },
	{ .old_name = "klpt_chain_outer", .new_func = livepatch_klpt_chain_outer, },
	{ }
};

static struct klp_object objs[] = {
	{ .funcs = vmlinux_funcs, },               /* name NULL: vmlinux */
	{ .name = "klpt_target", .funcs = target_funcs, },
	{ .name = "klpt_target2", .funcs = target2_funcs, },
	{ }
};
#else
KLPT_TARGET_FUNCS(target_funcs);
KLPT_TARGET_FUNCS(target2_funcs);
KLPT_TARGET_FUNCS(target3_funcs);

static struct klp_object objs[] = {
	{ .funcs = vmlinux_funcs, },               /* name NULL: vmlinux */
	{ .name = "klpt_target", .funcs = target_funcs, },
	{ .name = "klpt_target2", .funcs = target2_funcs, },
	{ .name = "klpt_target3", .funcs = target3_funcs, },
	{ }
};
#endif

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
	.replace = KLPT_PATCH_REPLACE,
};

static int klpt_patch_init(void)
{
	return klp_enable_patch(&patch);
}

static void klpt_patch_exit(void)
{
}

module_init(klpt_patch_init);
module_exit(klpt_patch_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klptest: livepatch of klpt_target* and cmdline_proc_show");
