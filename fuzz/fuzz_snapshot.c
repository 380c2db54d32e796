/*
 * fuzz_snapshot.c — fuzz target for the snapshot reader. Any bytes must be
 * opened or refused with a message, never crash or read out of bounds; a
 * blob that opens must describe, and its array views must lie inside the
 * input. The input is copied to an exact-size heap buffer so an over-read
 * by even one byte trips ASan.
 *
 * Random bytes almost never carry a right total size and CRC, which would
 * keep the fuzzer at the header; so each input is also tried with those two
 * fields made consistent, which lets it reach the section parser.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "model_snapshot.h"

static void check(const uint8_t *data, size_t size, bool fix) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return;
    if (size)
        memcpy(copy, data, size);
    if (fix) {
        for (int i = 0; i < 8; i++)
            copy[16 + i] = (uint8_t)((uint64_t)size >> (8 * i));
        uint32_t crc = model_snapshot_crc32c(0, copy, size - 4);
        for (int i = 0; i < 4; i++)
            copy[size - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
    }
    model_snapshot snap;
    sl_err err = {{0}};
    if (model_snapshot_open(copy, size, &snap, &err) != SL_OK) {
        if (!err.msg[0])
            abort(); /* a refusal must say why */
        free(copy);
        return;
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check(data, size, false);
    if (size >= MODEL_SNAPSHOT_HEADER_BYTES + 4)
        check(data, size, true);
    return 0;
}
