/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers every component needs: strict number parsing, whole-file
 * reads, clocks. No allocation unless stated; thread-safe.
 */
#ifndef KUMO_COMMON_UTIL_H
#define KUMO_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Parse a whole string as a base-10 integer within [min, max]. Leading
 * whitespace, a sign on unsigned values, trailing garbage and overflow are
 * errors. Returns 0, -EINVAL (not a number) or -ERANGE (out of bounds).
 */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret);
int parse_uint64(const char *s, uint64_t max, uint64_t *ret);

/* Parse a duration like "500ms", "2s", "1m", "250us", or a bare number of ms. */
int parse_duration_usec(const char *s, uint64_t *ret_usec);

/* Parse a size like "64M", "1G", "512k", "4096". */
int parse_size(const char *s, uint64_t *ret_bytes);

/*
 * Read up to cap-1 bytes from the file at dirfd/path into buf and NUL
 * terminate it. Returns the number of bytes read or -errno. Uses one
 * open/read/close; meant for /proc and /sys files.
 */
ssize_t read_file_at(int dirfd, const char *path, char *buf, size_t cap);

/*
 * Read a whole file into a new NUL-terminated buffer (free()), refusing
 * files larger than max_size with -EFBIG. ret_len may be NULL.
 */
int read_file_alloc(const char *path, size_t max_size, char **ret_buf, size_t *ret_len);

/* Write all of buf to path (O_WRONLY|O_CLOEXEC, no create). Returns 0 or -errno. */
int write_file(const char *path, const char *buf, size_t len);

/* Write all bytes to fd, retrying on EINTR and short writes. 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);

uint64_t now_mono_usec(void);
uint64_t now_real_usec(void);

/* True if s starts with prefix. */
bool str_startswith(const char *s, const char *prefix);

/* Copy at most cap-1 bytes and NUL-terminate; returns strlen(src). */
size_t strlcpy_k(char *dst, const char *src, size_t cap);

/*
 * A character of a container id: [A-Za-z0-9_.+-], what kumo-runtime accepts,
 * k2i reports (from the kumo/<id> cgroup) and the CLI filters on.
 */
static inline bool
container_id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '+';
}

#endif
