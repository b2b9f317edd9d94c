/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the middlecon frame decoder: decode a stream of frames the
 * way the broker does, walk every list with the iterators, and check that a
 * re-encoding of each decoded frame decodes to the same bytes.
 */
#include "../../src/middlecon/frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
walk(const struct frame *f)
{
    struct frame_iter it;
    struct frame_bytes a, b;
    uint16_t n;
    frame_iter_attrs(&it, f);
    while (frame_next_attr(&it, &a, &b) > 0)
        ;
    if (f->type == FRAME_GATHER_RESULT) {
        frame_iter_gather(&it, f);
        while (frame_next_reply(&it, &a, &b) > 0)
            ;
        while (frame_next_missing(&it, &a, &n) > 0)
            ;
    }
    if (f->type == FRAME_WHO_RESULT) {
        frame_iter_who(&it, f);
        while (frame_next_member(&it, &a, &b, &n) > 0) {
            struct frame_iter ai;
            struct frame_bytes k, v;
            frame_iter_attr_list(&ai, b, n);
            while (frame_next_attr(&ai, &k, &v) > 0)
                ;
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        struct frame f;
        ssize_t n = frame_decode(data + off, size - off, 1u << 20, &f);
        if (n <= 0)
            break;
        walk(&f);
        size_t sz = frame_size(&f);
        if (sz != (size_t)n)
            abort();
        uint8_t *out = malloc(sz);
        if (!out)
            abort();
        if (frame_encode(&f, out, sz) != n || memcmp(out, data + off, sz) != 0)
            abort();
        free(out);
        off += (size_t)n;
    }
    return 0;
}
