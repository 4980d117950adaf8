package mutants

// The files the corpus mutates, in the kernel tree.
const (
	transitionC = "kernel/livepatch/transition.c"
	patchC      = "kernel/livepatch/patch.c"
	coreC       = "kernel/livepatch/core.c"
)

// Corpus is every mutant, written from linux-source 7.2's
// kernel/livepatch. Its ids are stable: results are compared across runs
// by id. A guard is disabled with "0 &&" or "if (0)" rather than deleted,
// so that what it called stays used and the mutant builds without a new
// warning.
func Corpus() []Mutant {
	out := make([]Mutant, len(corpus))
	copy(out, corpus)
	return out
}

// klp_reverse_transition's steps that tr-reverse-goal-first reorders:
// clearing every flag and synchronising, then flipping the goal.
const (
	reverseClearing = "\tread_lock(&tasklist_lock);\n\tfor_each_process_thread(g, task)\n\t\tclear_tsk_thread_flag(task, TIF_PATCH_PENDING);\n" +
		"\tread_unlock(&tasklist_lock);\n\n\tfor_each_possible_cpu(cpu)\n\t\tclear_tsk_thread_flag(idle_task(cpu), TIF_PATCH_PENDING);\n\n" +
		"\t/*\n\t * Make sure all existing invocations of klp_update_patch_state() and\n" +
		"\t * __klp_sched_try_switch() see the cleared TIF_PATCH_PENDING before\n" +
		"\t * starting the reverse transition.\n\t */\n\tklp_synchronize_transition();\n\n" +
		"\t/*\n\t * All patching has stopped, now re-initialize the global variables to\n" +
		"\t * prepare for the reverse transition.\n\t */\n" +
		"\tklp_transition_patch->enabled = !klp_transition_patch->enabled;\n"
	reverseFlip = "\tklp_target_state = !klp_target_state;\n"
)

