/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI hooks: each hook is forked and exec'd with the container's state JSON
 * on stdin, its own args and env, and killed when its timeout expires. A
 * hook that fails (non-zero exit, signal, timeout) fails the operation,
 * except poststart/poststop whose failures the caller only reports.
 * Called from the runtime (prestart, createRuntime, poststart, poststop)
 * and from the container init (createContainer, startContainer).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "internal.h"
#include "kerr.h"
#include "util.h"

bool
hooks__has(json_t *hooks, const char *name)
{
    return hooks && json_array_size(json_object_get(hooks, name)) > 0;
}

char *
hooks__state(const char *id, const char *status, pid_t pid, const char *bundle, json_t *annotations)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:s}", "ociVersion", RT_OCI_VERSION, "id", id,
                          "status", status, "pid", (int)pid, "bundle", bundle ? bundle : "");
    if (!j)
        return NULL;
    if (annotations)
        json_object_set(j, "annotations", annotations);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static char **
strv_of(json_t *arr)
{
    size_t n = json_array_size(arr), i;
    json_t *v;
    char **out = calloc(n + 1, sizeof(char *));
    if (!out)
        return NULL;
    json_array_foreach (arr, i, v)
        out[i] = (char *)json_string_value(v);
    return out;
}

static int
run_one(json_t *h, const char *name, size_t idx, const char *state, struct kerr *err)
{
    const char *path = json_string_value(json_object_get(h, "path"));
    json_t *t = json_object_get(h, "timeout");
    int timeout_ms = json_is_integer(t) ? (int)json_integer_value(t) * 1000 : -1;
    cleanup_free char **args = strv_of(json_object_get(h, "args"));
    cleanup_free char **env = strv_of(json_object_get(h, "env"));
    int pfd[2];

    if (!args || !env)
        return kerr_set(err, ENOMEM, "hooks.%s[%zu]", name, idx);
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return kerr_set(err, errno, "hooks.%s[%zu]: pipe", name, idx);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pfd[0]);
        close(pfd[1]);
        return kerr_set(err, e, "hooks.%s[%zu]: fork", name, idx);
    }
    if (pid == 0) {
        dup2(pfd[0], 0);
        char *argv0[] = { (char *)path, NULL };
        execve(path, args[0] ? args : argv0, env);
        dprintf(2, "kumo-runtime: hook '%s': %s\n", path, strerror(errno));
        _exit(127);
    }
    close(pfd[0]);
    /* A hook need not read its stdin; a full pipe or EPIPE is not our error. */
    signal(SIGPIPE, SIG_IGN);
    write_all(pfd[1], state, strlen(state));
    close(pfd[1]);

    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd >= 0) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        int n;
        do {
            n = poll(&p, 1, timeout_ms);
        } while (n < 0 && errno == EINTR);
        close(pidfd);
        if (n == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return kerr_setf(err, ETIMEDOUT, "hooks.%s[%zu]: '%s' timed out after %ds", name, idx,
                             path, timeout_ms / 1000);
        }
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return kerr_set(err, errno, "hooks.%s[%zu]: wait for '%s'", name, idx, path);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFSIGNALED(st))
        return kerr_setf(err, EIO, "hooks.%s[%zu]: '%s' killed by signal %d", name, idx, path,
                         WTERMSIG(st));
    return kerr_setf(err, EIO, "hooks.%s[%zu]: '%s' exited with status %d", name, idx, path,
                     WEXITSTATUS(st));
}

int
hooks__run(json_t *hooks, const char *name, const char *state_json, struct kerr *err)
{
    json_t *list = json_object_get(hooks, name), *h;
    size_t i;
    json_array_foreach (list, i, h) {
        int r = run_one(h, name, i, state_json, err);
        if (r < 0)
            return r;
    }
    return 0;
}
