/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The floor for k2i's benchmark: the least work any process lister must do.
 * Enumerates /proc once and reads every /proc/PID/stat, status and cmdline
 * (or only stat with "-s") into a fixed buffer, with openat on a /proc dirfd,
 * no parsing and no output. Prints the time of each of N rounds in ms.
 * Built by bench/k2i/run with cc; not part of the meson build.
 *
 * usage: floor [-s] [ROUNDS]
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 16];

static void
slurp(int dirfd, const char *path)
{
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    close(fd);
}

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int
main(int argc, char **argv)
{
    int stat_only = 0, rounds = 20;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-s") == 0)
            stat_only = 1;
        else
            rounds = atoi(argv[i]);
    }
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ms();
        int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fdopendir(dup(procfd));
        struct dirent *de;
        int n = 0;
        char path[64];
        while ((de = readdir(d))) {
            if (de->d_name[0] < '1' || de->d_name[0] > '9')
                continue;
            snprintf(path, sizeof(path), "%s/stat", de->d_name);
            slurp(procfd, path);
            if (!stat_only) {
                snprintf(path, sizeof(path), "%s/status", de->d_name);
                slurp(procfd, path);
                snprintf(path, sizeof(path), "%s/cmdline", de->d_name);
                slurp(procfd, path);
            }
            n++;
        }
        closedir(d);
        close(procfd);
        printf("%.3f %d\n", now_ms() - t0, n);
    }
    return 0;
}
