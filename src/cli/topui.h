/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The interactive screen of `kumo top` (ncurses). Keys: P M N T sort by
 * CPU, memory, pid, time; < > move the sort column; R reverse; / or o
 * filter by command; u filter by user; k send a signal; H threads;
 * arrows/PgUp/PgDn/Home/End scroll; space refresh; q quit.
 */
#ifndef KUMO_CLI_TOPUI_H
#define KUMO_CLI_TOPUI_H

#include "top.h"

/* Run until q. t must be started (top_start). Returns the exit status. */
int topui_run(struct top *t);

#endif
