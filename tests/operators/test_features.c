/*
 * test_features.c — the featurizer: configured categorical and cross
 * indices equal hashes recomputed here from sl_hash.h; a click after a view
 * does not reach that view's example; fatigue (the user x item views bucket
 * grows with repeated views); haversine Berlin-Paris ~878 km; friends
 * registered; a budget overflow is counted, not crashed; the same generated
 * events give identical examples twice; describe's JSON and its errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_world.h"
#include "op_features.h"
#include "sl_hash.h"

#define T0   INT64_C(1767225600000)
#define SEED OP_FEATURES_HASH_SEED
#define BITS 20

static sl_str S(const char *s) { return (sl_str){s, (uint32_t)strlen(s)}; }

typedef struct fixture {
    sl_config *cfg;  /* features section under test */
    state_store *st; /* in-memory store */
    op_features *f;  /* the featurizer */
} fixture;

static void open_fx(fixture *fx, const char *features_json) {
    char text[8192];
    snprintf(text, sizeof text, "{\"features\": %s}", features_json);
    sl_err err = {{0}};
    assert_int_equal(sl_config_load_string(text, strlen(text), "test", &fx->cfg, &err), SL_OK);
    state_store_opts o;
    state_store_opts_default(&o);
    o.cache_bytes = 64u << 20;
    o.block_cache_bytes = 1u << 20;
    o.write_buffer_bytes = 1u << 20;
    assert_int_equal(state_store_open(&o, &fx->st, &err), SL_OK);
    sl_status rc = op_features_create(fx->cfg, fx->st, &fx->f, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, SL_OK);
}

static void close_fx(fixture *fx) {
    op_features_destroy(fx->f);
    state_store_close(fx->st);
    sl_config_destroy(fx->cfg);
}

#define STD_FEATURES                                                                               \
    "{\"hash_bits\": 20, \"categorical\": [\"item\", \"ctx.device\", \"item.category\", "          \
    "\"user.city\"], \"crosses\": [\"ctx.device*item\", \"user*item.category*surface\"], "         \
    "\"half_lives_ms\": [3600000, 86400000]}"

static sl_event view(const char *user, const char *item, int64_t ts, const sl_kv *ctx, uint32_t n) {
    sl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = SL_EVENT_VIEW;
    ev.ts = ts;
    ev.user = S(user);
    ev.item = S(item);
    ev.surface = SL_SURFACE_ADS;
    ev.view_id = S("v");
    ev.kv = ctx;
    ev.n_kv = n;
    return ev;
}

static void profile(fixture *fx, sl_entity e, const char *id, const sl_kv *kv, uint32_t n) {
    sl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = SL_EVENT_PROFILE;
    ev.ts = T0;
    ev.entity = e;
    ev.id = S(id);
    ev.kv = kv;
    ev.n_kv = n;
    sl_err err = {{0}};
    assert_int_equal(op_features_update(fx->f, &ev, &err), SL_OK);
}

static bool has(const model_example *ex, uint32_t idx, uint8_t field) {
    for (uint32_t i = 0; i < ex->n; i++)
        if (ex->idx[i] == idx && ex->field[i] == field)
            return true;
    return false;
}

static uint64_t h(const char *s) { return sl_hash64(s, strlen(s), SEED); }

/* The index of a derived feature: its name's hash with its bucket number. */
static uint32_t group_idx(const char *name, int64_t bucket) {
    return sl_hash_bucket(sl_hash_combine(h(name), sl_hash_u64((uint64_t)bucket, SEED)), BITS);
}

static bool has_group(const model_example *ex, const char *name, int64_t bucket) {
    uint32_t idx = group_idx(name, bucket);
    for (uint32_t i = 0; i < ex->n; i++)
        if (ex->idx[i] == idx)
            return true;
    return false;
}

