/*
 * test_features.c — the feature state: counters after hand-made event
 * sequences equal state_decay applied directly (late events included),
 * keys of one user share a prefix, profile upsert / null-removal / limits,
 * friend edges both ways and friends-registered counts, attendee sets that
 * ignore repeats, and all of it read back after checkpoint -> reopen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_util.h"
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state_features.h"

static void make_tmpdir_(char *dir, size_t cap) { assert_true(test_tmpdir(dir, cap, "sl_feat")); }

#define T0   INT64_C(1767225600000)
#define HOUR INT64_C(3600000)

static sl_str S(const char *s) { return (sl_str){s, (uint32_t)strlen(s)}; }

typedef struct fixture {
    state_store *st;       /* the store */
    state_features *sf;    /* over it */
    state_decay_spec spec; /* 1 h and 1 d */
} fixture;

static void open_fx(fixture *fx, const char *dir) {
    state_store_opts o;
    state_store_opts_default(&o);
    o.dir = dir;
    o.cache_bytes = 8u << 20;
    o.block_cache_bytes = 1u << 20;
    o.write_buffer_bytes = 1u << 20;
    sl_err err = {{0}};
    assert_int_equal(state_store_open(&o, &fx->st, &err), SL_OK);
    const int64_t hl[2] = {HOUR, 24 * HOUR};
    assert_int_equal(state_decay_spec_init(&fx->spec, hl, 2, &err), SL_OK);
    assert_int_equal(state_features_create(fx->st, &fx->spec, &fx->sf, &err), SL_OK);
}

static void close_fx(fixture *fx) {
    state_features_destroy(fx->sf);
    state_store_close(fx->st);
}

/* Views and clicks of u1 on two items, one click late: the record equals
 * state_decay driven by the same (t, x) list, and the pair keys too. */
static void test_counters_match_decay(void **state) {
    (void)state;
    fixture fx;
    open_fx(&fx, NULL);
    sl_err err = {{0}};
    state_decay ref_views, ref_clicks, ref_pair;
    state_decay_init(&ref_views);
    state_decay_init(&ref_clicks);
    state_decay_init(&ref_pair);
    const struct {
        int64_t t;
        const char *item;
        state_feat_counter c;
    } evs[] = {
        {T0, "a1", STATE_FEAT_VIEWS},
        {T0 + 60000, "a1", STATE_FEAT_CLICKS},
        {T0 + 2 * HOUR, "a2", STATE_FEAT_VIEWS},
        {T0 + 30000, "a1", STATE_FEAT_CLICKS}, /* late */
        {T0 + 3 * HOUR, "a1", STATE_FEAT_VIEWS},
    };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        assert_int_equal(state_features_add(fx.sf, STATE_FEAT_USER, S("u1"), S(""), evs[i].c,
                                            evs[i].t, 1.0, &err),
                         SL_OK);
        assert_int_equal(state_features_add(fx.sf, STATE_FEAT_USER_ITEM, S("u1"), S(evs[i].item),
                                            evs[i].c, evs[i].t, 1.0, &err),
                         SL_OK);
        state_decay_add(evs[i].c == STATE_FEAT_VIEWS ? &ref_views : &ref_clicks, &fx.spec, evs[i].t,
                        1.0);
        if (!strcmp(evs[i].item, "a1") && evs[i].c == STATE_FEAT_VIEWS)
            state_decay_add(&ref_pair, &fx.spec, evs[i].t, 1.0);
    }
    state_feat_record rec;
    assert_int_equal(state_features_read(fx.sf, STATE_FEAT_USER, S("u1"), S(""), &rec, &err),
                     SL_OK);
    assert_true(rec.found);
    int64_t at = T0 + 5 * HOUR;
    for (int h = 0; h < 2; h++) {
        assert_true(state_decay_read(&rec.c[STATE_FEAT_VIEWS], &fx.spec, h, at) ==
                    state_decay_read(&ref_views, &fx.spec, h, at));
        assert_true(state_decay_read(&rec.c[STATE_FEAT_CLICKS], &fx.spec, h, at) ==
                    state_decay_read(&ref_clicks, &fx.spec, h, at));
        assert_true(state_decay_read(&rec.c[STATE_FEAT_LIKES], &fx.spec, h, at) == 0.0);
    }
    /* two views of a1 (3 h apart) at the 1 h half-life, read at +5 h */
    double expect = exp2(-5.0) + exp2(-2.0);
    assert_true(fabs(state_decay_read(&ref_pair, &fx.spec, 0, at) - expect) < 1e-12);
    assert_int_equal(state_feat_record_t_last(&rec), T0 + 3 * HOUR);
    assert_int_equal(state_features_read(fx.sf, STATE_FEAT_USER_ITEM, S("u1"), S("a1"), &rec, &err),
                     SL_OK);
    assert_true(fabs(state_decay_read(&rec.c[STATE_FEAT_VIEWS], &fx.spec, 0, at) - expect) < 1e-12);
    /* absent keys read as empty */
    assert_int_equal(state_features_read(fx.sf, STATE_FEAT_ITEM, S("zz"), S(""), &rec, &err),
                     SL_OK);
    assert_false(rec.found);
    assert_true(state_decay_read(&rec.c[STATE_FEAT_VIEWS], &fx.spec, 0, at) == 0.0);
    /* a non-finite value is refused */
    assert_int_equal(state_features_add(fx.sf, STATE_FEAT_USER, S("u1"), S(""), STATE_FEAT_DWELL_MS,
                                        T0, NAN, &err),
                     SL_ERR_INVALID);
    close_fx(&fx);
}

