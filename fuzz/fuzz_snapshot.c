/*
 * fuzz_snapshot.c — fuzz target for the snapshot reader. Any bytes must be
 * opened or refused with a message, never crash or read out of bounds; a
 * blob that opens must describe, and its array views must lie inside the
 * input. The input is copied to an exact-size heap buffer so an over-read
 * by even one byte trips ASan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "model_snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    model_snapshot snap;
    sl_err err = {{0}};
    if (model_snapshot_open(copy, size, &snap, &err) != SL_OK) {
        if (!err.msg[0])
            abort(); /* a refusal must say why */
        free(copy);
        return 0;
    }
    for (uint32_t i = 0; i < snap.n_arrays; i++) {
        const uint8_t *p = snap.arrays[i].raw;
        if (p < copy || (size_t)(p - copy) + snap.arrays[i].count * 4 > size)
            abort();
    }
    sl_buf json;
    sl_buf_init(&json, 1 << 20);
    if (model_snapshot_describe(copy, size, &json, &err) != SL_OK) {
        fprintf(stderr, "fuzz_snapshot: opened but describe failed: %s\n", err.msg);
        abort();
    }
    sl_buf_deinit(&json);
    free(copy);
    return 0;
}
