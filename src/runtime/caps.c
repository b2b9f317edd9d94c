/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI `process.capabilities` → the five capability sets of the container
 * process, with libcap. rt_caps_validate runs in the runtime's parent before
 * any fork so a typo is reported before anything is created; rt_caps_apply
 * runs in the single-threaded container init after the uid/gid switch.
 *
 * Order matters because each step needs privileges the next one may remove:
 * raise effective to permitted (PR_CAPBSET_DROP needs CAP_SETPCAP in the
 * effective set, and setresuid to a non-root uid clears effective even with
 * PR_SET_KEEPCAPS), drop the bounding set, set effective/permitted/
 * inheritable with one capset, then rebuild the ambient set (raising an
 * ambient capability needs it in both permitted and inheritable).
 */
#include "security.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "cleanup.h"

enum { SET_BOUNDING, SET_EFFECTIVE, SET_PERMITTED, SET_INHERITABLE, SET_AMBIENT, SET_COUNT };

static const char *const set_names[SET_COUNT] = { "bounding", "effective", "permitted",
                                                  "inheritable", "ambient" };

/* Capabilities are numbered below 64 for the foreseeable future (40 today). */
#define CAPS_MAX 64

static void
cap_freep(cap_t *c)
{
    if (*c)
        cap_free(*c);
}

/*
 * Parse one name. Only the canonical upper-case "CAP_*" spelling is taken:
 * libcap also accepts lower case and bare numbers, which a config should not
 * rely on. Returns the capability number or -EINVAL.
 */
static int
cap_parse(const char *name)
{
    if (strncmp(name, "CAP_", 4) != 0)
        return -EINVAL;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return -EINVAL;
    cap_value_t v;
    if (cap_from_name(name, &v) < 0 || v < 0 || v >= CAPS_MAX)
        return -EINVAL;
    return v;
}

/* Parse the five sets into bit masks; used by both validate and apply. */
static int
caps_parse(json_t *caps, uint64_t ret_sets[SET_COUNT], struct kerr *err)
{
    memset(ret_sets, 0, sizeof(uint64_t) * SET_COUNT);
    if (!caps || json_is_null(caps))
        return 0;
    if (!json_is_object(caps))
        return kerr_setf(err, EINVAL, "process.capabilities: must be an object");

    const char *key;
    json_t *v;
    json_object_foreach (caps, key, v) {
        bool known = false;
        for (int s = 0; s < SET_COUNT; s++)
            if (strcmp(key, set_names[s]) == 0)
                known = true;
        if (!known)
            return kerr_setf(err, EINVAL, "process.capabilities.%s: unknown field", key);
    }

    for (int s = 0; s < SET_COUNT; s++) {
        json_t *arr = json_object_get(caps, set_names[s]);
        if (!arr || json_is_null(arr))
            continue;
        if (!json_is_array(arr))
            return kerr_setf(err, EINVAL, "process.capabilities.%s: must be an array",
                             set_names[s]);
        size_t i;
        json_t *n;
        json_array_foreach (arr, i, n) {
            if (!json_is_string(n))
                return kerr_setf(err, EINVAL, "process.capabilities.%s[%zu]: must be a string",
                                 set_names[s], i);
            int c = cap_parse(json_string_value(n));
            if (c < 0)
                return kerr_setf(err, EINVAL,
                                 "process.capabilities.%s[%zu]: unknown capability '%s'",
                                 set_names[s], i, json_string_value(n));
            ret_sets[s] |= UINT64_C(1) << c;
        }
    }
    return 0;
}

int
rt_caps_validate(json_t *caps, struct kerr *err)
{
    uint64_t sets[SET_COUNT];
    return caps_parse(caps, sets, err);
}

/* Highest capability the running kernel knows, from libcap's probe. */
static int
last_cap(void)
{
    int last = (int)cap_max_bits() - 1;
    if (last < 0)
        last = CAP_LAST_CAP;
    if (last >= CAPS_MAX)
        last = CAPS_MAX - 1;
    return last;
}

