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
 * tasks; COMM runs to the end of the line. Where the probe can read the
 * transition's own state (below), two more header lines follow the first,
 * read before and after the pass:
 *   # klp before open=O goal=G counting=C missed=M rt0=NS rt1=NS gen=N inited=N started=N rev=N reversed=N force=N forced=N tries=N
 *   # klp after ...
 * OPEN: a transition is open (klp_transition_patch); GOAL:
 * klp_target_state; COUNTING: whether the probes below fire (1), do not
 * (0: kprobes disarmed, or on ftrace call sites with ftrace_enabled 0), or
 * cannot be known (-1); MISSED: the hits the probes missed, in all;
 * RT0 and RT1: CLOCK_MONOTONIC ns just before and just after the reading;
 * GEN counts klp_init_transition() entries,
 * one per transition; INITED and STARTED are the GEN of the last
 * klp_init_transition() and klp_start_transition() to return (the states
 * set; the flags set); REV and FORCE count klp_reverse_transition() and
 * klp_force_transition() entries, REVERSED and FORCED their returns; TRIES
 * counts klp_try_complete_transition() entries (a transition's first try,
 * and each retry).
 * With them a snapshot says by itself which transition it saw, and in which
 * phase: how klptest judges transitions it did not start (the kernel's own
 * selftests').
 *
 * It also records every fork at the moment the kernel hands the child its
 * livepatch state: a kretprobe on klp_copy_process(), which runs under the
 * tasklist write lock with interrupts off, so that nothing can move either
 * task between its entry, the copy and the record. At the entry the child
 * still holds the state and TIF_PATCH_PENDING that dup_task_struct()
 * copied from its parent at the start of fork (nothing writes either in
 * between: klp_start_transition(), klp_reverse_transition() and the switch
 * work only on tasks on the task list, which the child is not yet on), so
 * that, set against the parent's at klp_copy_process(), it tells whether
 * a transition moved the parent while it forked. Each read of
 * /proc/klpt_forks drains the records:
 *   # klpt_forks v2 n=N dropped=D
 *   T PARENT_PID PARENT_TGID CHILD_PID CHILD_TGID P_STATE P_PENDING C_STATE C_PENDING COPIED_STATE COPIED_PENDING
 *
 * And it records every attempt of the kernel's to switch a task that is in
 * a chain call of klpt_target's (or a twin's): a kretprobe on
 * klp_check_and_switch_task(), the one place where the transition (and,
 * in kernels that have it, klp_sched_try_switch()) checks a task's stack
 * and switches it. The targets register each chain call in progress here
 * (klpt_probe_chain_enter()); the handler runs under the task's pi_lock
 * and, if it is on a runqueue, its runqueue's lock, so that neither its
 * run state nor its place on a CPU can change before the check reads
 * them. The chain's own position (n functions entered, returned of them
 * came back, where: spinning or asleep) is written by the running task
 * itself and read as it is. It records every attempt on an idle task too
 * (IDLE 1, its CPU in CPU): whether the kernel found it current on an idle
 * CPU (-EBUSY), which only wake_up_if_idle() then gets through its loop.
 * It records, too, every run of the scheduler's switch point in a
 * registered task with TIF_PATCH_PENDING set (hook_pre()). Each read of
 * /proc/klpt_switches drains them:
 *   # klpt_switches v3 n=N dropped=D
 *   T PID TGID SELF ON_CPU RUNNABLE WHERE ENTERED RETURNED STATE PENDING RET IDLE CPU HOOK CALLER
 * SELF: the task checked itself (klp_sched_try_switch()), on its own CPU.
 * RET is klp_check_and_switch_task()'s: 0 switched, -EBUSY running on
 * another CPU, -EINVAL unreliable stack, -EADDRINUSE a patched function
 * on the stack; STATE and PENDING are the task's before the attempt.
 * HOOK is KLPT_HOOK_NONE on those; KLPT_HOOK_RUN on a run of the switch
 * point, with RET 1 and CALLER the function it was called from (%ps; on
 * the others 0x0).
 *
 * And it records the exit-path calls of the exits case's threads (comm
 * KLPT_EXIT_COMM): every livepatch of klptest's replaces proc_flush_pid(),
 * which release_task() calls, for a thread in the exiting thread itself,
 * after __unhash_process() took it off the task list, where no transition
 * sees it any more. The livepatch's version sleeps there as long as the
 * thread's name says (KLPT_EXIT_COMM and milliseconds), called from its own text, between klpt_probe_exit_enter() and
 * klpt_probe_exit_leave(). Each read of /proc/klpt_exits drains them:
 *   # klpt_exits v2 n=N dropped=D
 *   T0 T1 PID TGID VERSION STATE PENDING LISTED ENABLED0 ENABLED1 OPEN
 * T0 and T1: the sleep's start and end; VERSION: the livepatch's; STATE,
 * PENDING and LISTED (on the task list): the task's at T0; OPEN: a
 * transition was open at T0 (klp_transition_patch; -1 where the probe
 * cannot read it); ENABLED0 and
 * ENABLED1: the livepatch's klp_patch.enabled at T0 and T1 (1 then 0: the
 * patch was replaced or disabled while the task ran its code).
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
#include <linux/vmalloc.h>
#include <linux/spinlock.h>
#include <linux/pid.h>
#include "klpt_park.h"

