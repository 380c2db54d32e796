/*
 * test_event_diff.c — differential test: the fast event path (with its
 * jansson fallback, as production runs it) against jansson alone, on valid
 * events of every type and on hundreds of thousands of mutants of them.
 * They must agree on acceptance, reason, detail and every value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fuzz_common.h"
#include "sl_event.h"

static const char *const seeds[] = {
    "{\"type\":\"view\",\"ts\":1700000000000,\"user\":\"u1\",\"surface\":\"ads\",\"item\":\"ad7\","
    "\"view_id\":\"v1\",\"ctx\":{\"device\":\"ios\",\"pos\":3,\"hd\":true,\"slot\":null,\"bid\":0."
    "25}}",
    "{\"type\":\"click\",\"ts\":1700000000001,\"user\":\"u\",\"view_id\":\"v\",\"item\":\"i\"}",
    "{ \"type\" : \"like\" , \"ts\" : 1700000000001 , \"user\" : \"u\\u00e9\\n\" , \"view_id\" : "
    "\"v\" }",
    "{\"type\":\"dwell\",\"ts\":1700000000001,\"user\":\"u\",\"view_id\":\"v\",\"dwell_ms\":1.5e3}",
    "{\"type\":\"register\",\"ts\":1700000000001,\"user\":\"u\",\"item\":\"e1\",\"view_id\":null}",
    "{\"type\":\"conversion\",\"ts\":1700000000001,\"user\":\"caf\xc3\xa9\",\"view_id\":\"v\"}",
    "{\"type\":\"profile\",\"ts\":1700000000001,\"entity\":\"item\",\"id\":\"e1\",\"attrs\":{"
    "\"lat\":"
    "52.5,\"lon\":-13.4e0,\"start_ts\":1700100000000,\"price\":25,\"category\":\"music\"}}",
    "{\"type\":\"friend\",\"ts\":1700000000001,\"user\":\"u\",\"other\":\"w\",\"x\":[1,{\"a\":[]}]"
    "}",
    "{\"type\":\"rank_request\",\"ts\":1700000000001,\"user\":\"u\",\"surface\":\"events\","
    "\"request_id\":\"r1\",\"candidates\":[\"e1\",\"e2\",\"e\\\"3\"],\"ctx\":{\"h\":0.0}}",
    "{\"type\":\"share\",\"ts\":1700000000001,\"user\":\"\xf0\x9f\x98\x80\",\"view_id\":"
    "\"v\\ud83d\\ude00\"}",
};

/* Fragments that tend to sit on the edge of validity. */
static const char *const dict[] = {
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    "1e-999",
    "99999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "123456789012345678",
    "1234567890123456789",
    "0.0",
    "-0",
    "-0.0",
    "01",
    "1.",
    ".5",
    "1e",
    "1e+",
    "\\u0000",
    "\\ud800",
    "\\udc00",
    "\\ud800\\udc00",
    "\\u00e9",
    "\\uD83D\\uDE00",
    "\\x",
    "\\/",
    "\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "null",
    "true",
    "false",
    "tru",
    "nul",
    "\"ts\"",
    "\"type\"",
    "\"ctx\":{\"a\":1}",
    "\"ctx\":{\"a\":{}}",
    "\"ctx\":[]",
    "\"candidates\":[\"a\"]",
    "\"candidates\":[1]",
    ",\"type\":\"view\"",
    ",\"ts\":1",
    ",\"user\":\"x\"",
    "\xc3",
    "\xff",
    "\xed\xa0\x80",
    "\xf4\x90\x80\x80",
    "\xe2\x82\xac",
    "\x7f",
    "\x01",
    " ",
    "\t",
    "\r\n",
    "\"\\u0041\"",
    "\"t\\u0079pe\"",
};

/* A local xorshift64*: the test must not depend on anything it tests. */
typedef struct xr {
    uint64_t s; /* state, never 0 */
} xr;
static void xr_seed(xr *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull | 1; }
static uint64_t xr_below(xr *r, uint64_t n) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (r->s * 0x2545F4914F6CDD1Dull >> 11) % n;
}

