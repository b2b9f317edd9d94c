/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the broker's registry hash map (src/middlecon/map.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

#define N 5000

static void
test_put_get_del_shrink(void **state)
{
    (void)state;
    struct map mp = { 0 };
    static char keys[N][16];
    assert_null(map_get(&mp, "x", 1));
    assert_null(map_del(&mp, "x", 1));
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        assert_int_equal(map_put(&mp, keys[i], strlen(keys[i]), keys[i]), 0);
    }
    assert_int_equal(mp.count, N);
    assert_int_equal(map_put(&mp, keys[7], strlen(keys[7]), NULL), -EEXIST);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(map_get(&mp, keys[i], strlen(keys[i])), keys[i]);
    /* Prefixes and longer keys are different keys. */
    assert_null(map_get(&mp, "k1", 1));
    assert_null(map_get(&mp, "k10000", 6));
    size_t grown = mp.nslots;
    assert_true(grown >= N);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(map_del(&mp, keys[i], strlen(keys[i])), keys[i]);
    assert_int_equal(mp.count, 0);
    /* The table gives memory back when it empties. */
    assert_true(mp.nslots < grown / 8);
    map_free(&mp);
    assert_null(mp.slots);
}

static void
test_iterate(void **state)
{
    (void)state;
    struct map mp = { 0 };
    struct map_iter it0 = { 0 };
    assert_int_equal(map_next(&mp, &it0), 0);
    static char keys[100][8];
    for (int i = 0; i < 100; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%d", i);
        assert_int_equal(map_put(&mp, keys[i], strlen(keys[i]), keys[i]), 0);
    }
    int seen[100] = { 0 }, n = 0;
    for (struct map_iter it = { 0 }; map_next(&mp, &it);) {
        int k = atoi(it.e->value);
        if (k < 0 || k >= 100)
            fail_msg("unexpected value %d", k);
        else
            seen[k]++;
        n++;
    }
    assert_int_equal(n, 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(seen[i], 1);
    map_free(&mp);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_del_shrink),
        cmocka_unit_test(test_iterate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