#define LINE_MAX_LEN 96

struct snap {
	char *buf;
	size_t len;
};

static struct task_struct *(*klpt_idle_task)(int cpu);

/*
 * The transition's own state. klp_transition_patch, klp_target_state,
 * ftrace_enabled and kprobes_all_disarmed are not exported; their
 * addresses come from kallsyms
 * through a kprobe registered on each (klpt_resolve_data()). The counters
 * are bumped by kretprobes on the functions that open and move a
 * transition: an entry's count is made visible, with a full barrier,
 * before the function's first store, so that a reader that sees one of its
 * stores sees its count; a return's after a full barrier, so that a reader
 * that sees the count sees every store the function made. On x86 these
 * probes sit on the functions' ftrace call sites, which stop firing while
 * ftrace_enabled is 0 (the kernel's test-ftrace.sh does that), and no probe
 * fires while kprobes are disarmed; a miss (no free kretprobe instance)
 * loses a count for good. Each reading says whether the probes fire and
 * how many hits they missed, and a reading taken while they do not, or
 * after a new miss, does not count.
 */
static struct klp_patch **klpt_transition_patch;
static int *klpt_target_state, *klpt_ftrace_enabled;
static bool *klpt_kprobes_all_disarmed;
static atomic64_t klpt_gen, klpt_inited, klpt_started, klpt_rev, klpt_reversed, klpt_force, klpt_forced, klpt_tries;
static bool klp_on;

struct klp_counts {
	s64 gen, inited, started, rev, reversed, force, forced, tries;
};

struct klp_reading {
	int open, goal, counting;
	s64 missed;
	u64 rt0, rt1;
	struct klp_counts c;
};

static int klpt_counting(void);
static s64 klpt_missed(void);

static void klpt_read_counts(struct klp_counts *c)
{
	c->gen = atomic64_read(&klpt_gen);
	c->inited = atomic64_read(&klpt_inited);
	c->started = atomic64_read(&klpt_started);
	c->rev = atomic64_read(&klpt_rev);
	c->reversed = atomic64_read(&klpt_reversed);
	c->force = atomic64_read(&klpt_force);
	c->forced = atomic64_read(&klpt_forced);
	c->tries = atomic64_read(&klpt_tries);
}

/*
 * klpt_read_klp reads the state as one moment, as a seqcount reader would:
 * the counters, the state, the counters again, until both counts agree, so
 * that no step began or ended between them. The writers hold klp_mutex, so
 * a few tries do.
 */
static void klpt_read_klp(struct klp_reading *r)
{
	struct klp_counts again;
	int tries;

	for (tries = 0; tries < 16; tries++) {
		r->rt0 = ktime_get_ns();
		smp_rmb();
		klpt_read_counts(&r->c);
		smp_rmb();
		r->open = READ_ONCE(*klpt_transition_patch) ? 1 : 0;
		r->goal = READ_ONCE(*klpt_target_state);
		r->counting = klpt_counting();
		r->missed = klpt_missed();
		smp_rmb();
		klpt_read_counts(&again);
		r->rt1 = ktime_get_ns();
		if (!memcmp(&r->c, &again, sizeof(again)))
			return;
		cpu_relax();
	}
	r->counting = 0;  /* never one moment: a reading that does not count */
}

static int klpt_klp_line(char *p, size_t room, const char *when, const struct klp_reading *r)
{
	return scnprintf(p, room, "# klp %s open=%d goal=%d counting=%d missed=%lld rt0=%llu rt1=%llu gen=%lld inited=%lld started=%lld rev=%lld reversed=%lld force=%lld forced=%lld tries=%lld\n",
			 when, r->open, r->goal, r->counting, r->missed, r->rt0, r->rt1, r->c.gen, r->c.inited,
			 r->c.started, r->c.rev, r->c.reversed, r->c.force, r->c.forced, r->c.tries);
}

static int klpt_entered(atomic64_t *v)
{
	atomic64_inc(v);
	smp_mb__after_atomic();
	return 0;
}

static int klpt_returned(atomic64_t *v, s64 to)
{
	smp_mb();
	atomic64_set(v, to);
	return 0;
}

/* Every counter is written under klp_mutex, which each probed function runs under. */
static int init_entry(struct kretprobe_instance *ri, struct pt_regs *regs) { return klpt_entered(&klpt_gen); }
static int init_return(struct kretprobe_instance *ri, struct pt_regs *regs) { return klpt_returned(&klpt_inited, atomic64_read(&klpt_gen)); }
static int start_return(struct kretprobe_instance *ri, struct pt_regs *regs) { return klpt_returned(&klpt_started, atomic64_read(&klpt_gen)); }
static int rev_entry(struct kretprobe_instance *ri, struct pt_regs *regs) { return klpt_entered(&klpt_rev); }
static int rev_return(struct kretprobe_instance *ri, struct pt_regs *regs) { return klpt_returned(&klpt_reversed, atomic64_read(&klpt_rev)); }
static int force_entry(struct kretprobe_instance *ri, struct pt_regs *regs) { return klpt_entered(&klpt_force); }
static int force_return(struct kretprobe_instance *ri, struct pt_regs *regs) { return klpt_returned(&klpt_forced, atomic64_read(&klpt_force)); }

