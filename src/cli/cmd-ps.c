/* SPDX-License-Identifier: Apache-2.0 */
/* kumo ps: placeholder until its issue lands. */
#include "cli.h"

#include <stdio.h>

int
cmd_ps(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kumo ps: not built yet\n");
    return CLI_EXIT_ERROR;
}
