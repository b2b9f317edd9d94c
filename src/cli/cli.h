/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kumo CLI's verbs. Each cmd-<verb>.c implements one entry point:
 * it parses its own arguments (argv[0] is the verb), calls the libraries,
 * prints, and returns the process exit status:
 *   0 success, 1 error, 2 partial result (some hosts/members did not answer).
 */
#ifndef KUMO_CLI_H
#define KUMO_CLI_H

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,
    CLI_EXIT_PARTIAL = 2,
};

int cmd_ps(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_msg(int argc, char **argv);

#endif
