// SPDX-License-Identifier: GPL-2.0
/* klpt_patch2: v3, an atomic replace of whatever is applied. */
#define KLPT_PATCH_VERSION 3
#define KLPT_PATCH_REPLACE true
#define KLPT_PATCH_NOPS 0
#include "klpt_patch_body.h"
