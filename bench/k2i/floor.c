/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The floor for k2i's benchmark: the least work any process lister must do.
 * Enumerates /proc and reads every /proc/PID/stat, status and cmdline once
 * (only stat with -s) into a fixed buffer: openat() on a /proc dirfd, one
 * read() (a /proc seq_file yields its whole text on the first read), close.
 * No parsing, no output. With -k it keeps the fds open across rounds and
 * re-reads them with pread() at offset 0 — the floor of k2i's kept-fd mode;
 * an untimed first round opens them.
 * Prints the time of each round in ms and the number of processes, then
 * "cpu MS": user+system CPU per timed round (getrusage).
 * Built by bench/k2i/run with cc; not part of the meson build.
 *
 * usage: floor [-s] [-k] [ROUNDS]
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAXPID 4194305

static char buf[1 << 16];
static int (*kept)[3]; /* fd + 1; 0 = none (calloc: untouched pages stay free) */

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
one(int procfd, int pid, const char *dname, int k, const char *name, int keep)
{
    char path[300];
    if (keep && kept[pid][k] > 0) {
        if (pread(kept[pid][k] - 1, buf, sizeof(buf), 0) >= 0)
            return;
        close(kept[pid][k] - 1);
        kept[pid][k] = 0;
    }
    snprintf(path, sizeof(path), "%s/%s", dname, name);
    int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (read(fd, buf, sizeof(buf)) < 0) {
        close(fd);
        return;
    }
    if (keep)
        kept[pid][k] = fd + 1;
    else
        close(fd);
}

static int
round_once(int stat_only, int keep)
{
    static const char *const names[3] = { "stat", "status", "cmdline" };
    int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fdopendir(dup(procfd));
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        int pid = atoi(de->d_name);
        if (pid <= 0 || pid >= MAXPID)
            continue;
        for (int k = 0; k < (stat_only ? 1 : 3); k++)
            one(procfd, pid, de->d_name, k, names[k], keep);
        n++;
    }
    closedir(d);
    close(procfd);
    return n;
}

int
main(int argc, char **argv)
{
    int stat_only = 0, keep = 0, rounds = 20;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-s") == 0)
            stat_only = 1;
        else if (strcmp(argv[i], "-k") == 0)
            keep = 1;
        else
            rounds = atoi(argv[i]);
    }
    if (keep) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        kept = calloc(MAXPID, sizeof(*kept));
        if (!kept)
            return 1;
        round_once(stat_only, keep);
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ms();
        int n = round_once(stat_only, keep);
        printf("%.3f %d\n", now_ms() - t0, n);
    }
    getrusage(RUSAGE_SELF, &ru1);
#define TV_MS(tv) ((tv).tv_sec * 1e3 + (tv).tv_usec / 1e3)
    double cpu =
        TV_MS(ru1.ru_utime) - TV_MS(ru0.ru_utime) + TV_MS(ru1.ru_stime) - TV_MS(ru0.ru_stime);
    printf("cpu %.3f\n", rounds > 0 ? cpu / rounds : 0.0);
    return 0;
}
