/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the runtime security unit tests: run a check in a forked
 * child (security settings are one-way for a process, so every test that
 * applies one does it in a child the parent then judges by exit status) and
 * read /proc/self/status fields.
 */
#ifndef KUMO_TEST_SECURITY_UTIL_H
#define KUMO_TEST_SECURITY_UTIL_H

#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

/*
 * Fork, run fn(arg) in the child and _exit with its return value (no atexit
 * handlers, no leak check in a process whose syscalls may be filtered).
 * Returns the raw wait status, or -1.
 */
static inline int
in_child(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit(fn(arg));
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ;
    return status;
}

/* Parse a hexadecimal field such as "CapEff" of /proc/self/status. */
static inline int
status_hex(const char *field, uint64_t *ret)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return -1;
    char line[256];
    size_t flen = strlen(field);
    int r = -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            *ret = strtoull(line + flen + 1, NULL, 16);
            r = 0;
            break;
        }
    }
    fclose(f);
    return r;
}

/* Parse a decimal field such as "NoNewPrivs" or "Seccomp". */
static inline int
status_int(const char *field, long *ret)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return -1;
    char line[256];
    size_t flen = strlen(field);
    int r = -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            *ret = strtol(line + flen + 1, NULL, 10);
            r = 0;
            break;
        }
    }
    fclose(f);
    return r;
}

/* Parse a JSON literal that the test itself wrote; aborts on a typo. */
static inline json_t *
J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j) {
        fprintf(stderr, "bad test JSON at %d: %s\n", e.position, e.text);
        abort();
    }
    return j;
}

#endif
