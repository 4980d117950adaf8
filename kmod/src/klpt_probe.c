// SPDX-License-Identifier: GPL-2.0
/*
 * klpt_probe: one snapshot of every task's livepatch state per open of
 * /proc/klpt_tasks, taken in a single pass under RCU (tasklist_lock is not
 * exported), plus the per-CPU idle tasks, which /proc never shows.
 *
 * Output, one line per task after a header:
 *   # klpt_tasks v1 t0=NS t1=NS n=N
 *   PID TGID STATE PENDING KTHREAD IDLE CPU COMM
 * t0/t1 are CLOCK_MONOTONIC ns around the pass; CPU is -1 except for idle
 * tasks; COMM runs to the end of the line.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/kprobes.h>
#include <linux/cpumask.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/ktime.h>
#include <linux/uaccess.h>

#define LINE_MAX_LEN 96

struct snap {
	char *buf;
	size_t len;
};

static struct task_struct *(*klpt_idle_task)(int cpu);

/*
 * idle_task() is not exported. A kprobe registered on it tells its address;
 * the probe is removed at once. Kprobes may place the probe after an ENDBR
 * instruction, so step back over one if it is there.
 */
static int klpt_resolve_idle_task(void)
{
	struct kprobe kp = { .symbol_name = "idle_task" };
	unsigned long addr;
	int ret;

	ret = register_kprobe(&kp);
	if (ret < 0)
		return ret;
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);
#ifdef CONFIG_X86
	{
		static const u8 endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };

		if (addr >= 4 && !memcmp((void *)(addr - 4), endbr64, 4))
			addr -= 4;
	}
#endif
	klpt_idle_task = (void *)addr;
	return 0;
}

static int klpt_line(char *p, size_t room, struct task_struct *t, int idle, int cpu)
{
	int state, pending;

	/*
	 * Read the state before the flag: the kernel clears the flag before it
	 * writes the new state, so this order can never show a task at its goal
	 * with the flag still set when that did not happen.
	 */
	state = READ_ONCE(t->patch_state);
	smp_rmb();
	pending = test_tsk_thread_flag(t, TIF_PATCH_PENDING) ? 1 : 0;
	return scnprintf(p, room, "%d %d %d %d %d %d %d %s\n",
			 task_pid_nr(t), task_tgid_nr(t), state, pending,
			 (t->flags & PF_KTHREAD) ? 1 : 0, idle, cpu, t->comm);
}

static int klpt_snapshot(struct snap *s)
{
	struct task_struct *g, *t;
	size_t cap, len;
	int n, cpu, want;
	u64 t0, t1;
	char hdr[96];
	int hlen;

	want = 0;
	rcu_read_lock();
	for_each_process_thread(g, t)
		want++;
	rcu_read_unlock();
	want += num_possible_cpus() + 512;  /* room for tasks forked meanwhile */

	cap = (size_t)want * LINE_MAX_LEN + sizeof(hdr);
	s->buf = kvmalloc(cap, GFP_KERNEL);
	if (!s->buf)
		return -ENOMEM;
	len = sizeof(hdr);  /* header goes in front when the count is known */
	n = 0;

	t0 = ktime_get_ns();
	rcu_read_lock();
	for_each_process_thread(g, t) {
		if (cap - len < LINE_MAX_LEN) {
			rcu_read_unlock();
			kvfree(s->buf);
			return -EAGAIN;
		}
		len += klpt_line(s->buf + len, cap - len, t, 0, -1);
		n++;
	}
	for_each_possible_cpu(cpu) {
		len += klpt_line(s->buf + len, cap - len, klpt_idle_task(cpu), 1, cpu);
		n++;
	}
	rcu_read_unlock();
	t1 = ktime_get_ns();

	hlen = scnprintf(hdr, sizeof(hdr), "# klpt_tasks v1 t0=%llu t1=%llu n=%d\n",
			 t0, t1, n);
	memcpy(s->buf + sizeof(hdr) - hlen, hdr, hlen);
	memmove(s->buf, s->buf + sizeof(hdr) - hlen, len - (sizeof(hdr) - hlen));
	s->len = len - (sizeof(hdr) - hlen);
	return 0;
}

static int klpt_open(struct inode *inode, struct file *f)
{
	struct snap *s;
	int ret, tries;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	for (tries = 0; tries < 8; tries++) {
		ret = klpt_snapshot(s);
		if (ret != -EAGAIN)
			break;
	}
	if (ret) {
		kfree(s);
		return ret;
	}
	f->private_data = s;
	return 0;
}

static ssize_t klpt_read(struct file *f, char __user *ubuf, size_t n, loff_t *pos)
{
	struct snap *s = f->private_data;

	return simple_read_from_buffer(ubuf, n, pos, s->buf, s->len);
}

static int klpt_release(struct inode *inode, struct file *f)
{
	struct snap *s = f->private_data;

	kvfree(s->buf);
	kfree(s);
	return 0;
}

static const struct proc_ops klpt_proc_ops = {
	.proc_open = klpt_open,
	.proc_read = klpt_read,
	.proc_release = klpt_release,
	.proc_lseek = default_llseek,
};

static int __init klpt_probe_init(void)
{
	int ret = klpt_resolve_idle_task();

	if (ret) {
		pr_err("cannot resolve idle_task() through a kprobe: %d\n", ret);
		return ret;
	}
	if (!proc_create("klpt_tasks", 0444, NULL, &klpt_proc_ops))
		return -ENOMEM;
	return 0;
}

static void __exit klpt_probe_exit(void)
{
	remove_proc_entry("klpt_tasks", NULL);
}

module_init(klpt_probe_init);
module_exit(klpt_probe_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klptest: per-task livepatch state snapshots");