static const char *
cap_label(int c, char *buf, size_t len)
{
    char *s = cap_to_name(c);
    if (s) {
        snprintf(buf, len, "%s", s);
        cap_free(s);
        /* libcap prints lower case; configs and messages use upper case. */
        for (char *p = buf; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
    } else {
        snprintf(buf, len, "capability %d", c);
    }
    return buf;
}

int
rt_caps_apply(json_t *process_capabilities, struct kerr *err)
{
    uint64_t sets[SET_COUNT];
    int r = caps_parse(process_capabilities, sets, err);
    if (r < 0)
        return r;
    int last = last_cap();
    char label[64];

    /* Step 1: effective = permitted, so CAP_SETPCAP is usable if we hold it. */
    __attribute__((cleanup(cap_freep))) cap_t cur = cap_get_proc();
    if (!cur)
        return kerr_set(err, errno, "capabilities: read the current sets");
    for (int c = 0; c <= last; c++) {
        cap_flag_value_t p = CAP_CLEAR;
        cap_value_t cv = c;
        if (cap_get_flag(cur, cv, CAP_PERMITTED, &p) == 0)
            cap_set_flag(cur, CAP_EFFECTIVE, 1, &cv, p);
    }
    if (cap_set_proc(cur) < 0)
        return kerr_set(err, errno, "capabilities: raise effective to permitted");

    /* Step 2: the bounding set; dropping what is already gone succeeds. */
    for (int c = 0; c <= last; c++) {
        if (sets[SET_BOUNDING] & (UINT64_C(1) << c))
            continue;
        if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1)
            continue;
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
            return kerr_set(err, errno, "process.capabilities.bounding: drop %s",
                            cap_label(c, label, sizeof(label)));
    }

    /* Step 3: effective, permitted, inheritable in one capset. */
    __attribute__((cleanup(cap_freep))) cap_t want = cap_init();
    if (!want)
        return kerr_set(err, ENOMEM, "capabilities: allocate");
    static const struct {
        int set;
        cap_flag_t flag;
    } map[] = {
        { SET_EFFECTIVE, CAP_EFFECTIVE },
        { SET_PERMITTED, CAP_PERMITTED },
        { SET_INHERITABLE, CAP_INHERITABLE },
    };
    for (size_t m = 0; m < ARRAY_SIZE(map); m++)
        for (int c = 0; c <= last; c++) {
            if (!(sets[map[m].set] & (UINT64_C(1) << c)))
                continue;
            cap_value_t cv = c;
            cap_set_flag(want, map[m].flag, 1, &cv, CAP_SET);
        }
    if (cap_set_proc(want) < 0) {
        int e = errno;
        /* Name the usual culprit instead of a bare EPERM. */
        uint64_t extra = sets[SET_EFFECTIVE] & ~sets[SET_PERMITTED];
        if (e == EPERM && extra)
            return kerr_setf(err, EPERM,
                             "process.capabilities.effective: %s is not in the permitted set",
                             cap_label(__builtin_ctzll(extra), label, sizeof(label)));
        return kerr_set(err, e, "process.capabilities: set effective/permitted/inheritable");
    }

    /* Step 4: ambient. Clearing fails with EINVAL only on pre-4.3 kernels. */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
        if (sets[SET_AMBIENT] == 0 && errno == EINVAL)
            return 0;
        return kerr_set(err, errno, "process.capabilities.ambient: clear");
    }
    for (int c = 0; c <= last; c++) {
        if (!(sets[SET_AMBIENT] & (UINT64_C(1) << c)))
            continue;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
            return kerr_set(err, errno,
                            "process.capabilities.ambient: raise %s (it must also be permitted "
                            "and inheritable)",
                            cap_label(c, label, sizeof(label)));
    }
    return 0;
}
