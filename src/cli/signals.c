/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The signal table of the kumo CLI. Only standard signals with portable
 * names are offered: the agent re-validates whatever it receives, but a
 * typo is better caught here, before any request leaves.
 */
#include "signals.h"
#include "util.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct sigent {
    const char *name;
    int num;
};

static const struct sigent sigs[] = {
    { "HUP", SIGHUP },       { "INT", SIGINT },   { "QUIT", SIGQUIT },   { "ILL", SIGILL },
    { "TRAP", SIGTRAP },     { "ABRT", SIGABRT }, { "BUS", SIGBUS },     { "FPE", SIGFPE },
    { "KILL", SIGKILL },     { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV },   { "USR2", SIGUSR2 },
    { "PIPE", SIGPIPE },     { "ALRM", SIGALRM }, { "TERM", SIGTERM },   { "CHLD", SIGCHLD },
    { "CONT", SIGCONT },     { "STOP", SIGSTOP }, { "TSTP", SIGTSTP },   { "TTIN", SIGTTIN },
    { "TTOU", SIGTTOU },     { "URG", SIGURG },   { "XCPU", SIGXCPU },   { "XFSZ", SIGXFSZ },
    { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO },
    { "PWR", SIGPWR },       { "SYS", SIGSYS },
};

const char *
signals_lookup(const char *text)
{
    int64_t n;
    if (!text || !*text)
        return NULL;
    if (parse_int64(text, 1, 64, &n) == 0) {
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
            if (sigs[i].num == n)
                return sigs[i].name;
        return NULL;
    }
    if (strncasecmp(text, "SIG", 3) == 0)
        text += 3;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (strcasecmp(sigs[i].name, text) == 0)
            return sigs[i].name;
    return NULL;
}

int
signals_number(const char *name)
{
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (strcmp(sigs[i].name, name) == 0)
            return sigs[i].num;
    return 0;
}

void
signals_list(FILE *out)
{
    size_t n = sizeof(sigs) / sizeof(sigs[0]);
    for (size_t i = 0; i < n; i++) {
        bool eol = (i + 1) % 5 == 0 || i + 1 == n;
        if (eol)
            fprintf(out, "%2d) SIG%s\n", sigs[i].num, sigs[i].name);
        else
            fprintf(out, "%2d) SIG%-7s ", sigs[i].num, sigs[i].name);
    }
}