static void test_categorical_and_crosses(void **state) {
    (void)state;
    fixture fx;
    open_fx(&fx, STD_FEATURES);
    sl_kv ia[2] = {{S("category"), SL_KV_STR, S("film"), 0},
                   {S("advertiser"), SL_KV_STR, S("adv1"), 0}};
    profile(&fx, SL_ENTITY_ITEM, "a1", ia, 2);
    sl_kv ua[1] = {{S("city"), SL_KV_STR, S("berlin"), 0}};
    profile(&fx, SL_ENTITY_USER, "u1", ua, 1);
    sl_kv ctx[1] = {{S("device"), SL_KV_STR, S("ios"), 0}};
    sl_event ev = view("u1", "a1", T0 + 1000, ctx, 1);
    model_example ex;
    sl_err err = {{0}};
    assert_int_equal(op_features_build(fx.f, &ev, ev.item, &ex, &err), SL_OK);
    assert_true(has(&ex, sl_hash_feature(h("item"), "a1", 2, SEED, BITS), 0));
    assert_true(has(&ex, sl_hash_feature(h("ctx.device"), "ios", 3, SEED, BITS), 1));
    assert_true(has(&ex, sl_hash_feature(h("item.category"), "film", 4, SEED, BITS), 2));
    assert_true(has(&ex, sl_hash_feature(h("user.city"), "berlin", 6, SEED, BITS), 3));
    uint64_t v2[2] = {h("ios"), h("a1")};
    assert_true(has(&ex, sl_hash_cross(h("ctx.device*item"), v2, 2, BITS), 4));
    uint64_t v3[3] = {h("u1"), h("film"), h("ads")};
    assert_true(has(&ex, sl_hash_cross(h("user*item.category*surface"), v3, 3, BITS), 5));
    assert_true(has_group(&ex, "bias", 0));
    /* a missing ctx field contributes nothing (and no cross) */
    sl_event bare = view("u1", "a1", T0 + 1000, NULL, 0);
    model_example ex2;
    assert_int_equal(op_features_build(fx.f, &bare, bare.item, &ex2, &err), SL_OK);
    assert_int_equal(ex2.n + 2, ex.n);
    assert_int_equal(ex.n_dense, MODEL_MAX_DENSE);
    for (uint32_t i = 0; i < ex.n; i++)
        assert_true(ex.idx[i] < (1u << BITS));
    close_fx(&fx);
}

/* In order: view 1 (built, then applied), its click, then view 2. View 1's
 * example shows no click; view 2's does. */
static void test_no_leak_and_fatigue(void **state) {
    (void)state;
    fixture fx;
    open_fx(&fx, STD_FEATURES);
    sl_err err = {{0}};
    model_example ex1, ex2;
    sl_event v1 = view("u1", "a1", T0, NULL, 0);
    assert_int_equal(op_features_build(fx.f, &v1, v1.item, &ex1, &err), SL_OK);
    assert_int_equal(op_features_update(fx.f, &v1, &err), SL_OK);
    op_view_ref ref = {S("u1"), S("a1"), SL_SURFACE_ADS, T0};
    assert_int_equal(op_features_on_reaction(fx.f, &ref, SL_EVENT_CLICK, T0 + 5000, 0, &err),
                     SL_OK);
    assert_true(has_group(&ex1, "user.clicks.h0", 0));
    assert_true(has_group(&ex1, "user.views.h0", 0));
    sl_event v2 = view("u1", "a2", T0 + 10000, NULL, 0);
    assert_int_equal(op_features_build(fx.f, &v2, v2.item, &ex2, &err), SL_OK);
    assert_false(has_group(&ex2, "user.clicks.h0", 0));
    assert_true(ex2.dense[1] > 0 && ex1.dense[1] == 0); /* user clicks, h0 */

    /* fatigue: k views of (u2, a1) at one time -> bucket floor(2 log2(1+k)) */
    const int expect[] = {0, 2, 3, 4, 4, 5, 5, 6};
    float prev = -1;
    for (int k = 0; k < 8; k++) {
        sl_event v = view("u2", "a1", T0 + 20000, NULL, 0);
        model_example ex;
        assert_int_equal(op_features_build(fx.f, &v, v.item, &ex, &err), SL_OK);
        assert_true(has_group(&ex, "user_item.views.h0", expect[k]));
        assert_true(ex.dense[8] > prev);
        prev = ex.dense[8];
        assert_int_equal(op_features_update(fx.f, &v, &err), SL_OK);
    }
    close_fx(&fx);
}

