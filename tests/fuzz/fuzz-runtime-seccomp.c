/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: a `linux.seccomp` object from config.json. rt_seccomp_validate
 * must give a clear error or accept, never crash or leak; an accepted object
 * is then compiled (not loaded) with libseccomp to exercise the rule
 * builder, and sandbox hardening of a config carrying it must not crash.
 */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "security.h"

int rt__seccomp_compile(json_t *seccomp, struct kerr *err);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!j)
        return 0;
    struct kerr err = KERR_INIT;
    if (rt_seccomp_validate(j, &err) == 0) {
        struct kerr err2 = KERR_INIT;
        rt__seccomp_compile(j, &err2);
    }
    json_t *cfg = json_pack("{s:{s:s}, s:{s:O}}", "annotations", "org.kumo.type", "sandbox",
                            "linux", "seccomp", j);
    if (cfg) {
        struct kerr err3 = KERR_INIT;
        rt_sandbox_harden(cfg, &err3);
        json_decref(cfg);
    }
    json_decref(j);
    return 0;
}
