/*
 * test_learners.c — the models in the state store (operators/op_learners):
 * the rolling base + row deltas restore every model bitwise, old deltas are
 * deleted, a warm start is written whole, and state of another shape is
 * refused.
 *
 * Each test learns seeded random examples into FTRL, FM and MTL models
 * with a checkpoint every few dozen examples (more checkpoints than one
 * rotation of the base), closes the store, reopens it and compares the
 * snapshots of the models before and after byte for byte. Snapshots carry
 * every array, the counters and the examples learned, so equal snapshots
 * mean equal models.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_snapshot.h"
#include "op_learners.h"
#include "sl_rand.h"
#include "state_store.h"

static const char CONFIG[] =
    "{\"features\":{\"hash_bits\":16},"
    "\"models\":{\"lr\":{\"kind\":\"ftrl_lr\",\"surface\":\"ads\",\"l1\":0.1,"
    "\"fast_fields\":[\"item\"]},"
    "\"fm\":{\"kind\":\"fm\",\"surface\":\"ads\",\"factors\":4,"
    "\"fast_fields\":[\"item\",\"ctx.device\"],\"fast_alpha\":0.3},"
    "\"ffm\":{\"kind\":\"ffm\",\"surface\":\"ads\",\"factors\":4,\"init_std\":0.05},"
    "\"lr_sampled\":{\"kind\":\"ftrl_lr\",\"surface\":\"ads\",\"neg_weight\":3},"
    "\"feed\":{\"kind\":\"mtl\",\"surface\":\"feed\",\"hidden\":[8],\"emb_bits\":8,"
    "\"embed_dim\":4,\"mini_batch\":5}}}";
#define N_MODELS 5 /* in CONFIG */

typedef struct fixture {
    char dir[256];      /* the store's directory */
    sl_config *cfg;     /* CONFIG */
    state_store *store; /* open store */
} fixture;

static void store_open(fixture *f) {
    state_store_opts o;
    state_store_opts_default(&o);
    o.dir = f->dir;
    o.cache_bytes = (size_t)64 << 20;
    sl_err err;
    assert_int_equal(state_store_open(&o, &f->store, &err), SL_OK);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    assert_true(test_tmpdir(f->dir, sizeof f->dir, "sl-learners"));
    sl_err err;
    assert_int_equal(sl_config_load_string(CONFIG, strlen(CONFIG), "test", &f->cfg, &err), SL_OK);
    store_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    state_store_close(f->store);
    sl_config_destroy(f->cfg);
    test_rm_rf(f->dir);
    free(f);
    return 0;
}

/* A random example: 20 sparse features, half from a hot set of 64 (rows
 * that change at every checkpoint), half anywhere in the 2^16 coordinates
 * (11 base blocks of the FTRL table, so most changed rows travel as
 * deltas); a few dense values; every label. */
static void random_example(sl_rand *r, model_example *ex, char *view_id, size_t cap, int i) {
    model_example_reset(ex);
    for (int j = 0; j < 20; j++) {
        uint32_t idx = (uint32_t)(j < 10 ? sl_rand_u64(r) % 64 : sl_rand_u64(r));
        model_example_add(ex, idx, 1.0f, (uint8_t)j);
    }
    ex->n_dense = 4;
    for (int d = 0; d < 4; d++)
        ex->dense[d] = (float)sl_rand_double(r);
    float click = sl_rand_double(r) < 0.3 ? 1.0f : 0.0f;
    model_example_set_label(ex, MODEL_LABEL_CLICK, click);
    model_example_set_label(ex, MODEL_LABEL_LIKE, sl_rand_double(r) < 0.1 ? 1.0f : 0.0f);
    model_example_set_label(ex, MODEL_LABEL_SHARE, 0.0f);
    model_example_set_label(ex, MODEL_LABEL_DWELL, click ? (float)(1000 * sl_rand_double(r)) : 0);
    snprintf(view_id, cap, "v%d", i);
}

/* Learns n examples into every model, checkpointing every `every`. */
static void learn(fixture *f, op_learners *L, uint64_t seed, int n, int every) {
    sl_rand r;
    sl_rand_seed(&r, seed);
    model_example ex;
    char id[32];
    sl_err err;
    for (int i = 0; i < n; i++) {
        random_example(&r, &ex, id, sizeof id, i);
        for (uint32_t m = 0; m < op_learners_count(L); m++)
            assert_int_equal(op_learners_learn(L, m, (sl_str){id, strlen(id)}, &ex), SL_OK);
        if ((i + 1) % every == 0) {
            assert_int_equal(op_learners_checkpoint(L, &err), SL_OK);
            assert_int_equal(state_store_checkpoint(f->store, NULL, 0, NULL, &err), SL_OK);
        }
    }
}

