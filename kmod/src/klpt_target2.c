// SPDX-License-Identifier: GPL-2.0
/* klpt_target2: a twin of klpt_target, for modules that come and go. */
#define KLPT_TARGET_NAME "klpt_target2"
#include "klpt_target.c"