static void test_events_derived(void **state) {
    (void)state;
    fixture fx;
    open_fx(&fx, STD_FEATURES);
    sl_err err = {{0}};
    sl_kv ua[2] = {{S("lat"), SL_KV_NUM, {0}, 52.5200}, {S("lon"), SL_KV_NUM, {0}, 13.4050}};
    profile(&fx, SL_ENTITY_USER, "u1", ua, 2);
    sl_kv ia[4] = {{S("lat"), SL_KV_NUM, {0}, 48.8566},
                   {S("lon"), SL_KV_NUM, {0}, 2.3522},
                   {S("start_ts"), SL_KV_NUM, {0}, (double)(T0 + 48 * 3600000)},
                   {S("price"), SL_KV_NUM, {0}, 40}};
    profile(&fx, SL_ENTITY_ITEM, "e1", ia, 4);
    const char *friends[] = {"u2", "u3", "u4"};
    for (int i = 0; i < 3; i++) {
        sl_event fe;
        memset(&fe, 0, sizeof fe);
        fe.type = SL_EVENT_FRIEND;
        fe.ts = T0;
        fe.user = S("u1");
        fe.other = S(friends[i]);
        assert_int_equal(op_features_update(fx.f, &fe, &err), SL_OK);
    }
    for (int i = 0; i < 2; i++) { /* u2 and u3 register; u2 twice */
        sl_event re;
        memset(&re, 0, sizeof re);
        re.type = SL_EVENT_REGISTER;
        re.ts = T0 + 1000;
        re.user = S(friends[i]);
        re.item = S("e1");
        assert_int_equal(op_features_update(fx.f, &re, &err), SL_OK);
        assert_int_equal(op_features_update(fx.f, &re, &err), SL_OK);
    }
    sl_event v = view("u1", "e1", T0 + 2000, NULL, 0);
    v.surface = SL_SURFACE_EVENTS;
    model_example ex;
    assert_int_equal(op_features_build(fx.f, &v, v.item, &ex, &err), SL_OK);
    double km = expm1((double)ex.dense[28] * 10.0);
    assert_true(fabs(km - 878) < 5);
    assert_true(has_group(&ex, "distance_km", (int64_t)floor(2 * log2(1 + 878.0))));
    assert_true(has_group(&ex, "friends_registered", 2));
    assert_true(fabs(ex.dense[31] - log1p(2.0) / 3.0) < 1e-6);
    double hours = (48 * 3600000.0 - 2000) / 3.6e6;
    assert_true(has_group(&ex, "hours_until_start", (int64_t)floor(2 * log2(1 + hours))));
    assert_true(has_group(&ex, "price_rel", 100)); /* u1 never paid */
    /* the registrations counted once each: item e1 registers h0 = 2 -> bucket 3 */
    assert_true(has_group(&ex, "item.registers.h0", 3));
    sl_buf b;
    sl_buf_init(&b, 1 << 20);
    assert_int_equal(op_features_describe(fx.f, "item", "e1", T0 + 1000, &b, &err), SL_OK);
    assert_non_null(strstr(b.p, "\"attendees\":2"));
    assert_non_null(strstr(b.p, "\"registers\":[2,2]"));
    sl_buf_clear(&b);
    assert_int_equal(op_features_describe(fx.f, "user", "u1", T0 + 2000, &b, &err), SL_OK);
    assert_non_null(strstr(b.p, "\"friends\":3"));
    assert_non_null(strstr(b.p, "\"lat\":52.52"));
    assert_int_equal(op_features_describe(fx.f, "user", "nobody", T0, &b, &err), SL_ERR_NOT_FOUND);
    assert_int_equal(op_features_describe(fx.f, "table", "u1", T0, &b, &err), SL_ERR_INVALID);
    sl_buf_deinit(&b);
    close_fx(&fx);
}

/* 64 ctx fields and 64 crosses fill the 128 slots: derived features are
 * dropped and counted. */
