/* SPDX-License-Identifier: Apache-2.0 */
/* kumo-runtime create: set up a container from a bundle and leave it blocked until start (runc
 * create). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kerr.h"
#include "runtime.h"

int
cmd_create(struct cli *g, int argc, char **argv)
{
    static const struct option opts[] = {
        { "bundle", required_argument, NULL, 'b' },
        { "pid-file", required_argument, NULL, 'p' },
        { "console-socket", required_argument, NULL, 'c' },
        { "no-pivot", no_argument, NULL, 'n' },
        { "no-new-keyring", no_argument, NULL, 'k' },
        { "preserve-fds", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    struct rt_create_opts o = { .inherit_stdio = true };
    struct kerr err = KERR_INIT;
    const char *bundle = ".";
    int c;
    while ((c = getopt_long(argc, argv, "b:", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            bundle = optarg;
            break;
        case 'p':
            o.pid_file = optarg;
            break;
        case 'c':
            o.console_socket = optarg;
            break;
        case 'n':
            o.no_pivot = true;
            break;
        case 'k':
            o.no_new_keyring = true;
            break;
        case 'f':
            o.preserve_fds = atoi(optarg);
            break;
        default:
            return 2;
        }
    }
    const char *id = cli_one_id(g, "create", argc, argv, optind);
    if (!id)
        return 2;
    struct rt_container *ct = NULL;
    if (rt_container_create(g->root, id, bundle, &o, &ct, &err) < 0)
        return cli_error(g, "create", id, &err);
    rt_container_free(ct);
    return 0;
}