static struct kretprobe init_probe = { .kp.symbol_name = "klp_init_transition", .entry_handler = init_entry, .handler = init_return, .maxactive = 4 };
static struct kretprobe start_probe = { .kp.symbol_name = "klp_start_transition", .handler = start_return, .maxactive = 4 };
static struct kretprobe rev_probe = { .kp.symbol_name = "klp_reverse_transition", .entry_handler = rev_entry, .handler = rev_return, .maxactive = 4 };
static struct kretprobe force_probe = { .kp.symbol_name = "klp_force_transition", .entry_handler = force_entry, .handler = force_return, .maxactive = 4 };
static struct kretprobe *klp_kretprobes[] = { &init_probe, &start_probe, &rev_probe, &force_probe };

/* klp_try_complete_transition() entered: the first try, and every retry. */
static int try_entry(struct kprobe *p, struct pt_regs *regs) { return klpt_entered(&klpt_tries); }
static struct kprobe try_probe = { .symbol_name = "klp_try_complete_transition", .pre_handler = try_entry };

/*
 * klpt_counting says whether the probes fire: not while kprobes are
 * disarmed (debugfs kprobes/enabled), nor, for probes on ftrace call sites
 * (x86's KPROBES_ON_FTRACE), while ftrace_enabled is 0. -1 when that
 * cannot be read.
 */
static int klpt_counting(void)
{
	if (klpt_kprobes_all_disarmed && READ_ONCE(*klpt_kprobes_all_disarmed))
		return 0;
	if (!(init_probe.kp.flags & KPROBE_FLAG_FTRACE) && !(try_probe.flags & KPROBE_FLAG_FTRACE))
		return 1;
	if (!klpt_ftrace_enabled)
		return -1;
	return READ_ONCE(*klpt_ftrace_enabled) ? 1 : 0;
}

/* klpt_missed sums the hits the probes missed: a count then lost for good. */
static s64 klpt_missed(void)
{
	s64 n = try_probe.nmissed;
	int i;

	for (i = 0; i < ARRAY_SIZE(klp_kretprobes); i++)
		n += klp_kretprobes[i]->nmissed + klp_kretprobes[i]->kp.nmissed;
	return n;
}

/*
 * klpt_resolve_data returns the address of the kernel data symbol name, or
 * NULL. register_kprobe() looks the name up in kallsyms (data symbols are
 * there with CONFIG_KALLSYMS_ALL) and stores the address in the kprobe
 * before it refuses, with -EINVAL, an address that is no kernel text.
 */
static void *klpt_resolve_data(const char *name)
{
	struct kprobe kp = { .symbol_name = name };
	int ret = register_kprobe(&kp);

	if (ret == 0) {  /* text: not the variable */
		unregister_kprobe(&kp);
		return NULL;
	}
	return ret == -EINVAL ? (void *)kp.addr : NULL;
}

/* klpt_klp_on sets up the transition records; without them, none. */
static bool klpt_klp_on(void)
{
	int ret, i;

	klpt_transition_patch = klpt_resolve_data("klp_transition_patch");
	klpt_target_state = klpt_resolve_data("klp_target_state");
	klpt_ftrace_enabled = klpt_resolve_data("ftrace_enabled");
	klpt_kprobes_all_disarmed = klpt_resolve_data("kprobes_all_disarmed");
	if (!klpt_transition_patch || !klpt_target_state) {
		pr_warn("cannot find klp_transition_patch or klp_target_state in kallsyms; no transition records\n");
		return false;
	}
	ret = register_kprobe(&try_probe);
	if (ret) {
		pr_warn("cannot probe klp_try_complete_transition(): %d; no transition records\n", ret);
		return false;
	}
	for (i = 0; i < ARRAY_SIZE(klp_kretprobes); i++) {
		ret = register_kretprobe(klp_kretprobes[i]);
		if (ret) {
			pr_warn("cannot probe %s(): %d; no transition records\n", klp_kretprobes[i]->kp.symbol_name, ret);
			while (--i >= 0)
				unregister_kretprobe(klp_kretprobes[i]);
			unregister_kprobe(&try_probe);
			return false;
		}
	}
	return true;
}

static void klpt_klp_off(void)
{
	int i;

	if (!klp_on)
		return;
	for (i = ARRAY_SIZE(klp_kretprobes) - 1; i >= 0; i--)
		unregister_kretprobe(klp_kretprobes[i]);
	unregister_kprobe(&try_probe);
}

struct fork_rec {
	u64 t;
	int ppid, ptgid, cpid, ctgid;
	s8 pstate, ppend, cstate, cpend, copied_state, copied_pend;
};

