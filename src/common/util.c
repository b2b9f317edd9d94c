/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Number parsing, file reading and clocks shared by all components.
 */
#include "util.h"
#include "cleanup.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int
parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
    if (!s || *s == '\0' || isspace((unsigned char)*s))
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0')
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *ret = (int64_t)v;
    return 0;
}

int
parse_uint64(const char *s, uint64_t max, uint64_t *ret)
{
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0')
        return -EINVAL;
    if (errno == ERANGE || v > max)
        return -ERANGE;
    *ret = (uint64_t)v;
    return 0;
}

/* Split "123abc" into the number and the unit suffix. */
static int
parse_number_unit(const char *s, uint64_t *ret_num, const char **ret_unit)
{
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    *ret_num = v;
    *ret_unit = end;
    return 0;
}

static int
mul_checked(uint64_t a, uint64_t b, uint64_t *ret)
{
    if (a != 0 && b > UINT64_MAX / a)
        return -ERANGE;
    *ret = a * b;
    return 0;
}

int
parse_duration_usec(const char *s, uint64_t *ret_usec)
{
    uint64_t n;
    const char *unit;
    int r = parse_number_unit(s, &n, &unit);
    if (r < 0)
        return r;
    uint64_t mul;
    if (*unit == '\0' || strcmp(unit, "ms") == 0)
        mul = 1000;
    else if (strcmp(unit, "us") == 0)
        mul = 1;
    else if (strcmp(unit, "s") == 0)
        mul = 1000000;
    else if (strcmp(unit, "m") == 0 || strcmp(unit, "min") == 0)
        mul = 60000000;
    else if (strcmp(unit, "h") == 0)
        mul = 3600000000ULL;
    else
        return -EINVAL;
    return mul_checked(n, mul, ret_usec);
}

int
parse_size(const char *s, uint64_t *ret_bytes)
{
    uint64_t n;
    const char *unit;
    int r = parse_number_unit(s, &n, &unit);
    if (r < 0)
        return r;
    uint64_t mul;
    switch (unit[0]) {
    case '\0':
        mul = 1;
        break;
    case 'k':
    case 'K':
        mul = 1ULL << 10;
        break;
    case 'm':
    case 'M':
        mul = 1ULL << 20;
        break;
    case 'g':
    case 'G':
        mul = 1ULL << 30;
        break;
    case 't':
    case 'T':
        mul = 1ULL << 40;
        break;
    default:
        return -EINVAL;
    }
    if (unit[0] != '\0') {
        const char *rest = unit + 1;
        if (*rest == 'i')
            rest++;
        if (*rest == 'B')
            rest++;
        if (*rest != '\0')
            return -EINVAL;
    }
    return mul_checked(n, mul, ret_bytes);
}

ssize_t
read_file_at(int dirfd, const char *path, char *buf, size_t cap)
{
    if (cap == 0)
        return -EINVAL;
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    size_t off = 0;
    while (off < cap - 1) {
        ssize_t n = read(fd, buf + off, cap - 1 - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            return -e;
        }
        if (n == 0)
            break;
        off += (size_t)n;
    }
    close(fd);
    buf[off] = '\0';
    return (ssize_t)off;
}

int
read_file_alloc(const char *path, size_t max_size, char **ret_buf, size_t *ret_len)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;

    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    if (cap > max_size + 1)
        cap = max_size + 1;
    cleanup_free char *buf = malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    size_t len = 0;
    for (;;) {
        if (len == cap) {
            if (cap > max_size)
                return -EFBIG;
            size_t ncap = cap * 2 > max_size + 1 ? max_size + 1 : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb)
                return -ENOMEM;
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max_size)
        return -EFBIG;
    buf[len] = '\0';
    if (ret_len)
        *ret_len = len;
    *ret_buf = TAKE_PTR(buf);
    return 0;
}

int
write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
write_file(const char *path, const char *buf, size_t len)
{
    cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    /* Kernel interface files want one write(2) per value. */
    ssize_t n;
    do {
        n = write(fd, buf, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if ((size_t)n != len)
        return -EIO;
    return 0;
}

uint64_t
now_mono_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

uint64_t
now_real_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

bool
str_startswith(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

size_t
strlcpy_k(char *dst, const char *src, size_t cap)
{
    size_t len = strlen(src);
    if (cap > 0) {
        size_t n = len < cap - 1 ? len : cap - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}
