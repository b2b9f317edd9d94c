/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Work in progress: landlock part of the runtime security module (security.h).
 */
#include "security.h"

#include <errno.h>

int
rt_landlock_abi(void)
{
    return -EOPNOTSUPP;
}

int
rt_landlock_apply(const char *const *rw_paths, const char *const *ro_paths, struct kerr *err)
{
    return kerr_setf(err, EOPNOTSUPP, "landlock: not implemented yet");
}
