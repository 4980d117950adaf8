// SPDX-License-Identifier: GPL-2.0
/*
 * klpt_patch: the livepatch. It replaces klpt_target's two functions and one
 * vmlinux function, cmdline_proc_show() (as the kernel's own sample does), so
 * that both module and core-kernel patching are exercised.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>
#include "klpt_park.h"

/* Marker /proc/cmdline shows while the new cmdline_proc_show() runs. */
#define KLPT_CMDLINE_MARKER "klptest: this has been live patched"

static int livepatch_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s\n", KLPT_CMDLINE_MARKER);
	return 0;
}

static int livepatch_klpt_func(void)
{
	return KLPT_VERSION_NEW;
}

static int livepatch_klpt_park_func(struct klpt_park *p)
{
	int ret = klpt_park_wait(p);

	return ret ? ret : KLPT_VERSION_NEW;
}

static struct klp_func vmlinux_funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = livepatch_cmdline_proc_show, },
	{ }
};

static struct klp_func target_funcs[] = {
	{ .old_name = "klpt_func", .new_func = livepatch_klpt_func, },
	{ .old_name = "klpt_park_func", .new_func = livepatch_klpt_park_func, },
	{ }
};

static struct klp_object objs[] = {
	{ .funcs = vmlinux_funcs, },               /* name NULL: vmlinux */
	{ .name = "klpt_target", .funcs = target_funcs, },
	{ }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
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
MODULE_DESCRIPTION("klptest: livepatch of klpt_target and cmdline_proc_show");
