/* SPDX-License-Identifier: Apache-2.0 */
/* kumo-runtime list: list the containers under --root (--format table|json, -q). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kerr.h"
#include "runtime.h"

int
cmd_list(struct cli *g, int argc, char **argv)
{
    static const struct option opts[] = {
        { "format", required_argument, NULL, 'f' },
        { "quiet", no_argument, NULL, 'q' },
        { NULL, 0, NULL, 0 },
    };
    struct kerr err = KERR_INIT;
    bool json = false, quiet = false;
    char **ids = NULL;
    size_t n = 0;
    int c;
    while ((c = getopt_long(argc, argv, "f:q", opts, NULL)) != -1) {
        if (c == 'q') {
            quiet = true;
        } else if (c == 'f') {
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0)
                return cli_errorf(g, "list: --format '%s' is not table or json", optarg);
            json = strcmp(optarg, "json") == 0;
        } else {
            return 2;
        }
    }
    if (rt_list(g->root, &ids, &n, &err) < 0)
        return cli_error(g, "list", NULL, &err);
    json_t *arr = json_array();
    if (!json && !quiet)
        printf("%-20s %-8s %-10s %-40s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
    for (size_t i = 0; i < n; i++) {
        struct rt_container *ct = NULL;
        json_t *st = NULL;
        if (rt_container_open(g->root, ids[i], &ct, NULL) == 0 &&
            rt_container_state_json(ct, &st, NULL) == 0) {
            if (quiet)
                printf("%s\n", ids[i]);
            else if (!json)
                printf("%-20s %-8lld %-10s %-40s %s\n", ids[i],
                       (long long)json_integer_value(json_object_get(st, "pid")),
                       json_string_value(json_object_get(st, "status")),
                       json_string_value(json_object_get(st, "bundle")),
                       json_string_value(json_object_get(st, "created")));
            json_array_append_new(arr, st);
        }
        rt_container_free(ct);
        free(ids[i]);
    }
    free(ids);
    if (json) {
        json_dumpf(arr, stdout, JSON_COMPACT);
        putchar('\n');
    }
    json_decref(arr);
    return 0;
}
