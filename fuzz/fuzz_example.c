/*
 * fuzz_example.c — fuzz target for the example decoder (the frozen example
 * of every pending view comes back through it from the state on restart,
 * and the feed model's buffered rows from its snapshots). Any bytes must
 * decode or be refused with SL_ERR_CORRUPT, never crash or read out of
 * bounds; an example that decodes must be within the limits, encode again,
 * and decode from that to the same encoding (what a restart would write
 * back). The input is copied to an exact-size heap buffer so an over-read
 * by even one byte trips ASan.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "model_example.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    model_example ex;
    sl_status st = model_example_decode(copy, size, &ex);
    free(copy);
    if (st != SL_OK) {
        if (st != SL_ERR_CORRUPT)
            abort(); /* a refusal is a corrupt input, nothing else */
        return 0;
    }
    if (ex.n > MODEL_MAX_SPARSE || ex.n_dense > MODEL_MAX_DENSE)
        abort();
    static uint8_t a[MODEL_EXAMPLE_MAX_BYTES], b[MODEL_EXAMPLE_MAX_BYTES];
    size_t la, lb;
    model_example again;
    if (model_example_encode(&ex, a, sizeof a, &la) != SL_OK ||
        la != model_example_encoded_size(&ex) ||
        model_example_decode(a, la, &again) != SL_OK ||
        model_example_encode(&again, b, sizeof b, &lb) != SL_OK || la != lb || memcmp(a, b, la))
        abort();
    return 0;
}
