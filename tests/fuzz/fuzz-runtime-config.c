/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the config.json parser and validator (rt_spec_check):
 * any input must produce either success or an error message, never a
 * crash, leak or out-of-bounds access.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kerr.h"
#include "runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kerr err = KERR_INIT;
    if (rt_spec_check((const char *)data, size, &err) < 0 && err.msg[0] == '\0')
        __builtin_trap(); /* every failure must say why */
    return 0;
}
