/*
 * fuzz_config.c — fuzz target for the config loader. Any input must load or
 * be refused with a message, without a crash or a leak; and a config that
 * loads must survive a round trip: its effective JSON (`config show`) loads
 * again to the very same effective JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "sl_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sl_config *cfg;
    sl_err err;
    if (sl_config_load_string((const char *)data, size, "fuzz", &cfg, &err) != SL_OK) {
        if (!err.msg[0])
            abort(); /* a refusal must say why */
        return 0;
    }
    char *a = sl_config_to_json(cfg);
    sl_config *again;
    if (!a || sl_config_load_string(a, strlen(a), "round-trip", &again, &err) != SL_OK) {
        fprintf(stderr, "fuzz_config: effective config does not load: %s\n%s\n", err.msg, a);
        abort();
    }
    char *b = sl_config_to_json(again);
    if (!b || strcmp(a, b) != 0) {
        fprintf(stderr, "fuzz_config: round trip differs:\n%s\n---\n%s\n", a, b);
        abort();
    }
    free(a);
    free(b);
    sl_config_destroy(again);
    sl_config_destroy(cfg);
    return 0;
}
