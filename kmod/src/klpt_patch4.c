// SPDX-License-Identifier: GPL-2.0
/* klpt_patch4: v5, an atomic replace that leaves functions out: nops. */
#define KLPT_PATCH_VERSION 5
#define KLPT_PATCH_REPLACE true
#define KLPT_PATCH_NOPS 1
#include "klpt_patch_body.h"
