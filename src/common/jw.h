/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fast JSON (and Prometheus label) writing onto a struct sbuf: k2i's large
 * list answers (a listing of 1,000 processes is ~500 KB; printf per field
 * would cost more than reading /proc) and middlecon's stats. Strings from
 * the outside world (/proc, room names) stay valid UTF-8 JSON. Appends
 * return 0 or -ENOMEM like sbuf's.
 */
#ifndef KUMO_COMMON_JW_H
#define KUMO_COMMON_JW_H

#include "sbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int jw_u64(struct sbuf *b, uint64_t v);
int jw_i64(struct sbuf *b, int64_t v);
/* v with exactly `decimals` (0..6) digits after the point; NaN/inf as 0. */
int jw_fixed(struct sbuf *b, double v, int decimals);
/*
 * s[0..len) as a JSON string. Valid UTF-8 passes through; control bytes are
 * escaped; bytes that are not valid UTF-8 become U+FFFD (the output is
 * always valid JSON).
 */
int jw_str(struct sbuf *b, const char *s, size_t len);
int jw_cstr(struct sbuf *b, const char *s);
/* ',' unless *first, then "\"key\":"; key is trusted (no escaping). */
int jw_key(struct sbuf *b, bool *first, const char *key);

/* Prometheus label value escaping (\\, \", \n); invalid UTF-8 as U+FFFD. */
int jw_prom_label(struct sbuf *b, const char *s, size_t len);

#endif