/* The snapshot of model id. OUT: buf (caller deinits). */
static void snap(op_learners *L, uint32_t id, sl_buf *buf) {
    sl_buf_init(buf, (size_t)64 << 20);
    size_t len;
    sl_err err;
    assert_int_equal(op_learners_snapshot(L, id, 0, buf, &len, &err), SL_OK);
    assert_int_equal(len, buf->len);
}

static bool count_deltas(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    (void)val;
    (void)vlen;
    const unsigned char *k = key;
    if (klen > 3 && memchr(k, 0, klen) && k[strlen((const char *)k) + 1] == 'D')
        ++*(size_t *)ctx;
    return true;
}

/* Learn across many checkpoints, "crash" (close without checkpointing the
 * last examples), reopen: every model equals its state at the last
 * checkpoint, bitwise. */
static void test_restore_bitwise(void **state) {
    fixture *f = *state;
    sl_err err;
    op_learners *L;
    assert_int_equal(op_learners_create(f->cfg, f->store, NULL, 0, &L, &err), SL_OK);
    assert_int_equal(op_learners_count(L), N_MODELS);
    learn(f, L, 7, 2000, 40); /* 50 checkpoints: three turns of the base */
    sl_buf want[N_MODELS];
    for (uint32_t m = 0; m < N_MODELS; m++)
        snap(L, m, &want[m]);
    learn(f, L, 8, 37, 1000); /* learned, never checkpointed: lost in the crash */
    op_learners_destroy(L);
    state_store_close(f->store);
    store_open(f);
    assert_int_equal(op_learners_create(f->cfg, f->store, NULL, 0, &L, &err), SL_OK);
    for (uint32_t m = 0; m < N_MODELS; m++) {
        sl_buf got;
        snap(L, m, &got);
        assert_int_equal(got.len, want[m].len);
        assert_memory_equal(got.p, want[m].p, got.len);
        sl_buf_deinit(&got);
        sl_buf_deinit(&want[m]);
    }
    /* Deltas older than one rotation are gone: at most 16 generations of
     * delta chunks per array remain, not 50. */
    size_t deltas = 0;
    assert_int_equal(state_store_scan(f->store, STATE_CF_MODELS, "lr", 3, count_deltas, &deltas,
                                      &err),
                     SL_OK);
    assert_true(deltas > 0);
    assert_true(deltas <= 16);
    op_learners_destroy(L);
}

/* Each model of L has the snapshot want[m] (N_MODELS models; freed here). */
static void assert_snaps(op_learners *L, sl_buf *want) {
    for (uint32_t m = 0; m < N_MODELS; m++) {
        sl_buf b;
        snap(L, m, &b);
        assert_int_equal(want[m].len, b.len);
        assert_memory_equal(want[m].p, b.p, b.len);
        sl_buf_deinit(&want[m]);
        sl_buf_deinit(&b);
    }
}

/* Restored models keep learning exactly like models that never stopped. */
static void test_restored_models_learn_alike(void **state) {
    fixture *f = *state;
    sl_err err;
    op_learners *L;
    assert_int_equal(op_learners_create(f->cfg, f->store, NULL, 0, &L, &err), SL_OK);
    learn(f, L, 3, 500, 25);
    op_learners_destroy(L);
    state_store_close(f->store);
    store_open(f);
    assert_int_equal(op_learners_create(f->cfg, f->store, NULL, 0, &L, &err), SL_OK);
    learn(f, L, 4, 300, 25);
    sl_buf a[N_MODELS];
    for (uint32_t m = 0; m < N_MODELS; m++)
        snap(L, m, &a[m]);
    op_learners_destroy(L);

    /* The same stream without the restart, in a fresh store. */
    fixture g = *f;
    assert_true(test_tmpdir(g.dir, sizeof g.dir, "sl-learners-ref"));
    store_open(&g);
    assert_int_equal(op_learners_create(g.cfg, g.store, NULL, 0, &L, &err), SL_OK);
    learn(&g, L, 3, 500, 25);
    learn(&g, L, 4, 300, 25);
    assert_snaps(L, a);
    op_learners_destroy(L);
    state_store_close(g.store);
    test_rm_rf(g.dir);
}

/* Queued examples learned in batches of every size, the queue overflowing
 * (more than OP_LEARNERS_QUEUE before a flush) included, give models
 * bitwise equal to learning each example at once, down-sampling and the
 * MTL's own mini-batches included. */
