/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The signal name table and its parser (see signame.h). Called by k2i's
 * request handlers and the kumo CLI, on any thread.
 */
#include "signame.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

static const struct signame table[] = {
    { "HUP", SIGHUP, false },   { "INT", SIGINT, false },      { "QUIT", SIGQUIT, false },
    { "ILL", SIGILL, false },   { "TRAP", SIGTRAP, false },    { "ABRT", SIGABRT, false },
    { "IOT", SIGIOT, true },    { "BUS", SIGBUS, false },      { "FPE", SIGFPE, false },
    { "KILL", SIGKILL, false }, { "USR1", SIGUSR1, false },    { "SEGV", SIGSEGV, false },
    { "USR2", SIGUSR2, false }, { "PIPE", SIGPIPE, false },    { "ALRM", SIGALRM, false },
    { "TERM", SIGTERM, false }, { "STKFLT", SIGSTKFLT, true }, { "CHLD", SIGCHLD, false },
    { "CONT", SIGCONT, false }, { "STOP", SIGSTOP, false },    { "TSTP", SIGTSTP, false },
    { "TTIN", SIGTTIN, false }, { "TTOU", SIGTTOU, false },    { "URG", SIGURG, false },
    { "XCPU", SIGXCPU, false }, { "XFSZ", SIGXFSZ, false },    { "VTALRM", SIGVTALRM, false },
    { "PROF", SIGPROF, false }, { "WINCH", SIGWINCH, false },  { "IO", SIGIO, false },
    { "POLL", SIGPOLL, true },  { "PWR", SIGPWR, false },      { "SYS", SIGSYS, false },
};

const struct signame *
signame_table(size_t *ret_n)
{
    *ret_n = ARRAY_SIZE(table);
    return table;
}

int
signame_parse(const char *s)
{
    if (!s || !*s || strlen(s) > 16)
        return -EINVAL;
    if (*s >= '0' && *s <= '9') {
        int64_t v;
        if (parse_int64(s, 0, SIGRTMAX, &v) < 0)
            return -EINVAL;
        return (int)v;
    }
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < ARRAY_SIZE(table); i++)
        if (strcasecmp(s, table[i].name) == 0)
            return table[i].signo;
    int base = 0, sign = 1;
    const char *rest = NULL;
    if (strncasecmp(s, "RTMIN", 5) == 0)
        base = SIGRTMIN, rest = s + 5;
    else if (strncasecmp(s, "RTMAX", 5) == 0)
        base = SIGRTMAX, rest = s + 5, sign = -1;
    else
        return -EINVAL;
    if (*rest == '\0')
        return base;
    if ((sign > 0 && *rest != '+') || (sign < 0 && *rest != '-'))
        return -EINVAL;
    int64_t off;
    if (parse_int64(rest + 1, 0, SIGRTMAX - SIGRTMIN, &off) < 0)
        return -EINVAL;
    return base + sign * (int)off;
}

const char *
signame_name(int signo)
{
    for (size_t i = 0; i < ARRAY_SIZE(table); i++)
        if (table[i].signo == signo)
            return table[i].name;
    return NULL;
}
