/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Work in progress: sandbox part of the runtime security module (security.h).
 */
#include "security.h"

#include <errno.h>

bool
rt_config_is_sandbox(json_t *config)
{
    return false;
}

int
rt_sandbox_harden(json_t *config, struct kerr *err)
{
    return 0;
}

int
rt_sandbox_enter(json_t *config, struct kerr *err)
{
    return 0;
}
