/* SPDX-License-Identifier: Apache-2.0 */
/* kumo-runtime spec: write a default config.json into the bundle directory (runc spec). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kerr.h"
#include "runtime.h"
#include <limits.h>
#include <unistd.h>

int
cmd_spec(struct cli *g, int argc, char **argv)
{
    static const struct option opts[] = {
        { "bundle", required_argument, NULL, 'b' },
        { "rootless", no_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 },
    };
    const char *bundle = ".";
    bool rootless = false;
    char path[PATH_MAX];
    int c;
    while ((c = getopt_long(argc, argv, "b:", opts, NULL)) != -1) {
        if (c == 'b')
            bundle = optarg;
        else if (c == 'r')
            rootless = true;
        else
            return 2;
    }
    snprintf(path, sizeof(path), "%s/config.json", bundle);
    if (access(path, F_OK) == 0)
        return cli_errorf(g, "spec: '%s' exists; remove it first", path);
    json_t *j = rt_spec_default(rootless);
    if (!j)
        return cli_errorf(g, "spec: out of memory");
    int r = json_dump_file(j, path, JSON_INDENT(2));
    json_decref(j);
    if (r < 0)
        return cli_errorf(g, "spec: write '%s': %s", path, strerror(errno));
    return 0;
}
