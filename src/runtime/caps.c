/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Work in progress: caps part of the runtime security module (security.h).
 */
#include "security.h"

#include <errno.h>

int
rt_caps_validate(json_t *caps, struct kerr *err)
{
    return 0;
}

int
rt_caps_apply(json_t *process_capabilities, struct kerr *err)
{
    return kerr_setf(err, ENOSYS, "process.capabilities: not implemented yet");
}
