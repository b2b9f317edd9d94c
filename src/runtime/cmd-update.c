/* SPDX-License-Identifier: Apache-2.0 */
/* kumo-runtime update: change a running container's resource limits (--resources FILE or flags). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kerr.h"
#include "runtime.h"

#include "util.h"

static int
set_int(json_t *res, const char *obj, const char *key, const char *val, bool size)
{
    uint64_t u;
    int64_t v;
    if (size && parse_size(val, &u) == 0)
        v = (int64_t)u;
    else if (parse_int64(val, -1, INT64_MAX, &v) < 0)
        return -EINVAL;
    json_t *o = json_object_get(res, obj);
    if (!o) {
        o = json_object();
        json_object_set_new(res, obj, o);
    }
    return json_object_set_new(o, key, json_integer(v));
}

int
cmd_update(struct cli *g, int argc, char **argv)
{
    static const struct option opts[] = {
        { "resources", required_argument, NULL, 'r' },
        { "memory", required_argument, NULL, 'm' },
        { "memory-swap", required_argument, NULL, 's' },
        { "memory-reservation", required_argument, NULL, 'R' },
        { "pids-limit", required_argument, NULL, 'p' },
        { "cpu-quota", required_argument, NULL, 'q' },
        { "cpu-period", required_argument, NULL, 'P' },
        { "cpu-shares", required_argument, NULL, 'S' },
        { "cpuset-cpus", required_argument, NULL, 'c' },
        { "cpuset-mems", required_argument, NULL, 'M' },
        { "blkio-weight", required_argument, NULL, 'b' },
        { NULL, 0, NULL, 0 },
    };
    struct kerr err = KERR_INIT;
    json_t *res = json_object();
    const char *file = NULL;
    int c, r = 0;
    while ((c = getopt_long(argc, argv, "r:", opts, NULL)) != -1) {
        const char *name = NULL;
        switch (c) {
        case 'r':
            file = optarg;
            break;
        case 'm':
            r = set_int(res, "memory", "limit", optarg, true), name = "--memory";
            break;
        case 's':
            r = set_int(res, "memory", "swap", optarg, true), name = "--memory-swap";
            break;
        case 'R':
            r = set_int(res, "memory", "reservation", optarg, true), name = "--memory-reservation";
            break;
        case 'p':
            r = set_int(res, "pids", "limit", optarg, false), name = "--pids-limit";
            break;
        case 'q':
            r = set_int(res, "cpu", "quota", optarg, false), name = "--cpu-quota";
            break;
        case 'P':
            r = set_int(res, "cpu", "period", optarg, false), name = "--cpu-period";
            break;
        case 'S':
            r = set_int(res, "cpu", "shares", optarg, false), name = "--cpu-shares";
            break;
        case 'b':
            r = set_int(res, "blockIO", "weight", optarg, false), name = "--blkio-weight";
            break;
        case 'c':
        case 'M': {
            json_t *cpu = json_object_get(res, "cpu");
            if (!cpu) {
                cpu = json_object();
                json_object_set_new(res, "cpu", cpu);
            }
            json_object_set_new(cpu, c == 'c' ? "cpus" : "mems", json_string(optarg));
            break;
        }
        default:
            json_decref(res);
            return 2;
        }
        if (r < 0) {
            json_decref(res);
            return cli_errorf(g, "update: %s '%s' is not a valid number", name, optarg);
        }
    }
    const char *id = cli_one_id(g, "update", argc, argv, optind);
    if (!id) {
        json_decref(res);
        return 2;
    }
    if (file) {
        json_decref(res);
        res = cli_load_json(file, &err);
        if (!res)
            return cli_error(g, "update", id, &err);
    }
    struct rt_container *ct = NULL;
    if (rt_container_open(g->root, id, &ct, &err) < 0) {
        json_decref(res);
        return cli_error(g, "update", id, &err);
    }
    r = rt_container_update(ct, res, &err);
    json_decref(res);
    rt_container_free(ct);
    return r < 0 ? cli_error(g, "update", id, &err) : 0;
}
