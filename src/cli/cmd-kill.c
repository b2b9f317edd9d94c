/* SPDX-License-Identifier: Apache-2.0 */
/* kumo kill: placeholder until its issue lands. */
#include "cli.h"

#include <stdio.h>

int
cmd_kill(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kumo kill: not built yet\n");
    return CLI_EXIT_ERROR;
}
