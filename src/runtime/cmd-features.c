/* SPDX-License-Identifier: Apache-2.0 */
/* kumo-runtime features: print what this runtime supports (runtime-spec features.md). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kerr.h"
#include "runtime.h"

int
cmd_features(struct cli *g, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    json_t *j = rt_features();
    if (!j)
        return cli_errorf(g, "features: out of memory");
    json_dumpf(j, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(j);
    return 0;
}