/* What the kretprobe keeps from klp_copy_process()'s entry to its return. */
struct fork_entry {
	struct task_struct *child;
	s8 copied_state, copied_pend;
};

#define FORK_RING (1 << 16)
static struct fork_rec *fork_ring;
static unsigned int fork_head, fork_count;
static unsigned long fork_dropped;
static DEFINE_SPINLOCK(fork_lock);
static bool forks_on;

static void klpt_state_of(struct task_struct *t, s8 *state, s8 *pending)
{
	*state = READ_ONCE(t->patch_state);
	smp_rmb();
	*pending = test_tsk_thread_flag(t, TIF_PATCH_PENDING) ? 1 : 0;
}

static int fork_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct fork_entry *e = (struct fork_entry *)ri->data;

	e->child = (struct task_struct *)regs_get_kernel_argument(regs, 0);
	klpt_state_of(e->child, &e->copied_state, &e->copied_pend);
	return 0;
}

static int fork_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct fork_entry *e = (struct fork_entry *)ri->data;
	struct task_struct *child = e->child;
	struct fork_rec r;
	unsigned long flags;

	r.t = ktime_get_ns();
	r.ppid = task_pid_nr(current);
	r.ptgid = task_tgid_nr(current);
	r.cpid = child->pid;
	r.ctgid = child->tgid;
	klpt_state_of(current, &r.pstate, &r.ppend);
	klpt_state_of(child, &r.cstate, &r.cpend);
	r.copied_state = e->copied_state;
	r.copied_pend = e->copied_pend;
	spin_lock_irqsave(&fork_lock, flags);
	if (fork_count < FORK_RING) {
		fork_ring[(fork_head + fork_count) % FORK_RING] = r;
		fork_count++;
	} else {
		fork_dropped++;
	}
	spin_unlock_irqrestore(&fork_lock, flags);
	return 0;
}

static struct kretprobe fork_probe = {
	.kp.symbol_name = "klp_copy_process",
	.entry_handler = fork_entry,
	.handler = fork_return,
	.data_size = sizeof(struct fork_entry),
	.maxactive = 64,
};

struct exit_rec {
	u64 t0, t1;
	int pid, tgid, version;
	s8 state, pend, listed, enabled0, enabled1, open;
};

#define EXIT_RING (1 << 15)
static struct exit_rec *exit_ring;
static unsigned int exit_head, exit_count;
static unsigned long exit_dropped;
static DEFINE_SPINLOCK(exit_lock);

/*
 * proc_invalidate_siblings_dcache(), the whole of proc_flush_pid()'s work,
 * is not exported: resolved at load (klpt_resolve_text()). Without it the
 * livepatches' proc_flush_pid() leaves a dead thread's /proc dentries to
 * be dropped when next looked up (pid_revalidate() refuses them), as they
 * would be anyway under memory pressure.
 */
static void (*klpt_invalidate_dcache)(struct hlist_head *inodes, spinlock_t *lock);

bool klpt_probe_exit_enter(struct klpt_exit_call *c, int version, bool enabled)
{
	char comm[TASK_COMM_LEN];
	unsigned int ms;

	/* Its own name: only prctl(PR_SET_NAME) in the thread changes it. */
	strscpy(comm, current->comm, sizeof(comm));
	if (!exit_ring || strncmp(comm, KLPT_EXIT_COMM, sizeof(KLPT_EXIT_COMM) - 1) ||
	    kstrtouint(comm + sizeof(KLPT_EXIT_COMM) - 1, 10, &ms))
		return false;
	c->sleep_ms = min(ms, (unsigned int)KLPT_EXIT_SLEEP_MAX_MS);
	c->t0 = ktime_get_ns();
	c->version = version;
	klpt_state_of(current, &c->state, &c->pend);
	c->listed = pid_alive(current) ? 1 : 0;
	c->enabled = enabled ? 1 : 0;
	c->open = klpt_transition_patch ? (READ_ONCE(*klpt_transition_patch) != NULL) : -1;
	return true;
}
EXPORT_SYMBOL_GPL(klpt_probe_exit_enter);

void klpt_probe_exit_leave(struct klpt_exit_call *c, bool enabled)
{
	struct exit_rec r = {
		.t0 = c->t0, .t1 = ktime_get_ns(),
		.pid = task_pid_nr(current), .tgid = task_tgid_nr(current),
		.version = c->version, .state = c->state, .pend = c->pend,
		.listed = c->listed, .enabled0 = c->enabled, .enabled1 = enabled ? 1 : 0,
		.open = c->open,
	};
	unsigned long flags;

	spin_lock_irqsave(&exit_lock, flags);
	if (exit_count < EXIT_RING) {
		exit_ring[(exit_head + exit_count) % EXIT_RING] = r;
		exit_count++;
	} else {
		exit_dropped++;
	}
	spin_unlock_irqrestore(&exit_lock, flags);
}
EXPORT_SYMBOL_GPL(klpt_probe_exit_leave);

void klpt_probe_flush_pid(struct pid *pid)
{
	if (klpt_invalidate_dcache)
		klpt_invalidate_dcache(&pid->inodes, &pid->lock);
}
EXPORT_SYMBOL_GPL(klpt_probe_flush_pid);