static void test_budget_overflow(void **state) {
    (void)state;
    char json[8192], *p = json;
    p += sprintf(p, "{\"hash_bits\": 20, \"categorical\": [");
    for (int i = 0; i < 64; i++)
        p += sprintf(p, "%s\"ctx.k%d\"", i ? "," : "", i);
    p += sprintf(p, "], \"crosses\": [");
    for (int i = 0; i < 64; i++)
        p += sprintf(p, "%s\"ctx.k%d*item\"", i ? "," : "", i);
    sprintf(p, "]}");
    fixture fx;
    open_fx(&fx, json);
    static sl_kv ctx[64];
    static char names[64][8];
    for (int i = 0; i < 64; i++) {
        snprintf(names[i], sizeof names[i], "k%d", i);
        ctx[i] = (sl_kv){S(names[i]), SL_KV_NUM, {0}, i};
    }
    sl_event v = view("u1", "a1", T0, ctx, 64);
    model_example ex;
    sl_err err = {{0}};
    assert_int_equal(op_features_build(fx.f, &v, v.item, &ex, &err), SL_OK);
    assert_int_equal(ex.n, MODEL_MAX_SPARSE);
    op_features_stats stats;
    op_features_stats_get(fx.f, &stats);
    assert_true(stats.sparse_dropped > 0);
    close_fx(&fx);
    /* and an unknown field name is refused at create */
    sl_config *cfg;
    const char *bad = "{\"features\": {\"categorical\": [\"attrs.x\"]}}";
    assert_int_equal(sl_config_load_string(bad, strlen(bad), "t", &cfg, &err), SL_OK);
    state_store *st;
    state_store_opts o;
    state_store_opts_default(&o);
    assert_int_equal(state_store_open(&o, &st, &err), SL_OK);
    op_features *f;
    assert_int_equal(op_features_create(cfg, st, &f, &err), SL_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "features.categorical[0]"));
    state_store_close(st);
    sl_config_destroy(cfg);
}

/* Runs N generated events through a fresh featurizer; returns a hash of
 * every example built. */
static uint64_t run_generated(int n_lines) {
    fixture fx;
    open_fx(&fx, STD_FEATURES);
    gen_opts go;
    gen_opts_init(&go);
    go.seed = 11;
    go.events = (uint64_t)n_lines;
    go.users = 300;
    gen_world *w;
    sl_err err = {{0}};
    assert_int_equal(gen_world_create(&go, &w, &err), SL_OK);
    sl_buf line;
    sl_buf_init(&line, 1 << 20);
    sl_arena arena;
    sl_arena_init(&arena, 1 << 16, 1 << 22);
    sl_event_parse_opts po = {SL_EVENT_DEFAULT_MAX_BYTES, false, false};
    uint64_t acc = 0;
    for (int i = 0; i < n_lines; i++) {
        sl_buf_clear(&line);
        gen_line gl;
        assert_int_equal(gen_world_next(w, &line, NULL, &gl, &err), SL_OK);
        sl_event ev;
        sl_event_error pe;
        sl_arena_reset(&arena);
        if (!sl_event_parse(line.p + gl.off, gl.len, &arena, &po, &ev, &pe))
            continue;
        if (ev.type == SL_EVENT_VIEW) {
            model_example ex;
            assert_int_equal(op_features_build(fx.f, &ev, ev.item, &ex, &err), SL_OK);
            assert_true(ex.n <= MODEL_MAX_SPARSE);
            acc = sl_hash64(ex.idx, ex.n * sizeof ex.idx[0], acc);
            acc = sl_hash64(ex.field, ex.n, acc);
            acc = sl_hash64(ex.dense, sizeof ex.dense, acc);
        }
        if (ev.type == SL_EVENT_CLICK || ev.type == SL_EVENT_DWELL || ev.type == SL_EVENT_LIKE) {
            if (ev.item.n) {
                op_view_ref ref = {ev.user, ev.item, SL_SURFACE_NONE, ev.ts};
                assert_int_equal(
                    op_features_on_reaction(fx.f, &ref, ev.type, ev.ts, ev.dwell_ms, &err), SL_OK);
            }
        } else {
            assert_int_equal(op_features_update(fx.f, &ev, &err), SL_OK);
        }
    }
    sl_arena_deinit(&arena);
    sl_buf_deinit(&line);
    gen_world_destroy(w);
    close_fx(&fx);
    return acc;
}

static void test_deterministic(void **state) {
    (void)state;
    uint64_t a = run_generated(20000), b = run_generated(20000);
    assert_true(a == b && a != 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_categorical_and_crosses), cmocka_unit_test(test_no_leak_and_fatigue),
        cmocka_unit_test(test_events_derived),          cmocka_unit_test(test_budget_overflow),
        cmocka_unit_test(test_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
