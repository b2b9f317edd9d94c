/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signal names for kumo kill and top's 'k' key: "TERM", "SIGTERM", "15"
 * map to one canonical name that is sent to the agent.
 */
#ifndef KUMO_CLI_SIGNALS_H
#define KUMO_CLI_SIGNALS_H

#include <stddef.h>
#include <stdio.h>

/* Canonical name ("TERM") of a signal written as name, SIGname or number; NULL if unknown. */
const char *signals_lookup(const char *text);

/* Number of a canonical name from signals_lookup(). */
int signals_number(const char *name);

/* Print "1) HUP  2) INT ..." like kill -l. */
void signals_list(FILE *out);

#endif