var corpus = []Mutant{
	// klp_synchronize_transition
	{ID: "tr-sync-skip", File: transitionC, Func: "klp_synchronize_transition",
		Desc: "no CPU is synchronised: the ftrace handler may still see a func being removed, or a task state being reset",
		Old:  "\tschedule_on_each_cpu(klp_sync);\n}",
		New:  "\tif (0)\n\t\tschedule_on_each_cpu(klp_sync);\n}"},

	// klp_complete_transition
	{ID: "tr-complete-replace-skip", File: transitionC, Func: "klp_complete_transition",
		Desc: "a completed atomic replace leaves the replaced patches applied and enabled, and its nops in place",
		Old:  "\tif (klp_transition_patch->replace && klp_target_state == KLP_TRANSITION_PATCHED) {",
		New:  "\tif (0 && klp_transition_patch->replace && klp_target_state == KLP_TRANSITION_PATCHED) {"},
	{ID: "tr-complete-unpatch-skip", File: transitionC, Func: "klp_complete_transition",
		Desc: "a completed unpatching leaves the new functions on the func_stack: every task runs them after the patch is disabled",
		Old:  "\t\tklp_unpatch_objects(klp_transition_patch);\n",
		New:  "\t\tif (0)\n\t\t\tklp_unpatch_objects(klp_transition_patch);\n"},
	{ID: "tr-complete-unpatch-sync-skip", File: transitionC, Func: "klp_complete_transition",
		Desc: "func->transition is cleared while a handler may still hold a func just removed from the func_stack",
		Old:  "\t\tklp_synchronize_transition();\n\t}\n\n\tklp_for_each_object(klp_transition_patch, obj)",
		New:  "\t\tif (0)\n\t\t\tklp_synchronize_transition();\n\t}\n\n\tklp_for_each_object(klp_transition_patch, obj)"},
	{ID: "tr-complete-transition-kept", File: transitionC, Func: "klp_complete_transition",
		Desc: "func->transition stays set after the transition: the handler reads the tasks' idle state as a version",
		Old:  "\t\t\tfunc->transition = false;",
		New:  "\t\t\tfunc->transition = true;"},
	{ID: "tr-complete-patched-sync-skip", File: transitionC, Func: "klp_complete_transition",
		Desc: "task states are reset to idle while a handler that saw func->transition may still read them",
		Old:  "\tif (klp_target_state == KLP_TRANSITION_PATCHED)\n\t\tklp_synchronize_transition();",
		New:  "\tif (0 && klp_target_state == KLP_TRANSITION_PATCHED)\n\t\tklp_synchronize_transition();"},
	{ID: "tr-complete-task-state-kept", File: transitionC, Func: "klp_complete_transition",
		Desc: "normal tasks keep their 0/1 state between transitions instead of going back to idle (-1)",
		Old:  "\t\ttask->patch_state = KLP_TRANSITION_IDLE;\n\t}\n\tread_unlock(&tasklist_lock);",
		New:  "\t}\n\tread_unlock(&tasklist_lock);"},
	{ID: "tr-complete-idle-state-kept", File: transitionC, Func: "klp_complete_transition",
		Desc: "the idle (swapper) tasks keep their 0/1 state between transitions instead of going back to idle (-1)",
		Old:  "\t\ttask->patch_state = KLP_TRANSITION_IDLE;\n\t}\n\n\tklp_for_each_object(klp_transition_patch, obj) {",
		New:  "\t}\n\n\tklp_for_each_object(klp_transition_patch, obj) {"},
	{ID: "tr-complete-patch-kept", File: transitionC, Func: "klp_complete_transition",
		Desc: "the completed patch stays the transition patch: sysfs shows it in transition, and the next enable or disable is refused",
		Old:  "\tklp_transition_patch = NULL;\n}",
		New:  "}"},

	// klp_cancel_transition
	{ID: "tr-cancel-target-kept", File: transitionC, Func: "klp_cancel_transition",
		Desc: "a failed enable completes as patched instead of unpatched: its half-applied functions stay on the func_stack",
		Old:  "\tklp_target_state = KLP_TRANSITION_UNPATCHED;\n\tklp_complete_transition();",
		New:  "\tklp_complete_transition();"},

	// klp_update_patch_state
	{ID: "tr-update-flag-kept", File: transitionC, Func: "klp_update_patch_state",
		Desc: "a task switched at kernel exit keeps TIF_PATCH_PENDING although its state reached the goal",
		Old:  "\tif (test_and_clear_tsk_thread_flag(task, TIF_PATCH_PENDING))",
		New:  "\tif (test_tsk_thread_flag(task, TIF_PATCH_PENDING))"},
	{ID: "tr-update-state-skip", File: transitionC, Func: "klp_update_patch_state",
		Desc: "kernel exit clears TIF_PATCH_PENDING without switching the task's state: the flag is lost, the task left behind",
		Old:  "\t\ttask->patch_state = READ_ONCE(klp_target_state);",
		New:  "\t\t(void)READ_ONCE(klp_target_state);"},

	// klp_check_stack_func
	{ID: "tr-stack-func-skip", File: transitionC, Func: "klp_check_stack_func",
		Desc: "no stack entry ever matches: a task asleep in a function being (un)patched is switched at an unsafe point",
		Old:  "\t\tif (address >= func_addr && address < func_addr + func_size)",
		New:  "\t\tif (0 && address >= func_addr && address < func_addr + func_size)"},
	{ID: "tr-stack-func-unpatch-old", File: transitionC, Func: "klp_check_stack_func",
		Desc: "unpatching looks for the old function instead of the new one: a task asleep in the new function is switched back",
		Old:  "\t\tfunc_addr = (unsigned long)func->new_func;\n\t\tfunc_size = func->new_size;\n\t} else {",
		New:  "\t\tfunc_addr = (unsigned long)func->old_func;\n\t\tfunc_size = func->old_size;\n\t} else {"},
	{ID: "tr-stack-func-patch-new", File: transitionC, Func: "klp_check_stack_func",
		Desc: "patching looks for the new function instead of the original: a task asleep in the original is switched",
		Old:  "\t\t\tfunc_addr = (unsigned long)func->old_func;\n\t\t\tfunc_size = func->old_size;",
		New:  "\t\t\tfunc_addr = (unsigned long)func->new_func;\n\t\t\tfunc_size = func->new_size;"},
	{ID: "tr-stack-func-prev-self", File: transitionC, Func: "klp_check_stack_func",
		Desc: "a patch stacked on another looks for its own function, not the previous patch's: a task asleep in that one is switched",
		Old:  "\t\t\tprev = list_next_entry(func, stack_node);",
		New:  "\t\t\tprev = func;"},

	// klp_check_stack
	{ID: "tr-check-stack-unreliable-ignored", File: transitionC, Func: "klp_check_stack",
		Desc: "an unreliable unwind is read as an empty stack: the task is switched without its stack being known",
		Old:  "\tif (ret < 0)\n\t\treturn -EINVAL;\n\tnr_entries = ret;",
		New:  "\tif (ret < 0)\n\t\tret = 0;\n\tnr_entries = ret;"},
	{ID: "tr-check-stack-first-func-only", File: transitionC, Func: "klp_check_stack",
		Desc: "only each object's first function is looked for on the stack: a task asleep in another is switched",
		Old:  "\t\t\t\treturn -EADDRINUSE;\n\t\t\t}\n\t\t}\n",
		New:  "\t\t\t\treturn -EADDRINUSE;\n\t\t\t}\n\t\t\tbreak;\n\t\t}\n"},
	{ID: "tr-check-stack-last-func-only", File: transitionC, Func: "klp_check_stack",
		Desc: "only each object's last function counts when found on the stack: a task asleep in another is switched",
		Old:  "\t\t\tret = klp_check_stack_func(func, entries, nr_entries);\n\t\t\tif (ret) {",
		New:  "\t\t\tret = klp_check_stack_func(func, entries, nr_entries);\n\t\t\tif (ret && list_is_last(&func->node, &obj->func_list)) {"},
	{ID: "tr-check-stack-first-object-only", File: transitionC, Func: "klp_check_stack",
		Desc: "only the patch's first object is looked for on the stack: a task asleep in a later object's function is switched",
		Old:  "\t\t\t}\n\t\t}\n\t}\n\n\treturn 0;\n}\n\nstatic int klp_check_and_switch_task",
		New:  "\t\t\t}\n\t\t}\n\t\tbreak;\n\t}\n\n\treturn 0;\n}\n\nstatic int klp_check_and_switch_task"},

	// klp_check_and_switch_task
	{ID: "tr-running-task-switched", File: transitionC, Func: "klp_check_and_switch_task",
		Desc: "a task running on another CPU is not refused: its moving stack is checked and it is switched mid-call",
		Old:  "\tif (task_curr(task) && task != current)",
		New:  "\tif (0 && task_curr(task) && task != current)",
		Equivalent: map[string]string{
			"x86_64": "x86's ORC unwinder refuses the stack of a task on another CPU itself (task_on_another_cpu() in __unwind_start()): klp_check_stack() then fails with -EINVAL, measured so on 7.2.13, a second guard standing",
		}},
	{ID: "tr-check-switch-flag-kept", File: transitionC, Func: "klp_check_and_switch_task",
		Desc: "a task switched by the stack check keeps TIF_PATCH_PENDING although its state reached the goal",
		Old:  "\tclear_tsk_thread_flag(task, TIF_PATCH_PENDING);\n\ttask->patch_state = klp_target_state;\n\treturn 0;",
		New:  "\ttask->patch_state = klp_target_state;\n\treturn 0;"},
	{ID: "tr-check-switch-before-check", File: transitionC, Func: "klp_check_and_switch_task",
		Desc: "the state is switched before the stack is checked: a task asleep in a function being patched is switched anyway",
		Old:  "\tret = klp_check_stack(task, arg);\n\tif (ret)\n\t\treturn ret;\n\n\tclear_tsk_thread_flag(task, TIF_PATCH_PENDING);\n\ttask->patch_state = klp_target_state;",
		New:  "\ttask->patch_state = klp_target_state;\n\tret = klp_check_stack(task, arg);\n\tif (ret)\n\t\treturn ret;\n\n\tclear_tsk_thread_flag(task, TIF_PATCH_PENDING);"},

	// klp_try_switch_task
	{ID: "tr-try-switch-done-refused", File: transitionC, Func: "klp_try_switch_task",
		Desc: "a task already at the goal counts as not switched: no transition ever completes",
		Old:  "\tif (task->patch_state == klp_target_state)\n\t\treturn true;",
		New:  "\tif (task->patch_state == klp_target_state)\n\t\treturn false;"},
	{ID: "tr-try-switch-reliable-guard-skip", File: transitionC, Func: "klp_try_switch_task",
		Desc: "the stack is checked on an arch without reliable stack traces",
		Old:  "\tif (!klp_have_reliable_stack())\n\t\treturn false;",
		New:  "\tif (0 && !klp_have_reliable_stack())\n\t\treturn false;",
		Equivalent: map[string]string{
			"x86_64": "klptest requires CONFIG_HAVE_RELIABLE_STACKTRACE and CONFIG_STACKTRACE (kernels.Required, base.config): the guard never fires",
			"arm64":  "klptest requires CONFIG_HAVE_RELIABLE_STACKTRACE and CONFIG_STACKTRACE (kernels.Required, base.config): the guard never fires",
		}},

	// __klp_sched_try_switch
	{ID: "tr-sched-switch-not-pending", File: transitionC, Func: "__klp_sched_try_switch",
		Desc: "schedule() switches tasks without TIF_PATCH_PENDING, also while a reverse has cleared the flags and not yet flipped the goal",
		Old:  "\tif (likely(!klp_patch_pending(current)))\n\t\treturn;",
		New:  "\tif (0 && likely(!klp_patch_pending(current)))\n\t\treturn;",
		Equivalent: map[string]string{
			"x86_64": "the switch it adds is klp_try_switch_task()'s, stack-checked, and only while the key is on (klp_start_transition() to klp_try_complete_transition()); a task without the flag and off the goal exists only in a reverse's window, and x86 loads are ordered, so the goal written is never older than the one the stack was checked for (when newer, the write leaves the task where it was): every extra switch is at a safe point, and the retries bring it to the final goal",
		}},
	{ID: "tr-sched-switch-skip", File: transitionC, Func: "__klp_sched_try_switch",
		Desc: "schedule() never tries to switch the task: a CPU-bound kthread that only schedules is never switched",
		Old:  "\tsmp_rmb();\n\n\tklp_try_switch_task(current);",
		New:  "\tsmp_rmb();\n\n\tif (0)\n\t\tklp_try_switch_task(current);"},

	// klp_send_signals
	{ID: "tr-signals-pending-inverted", File: transitionC, Func: "klp_send_signals",
		Desc: "the fallback signals and wakes the tasks already switched, not the ones left behind",
		Old:  "\t\tif (!klp_patch_pending(task))\n\t\t\tcontinue;",
		New:  "\t\tif (klp_patch_pending(task))\n\t\t\tcontinue;"},
	{ID: "tr-signals-kthread-skip", File: transitionC, Func: "klp_send_signals",
		Desc: "the fallback never wakes a kthread left behind, asleep interruptibly",
		Old:  "\t\t\twake_up_state(task, TASK_INTERRUPTIBLE);",
		New:  "\t\t\tif (0)\n\t\t\t\twake_up_state(task, TASK_INTERRUPTIBLE);"},
	{ID: "tr-signals-user-skip", File: transitionC, Func: "klp_send_signals",
		Desc: "the fallback never sends the fake signal to a user task left behind",
		Old:  "\t\t\tset_notify_signal(task);",
		New:  "\t\t\tif (0)\n\t\t\t\tset_notify_signal(task);"},

	// klp_try_complete_transition
	{ID: "tr-try-complete-task-ignored", File: transitionC, Func: "klp_try_complete_transition",
		Desc: "a normal task that could not be switched does not hold the transition: it completes with the task left behind",
		Old:  "\t\tif (!klp_try_switch_task(task))\n\t\t\tcomplete = false;",
		New:  "\t\tif (!klp_try_switch_task(task) && 0)\n\t\t\tcomplete = false;"},
	{ID: "tr-try-complete-idle-ignored", File: transitionC, Func: "klp_try_complete_transition",
		Desc: "an idle task that could not be switched does not hold the transition, and is not woken",
		Old:  "\t\t\tif (!klp_try_switch_task(task)) {",
		New:  "\t\t\tif (!klp_try_switch_task(task) && 0) {"},
	{ID: "tr-try-complete-offline-idle-skip", File: transitionC, Func: "klp_try_complete_transition",
		Desc: "an offline CPU's idle task is never switched",
		Old:  "\t\t} else if (task->patch_state != klp_target_state) {",
		New:  "\t\t} else if (0 && task->patch_state != klp_target_state) {",
		Equivalent: map[string]string{
			"x86_64": "klptest boots -smp N without maxcpus and no case takes a CPU offline: every possible CPU is online, the branch is not reached",
			"arm64":  "klptest boots -smp N without maxcpus and no case takes a CPU offline: every possible CPU is online, the branch is not reached",
		}},
	{ID: "tr-try-complete-signals-never", File: transitionC, Func: "klp_try_complete_transition",
		Desc: "the signal/wake-up fallback is never used: a task asleep outside the patched functions holds the transition open",
		Old:  "\t\tif (klp_signals_cnt && !(klp_signals_cnt % SIGNALS_TIMEOUT))",
		New:  "\t\tif (0 && klp_signals_cnt && !(klp_signals_cnt % SIGNALS_TIMEOUT))"},
	{ID: "tr-try-complete-no-retry", File: transitionC, Func: "klp_try_complete_transition",
		Desc: "an incomplete transition is never retried: tasks switched later at kernel exit never complete it",
		Old:  "\t\tschedule_delayed_work(&klp_transition_work,",
		New:  "\t\tif (0) schedule_delayed_work(&klp_transition_work,"},
	{ID: "tr-try-complete-free-skip", File: transitionC, Func: "klp_try_complete_transition",
		Desc: "a disabled patch is never freed: it stays in sysfs and its module is never released",
		Old:  "\tif (!patch->enabled)\n\t\tklp_free_patch_async(patch);",
		New:  "\tif (0 && !patch->enabled)\n\t\tklp_free_patch_async(patch);"},
	{ID: "tr-try-complete-replaced-free-skip", File: transitionC, Func: "klp_try_complete_transition",
		Desc: "the patches an atomic replace replaced are never freed: they stay listed in sysfs",
		Old:  "\telse if (patch->replace)\n\t\tklp_free_replaced_patches_async(patch);",
		New:  "\telse if (0 && patch->replace)\n\t\tklp_free_replaced_patches_async(patch);"},

	// klp_start_transition
	{ID: "tr-start-flag-skip", File: transitionC, Func: "klp_start_transition",
		Desc: "no normal task gets TIF_PATCH_PENDING: tasks not at the goal carry no flag, and never switch at kernel exit",
		Old:  "\tfor_each_process_thread(g, task)\n\t\tif (task->patch_state != klp_target_state)\n\t\t\tset_tsk_thread_flag(task, TIF_PATCH_PENDING);",
		New:  "\tfor_each_process_thread(g, task)\n\t\tif (0 && task->patch_state != klp_target_state)\n\t\t\tset_tsk_thread_flag(task, TIF_PATCH_PENDING);"},
	{ID: "tr-start-flag-all", File: transitionC, Func: "klp_start_transition",
		Desc: "every normal task gets TIF_PATCH_PENDING, also one already at the goal (after a reverse)",
		Old:  "\tfor_each_process_thread(g, task)\n\t\tif (task->patch_state != klp_target_state)\n",
		New:  "\tfor_each_process_thread(g, task)\n\t\tif (1)\n"},
	{ID: "tr-start-idle-flag-skip", File: transitionC, Func: "klp_start_transition",
		Desc: "no idle task gets TIF_PATCH_PENDING: the idle tasks carry no flag while not at the goal",
		Old:  "\t\ttask = idle_task(cpu);\n\t\tif (task->patch_state != klp_target_state)\n\t\t\tset_tsk_thread_flag(task, TIF_PATCH_PENDING);",
		New:  "\t\ttask = idle_task(cpu);\n\t\tif (0 && task->patch_state != klp_target_state)\n\t\t\tset_tsk_thread_flag(task, TIF_PATCH_PENDING);"},
	{ID: "tr-start-resched-skip", File: transitionC, Func: "klp_start_transition",
		Desc: "schedule() is never made to try switching: a CPU-bound kthread is only switched by the stack checks",
		Old:  "\tklp_resched_enable();",
		New:  "\tif (0)\n\t\tklp_resched_enable();"},

	// klp_init_transition
	{ID: "tr-init-initial-is-goal", File: transitionC, Func: "klp_init_transition",
		Desc: "every task starts at the goal: all switch at once, whatever their stacks, while calls are still running the old version",
		Old:  "\tint initial_state = !state;",
		New:  "\tint initial_state = state;"},
	{ID: "tr-init-idle-state-skip", File: transitionC, Func: "klp_init_transition",
		Desc: "the idle tasks are left at idle (-1) during the transition instead of the initial state",
		Old:  "\t\tWARN_ON_ONCE(task->patch_state != KLP_TRANSITION_IDLE);\n\t\ttask->patch_state = initial_state;\n\t}\n\n\t/*\n\t * Enforce",
		New:  "\t\tWARN_ON_ONCE(task->patch_state != KLP_TRANSITION_IDLE);\n\t}\n\n\t/*\n\t * Enforce"},
	{ID: "tr-init-transition-flag-skip", File: transitionC, Func: "klp_init_transition",
		Desc: "func->transition is never set: the handler runs the top of the func_stack for every task, whatever its state",
		Old:  "\t\t\tfunc->transition = true;",
		New:  "\t\t\tfunc->transition = false;"},

	// klp_reverse_transition
	{ID: "tr-reverse-flags-kept", File: transitionC, Func: "klp_reverse_transition",
		Desc: "a reverse leaves the normal tasks' TIF_PATCH_PENDING set: tasks already at the new goal keep a flag",
		Old:  "\tfor_each_process_thread(g, task)\n\t\tclear_tsk_thread_flag(task, TIF_PATCH_PENDING);",
		New:  "\tfor_each_process_thread(g, task)\n\t\tif (0)\n\t\t\tclear_tsk_thread_flag(task, TIF_PATCH_PENDING);"},
	{ID: "tr-reverse-idle-flags-kept", File: transitionC, Func: "klp_reverse_transition",
		Desc: "a reverse leaves the idle tasks' TIF_PATCH_PENDING set",
		Old:  "\tfor_each_possible_cpu(cpu)\n\t\tclear_tsk_thread_flag(idle_task(cpu), TIF_PATCH_PENDING);",
		New:  "\tfor_each_possible_cpu(cpu)\n\t\tif (0)\n\t\t\tclear_tsk_thread_flag(idle_task(cpu), TIF_PATCH_PENDING);"},
	{ID: "tr-reverse-sync-skip", File: transitionC, Func: "klp_reverse_transition",
		Desc: "the goal is flipped while a task at kernel exit or in schedule() may still switch to the old goal",
		Old:  "\tklp_synchronize_transition();\n\n\t/*\n\t * All patching has stopped",
		New:  "\tif (0)\n\t\tklp_synchronize_transition();\n\n\t/*\n\t * All patching has stopped"},
	{ID: "tr-reverse-goal-first", File: transitionC, Func: "klp_reverse_transition",
		Desc: "the goal is flipped before the flags are cleared and the CPUs synchronised: a task switching meanwhile reads the new goal with the old flag",
		Old:  reverseClearing + reverseFlip,
		New:  reverseFlip + reverseClearing},
	{ID: "tr-reverse-enabled-kept", File: transitionC, Func: "klp_reverse_transition",
		Desc: "a reverse does not flip patch->enabled: sysfs reads the old direction, and the patch is freed (or not) wrongly",
		Old:  "\tklp_transition_patch->enabled = !klp_transition_patch->enabled;",
		New:  "\t;"},
	{ID: "tr-reverse-goal-kept", File: transitionC, Func: "klp_reverse_transition",
		Desc: "a reverse does not flip the goal: the transition restarts towards where it was going",
		Old:  "\tklp_target_state = !klp_target_state;\n",
		New:  "\t;\n"},

	// klp_copy_process
	{ID: "tr-fork-flag-never", File: transitionC, Func: "klp_copy_process",
		Desc: "a child forked by a pending parent starts without TIF_PATCH_PENDING",
		Old:  "\tif (test_tsk_thread_flag(current, TIF_PATCH_PENDING))\n\t\tset_tsk_thread_flag(child, TIF_PATCH_PENDING);",
		New:  "\tif (0 && test_tsk_thread_flag(current, TIF_PATCH_PENDING))\n\t\tset_tsk_thread_flag(child, TIF_PATCH_PENDING);"},
	{ID: "tr-fork-flag-inverted", File: transitionC, Func: "klp_copy_process",
		Desc: "a child gets the opposite of its parent's TIF_PATCH_PENDING",
		Old:  "\tif (test_tsk_thread_flag(current, TIF_PATCH_PENDING))\n\t\tset_tsk_thread_flag(child",
		New:  "\tif (!test_tsk_thread_flag(current, TIF_PATCH_PENDING))\n\t\tset_tsk_thread_flag(child"},
	{ID: "tr-fork-flag-no-clear", File: transitionC, Func: "klp_copy_process",
		Desc: "a child keeps the flag copied early in fork after a reverse cleared its parent's: klp_copy_process() before the 2022 fix of the race between fork and the reverse",
		Old:  "\telse\n\t\tclear_tsk_thread_flag(child, TIF_PATCH_PENDING);",
		New:  "\telse if (0)\n\t\tclear_tsk_thread_flag(child, TIF_PATCH_PENDING);"},
	{ID: "tr-fork-state-goal", File: transitionC, Func: "klp_copy_process",
		Desc: "a child starts at the goal, not at its parent's state: a pending parent's child runs the new version at once",
		Old:  "\tchild->patch_state = current->patch_state;",
		New:  "\tchild->patch_state = READ_ONCE(klp_target_state);"},
	{ID: "tr-fork-state-stale", File: transitionC, Func: "klp_copy_process",
		Desc: "a child keeps the state copied when its task_struct was duplicated, earlier in fork: a transition that started or a parent that switched since is missed",
		Old:  "\tchild->patch_state = current->patch_state;",
		New:  "\t;"},

	// klp_force_transition
	{ID: "tr-force-task-skip", File: transitionC, Func: "klp_force_transition",
		Desc: "force switches no normal task: the forced transition stays open",
		Old:  "\tfor_each_process_thread(g, task)\n\t\tklp_update_patch_state(task);",
		New:  "\tfor_each_process_thread(g, task)\n\t\tif (0)\n\t\t\tklp_update_patch_state(task);"},
	{ID: "tr-force-unpatch-not-forced", File: transitionC, Func: "klp_force_transition",
		Desc: "a forced disable does not mark the patch forced: its module can be removed while a task may still run its code",
		Old:  "\tif (klp_target_state == KLP_TRANSITION_UNPATCHED)\n\t\tklp_transition_patch->forced = true;",
		New:  "\tif (0 && klp_target_state == KLP_TRANSITION_UNPATCHED)\n\t\tklp_transition_patch->forced = true;"},

	// patch.c: klp_ftrace_handler
	{ID: "pa-handler-transition-ignored", File: patchC, Func: "klp_ftrace_handler",
		Desc: "the handler ignores func->transition: during a transition every task runs the top of the func_stack, whatever its state",
		Old:  "\tif (unlikely(func->transition)) {",
		New:  "\tif (unlikely(0 && func->transition)) {"},
	{ID: "pa-handler-state-inverted", File: patchC, Func: "klp_ftrace_handler",
		Desc: "the handler reads the task's state backwards: a task in the old state runs the new version and the other way round",
		Old:  "\t\tif (patch_state == KLP_TRANSITION_UNPATCHED) {",
		New:  "\t\tif (patch_state != KLP_TRANSITION_UNPATCHED) {"},
	{ID: "pa-handler-stack-end-skip", File: patchC, Func: "klp_ftrace_handler",
		Desc: "an unpatched task with no earlier patch below is sent to the func_stack's head, not to the original function",
		Old:  "\t\t\tif (&func->stack_node == &ops->func_stack)\n\t\t\t\tgoto unlock;",
		New:  "\t\t\tif (0 && &func->stack_node == &ops->func_stack)\n\t\t\t\tgoto unlock;"},
	{ID: "pa-handler-nop-ignored", File: patchC, Func: "klp_ftrace_handler",
		Desc: "a nop of an atomic replace redirects to the original function itself, which calls the handler again, forever",
		Old:  "\tif (func->nop)\n\t\tgoto unlock;",
		New:  "\tif (0 && func->nop)\n\t\tgoto unlock;"},

	// patch.c: the func_stack
	{ID: "pa-patch-func-stack-bottom", File: patchC, Func: "klp_patch_func",
		Desc: "a patch stacked on another goes to the bottom of the func_stack: the newest patch never takes effect",
		Old:  "\t} else {\n\t\tlist_add_rcu(&func->stack_node, &ops->func_stack);\n\t}",
		New:  "\t} else {\n\t\tlist_add_tail_rcu(&func->stack_node, &ops->func_stack);\n\t}"},
	{ID: "pa-unpatch-func-stack-kept", File: patchC, Func: "klp_unpatch_func",
		Desc: "unpatching a patch stacked on another leaves its function on the func_stack: it still runs after the disable",
		Old:  "\t} else {\n\t\tlist_del_rcu(&func->stack_node);\n\t}",
		New:  "\t} else {\n\t\tif (0)\n\t\t\tlist_del_rcu(&func->stack_node);\n\t}"},
	{ID: "pa-unpatch-nops-only-inverted", File: patchC, Func: "__klp_unpatch_object",
		Desc: "discarding the nops of an atomic replace unpatches its real functions and keeps the nops",
		Old:  "\t\tif (nops_only && !func->nop)",
		New:  "\t\tif (nops_only && func->nop)"},
	{ID: "pa-patch-object-unmarked", File: patchC, Func: "klp_patch_object",
		Desc: "a patched object is not marked patched: the stack checks skip it, and tasks asleep in its functions are switched",
		Old:  "\tobj->patched = true;\n",
		New:  "\t;\n"},

	// core.c: enable and disable
	{ID: "co-enable-busy-skip", File: coreC, Func: "__klp_enable_patch",
		Desc: "a patch is enabled while another transition is open: two transitions share one goal and one set of task states",
		Old:  "\tif (klp_transition_patch)\n\t\treturn -EBUSY;\n\n\tif (WARN_ON(patch->enabled))",
		New:  "\tif (0 && klp_transition_patch)\n\t\treturn -EBUSY;\n\n\tif (WARN_ON(patch->enabled))"},
	{ID: "co-disable-busy-skip", File: coreC, Func: "__klp_disable_patch",
		Desc: "a patch is disabled while another transition is open: two transitions share one goal and one set of task states",
		Old:  "\tif (klp_transition_patch)\n\t\treturn -EBUSY;\n\n\tklp_init_transition(patch, KLP_TRANSITION_UNPATCHED);",
		New:  "\tif (0 && klp_transition_patch)\n\t\treturn -EBUSY;\n\n\tklp_init_transition(patch, KLP_TRANSITION_UNPATCHED);"},
	{ID: "co-enable-enabled-unset", File: coreC, Func: "__klp_enable_patch",
		Desc: "an enabled patch is not marked enabled: sysfs reads 0, and the completed patch is freed as if disabled",
		Old:  "\tklp_start_transition();\n\tpatch->enabled = true;",
		New:  "\tklp_start_transition();"},
	{ID: "co-disable-enabled-kept", File: coreC, Func: "__klp_disable_patch",
		Desc: "a disabled patch stays marked enabled: sysfs reads 1, and the unpatched patch is never freed",
		Old:  "\tklp_start_transition();\n\tpatch->enabled = false;",
		New:  "\tklp_start_transition();"},
	{ID: "co-enabled-store-no-reverse", File: coreC, Func: "enabled_store",
		Desc: "writing enabled during a transition does not reverse it: a disable during patching is refused",
		Old:  "\tif (patch == klp_transition_patch)\n\t\tklp_reverse_transition();",
		New:  "\tif (0 && patch == klp_transition_patch)\n\t\tklp_reverse_transition();"},
	{ID: "co-sysfs-transition-inverted", File: coreC, Func: "transition_show",
		Desc: "sysfs transition reads 1 for every patch not in transition, and 0 for the one that is",
		Old:  "patch == klp_transition_patch);",
		New:  "patch != klp_transition_patch);"},

	// core.c: atomic replace and nops
	{ID: "co-replace-no-nops", File: coreC, Func: "klp_init_patch",
		Desc: "an atomic replace adds no nops: functions only the replaced patch had are unpatched at completion, without a transition",
		Old:  "\tif (patch->replace) {\n\t\tret = klp_add_nops(patch);",
		New:  "\tif (0 && patch->replace) {\n\t\tret = klp_add_nops(patch);"},
	{ID: "co-nops-for-every-func", File: coreC, Func: "klp_add_object_nops",
		Desc: "an atomic replace adds a nop also for the functions it patches itself: the nop on top runs the original",
		Old:  "\t\tfunc = klp_find_func(obj, old_func);\n\t\tif (func)\n\t\t\tcontinue;",
		New:  "\t\tfunc = klp_find_func(obj, old_func);\n\t\tif (0 && func)\n\t\t\tcontinue;"},
	{ID: "co-unpatch-replaced-self", File: coreC, Func: "klp_unpatch_replaced_patches",
		Desc: "a completed atomic replace unpatches the replacing patch too: nothing stays patched",
		Old:  "\t\tif (old_patch == new_patch)\n\t\t\treturn;\n\n\t\told_patch->enabled = false;",
		New:  "\t\tif (0 && old_patch == new_patch)\n\t\t\treturn;\n\n\t\told_patch->enabled = false;"},
	{ID: "co-unpatch-replaced-enabled-kept", File: coreC, Func: "klp_unpatch_replaced_patches",
		Desc: "a replaced patch stays marked enabled after the replace completed",
		Old:  "\t\told_patch->enabled = false;\n",
		New:  "\t\t;\n"},

	// core.c: module coming and going
	{ID: "co-coming-not-patched", File: coreC, Func: "klp_module_coming",
		Desc: "a module loaded while a patch for it is applied is not patched: its tasks run the old version whatever their state",
		Old:  "\t\t\tret = klp_patch_object(obj);\n\t\t\tif (ret) {\n\t\t\t\tpr_warn(\"failed to apply patch '%s' to module",
		New:  "\t\t\tret = 0;\n\t\t\tif (ret) {\n\t\t\t\tpr_warn(\"failed to apply patch '%s' to module"},
	{ID: "co-coming-alive-unset", File: coreC, Func: "klp_module_coming",
		Desc: "a loaded module is not marked alive: a patch enabled later does not find it, and leaves its functions unpatched",
		Old:  "\tmod->klp_alive = true;\n",
		New:  "\t;\n"},
	{ID: "co-going-not-unpatched", File: coreC, Func: "klp_cleanup_module_patches_limited",
		Desc: "a module going away stays patched: its functions stay on the func_stack after its code is freed",
		Old:  "\t\t\tklp_unpatch_object(obj);\n\n\t\t\tklp_post_unpatch_callback(obj);",
		New:  "\t\t\tif (0)\n\t\t\t\tklp_unpatch_object(obj);\n\n\t\t\tklp_post_unpatch_callback(obj);"},
}
