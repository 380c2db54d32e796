/* fuzz_event_diff.c — the fast event path against the jansson reference. */
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "sl_event.h"

static int str_same(sl_str a, sl_str b) {
    if (a.n != b.n)
        return 0;
    if ((a.p == NULL) != (b.p == NULL))
        return 0;
    return a.n == 0 || memcmp(a.p, b.p, a.n) == 0;
}

/* Bitwise for doubles: -0.0 and 0.0 differ, and so would two NaNs' payloads. */
static int num_same(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

#define DIFF(...)                                                                                  \
    do {                                                                                           \
        snprintf(why, why_cap, __VA_ARGS__);                                                       \
        return 1;                                                                                  \
    } while (0)

int fuzz_event_diff(const char *msg, size_t len, sl_arena *arena, char *why, size_t why_cap) {
    sl_event a, b;
    sl_event_error ea, eb;
    sl_event_parse_opts ref = {.reference_only = true};
    bool ok_a = sl_event_parse(msg, len, arena, NULL, &a, &ea);
    bool ok_b = sl_event_parse(msg, len, arena, &ref, &b, &eb);
    if (ok_a != ok_b)
        DIFF("fast %s (%s) vs reference %s (%s)", ok_a ? "accepts" : sl_reason_str(ea.reason),
             ea.detail, ok_b ? "accepts" : sl_reason_str(eb.reason), eb.detail);
    if (!ok_a) {
        if (ea.reason != eb.reason || strcmp(ea.detail, eb.detail) != 0)
            DIFF("reasons differ: fast %s (%s) vs reference %s (%s)", sl_reason_str(ea.reason),
                 ea.detail, sl_reason_str(eb.reason), eb.detail);
        return 0;
    }
    if (a.type != b.type || a.ts != b.ts || a.surface != b.surface || a.entity != b.entity)
        DIFF("type/ts/surface/entity differ");
    if (!str_same(a.user, b.user) || !str_same(a.item, b.item) || !str_same(a.view_id, b.view_id) ||
        !str_same(a.other, b.other) || !str_same(a.id, b.id) ||
        !str_same(a.request_id, b.request_id))
        DIFF("a string field differs");
    if (!num_same(a.dwell_ms, b.dwell_ms))
        DIFF("dwell_ms differs: %.17g vs %.17g", a.dwell_ms, b.dwell_ms);
    if (a.n_kv != b.n_kv)
        DIFF("kv count %u vs %u", a.n_kv, b.n_kv);
    for (uint32_t i = 0; i < a.n_kv; i++) {
        const sl_kv *x = &a.kv[i], *y = &b.kv[i];
        if (!str_same(x->key, y->key) || x->kind != y->kind || !num_same(x->num, y->num) ||
            !str_same(x->s, y->s))
            DIFF("kv[%u] differs", i);
    }
    if (a.n_candidates != b.n_candidates)
        DIFF("candidate count %u vs %u", a.n_candidates, b.n_candidates);
    for (uint32_t i = 0; i < a.n_candidates; i++)
        if (!str_same(a.candidates[i], b.candidates[i]))
            DIFF("candidates[%u] differs", i);
    return 0;
}
