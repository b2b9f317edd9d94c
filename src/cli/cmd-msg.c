/* SPDX-License-Identifier: Apache-2.0 */
/* kumo msg: placeholder until its issue lands. */
#include "cli.h"

#include <stdio.h>

int
cmd_msg(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kumo msg: not built yet\n");
    return CLI_EXIT_ERROR;
}
