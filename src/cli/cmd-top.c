/* SPDX-License-Identifier: Apache-2.0 */
/* kumo top: placeholder until its issue lands. */
#include "cli.h"

#include <stdio.h>

int
cmd_top(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kumo top: not built yet\n");
    return CLI_EXIT_ERROR;
}
