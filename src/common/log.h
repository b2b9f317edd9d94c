/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging for mains and daemons' top loops only (library code returns
 * errors instead). Lines go to stderr as
 * "2026-11-26T15:00:00.123Z k2i[123]: info: message". Thread-safe: each line
 * is written with one write(2).
 */
#ifndef KUMO_COMMON_LOG_H
#define KUMO_COMMON_LOG_H

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
};

/* Set the program name shown on each line (borrowed; keep it alive). */
void log_init(const char *progname);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parse "error", "warn", "info", "debug". Returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *ret_level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
