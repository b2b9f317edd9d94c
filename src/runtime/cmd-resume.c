/* SPDX-License-Identifier: Apache-2.0 */
/* kumo-runtime resume: thaw a paused container. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kerr.h"
#include "runtime.h"

int
cmd_resume(struct cli *g, int argc, char **argv)
{
    struct kerr err = KERR_INIT;
    const char *id = cli_one_id(g, "resume", argc, argv, 1);
    struct rt_container *c = NULL;
    if (!id)
        return 2;
    if (rt_container_open(g->root, id, &c, &err) < 0)
        return cli_error(g, "resume", id, &err);
    int r = rt_container_resume(c, &err);
    rt_container_free(c);
    return r < 0 ? cli_error(g, "resume", id, &err) : 0;
}
