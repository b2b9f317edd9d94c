/* SPDX-License-Identifier: Apache-2.0 */
/* kumo-runtime kill: signal a container's init or, with --all, every process in its cgroup. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kerr.h"
#include "runtime.h"
#include <signal.h>

int
cmd_kill(struct cli *g, int argc, char **argv)
{
    static const struct option opts[] = {
        { "all", no_argument, NULL, 'a' },
        { NULL, 0, NULL, 0 },
    };
    struct kerr err = KERR_INIT;
    bool all = false;
    int c, sig = SIGTERM;
    while ((c = getopt_long(argc, argv, "a", opts, NULL)) != -1) {
        if (c != 'a')
            return 2;
        all = true;
    }
    if (argc - optind < 1 || argc - optind > 2)
        return cli_errorf(g, "kill: usage: kumo-runtime kill [--all] <id> [signal]");
    const char *id = argv[optind];
    if (argc - optind == 2 && (sig = cli_parse_signal(argv[optind + 1])) < 0)
        return cli_errorf(g, "kill '%s': unknown signal '%s'", id, argv[optind + 1]);
    struct rt_container *ct = NULL;
    if (rt_container_open(g->root, id, &ct, &err) < 0)
        return cli_error(g, "kill", id, &err);
    int r = rt_container_kill(ct, sig, all, &err);
    rt_container_free(ct);
    return r < 0 ? cli_error(g, "kill", id, &err) : 0;
}
