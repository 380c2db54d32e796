/*
 * fuzz_common.h — shared by the fuzz targets, their plain replay driver and
 * the differential tests.
 *
 * Every fuzz target is an ordinary LLVMFuzzerTestOneInput: built with clang
 * -fsanitize=fuzzer it is a libFuzzer binary; linked with fuzz_main.c under
 * gcc it replays a corpus directory (what CI runs).
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "sl_arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Parses msg with the fast path (falling back to jansson as production does)
 * and with jansson alone, and compares acceptance, reason and every value.
 * Returns 0 when they agree; otherwise 1 with a description in why.
 */
int fuzz_event_diff(const char *msg, size_t len, sl_arena *arena, char *why, size_t why_cap);

#endif
