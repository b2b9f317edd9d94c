/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kumo-runtime create: set up a container from a bundle and leave it blocked
 * until start (runc create). Also parses the options run shares with create.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kerr.h"
#include "runtime.h"

bool
cli_create_option(struct rt_create_opts *o, const char **bundle, int opt, const char *arg)
{
    switch (opt) {
    case 'b':
        *bundle = arg;
        return true;
    case 'p':
        o->pid_file = arg;
        return true;
    case 'c':
        o->console_socket = arg;
        return true;
    case 'n':
        o->no_pivot = true;
        return true;
    case 'k':
        o->no_new_keyring = true;
        return true;
    case 'f':
        o->preserve_fds = atoi(arg);
        return true;
    default:
        return false;
    }
}

int
cmd_create(struct cli *g, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_CREATE_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    struct rt_create_opts o = { .inherit_stdio = true };
    struct kerr err = KERR_INIT;
    const char *bundle = ".";
    int c;
    while ((c = getopt_long(argc, argv, "b:", opts, NULL)) != -1) {
        if (!cli_create_option(&o, &bundle, c, optarg))
            return 2;
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
