/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kumo-runtime CLI: global options and one entry point per verb
 * (cmd-<verb>.c). Verbs parse their arguments, call the library and turn an
 * error into one message (cli_error) and an exit code.
 */
#ifndef KUMO_RUNTIME_CLI_H
#define KUMO_RUNTIME_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>

struct kerr;
struct rt_create_opts;

struct cli {
    const char *root;
    const char *log_path;
    bool log_json;
    bool debug;
    bool systemd_cgroup;
};

typedef int (*cli_cmd_fn)(struct cli *g, int argc, char **argv);

/* Print "kumo-runtime: <verb> '<id>': <msg>" to stderr and the log file; returns 1. */
int cli_error(struct cli *g, const char *verb, const char *id, const struct kerr *err);
int cli_errorf(struct cli *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse "9", "KILL", "SIGKILL". Returns the number or -1. */
int cli_parse_signal(const char *s);
/* Load a JSON file ("-" = stdin); new reference or NULL with err set. */
json_t *cli_load_json(const char *path, struct kerr *err);
/* Exactly one positional argument (the id) after options; prints usage otherwise. */
const char *cli_one_id(struct cli *g, const char *verb, int argc, char **argv, int optind_);

/*
 * getopt_long entries of the options create and run share: --bundle/-b,
 * --pid-file, --console-socket, --no-pivot, --no-new-keyring and
 * --preserve-fds.
 */
/* clang-format off */
#define CLI_CREATE_LONGOPTS                                  \
    { "bundle", required_argument, NULL, 'b' },              \
    { "pid-file", required_argument, NULL, 'p' },            \
    { "console-socket", required_argument, NULL, 'c' },      \
    { "no-pivot", no_argument, NULL, 'n' },                  \
    { "no-new-keyring", no_argument, NULL, 'k' },            \
    { "preserve-fds", required_argument, NULL, 'f' }
/* clang-format on */

/*
 * Handle one getopt result of CLI_CREATE_LONGOPTS: sets the option in o, or
 * *bundle for --bundle (arg is borrowed, as from argv). Returns true if opt
 * was one of these, false if not.
 */
bool cli_create_option(struct rt_create_opts *o, const char **bundle, int opt, const char *arg);

int cmd_create(struct cli *g, int argc, char **argv);
int cmd_start(struct cli *g, int argc, char **argv);
int cmd_state(struct cli *g, int argc, char **argv);
int cmd_kill(struct cli *g, int argc, char **argv);
int cmd_delete(struct cli *g, int argc, char **argv);
int cmd_run(struct cli *g, int argc, char **argv);
int cmd_exec(struct cli *g, int argc, char **argv);
int cmd_ps(struct cli *g, int argc, char **argv);
int cmd_list(struct cli *g, int argc, char **argv);
int cmd_pause(struct cli *g, int argc, char **argv);
int cmd_resume(struct cli *g, int argc, char **argv);
int cmd_update(struct cli *g, int argc, char **argv);
int cmd_features(struct cli *g, int argc, char **argv);
int cmd_spec(struct cli *g, int argc, char **argv);

#endif
