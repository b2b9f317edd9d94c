/* SPDX-License-Identifier: Apache-2.0 */
/* kumo-runtime ps: list the processes of a container (--format table|json). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kerr.h"
#include "runtime.h"
#include <fcntl.h>
#include <sys/types.h>

#include "util.h"

int
cmd_ps(struct cli *g, int argc, char **argv)
{
    static const struct option opts[] = {
        { "format", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    struct kerr err = KERR_INIT;
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
        if (c != 'f')
            return 2;
        if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0)
            return cli_errorf(g, "ps: --format '%s' is not table or json", optarg);
        json = strcmp(optarg, "json") == 0;
    }
    if (optind >= argc)
        return cli_errorf(g, "ps: usage: kumo-runtime ps [--format table|json] <id>");
    const char *id = argv[optind];
    struct rt_container *ct = NULL;
    pid_t *pids = NULL;
    size_t n = 0;
    if (rt_container_open(g->root, id, &ct, &err) < 0)
        return cli_error(g, "ps", id, &err);
    int r = rt_container_pids(ct, &pids, &n, &err);
    rt_container_free(ct);
    if (r < 0)
        return cli_error(g, "ps", id, &err);
    if (json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, json_integer(pids[i]));
        json_dumpf(a, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(a);
    } else {
        printf("%-8s %s\n", "PID", "CMD");
        for (size_t i = 0; i < n; i++) {
            char path[64], cmd[512];
            snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pids[i]);
            ssize_t len = read_file_at(AT_FDCWD, path, cmd, sizeof(cmd));
            for (ssize_t k = 0; k + 1 < len; k++)
                if (cmd[k] == '\0')
                    cmd[k] = ' ';
            printf("%-8d %s\n", (int)pids[i], len > 0 ? cmd : "?");
        }
    }
    free(pids);
    return 0;
}
