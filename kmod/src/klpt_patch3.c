// SPDX-License-Identifier: GPL-2.0
/* klpt_patch3: v4, stacked on top without replacing. */
#define KLPT_PATCH_VERSION 4
#define KLPT_PATCH_REPLACE false
#define KLPT_PATCH_NOPS 0
#include "klpt_patch_body.h"
