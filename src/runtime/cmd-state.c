/* SPDX-License-Identifier: Apache-2.0 */
/* kumo-runtime state: print the OCI state JSON of a container. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kerr.h"
#include "runtime.h"

int
cmd_state(struct cli *g, int argc, char **argv)
{
    struct kerr err = KERR_INIT;
    const char *id = cli_one_id(g, "state", argc, argv, 1);
    struct rt_container *c = NULL;
    json_t *j = NULL;
    if (!id)
        return 2;
    if (rt_container_open(g->root, id, &c, &err) < 0)
        return cli_error(g, "state", id, &err);
    int r = rt_container_state_json(c, &j, &err);
    rt_container_free(c);
    if (r < 0)
        return cli_error(g, "state", id, &err);
    json_dumpf(j, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(j);
    return 0;
}