/*
 * The registry of chain calls under way. A raw spinlock: the switch probe
 * takes it under the runqueue lock; a target's leave waits for a reader
 * that still looks at its chain, which lives on the target's stack.
 */
#define CHAIN_SLOTS 64
struct chain_slot {
	struct task_struct *task;
	struct klpt_chain *c;
};
static struct chain_slot chain_slots[CHAIN_SLOTS];
static DEFINE_RAW_SPINLOCK(chain_lock);

/* Returns the slot to leave, or -1 when all are taken (the call then goes unseen). */
int klpt_probe_chain_enter(struct klpt_chain *c)
{
	unsigned long flags;
	int i;

	raw_spin_lock_irqsave(&chain_lock, flags);
	for (i = 0; i < CHAIN_SLOTS; i++) {
		if (!chain_slots[i].task) {
			chain_slots[i].task = current;
			chain_slots[i].c = c;
			break;
		}
	}
	raw_spin_unlock_irqrestore(&chain_lock, flags);
	return i < CHAIN_SLOTS ? i : -1;
}
EXPORT_SYMBOL_GPL(klpt_probe_chain_enter);

void klpt_probe_chain_leave(int slot)
{
	unsigned long flags;

	if (slot < 0 || slot >= CHAIN_SLOTS)
		return;
	raw_spin_lock_irqsave(&chain_lock, flags);
	chain_slots[slot].task = NULL;
	chain_slots[slot].c = NULL;
	raw_spin_unlock_irqrestore(&chain_lock, flags);
}
EXPORT_SYMBOL_GPL(klpt_probe_chain_leave);

struct switch_rec {
	u64 t;
	int pid, tgid, ret;
	s8 self, on_cpu, runnable, where, entered, returned, state, pend, idle, hook;
	int cpu;
	unsigned long caller; /* a hook run: the return address into its caller */
};

#define SWITCH_RING (1 << 15)
static struct switch_rec *switch_ring;
static unsigned int switch_head, switch_count;
static unsigned long switch_dropped;
static DEFINE_RAW_SPINLOCK(switch_lock);
static bool switches_on;

/* Fills r's chain position from t's registration; false when t has none. */
static bool switch_chain_of(struct task_struct *t, struct switch_rec *r)
{
	unsigned long flags;
	bool found = false;
	int i;

	raw_spin_lock_irqsave(&chain_lock, flags);
	for (i = 0; i < CHAIN_SLOTS; i++) {
		struct klpt_chain *c = chain_slots[i].c;

		if (chain_slots[i].task != t)
			continue;
		r->entered = READ_ONCE(c->n);
		r->returned = READ_ONCE(c->returned);
		r->where = READ_ONCE(c->where);
		found = true;
		break;
	}
	raw_spin_unlock_irqrestore(&chain_lock, flags);
	return found;
}

static void switch_push(const struct switch_rec *r)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&switch_lock, flags);
	if (switch_count < SWITCH_RING) {
		switch_ring[(switch_head + switch_count) % SWITCH_RING] = *r;
		switch_count++;
	} else {
		switch_dropped++;
	}
	raw_spin_unlock_irqrestore(&switch_lock, flags);
}

static int switch_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct switch_rec *r = (struct switch_rec *)ri->data;
	struct task_struct *t = (struct task_struct *)regs_get_kernel_argument(regs, 0);
	bool found = switch_chain_of(t, r);

	r->hook = KLPT_HOOK_NONE;
	r->idle = is_idle_task(t) ? 1 : 0;
	r->cpu = -1;
	if (r->idle) {
		r->entered = r->returned = r->where = 0;
		r->cpu = task_cpu(t);
	} else if (!found) {
		return 1; /* neither idle nor in a chain call: no record, no return handler */
	}
	r->pid = task_pid_nr(t);
	r->tgid = task_tgid_nr(t);
	r->self = t == current;
	r->on_cpu = READ_ONCE(t->on_cpu) ? 1 : 0;
	r->runnable = READ_ONCE(t->__state) == TASK_RUNNING ? 1 : 0;
	klpt_state_of(t, &r->state, &r->pend);
	return 0;
}

static int switch_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct switch_rec *r = (struct switch_rec *)ri->data;

	r->t = ktime_get_ns();
	r->ret = (int)regs_return_value(regs);
	switch_push(r);
	return 0;
}

/*
 * The scheduler's switch point, in kernels that have one (6.4 on):
 * __klp_sched_try_switch(), which klp_sched_try_switch() calls in the
 * running task while a transition is under way, and which tries to switch
 * that task itself if its TIF_PATCH_PENDING is set. Where it is called from
 * differs by version, and the task's state there tells which: running, in
 * cond_resched(); going to sleep TASK_FREEZABLE, in __schedule(). Which
 * one is the caller's: the task's state is no witness, as a wake-up (its
 * sleep's timer, say) may make it TASK_RUNNING between __schedule()'s look
 * at it and this probe's. A plain
 * kprobe, at its entry, for registered tasks with the flag set (it does
 * nothing for others): a kretprobe's trampoline would sit on the very stack
 * the hook then checks. Its outcome is the task's next record, and the
 * attempt it makes has a record of its own where
 * klp_check_and_switch_task() is not inlined into it. RET is 1, no outcome.
 */
