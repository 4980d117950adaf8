// SPDX-License-Identifier: GPL-2.0
/* klpt_patch: the livepatch: v2. */
#define KLPT_PATCH_VERSION 2
#define KLPT_PATCH_REPLACE false
#define KLPT_PATCH_NOPS 0
#include "klpt_patch_body.h"
