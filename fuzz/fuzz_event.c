/*
 * fuzz_event.c — fuzz target for the event parser. Any input must parse or
 * be refused without a crash, a leak or undefined behaviour, and the fast
 * path must agree with the jansson reference on it (abort otherwise, so the
 * fuzzer keeps the input).
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sl_arena arena;
    sl_arena_init(&arena, 4096, 16u << 20);
    char why[512];
    if (fuzz_event_diff((const char *)data, size, &arena, why, sizeof why)) {
        fprintf(stderr, "fuzz_event: disagreement: %s\n", why);
        abort();
    }
    sl_arena_deinit(&arena);
    return 0;
}
