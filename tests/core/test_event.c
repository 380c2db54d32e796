/*
 * test_event.c — the event contract: every type parses, every kind of bad
 * input is refused with the right reason and a detail naming the field, and
 * the fast path agrees with the jansson reference on each case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sl_event.h"

typedef struct fixture {
    sl_arena arena;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    sl_arena_init(&f->arena, 4096, 1 << 22);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    sl_arena_deinit(&f->arena);
    free(f);
    return 0;
}

/* Parses with both front ends; asserts they agree; returns the reason. */
static sl_reason parse2(fixture *f, const char *msg, size_t len, sl_event *ev,
                        sl_event_error *err) {
    sl_event ev_ref;
    sl_event_error err_ref;
    sl_event_parse_opts ref = {.reference_only = true};
    bool ok_ref = sl_event_parse(msg, len, &f->arena, &ref, &ev_ref, &err_ref);
    bool ok = sl_event_parse(msg, len, &f->arena, NULL, ev, err);
    assert_int_equal(ok, ok_ref);
    assert_int_equal(err->reason, err_ref.reason);
    if (ok) {
        assert_int_equal(ev->type, ev_ref.type);
        assert_int_equal(ev->ts, ev_ref.ts);
        assert_int_equal(ev->n_kv, ev_ref.n_kv);
    }
    return ok ? SL_REASON_OK : err->reason;
}

static sl_reason parse(fixture *f, const char *msg, sl_event *ev, sl_event_error *err) {
    return parse2(f, msg, strlen(msg), ev, err);
}

static void expect_reject(fixture *f, const char *msg, sl_reason want, const char *field) {
    sl_event ev;
    sl_event_error err;
    sl_reason got = parse(f, msg, &ev, &err);
    if (got != want)
        fail_msg("%s: want %s, got %s (%s)", msg, sl_reason_str(want), sl_reason_str(got),
                 err.detail);
    if (field && strstr(err.detail, field) == NULL)
        fail_msg("%s: detail \"%s\" does not name %s", msg, err.detail, field);
}

static void test_view(void **state) {
    fixture *f = *state;
    sl_event ev;
    sl_event_error err;
    const char *m = "{\"type\":\"view\",\"ts\":1700000000000,\"user\":\"u1\",\"surface\":\"ads\","
                    "\"item\":\"ad7\",\"view_id\":\"v1\",\"ctx\":{\"device\":\"ios\",\"pos\":3,"
                    "\"hd\":true,\"slot\":null,\"bid\":0.25},\"extra\":{\"x\":[1,2,{\"y\":null}]}}";
    assert_int_equal(parse(f, m, &ev, &err), SL_REASON_OK);
    assert_int_equal(ev.type, SL_EVENT_VIEW);
    assert_int_equal(ev.ts, 1700000000000LL);
    assert_true(sl_str_eq(ev.user, "u1", 2));
    assert_int_equal(ev.surface, SL_SURFACE_ADS);
    assert_true(sl_str_eq(ev.item, "ad7", 3));
    assert_true(sl_str_eq(ev.view_id, "v1", 2));
    assert_int_equal(ev.n_kv, 5);
    assert_true(sl_str_eq(ev.kv[0].key, "device", 6));
    assert_int_equal(ev.kv[0].kind, SL_KV_STR);
    assert_true(sl_str_eq(ev.kv[0].s, "ios", 3));
    assert_int_equal(ev.kv[1].kind, SL_KV_NUM);
    assert_true(ev.kv[1].num == 3.0);
    assert_int_equal(ev.kv[2].kind, SL_KV_BOOL);
    assert_true(ev.kv[2].num == 1.0);
    assert_int_equal(ev.kv[3].kind, SL_KV_NULL);
    assert_true(ev.kv[4].num == 0.25);
}