static unsigned long hook_caller(struct pt_regs *regs)
{
#if defined(CONFIG_X86)
	return regs_get_kernel_stack_nth(regs, 0); /* at the entry: the return address */
#elif defined(CONFIG_ARM64)
	return procedure_link_pointer(regs);
#else
	return 0;
#endif
}

static int hook_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct switch_rec r = {};
	unsigned int st = READ_ONCE(current->__state);

	if (!test_tsk_thread_flag(current, TIF_PATCH_PENDING) || !switch_chain_of(current, &r))
		return 0;
	r.t = ktime_get_ns();
	r.pid = task_pid_nr(current);
	r.tgid = task_tgid_nr(current);
	r.self = 1;
	r.on_cpu = 1;
	r.runnable = st == TASK_RUNNING ? 1 : 0;
	r.cpu = -1;
	r.ret = 1;
	r.hook = KLPT_HOOK_RUN;
	r.caller = hook_caller(regs);
	klpt_state_of(current, &r.state, &r.pend);
	switch_push(&r);
	return 0;
}

static struct kprobe hook_probe = {
	.symbol_name = "__klp_sched_try_switch",
	.pre_handler = hook_pre,
};
static bool hook_on;

static struct kretprobe switch_probe = {
	.kp.symbol_name = "klp_check_and_switch_task",
	.entry_handler = switch_entry,
	.handler = switch_return,
	.data_size = sizeof(struct switch_rec),
	.maxactive = 32,
};

static int klpt_switches_open(struct inode *inode, struct file *f)
{
	struct snap *s;
	struct switch_rec *recs;
	unsigned int n, i;
	unsigned long flags, dropped;
	size_t cap, len = 0;

	recs = kvmalloc_array(SWITCH_RING, sizeof(*recs), GFP_KERNEL);
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!recs || !s) {
		kvfree(recs);
		kfree(s);
		return -ENOMEM;
	}
	raw_spin_lock_irqsave(&switch_lock, flags);
	n = switch_count;
	for (i = 0; i < n; i++)
		recs[i] = switch_ring[(switch_head + i) % SWITCH_RING];
	switch_head = (switch_head + n) % SWITCH_RING;
	switch_count = 0;
	dropped = switch_dropped;
	raw_spin_unlock_irqrestore(&switch_lock, flags);

	cap = (size_t)n * LINE_MAX_LEN + 128;
	s->buf = kvmalloc(cap, GFP_KERNEL);
	if (!s->buf) {
		kvfree(recs);
		kfree(s);
		return -ENOMEM;
	}
	dropped += switch_probe.nmissed + hook_probe.nmissed;
	len += scnprintf(s->buf + len, cap - len, "# klpt_switches v3 n=%u dropped=%lu\n", n, dropped);
	for (i = 0; i < n; i++)
		len += scnprintf(s->buf + len, cap - len, "%llu %d %d %d %d %d %d %d %d %d %d %d %d %d %d %ps\n",
				 recs[i].t, recs[i].pid, recs[i].tgid, recs[i].self, recs[i].on_cpu, recs[i].runnable,
				 recs[i].where, recs[i].entered, recs[i].returned, recs[i].state,
				 recs[i].pend, recs[i].ret, recs[i].idle, recs[i].cpu, recs[i].hook,
				 (void *)recs[i].caller);
	s->len = len;
	kvfree(recs);
	f->private_data = s;
	return 0;
}

static int klpt_forks_open(struct inode *inode, struct file *f)
{
	struct snap *s;
	struct fork_rec *recs;
	unsigned int n, i;
	unsigned long flags, dropped;
	size_t cap, len = 0;

	recs = kvmalloc_array(FORK_RING, sizeof(*recs), GFP_KERNEL);
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!recs || !s) {
		kvfree(recs);
		kfree(s);
		return -ENOMEM;
	}
	spin_lock_irqsave(&fork_lock, flags);
	n = fork_count;
	for (i = 0; i < n; i++)
		recs[i] = fork_ring[(fork_head + i) % FORK_RING];
	fork_head = (fork_head + n) % FORK_RING;
	fork_count = 0;
	dropped = fork_dropped;
	spin_unlock_irqrestore(&fork_lock, flags);

	cap = (size_t)n * LINE_MAX_LEN + 128;
	s->buf = kvmalloc(cap, GFP_KERNEL);
	if (!s->buf) {
		kvfree(recs);
		kfree(s);
		return -ENOMEM;
	}
	/* Forks the kretprobe itself missed count as dropped too. */
	dropped += fork_probe.nmissed;
	len += scnprintf(s->buf + len, cap - len, "# klpt_forks v2 n=%u dropped=%lu\n", n, dropped);
	for (i = 0; i < n; i++)
		len += scnprintf(s->buf + len, cap - len, "%llu %d %d %d %d %d %d %d %d %d %d\n",
				 recs[i].t, recs[i].ppid, recs[i].ptgid, recs[i].cpid, recs[i].ctgid,
				 recs[i].pstate, recs[i].ppend, recs[i].cstate, recs[i].cpend,
				 recs[i].copied_state, recs[i].copied_pend);
	s->len = len;
	kvfree(recs);
	f->private_data = s;
	return 0;
}

