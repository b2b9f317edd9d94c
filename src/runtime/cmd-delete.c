/* SPDX-License-Identifier: Apache-2.0 */
/* kumo-runtime delete: remove a container, its cgroup and state (--force kills it first). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kerr.h"
#include "runtime.h"

int
cmd_delete(struct cli *g, int argc, char **argv)
{
    static const struct option opts[] = {
        { "force", no_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    struct kerr err = KERR_INIT;
    bool force = false;
    int c;
    while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
        if (c != 'f')
            return 2;
        force = true;
    }
    const char *id = cli_one_id(g, "delete", argc, argv, optind);
    if (!id)
        return 2;
    struct rt_container *ct = NULL;
    int r = rt_container_open(g->root, id, &ct, &err);
    if (r == -ENOENT && force)
        return 0; /* runc: delete --force of a missing container succeeds */
    if (r < 0)
        return cli_error(g, "delete", id, &err);
    r = rt_container_delete(ct, force, &err);
    rt_container_free(ct);
    return r < 0 ? cli_error(g, "delete", id, &err) : 0;
}