static void test_every_type(void **state) {
    fixture *f = *state;
    static const struct {
        const char *msg;
        sl_event_type type;
    } cases[] = {
        {"{\"type\":\"click\",\"ts\":1700000000001,\"user\":\"u\",\"view_id\":\"v\",\"item\":"
         "\"i\"}",
         SL_EVENT_CLICK},
        {"{\"type\":\"like\",\"ts\":1700000000001,\"user\":\"u\",\"view_id\":\"v\"}",
         SL_EVENT_LIKE},
        {"{\"type\":\"share\",\"ts\":1700000000001,\"user\":\"u\",\"view_id\":\"v\"}",
         SL_EVENT_SHARE},
        {"{\"type\":\"dwell\",\"ts\":1700000000001,\"user\":\"u\",\"view_id\":\"v\",\"dwell_ms\":"
         "1234.5}",
         SL_EVENT_DWELL},
        {"{\"type\":\"register\",\"ts\":1700000000001,\"user\":\"u\",\"item\":\"e1\"}",
         SL_EVENT_REGISTER},
        {"{\"type\":\"conversion\",\"ts\":1700000000001,\"user\":\"u\",\"view_id\":\"v\"}",
         SL_EVENT_CONVERSION},
        {"{\"type\":\"profile\",\"ts\":1700000000001,\"entity\":\"item\",\"id\":\"e1\","
         "\"attrs\":{\"lat\":52.5,\"lon\":13.4,\"start_ts\":1700100000000,\"price\":25,"
         "\"category\":\"music\"}}",
         SL_EVENT_PROFILE},
        {"{\"type\":\"friend\",\"ts\":1700000000001,\"user\":\"u\",\"other\":\"w\"}",
         SL_EVENT_FRIEND},
        {"{\"type\":\"rank_request\",\"ts\":1700000000001,\"user\":\"u\",\"surface\":\"events\","
         "\"request_id\":\"r1\",\"candidates\":[\"e1\",\"e2\",\"e3\"]}",
         SL_EVENT_RANK_REQUEST},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sl_event ev;
        sl_event_error err;
        sl_reason r = parse(f, cases[i].msg, &ev, &err);
        if (r != SL_REASON_OK)
            fail_msg("%s: %s %s", cases[i].msg, sl_reason_str(r), err.detail);
        assert_int_equal(ev.type, cases[i].type);
        if (ev.type == SL_EVENT_DWELL)
            assert_true(ev.dwell_ms == 1234.5);
        if (ev.type == SL_EVENT_PROFILE) {
            assert_int_equal(ev.entity, SL_ENTITY_ITEM);
            assert_int_equal(ev.n_kv, 5);
            assert_int_equal(ev.user.n, 0);
        }
        if (ev.type == SL_EVENT_RANK_REQUEST) {
            assert_int_equal(ev.n_candidates, 3);
            assert_true(sl_str_eq(ev.candidates[2], "e3", 2));
        }
    }
}

static void test_escapes(void **state) {
    fixture *f = *state;
    sl_event ev;
    sl_event_error err;
    const char *m =
        "{\"type\":\"click\",\"ts\":1700000000001,\"user\":\"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\","
        "\"view_id\":\"v\\n\"}";
    assert_int_equal(parse(f, m, &ev, &err), SL_REASON_OK);
    assert_true(sl_str_eq(ev.user, "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80", 11));
    assert_true(sl_str_eq(ev.view_id, "v\n", 2));
}

