/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Work in progress: seccomp part of the runtime security module (security.h).
 */
#include "security.h"

#include <errno.h>

int
rt_seccomp_validate(json_t *seccomp, struct kerr *err)
{
    return 0;
}

int
rt_seccomp_load(json_t *linux_seccomp, struct kerr *err)
{
    return linux_seccomp ? kerr_setf(err, ENOSYS, "linux.seccomp: not implemented yet") : 0;
}