static void test_queue_is_learning_each(void **state) {
    fixture *f = *state;
    sl_err err;
    op_learners *L;
    assert_int_equal(op_learners_create(f->cfg, f->store, NULL, 0, &L, &err), SL_OK);
    learn(f, L, 11, 1500, 100000); /* one at a time, no checkpoint */
    sl_buf a[N_MODELS];
    for (uint32_t m = 0; m < N_MODELS; m++)
        snap(L, m, &a[m]);
    op_learners_destroy(L);

    fixture g = *f;
    assert_true(test_tmpdir(g.dir, sizeof g.dir, "sl-learners-queue"));
    store_open(&g);
    assert_int_equal(op_learners_create(g.cfg, g.store, NULL, 0, &L, &err), SL_OK);
    static model_example ex[200];
    static char id[200][32];
    sl_rand r, sizes;
    sl_rand_seed(&r, 11);
    sl_rand_seed(&sizes, 5);
    for (int i = 0; i < 1500;) {
        int n = (int)sl_rand_below(&sizes, 200) + 1; /* 1..200 before each flush */
        if (n > 1500 - i)
            n = 1500 - i;
        for (int k = 0; k < n; k++, i++) {
            random_example(&r, &ex[k], id[k], sizeof id[k], i);
            for (uint32_t m = 0; m < op_learners_count(L); m++)
                assert_int_equal(op_learners_queue(L, m, (sl_str){id[k], strlen(id[k])}, &ex[k]),
                                 SL_OK);
        }
        op_learners_flush(L);
    }
    assert_snaps(L, a);
    op_learners_destroy(L);
    state_store_close(g.store);
    test_rm_rf(g.dir);
}

/* A warm start loads the snapshot; its first checkpoint writes the tables
 * whole, so a restart without the snapshot restores the warm model. */
static void test_warm_start_is_durable(void **state) {
    fixture *f = *state;
    sl_err err;
    op_learners *L;
    assert_int_equal(op_learners_create(f->cfg, f->store, NULL, 0, &L, &err), SL_OK);
    learn(f, L, 9, 400, 1000); /* no checkpoint: the store stays empty */
    sl_buf s;
    snap(L, 0, &s);
    op_learners_destroy(L);
    state_store_close(f->store);
    test_rm_rf(f->dir);
    assert_true(test_tmpdir(f->dir, sizeof f->dir, "sl-learners-warm"));
    store_open(f);
    op_warm_start w = {s.p, s.len, "lr.snap"};
    assert_int_equal(op_learners_create(f->cfg, f->store, &w, 1, &L, &err), SL_OK);
    assert_int_equal(op_learners_version(L, 0), 400);
    assert_int_equal(op_learners_checkpoint(L, &err), SL_OK);
    assert_int_equal(state_store_checkpoint(f->store, NULL, 0, NULL, &err), SL_OK);
    op_learners_destroy(L);
    state_store_close(f->store);
    store_open(f);
    assert_int_equal(op_learners_create(f->cfg, f->store, NULL, 0, &L, &err), SL_OK);
    sl_buf got;
    snap(L, 0, &got);
    assert_int_equal(got.len, s.len);
    assert_memory_equal(got.p, s.p, s.len);
    sl_buf_deinit(&got);
    sl_buf_deinit(&s);
    op_learners_destroy(L);
}

/* State written with other hash_bits is refused, naming model and array. */
static void test_other_shape_refused(void **state) {
    fixture *f = *state;
    sl_err err;
    op_learners *L;
    assert_int_equal(op_learners_create(f->cfg, f->store, NULL, 0, &L, &err), SL_OK);
    learn(f, L, 1, 50, 50);
    op_learners_destroy(L);
    const char *other = "{\"features\":{\"hash_bits\":15},"
                        "\"models\":{\"lr\":{\"kind\":\"ftrl_lr\",\"surface\":\"ads\"}}}";
    sl_config *cfg;
    assert_int_equal(sl_config_load_string(other, strlen(other), "other", &cfg, &err), SL_OK);
    assert_int_equal(op_learners_create(cfg, f->store, NULL, 0, &L, &err), SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "model \"lr\""));
    assert_non_null(strstr(err.msg, "\"zn\""));
    sl_config_destroy(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restore_bitwise, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restored_models_learn_alike, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_is_learning_each, setup, teardown),
        cmocka_unit_test_setup_teardown(test_warm_start_is_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_shape_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