static void test_bad_inputs(void **state) {
    fixture *f = *state;
    expect_reject(f, "", SL_REASON_EMPTY, NULL);
    expect_reject(f, "   \t", SL_REASON_EMPTY, NULL);
    expect_reject(f, "{\"type\":\"click\",\"ts\":17000000", SL_REASON_BAD_JSON, NULL);
    expect_reject(f, "{\"type\":\"click\"", SL_REASON_BAD_JSON, NULL);
    expect_reject(f, "[1,2,3]", SL_REASON_NOT_OBJECT, NULL);
    expect_reject(f, "\"view\"", SL_REASON_NOT_OBJECT, NULL);
    expect_reject(f, "42", SL_REASON_NOT_OBJECT, NULL);
    expect_reject(f, "{\"type\":\"click\",\"ts\":\"x\",\"user\":\"u\",\"view_id\":\"v\"}",
                  SL_REASON_BAD_TYPE, "ts");
    expect_reject(f, "{\"type\":\"click\",\"ts\":1.7e12,\"user\":\"u\",\"view_id\":\"v\"}",
                  SL_REASON_BAD_TYPE, "ts");
    expect_reject(f, "{\"type\":\"click\",\"ts\":12,\"user\":\"u\",\"view_id\":\"v\"}",
                  SL_REASON_BAD_VALUE, "ts");
    expect_reject(f, "{\"type\":\"click\",\"ts\":1700000000000,\"user\":\"u\"}",
                  SL_REASON_MISSING_FIELD, "view_id");
    expect_reject(f, "{\"type\":\"click\",\"ts\":1700000000000,\"view_id\":\"v\"}",
                  SL_REASON_MISSING_FIELD, "user");
    expect_reject(f, "{\"ts\":1700000000000,\"user\":\"u\"}", SL_REASON_MISSING_FIELD, "type");
    expect_reject(f, "{\"type\":\"teleport\",\"ts\":1700000000000,\"user\":\"u\"}",
                  SL_REASON_UNKNOWN_TYPE, "teleport");
    expect_reject(f, "{\"type\":7,\"ts\":1700000000000,\"user\":\"u\"}", SL_REASON_BAD_TYPE,
                  "type");
    expect_reject(f,
                  "{\"type\":\"dwell\",\"ts\":1700000000000,\"user\":\"u\",\"view_id\":\"v\","
                  "\"dwell_ms\":NaN}",
                  SL_REASON_BAD_JSON, NULL);
    expect_reject(f,
                  "{\"type\":\"dwell\",\"ts\":1700000000000,\"user\":\"u\",\"view_id\":\"v\","
                  "\"dwell_ms\":Infinity}",
                  SL_REASON_BAD_JSON, NULL);
    expect_reject(f,
                  "{\"type\":\"dwell\",\"ts\":1700000000000,\"user\":\"u\",\"view_id\":\"v\","
                  "\"dwell_ms\":-5}",
                  SL_REASON_BAD_VALUE, "dwell_ms");
    expect_reject(f,
                  "{\"type\":\"dwell\",\"ts\":1700000000000,\"user\":\"u\",\"view_id\":\"v\","
                  "\"dwell_ms\":1e999}",
                  SL_REASON_BAD_JSON, NULL);
    expect_reject(
        f, "{\"type\":\"click\",\"ts\":99999999999999999999,\"user\":\"u\",\"view_id\":\"v\"}",
        SL_REASON_BAD_JSON, NULL);
    expect_reject(f,
                  "{\"type\":\"click\",\"ts\":1700000000000,\"user\":\"u\xff\",\"view_id\":\"v\"}",
                  SL_REASON_BAD_UTF8, NULL);
    expect_reject(
        f, "{\"type\":\"click\",\"ts\":1700000000000,\"user\":\"\xc0\xaf\",\"view_id\":\"v\"}",
        SL_REASON_BAD_UTF8, NULL);
    expect_reject(
        f, "{\"type\":\"click\",\"ts\":1700000000000,\"user\":\"\xed\xa0\x80\",\"view_id\":\"v\"}",
        SL_REASON_BAD_UTF8, NULL);
    expect_reject(f,
                  "{\"type\":\"click\",\"ts\":1700000000000,\"ts\":1700000000001,\"user\":\"u\","
                  "\"view_id\":\"v\"}",
                  SL_REASON_DUPLICATE_KEY, NULL);
    expect_reject(f,
                  "{\"type\":\"view\",\"ts\":1700000000000,\"user\":\"u\",\"surface\":\"tv\","
                  "\"item\":\"i\",\"view_id\":\"v\"}",
                  SL_REASON_BAD_VALUE, "surface");
    expect_reject(f,
                  "{\"type\":\"view\",\"ts\":1700000000000,\"user\":\"u\",\"surface\":\"ads\","
                  "\"item\":\"i\",\"view_id\":\"v\",\"ctx\":{\"a\":{\"b\":1}}}",
                  SL_REASON_BAD_TYPE, "ctx.\"a\"");
    expect_reject(f,
                  "{\"type\":\"view\",\"ts\":1700000000000,\"user\":\"u\",\"surface\":\"ads\","
                  "\"item\":\"i\",\"view_id\":\"v\",\"ctx\":[1]}",
                  SL_REASON_BAD_TYPE, "ctx");
    expect_reject(f, "{\"type\":\"click\",\"ts\":1700000000000,\"user\":\"\",\"view_id\":\"v\"}",
                  SL_REASON_BAD_VALUE, "user");
    expect_reject(f, "{\"type\":\"friend\",\"ts\":1700000000000,\"user\":\"u\",\"other\":\"u\"}",
                  SL_REASON_BAD_VALUE, "other");
    expect_reject(f,
                  "{\"type\":\"profile\",\"ts\":1700000000000,\"entity\":\"venue\",\"id\":\"x\","
                  "\"attrs\":{}}",
                  SL_REASON_BAD_VALUE, "entity");
    expect_reject(
        f,
        "{\"type\":\"rank_request\",\"ts\":1700000000000,\"user\":\"u\",\"surface\":\"events\","
        "\"request_id\":\"r\",\"candidates\":[\"a\",3]}",
        SL_REASON_BAD_TYPE, "candidates[1]");
    expect_reject(
        f,
        "{\"type\":\"rank_request\",\"ts\":1700000000000,\"user\":\"u\",\"surface\":\"events\","
        "\"request_id\":\"r\",\"candidates\":[]}",
        SL_REASON_BAD_VALUE, "candidates");
    expect_reject(f, "{\"type\":\"click\",\"ts\":1700000000000,\"user\":\"u\",\"view_id\":\"v\"} x",
                  SL_REASON_BAD_JSON, NULL);
    expect_reject(f, "{\"type\":\"click\",\"ts\":01700000000000,\"user\":\"u\",\"view_id\":\"v\"}",
                  SL_REASON_BAD_JSON, NULL);
    expect_reject(f,
                  "{\"type\":\"click\",\"ts\":1700000000000,\"user\":\"a\tb\",\"view_id\":\"v\"}",
                  SL_REASON_BAD_JSON, NULL);
    expect_reject(
        f, "{\"type\":\"click\",\"ts\":1700000000000,\"user\":\"\\u0000\",\"view_id\":\"v\"}",
        SL_REASON_BAD_JSON, NULL);
    expect_reject(
        f, "{\"type\":\"click\",\"ts\":1700000000000,\"user\":\"\\ud800\",\"view_id\":\"v\"}",
        SL_REASON_BAD_JSON, NULL);
}