/*
 * klpt_resolve_text returns the address of the kernel function name, for
 * those not exported: a kprobe registered on it tells the address, and is
 * removed at once. Kprobes may place the probe after an ENDBR
 * instruction, so step back over one if it is there.
 */
static unsigned long klpt_resolve_text(const char *name)
{
	struct kprobe kp = { .symbol_name = name };
	unsigned long addr;

	if (register_kprobe(&kp) < 0)
		return 0;
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);
#ifdef CONFIG_X86
	{
		static const u8 endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };

		if (addr >= 4 && !memcmp((void *)(addr - 4), endbr64, 4))
			addr -= 4;
	}
#endif
	return addr;
}

static int klpt_exits_open(struct inode *inode, struct file *f)
{
	struct snap *s;
	struct exit_rec *recs;
	unsigned int n, i;
	unsigned long flags, dropped;
	size_t cap, len = 0;

	recs = kvmalloc_array(EXIT_RING, sizeof(*recs), GFP_KERNEL);
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!recs || !s) {
		kvfree(recs);
		kfree(s);
		return -ENOMEM;
	}
	spin_lock_irqsave(&exit_lock, flags);
	n = exit_count;
	for (i = 0; i < n; i++)
		recs[i] = exit_ring[(exit_head + i) % EXIT_RING];
	exit_head = (exit_head + n) % EXIT_RING;
	exit_count = 0;
	dropped = exit_dropped;
	spin_unlock_irqrestore(&exit_lock, flags);

	cap = (size_t)n * LINE_MAX_LEN + 128;
	s->buf = kvmalloc(cap, GFP_KERNEL);
	if (!s->buf) {
		kvfree(recs);
		kfree(s);
		return -ENOMEM;
	}
	len += scnprintf(s->buf + len, cap - len, "# klpt_exits v2 n=%u dropped=%lu\n", n, dropped);
	for (i = 0; i < n; i++)
		len += scnprintf(s->buf + len, cap - len, "%llu %llu %d %d %d %d %d %d %d %d %d\n",
				 recs[i].t0, recs[i].t1, recs[i].pid, recs[i].tgid, recs[i].version,
				 recs[i].state, recs[i].pend, recs[i].listed, recs[i].enabled0, recs[i].enabled1,
				 recs[i].open);
	s->len = len;
	kvfree(recs);
	f->private_data = s;
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
	char hdr[96 + 2 * 200];
	int hlen;
	struct klp_reading before, after;

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
	if (klp_on)
		klpt_read_klp(&before);
	rcu_read_lock();
	for_each_process_thread(g, t) {
		/* Keep room for the idle tasks' lines after the list. */
		if (cap - len < (size_t)(num_possible_cpus() + 1) * LINE_MAX_LEN) {
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
	if (klp_on)
		klpt_read_klp(&after);
	t1 = ktime_get_ns();

	hlen = scnprintf(hdr, sizeof(hdr), "# klpt_tasks v1 t0=%llu t1=%llu n=%d\n",
			 t0, t1, n);
	if (klp_on) {
		hlen += klpt_klp_line(hdr + hlen, sizeof(hdr) - hlen, "before", &before);
		hlen += klpt_klp_line(hdr + hlen, sizeof(hdr) - hlen, "after", &after);
	}
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

static const struct proc_ops klpt_switches_ops = {
	.proc_open = klpt_switches_open,
	.proc_read = klpt_read,
	.proc_release = klpt_release,
	.proc_lseek = default_llseek,
};

static const struct proc_ops klpt_exits_ops = {
	.proc_open = klpt_exits_open,
	.proc_read = klpt_read,
	.proc_release = klpt_release,
	.proc_lseek = default_llseek,
};

static const struct proc_ops klpt_forks_ops = {
	.proc_open = klpt_forks_open,
	.proc_read = klpt_read,
	.proc_release = klpt_release,
	.proc_lseek = default_llseek,
};

/*
 * /proc/klpt_inject: test-only fault injection, to show that klptest's rules
 * fire on a kernel that breaks the consistency model. Writing
 *   set-pending PID | clear-pending PID
 * sets or clears that task's TIF_PATCH_PENDING behind livepatch's back;
 *   warn PID
 * raises a kernel WARNING (with its call trace) in the writer, which the
 * kernel-log rule must report;
 *   hang PID | panic PID
 * never return (the writer sleeps uninterruptibly, for ever) or panic the
 * kernel: the fault tests' guest hang and guest panic.
 */
static noinline void klpt_inject_warning(int pid)
{
	WARN(1, "klptest: injected warning (pid %d)\n", pid);
}

static noinline void klpt_inject_hang(int pid)
{
	pr_info("injected hang into pid %d\n", pid);
	for (;;)
		schedule_timeout_uninterruptible(HZ);
}

static ssize_t klpt_inject_write(struct file *f, const char __user *ubuf, size_t n, loff_t *pos)
{
	char buf[64], what[32];
	struct task_struct *t;
	struct pid *p;
	int pid;

	if (n >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, n))
		return -EFAULT;
	buf[n] = 0;
	if (sscanf(buf, "%31s %d", what, &pid) != 2)
		return -EINVAL;
	/* find_task_by_pid_ns() is not exported on older kernels. */
	p = find_get_pid(pid);
	t = p ? get_pid_task(p, PIDTYPE_PID) : NULL;
	put_pid(p);
	if (!t)
		return -ESRCH;
	if (!strcmp(what, "warn"))
		klpt_inject_warning(pid);
	else if (!strcmp(what, "hang"))
		klpt_inject_hang(pid);
	else if (!strcmp(what, "panic"))
		panic("klptest: injected panic (pid %d)", pid);
	else if (!strcmp(what, "set-pending"))
		set_tsk_thread_flag(t, TIF_PATCH_PENDING);
	else if (!strcmp(what, "clear-pending"))
		clear_tsk_thread_flag(t, TIF_PATCH_PENDING);
	else
		n = -EINVAL;
	put_task_struct(t);
	if ((ssize_t)n > 0)
		pr_info("injected %s into pid %d\n", what, pid);
	return n;
}

static const struct proc_ops klpt_inject_ops = {
	.proc_write = klpt_inject_write,
};

static int __init klpt_probe_init(void)
{
	int ret;

	klpt_idle_task = (void *)klpt_resolve_text("idle_task");
	if (!klpt_idle_task) {
		pr_err("cannot resolve idle_task() through a kprobe\n");
		return -ENOENT;
	}
	/* Transition records are optional: without them the kernel's selftests are judged by their scripts alone. */
	klp_on = klpt_klp_on();
	if (!proc_create("klpt_tasks", 0444, NULL, &klpt_proc_ops)) {
		klpt_klp_off();
		return -ENOMEM;
	}
	if (!proc_create("klpt_inject", 0200, NULL, &klpt_inject_ops)) {
		remove_proc_entry("klpt_tasks", NULL);
		klpt_klp_off();
		return -ENOMEM;
	}
	/* Fork records are optional: without them only fork-storm fails. */
	fork_ring = vmalloc(FORK_RING * sizeof(*fork_ring));
	if (fork_ring) {
		ret = register_kretprobe(&fork_probe);
		if (ret)
			pr_warn("cannot probe klp_copy_process(): %d; no fork records\n", ret);
		else if (proc_create("klpt_forks", 0444, NULL, &klpt_forks_ops))
			forks_on = true;
		else
			unregister_kretprobe(&fork_probe);
	}
	/* Switch records are optional too: without them the chain case says it could not test. */
	switch_ring = vmalloc(SWITCH_RING * sizeof(*switch_ring));
	if (switch_ring) {
		ret = register_kretprobe(&switch_probe);
		if (ret)
			pr_warn("cannot probe klp_check_and_switch_task(): %d; no switch records\n", ret);
		else if (proc_create("klpt_switches", 0444, NULL, &klpt_switches_ops))
			switches_on = true;
		else
			unregister_kretprobe(&switch_probe);
	}
	/* Exit-path records are optional: without them the exits case says it could not test. */
	klpt_invalidate_dcache = (void *)klpt_resolve_text("proc_invalidate_siblings_dcache");
	if (!klpt_invalidate_dcache)
		pr_warn("cannot resolve proc_invalidate_siblings_dcache(): the livepatches' proc_flush_pid() leaves dead threads' dentries to revalidation\n");
	exit_ring = vmalloc(EXIT_RING * sizeof(*exit_ring));
	if (exit_ring && !proc_create("klpt_exits", 0444, NULL, &klpt_exits_ops)) {
		vfree(exit_ring);
		exit_ring = NULL;
	}
	/* No scheduler switch point before 6.4: no hook records. */
	if (switches_on) {
		ret = register_kprobe(&hook_probe);
		if (ret)
			pr_info("no scheduler switch point to probe (__klp_sched_try_switch): %d\n", ret);
		else
			hook_on = true;
	}
	return 0;
}

static void __exit klpt_probe_exit(void)
{
	if (hook_on)
		unregister_kprobe(&hook_probe);
	if (exit_ring) {
		remove_proc_entry("klpt_exits", NULL);
		vfree(exit_ring);
	}
	if (switches_on) {
		remove_proc_entry("klpt_switches", NULL);
		unregister_kretprobe(&switch_probe);
	}
	vfree(switch_ring);
	if (forks_on) {
		remove_proc_entry("klpt_forks", NULL);
		unregister_kretprobe(&fork_probe);
	}
	vfree(fork_ring);
	remove_proc_entry("klpt_inject", NULL);
	remove_proc_entry("klpt_tasks", NULL);
	klpt_klp_off();
}

module_init(klpt_probe_init);
module_exit(klpt_probe_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klptest: per-task livepatch state snapshots");