static void mutate(xr *r, char *buf, size_t *len, size_t cap) {
    int rounds = 1 + (int)xr_below(r, 3);
    for (int k = 0; k < rounds; k++) {
        size_t n = *len;
        size_t at = n ? (size_t)xr_below(r, n + 1) : 0;
        switch (xr_below(r, 9)) {
        case 6: /* a digit for a digit, a space for a space: often still valid */
            if (n && at < n && buf[at] >= '0' && buf[at] <= '9')
                buf[at] = (char)('0' + xr_below(r, 10));
            break;
        case 7: /* whitespace where JSON allows it, or not */
            if (n + 1 < cap) {
                memmove(buf + at + 1, buf + at, n - at);
                buf[at] = " \t\n\r"[xr_below(r, 4)];
                *len = n + 1;
            }
            break;
        case 8: { /* a fragment right after a quote: mostly inside a string */
            const char *q = memchr(buf + at, '"', n - at);
            const char *d = dict[xr_below(r, sizeof dict / sizeof dict[0])];
            size_t dl = strlen(d);
            if (q && n + dl < cap) {
                size_t pos = (size_t)(q - buf) + 1;
                memmove(buf + pos + dl, buf + pos, n - pos);
                memcpy(buf + pos, d, dl);
                *len = n + dl;
            }
            break;
        }
        case 0: /* replace one byte */
            if (n && at < n)
                buf[at] = (char)xr_below(r, 256);
            break;
        case 1: { /* insert a dictionary fragment */
            const char *d = dict[xr_below(r, sizeof dict / sizeof dict[0])];
            size_t dl = strlen(d);
            if (n + dl < cap) {
                memmove(buf + at + dl, buf + at, n - at);
                memcpy(buf + at, d, dl);
                *len = n + dl;
            }
            break;
        }
        case 2: { /* delete a range */
            size_t del = 1 + (size_t)xr_below(r, 8);
            if (at + del <= n) {
                memmove(buf + at, buf + at + del, n - at - del);
                *len = n - del;
            }
            break;
        }
        case 3: /* truncate, now and then */
            if (xr_below(r, 4) == 0)
                *len = at;
            break;
        case 4: { /* replace a byte with a structural one */
            static const char s[] = "{}[]\",:\\0123456789eE.-+ tfnu";
            if (n && at < n)
                buf[at] = s[xr_below(r, sizeof s - 1)];
            break;
        }
        default: { /* duplicate a range */
            size_t dl = 1 + (size_t)xr_below(r, 16);
            if (at + dl <= n && n + dl < cap) {
                memmove(buf + at + dl, buf + at, n - at);
                *len = n + dl;
            }
            break;
        }
        }
    }
}

static void check(sl_arena *arena, const char *msg, size_t len) {
    char why[512];
    if (fuzz_event_diff(msg, len, arena, why, sizeof why)) {
        fprintf(stderr, "input (%zu bytes): ", len);
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)msg[i];
            if (c >= 0x20 && c < 0x7f)
                fputc(c, stderr);
            else
                fprintf(stderr, "\\x%02x", c);
        }
        fputc('\n', stderr);
        fail_msg("%s", why);
    }
    sl_arena_reset(arena);
}

static void test_seeds_agree(void **state) {
    (void)state;
    sl_arena arena;
    sl_arena_init(&arena, 4096, 1 << 22);
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        sl_event ev;
        sl_event_error err;
        if (!sl_event_parse(seeds[i], strlen(seeds[i]), &arena, NULL, &ev, &err))
            fail_msg("seed %zu refused: %s %s", i, sl_reason_str(err.reason), err.detail);
        check(&arena, seeds[i], strlen(seeds[i]));
    }
    sl_arena_deinit(&arena);
}

static void test_numbers_agree(void **state) {
    (void)state;
    static const char *const nums[] = {
        "0",
        "-0",
        "1",
        "1234.5",
        "1e3",
        "1E3",
        "1e+3",
        "1e-3",
        "0.000001",
        "86400000",
        "86400000.0000001",
        "123456789012345678",
        "1234567890123456789",
        "4.9e-324",
        "2e-400",
        "1.7976931348623157e308",
        "1.8e308",
        "0.1e1",
        "100000000000000000000000000000000000000",
    };
    sl_arena arena;
    sl_arena_init(&arena, 4096, 1 << 22);
    char msg[256];
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        int n = snprintf(msg, sizeof msg,
                         "{\"type\":\"dwell\",\"ts\":1700000000000,\"user\":\"u\",\"view_id\":"
                         "\"v\",\"dwell_ms\":%s}",
                         nums[i]);
        check(&arena, msg, (size_t)n);
        n = snprintf(msg, sizeof msg,
                     "{\"type\":\"click\",\"ts\":%s,\"user\":\"u\",\"view_id\":\"v\"}", nums[i]);
        check(&arena, msg, (size_t)n);
    }
    sl_arena_deinit(&arena);
}

static void test_mutants_agree(void **state) {
    (void)state;
    const char *env = getenv("SL_DIFF_ITERATIONS");
    long iterations = env ? atol(env) : 200000;
    xr r;
    xr_seed(&r, 20261129);
    sl_arena arena;
    sl_arena_init(&arena, 4096, 1 << 22);
    char buf[2048];
    long accepted = 0, fast_accepted = 0;
    sl_event_parse_opts fast = {.fast_only = true};
    for (long it = 0; it < iterations; it++) {
        const char *s = seeds[xr_below(&r, sizeof seeds / sizeof seeds[0])];
        size_t len = strlen(s);
        memcpy(buf, s, len);
        mutate(&r, buf, &len, sizeof buf);
        sl_event ev;
        sl_event_error err;
        accepted += sl_event_parse(buf, len, &arena, NULL, &ev, &err);
        fast_accepted += sl_event_parse(buf, len, &arena, &fast, &ev, &err);
        check(&arena, buf, len);
    }
    sl_arena_deinit(&arena);
    /* The mutants must reach both outcomes, and the fast path must decide most
     * of the valid ones itself; otherwise this test proves little. */
    printf("mutants: %ld, accepted: %ld, accepted by the fast path alone: %ld\n", iterations,
           accepted, fast_accepted);
    assert_true(accepted > iterations / 20);
    assert_true(accepted < iterations - iterations / 5);
    assert_true(fast_accepted > accepted / 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeds_agree),
        cmocka_unit_test(test_numbers_agree),
        cmocka_unit_test(test_mutants_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