static bool count_pair(void *ctx, sl_str second, const state_feat_record *rec) {
    int *n = ctx;
    assert_true(rec->found);
    assert_true(second.n == 2 && second.p[0] == 'a');
    (*n)++;
    return true;
}

/* "u1" pairs must not catch "u10" pairs: ids are length-prefixed. */
static void test_keys_and_scan(void **state) {
    (void)state;
    fixture fx;
    open_fx(&fx, NULL);
    sl_err err = {{0}};
    unsigned char k1[64], k2[64];
    size_t n1, n2;
    assert_true(state_features_key(STATE_FEAT_USER_ITEM, S("u1"), S("a1"), false, k1, 64, &n1));
    assert_true(state_features_key(STATE_FEAT_USER_ITEM, S("u1"), S(""), true, k2, 64, &n2));
    assert_true(n2 < n1 && memcmp(k1, k2, n2) == 0);
    assert_false(state_features_key(STATE_FEAT_USER_ITEM, S("u1"), S("a1"), false, k1, 6, &n1));
    const char *items[] = {"a1", "a2", "a3"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(state_features_add(fx.sf, STATE_FEAT_USER_ITEM, S("u1"), S(items[i]),
                                            STATE_FEAT_VIEWS, T0, 1, &err),
                         SL_OK);
    assert_int_equal(state_features_add(fx.sf, STATE_FEAT_USER_ITEM, S("u10"), S("a9"),
                                        STATE_FEAT_VIEWS, T0, 1, &err),
                     SL_OK);
    int n = 0;
    assert_int_equal(
        state_features_scan_pairs(fx.sf, STATE_FEAT_USER_ITEM, S("u1"), 100, count_pair, &n, &err),
        SL_OK);
    assert_int_equal(n, 3);
    n = 0;
    assert_int_equal(
        state_features_scan_pairs(fx.sf, STATE_FEAT_USER_ITEM, S("u1"), 2, count_pair, &n, &err),
        SL_OK);
    assert_int_equal(n, 2);
    /* an over-long key is skipped and counted, not an error */
    static char big[1100];
    memset(big, 'c', sizeof big - 1);
    assert_int_equal(state_features_add(fx.sf, STATE_FEAT_USER_CAT, S("u1"), S(big),
                                        STATE_FEAT_VIEWS, T0, 1, &err),
                     SL_OK);
    state_features_stats stats;
    state_features_stats_get(fx.sf, &stats);
    assert_int_equal(stats.keys_too_long, 1);
    close_fx(&fx);
}

static void test_profiles(void **state) {
    (void)state;
    fixture fx;
    open_fx(&fx, NULL);
    sl_err err = {{0}};
    state_profile *p = malloc(sizeof *p);
    assert_non_null(p);
    sl_kv a1[3] = {{S("age"), SL_KV_NUM, {0}, 31},
                   {S("city"), SL_KV_STR, S("berlin"), 0},
                   {S("vip"), SL_KV_BOOL, {0}, 1}};
    assert_int_equal(state_features_profile_upsert(fx.sf, SL_ENTITY_USER, S("u1"), a1, 3, &err),
                     SL_OK);
    sl_kv a2[2] = {{S("city"), SL_KV_STR, S("paris"), 0}, {S("vip"), SL_KV_NULL, {0}, 0}};
    assert_int_equal(state_features_profile_upsert(fx.sf, SL_ENTITY_USER, S("u1"), a2, 2, &err),
                     SL_OK);
    assert_int_equal(state_features_profile_get(fx.sf, SL_ENTITY_USER, S("u1"), p, &err), SL_OK);
    assert_true(p->found);
    assert_int_equal(p->n, 2);
    double v;
    sl_str s;
    assert_true(state_profile_num(p, "age", &v) && v == 31);
    assert_true(state_profile_str(p, "city", &s) && sl_str_eq(s, "paris", 5));
    assert_null(state_profile_attr(p, "vip"));
    assert_false(state_profile_str(p, "age", &s));
    /* an item with the same id is a different profile */
    assert_int_equal(state_features_profile_get(fx.sf, SL_ENTITY_ITEM, S("u1"), p, &err), SL_OK);
    assert_false(p->found);
    /* removing every attribute removes the profile */
    sl_kv a3[2] = {{S("age"), SL_KV_NULL, {0}, 0}, {S("city"), SL_KV_NULL, {0}, 0}};
    assert_int_equal(state_features_profile_upsert(fx.sf, SL_ENTITY_USER, S("u1"), a3, 2, &err),
                     SL_OK);
    assert_int_equal(state_features_profile_get(fx.sf, SL_ENTITY_USER, S("u1"), p, &err), SL_OK);
    assert_false(p->found);
    /* the bound: SL_EVENT_MAX_FIELDS attributes, then refused unchanged */
    static sl_kv many[SL_EVENT_MAX_FIELDS + 1];
    static char names[SL_EVENT_MAX_FIELDS + 1][8];
    for (int i = 0; i <= SL_EVENT_MAX_FIELDS; i++) {
        snprintf(names[i], sizeof names[i], "k%d", i);
        many[i] = (sl_kv){S(names[i]), SL_KV_NUM, {0}, i};
    }
    assert_int_equal(state_features_profile_upsert(fx.sf, SL_ENTITY_ITEM, S("e1"), many,
                                                   SL_EVENT_MAX_FIELDS, &err),
                     SL_OK);
    assert_int_equal(state_features_profile_upsert(fx.sf, SL_ENTITY_ITEM, S("e1"),
                                                   many + SL_EVENT_MAX_FIELDS, 1, &err),
                     SL_ERR_INVALID);
    assert_int_equal(state_features_profile_get(fx.sf, SL_ENTITY_ITEM, S("e1"), p, &err), SL_OK);
    assert_int_equal(p->n, SL_EVENT_MAX_FIELDS);
    free(p);
    close_fx(&fx);
}

static void test_graph(void **state) {
    (void)state;
    fixture fx;
    open_fx(&fx, NULL);
    sl_err err = {{0}};
    const char *friends[] = {"u2", "u3", "u4", "u5"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(state_features_friend_add(fx.sf, S("u1"), S(friends[i]), &err), SL_OK);
    assert_int_equal(state_features_friend_add(fx.sf, S("u3"), S("u1"), &err), SL_OK); /* repeat */
    assert_int_equal(state_features_friend_add(fx.sf, S("u1"), S("u1"), &err), SL_OK); /* self */
    uint32_t n;
    assert_int_equal(state_features_friend_count(fx.sf, S("u1"), &n, &err), SL_OK);
    assert_int_equal(n, 4);
    assert_int_equal(state_features_friend_count(fx.sf, S("u3"), &n, &err), SL_OK);
    assert_int_equal(n, 1);
    bool added;
    assert_int_equal(state_features_attend(fx.sf, S("e1"), S("u2"), &added, &err), SL_OK);
    assert_true(added);
    assert_int_equal(state_features_attend(fx.sf, S("e1"), S("u4"), &added, &err), SL_OK);
    assert_int_equal(state_features_attend(fx.sf, S("e1"), S("u4"), &added, &err), SL_OK);
    assert_false(added);
    assert_int_equal(state_features_attend(fx.sf, S("e1"), S("u9"), &added, &err), SL_OK);
    assert_int_equal(state_features_attend(fx.sf, S("e2"), S("u3"), &added, &err), SL_OK);
    uint64_t na;
    assert_int_equal(state_features_attendee_count(fx.sf, S("e1"), &na, &err), SL_OK);
    assert_int_equal(na, 3);
    assert_int_equal(state_features_friends_registered(fx.sf, S("u1"), S("e1"), &n, &err), SL_OK);
    assert_int_equal(n, 2);
    assert_int_equal(state_features_friends_registered(fx.sf, S("u1"), S("e2"), &n, &err), SL_OK);
    assert_int_equal(n, 1);
    assert_int_equal(state_features_friends_registered(fx.sf, S("u9"), S("e1"), &n, &err), SL_OK);
    assert_int_equal(n, 0);
    /* the friend-list bound */
    for (int i = 0; i < STATE_FEAT_MAX_FRIENDS + 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "f%d", i);
        assert_int_equal(state_features_friend_add(fx.sf, S("hub"), S(id), &err), SL_OK);
    }
    assert_int_equal(state_features_friend_count(fx.sf, S("hub"), &n, &err), SL_OK);
    assert_int_equal(n, STATE_FEAT_MAX_FRIENDS);
    state_features_stats stats;
    state_features_stats_get(fx.sf, &stats);
    assert_int_equal(stats.friends_dropped, 5);
    assert_int_equal(stats.dup_registers, 1);
    close_fx(&fx);
}

/* Everything written, checkpointed, closed, reopened: the same reads. */
static void test_checkpoint_reopen(void **state) {
    (void)state;
    char dir[256];
    make_tmpdir_(dir, sizeof dir);
    fixture fx;
    open_fx(&fx, dir);
    sl_err err = {{0}};
    for (int i = 0; i < 50; i++)
        assert_int_equal(state_features_add(fx.sf, STATE_FEAT_ITEM, S("e1"), S(""),
                                            STATE_FEAT_VIEWS, T0 + i * 60000, 1, &err),
                         SL_OK);
    assert_int_equal(state_features_add(fx.sf, STATE_FEAT_USER, S("u1"), S(""),
                                        STATE_FEAT_PRICE_PAID, T0, 25.5, &err),
                     SL_OK);
    sl_kv a[1] = {{S("price"), SL_KV_NUM, {0}, 25.5}};
    assert_int_equal(state_features_profile_upsert(fx.sf, SL_ENTITY_ITEM, S("e1"), a, 1, &err),
                     SL_OK);
    assert_int_equal(state_features_friend_add(fx.sf, S("u1"), S("u2"), &err), SL_OK);
    assert_int_equal(state_features_attend(fx.sf, S("e1"), S("u2"), NULL, &err), SL_OK);
    state_feat_record before, after;
    assert_int_equal(state_features_read(fx.sf, STATE_FEAT_ITEM, S("e1"), S(""), &before, &err),
                     SL_OK);
    assert_int_equal(state_store_checkpoint(fx.st, NULL, 0, NULL, &err), SL_OK);
    close_fx(&fx);

    open_fx(&fx, dir);
    assert_int_equal(state_features_read(fx.sf, STATE_FEAT_ITEM, S("e1"), S(""), &after, &err),
                     SL_OK);
    assert_true(after.found);
    assert_memory_equal(&before.c[STATE_FEAT_VIEWS], &after.c[STATE_FEAT_VIEWS],
                        sizeof before.c[0]);
    assert_int_equal(state_features_read(fx.sf, STATE_FEAT_USER, S("u1"), S(""), &after, &err),
                     SL_OK);
    assert_true(state_decay_read(&after.c[STATE_FEAT_PRICE_PAID], &fx.spec, 0, T0) == 25.5);
    state_profile *p = malloc(sizeof *p);
    assert_non_null(p);
    double v;
    assert_int_equal(state_features_profile_get(fx.sf, SL_ENTITY_ITEM, S("e1"), p, &err), SL_OK);
    assert_true(state_profile_num(p, "price", &v) && v == 25.5);
    free(p);
    uint32_t n;
    assert_int_equal(state_features_friends_registered(fx.sf, S("u1"), S("e1"), &n, &err), SL_OK);
    assert_int_equal(n, 1);
    close_fx(&fx);
    test_rm_rf(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_match_decay),
        cmocka_unit_test(test_keys_and_scan),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_graph),
        cmocka_unit_test(test_checkpoint_reopen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
