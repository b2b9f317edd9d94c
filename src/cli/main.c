/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kumo: the operator's CLI. Dispatches to one cmd-<verb>.c per verb.
 */
#include "cli.h"
#include "log.h"

#include <kumo-config.h>
#include <stdio.h>
#include <string.h>

struct verb {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

static const struct verb verbs[] = {
    { "ps", cmd_ps, "list processes across hosts (k2i agents)" },
    { "top", cmd_top, "live process view across hosts" },
    { "kill", cmd_kill, "send a signal to HOST:PID" },
    { "msg", cmd_msg, "talk on the middlecon bus (listen, send, request, who)" },
};

static void
usage(FILE *out)
{
    fprintf(out, "usage: kumo [--version] [--help] VERB [ARGS...]\n\nverbs:\n");
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        fprintf(out, "  %-6s %s\n", verbs[i].name, verbs[i].help);
    fprintf(out, "\nRun 'kumo VERB --help' for a verb's options.\n");
}

int
main(int argc, char **argv)
{
    log_init("kumo");
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_ERROR;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("kumo %s\n", KUMO_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(argv[1], verbs[i].name) == 0)
            return verbs[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "kumo: unknown verb '%s' (see 'kumo --help')\n", argv[1]);
    return CLI_EXIT_ERROR;
}
