/* SPDX-License-Identifier: Apache-2.0 */
/* kumo-runtime start: let a created container run its process (runc start). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kerr.h"
#include "runtime.h"

int
cmd_start(struct cli *g, int argc, char **argv)
{
    struct kerr err = KERR_INIT;
    const char *id = cli_one_id(g, "start", argc, argv, 1);
    struct rt_container *c = NULL;
    if (!id)
        return 2;
    if (rt_container_open(g->root, id, &c, &err) < 0)
        return cli_error(g, "start", id, &err);
    int r = rt_container_start(c, &err);
    rt_container_free(c);
    return r < 0 ? cli_error(g, "start", id, &err) : 0;
}