static void test_nul_byte(void **state) {
    fixture *f = *state;
    sl_event ev;
    sl_event_error err;
    static const char m[] =
        "{\"type\":\"click\",\"ts\":1700000000000,\"user\":\"u\0\",\"view_id\":\"v\"}";
    assert_int_equal(parse2(f, m, sizeof m - 1, &ev, &err), SL_REASON_BAD_JSON);
}

static void test_limits(void **state) {
    fixture *f = *state;
    sl_event ev;
    sl_event_error err;
    /* A 100 KB string: the whole message is over the 64 KiB event limit. */
    size_t big = 100 * 1024;
    char *m = malloc(big + 200);
    int n =
        snprintf(m, 200, "{\"type\":\"click\",\"ts\":1700000000000,\"view_id\":\"v\",\"user\":\"");
    memset(m + n, 'x', big);
    strcpy(m + n + big, "\"}");
    assert_int_equal(parse(f, m, &ev, &err), SL_REASON_TOO_LARGE);
    /* A 300-byte user id: over the id limit, and the detail says which field. */
    n = snprintf(m, 200, "{\"type\":\"click\",\"ts\":1700000000000,\"view_id\":\"v\",\"user\":\"");
    memset(m + n, 'x', 300);
    strcpy(m + n + 300, "\"}");
    expect_reject(f, m, SL_REASON_TOO_LONG, "user");
    /* 65 ctx fields: over the field limit. */
    n = snprintf(m, 200,
                 "{\"type\":\"view\",\"ts\":1700000000000,\"user\":\"u\",\"surface\":\"feed\","
                 "\"item\":\"i\",\"view_id\":\"v\",\"ctx\":{");
    for (int i = 0; i < 65; i++)
        n += snprintf(m + n, 32, "%s\"k%d\":%d", i ? "," : "", i, i);
    strcpy(m + n, "}}");
    expect_reject(f, m, SL_REASON_TOO_MANY, "ctx");
    free(m);
}

static void test_fast_path_taken(void **state) {
    /* The common shapes must not fall back to jansson, or the speed is gone. */
    fixture *f = *state;
    sl_event ev;
    sl_event_error err;
    sl_event_parse_opts fast = {.fast_only = true};
    const char *m =
        "{\"type\":\"view\",\"ts\":1700000000000,\"user\":\"u1\",\"surface\":\"feed\","
        "\"item\":\"p7\",\"view_id\":\"v1\",\"ctx\":{\"device\":\"android\",\"hour\":13,"
        "\"title\":\"caf\xc3\xa9 \\u00e9\"}}";
    assert_true(sl_event_parse(m, strlen(m), &f->arena, &fast, &ev, &err));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fast_path_taken, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
