/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signal names for the kumo CLI, from the common table (signame.h). Only
 * standard signals with portable names are offered (no aliases, no
 * real-time signals): the agent re-validates whatever it receives, but a
 * typo is better caught here, before any request leaves.
 */
#include "signals.h"
#include "signame.h"
#include "util.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *
signals_lookup(const char *text)
{
    size_t n;
    const struct signame *t = signame_table(&n);
    int64_t num;
    if (!text || !*text)
        return NULL;
    bool numeric = parse_int64(text, 1, 64, &num) == 0;
    if (!numeric && strncasecmp(text, "SIG", 3) == 0)
        text += 3;
    for (size_t i = 0; i < n; i++) {
        if (t[i].legacy)
            continue;
        if (numeric ? t[i].signo == num : strcasecmp(t[i].name, text) == 0)
            return t[i].name;
    }
    return NULL;
}

int
signals_number(const char *name)
{
    size_t n;
    const struct signame *t = signame_table(&n);
    for (size_t i = 0; i < n; i++)
        if (!t[i].legacy && strcmp(t[i].name, name) == 0)
            return t[i].signo;
    return 0;
}

void
signals_list(FILE *out)
{
    size_t n;
    const struct signame *t = signame_table(&n);
    size_t shown = 0, total = 0;
    for (size_t i = 0; i < n; i++)
        total += !t[i].legacy;
    for (size_t i = 0; i < n; i++) {
        if (t[i].legacy)
            continue;
        shown++;
        if (shown % 5 == 0 || shown == total)
            fprintf(out, "%2d) SIG%s\n", t[i].signo, t[i].name);
        else
            fprintf(out, "%2d) SIG%-7s ", t[i].signo, t[i].name);
    }
}
