/*
 * test_store.c — the state store: reads and writes through the write-back
 * cache, checkpoint -> close -> reopen gives identical reads (deletes
 * included), a process killed between checkpoints reopens at exactly the
 * last checkpoint, the cache cap asks for a checkpoint instead of growing,
 * a random workload against a reference model (compactions included),
 * prefix scans merge cache and RocksDB, the sweep removes decayed keys and
 * keeps live ones, and RocksDB's errors arrive with the path. The
 * checkpoint in three steps (begin / write on another thread / finish):
 * reads during the write see the newest values, cache pressure never drops
 * an entry in flight, a failed or abandoned write leaves RocksDB at the
 * previous checkpoint and the entries dirty, close with one in flight is
 * safe, a process killed at random moments during such writes always
 * reopens at a whole checkpoint, and a random workload with random failures
 * matches a reference model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_util.h"
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sl_rand.h"
#include "state_decay.h"
#include "state_store.h"
#include "state_store_internal.h"

static void make_tmpdir_(char *dir, size_t cap) { assert_true(test_tmpdir(dir, cap, "sl_state")); }

/* ------------------------------------------------------------ helpers */

static state_store *open_store(const char *dir, size_t cache_bytes) {
    state_store_opts o;
    state_store_opts_default(&o);
    o.dir = dir;
    o.cache_bytes = cache_bytes;
    o.block_cache_bytes = 8 << 20;
    o.write_buffer_bytes = 4 << 20;
    state_store *st = NULL;
    sl_err err = {{0}};
    sl_status rc = state_store_open(&o, &st, &err);
    if (rc)
        fail_msg("open %s: %s", dir ? dir : "(memory)", err.msg);
    return st;
}

static void put_s(state_store *st, state_cf cf, const char *k, const char *v) {
    sl_err err = {{0}};
    sl_status rc = state_store_put(st, cf, k, strlen(k), v, strlen(v), &err);
    if (rc)
        fail_msg("put %s: %s", k, err.msg);
}

static void del_s(state_store *st, state_cf cf, const char *k) {
    assert_int_equal(state_store_delete(st, cf, k, strlen(k), NULL), SL_OK);
}

/* Asserts key reads as want (NULL: absent). */
static void expect(state_store *st, state_cf cf, const char *k, const char *want) {
    char buf[STATE_STORE_MAX_VALUE];
    size_t n = 0;
    sl_err err = {{0}};
    sl_status rc = state_store_get(st, cf, k, strlen(k), buf, sizeof buf, &n, &err);
    if (!want) {
        if (rc != SL_ERR_NOT_FOUND)
            fail_msg("%s/%s: want absent, got rc %d (%.*s)", state_cf_str(cf), k, rc, (int)n, buf);
        return;
    }
    if (rc)
        fail_msg("%s/%s: want \"%s\", got rc %d: %s", state_cf_str(cf), k, want, rc, err.msg);
    if (n != strlen(want) || memcmp(buf, want, n))
        fail_msg("%s/%s: want \"%s\", got \"%.*s\"", state_cf_str(cf), k, want, (int)n, buf);
}

/* ------------------------------------------------------------ basics */

static void basics(state_store *st) {
    put_s(st, STATE_CF_FEATURES, "u:1", "one");
    put_s(st, STATE_CF_PROFILES, "u:1", "profile-one"); /* same key, other family */
    expect(st, STATE_CF_FEATURES, "u:1", "one");
    expect(st, STATE_CF_PROFILES, "u:1", "profile-one");
    expect(st, STATE_CF_GRAPH, "u:1", NULL);
    put_s(st, STATE_CF_FEATURES, "u:1", "a much longer value than before, moved to a new entry");
    expect(st, STATE_CF_FEATURES, "u:1", "a much longer value than before, moved to a new entry");
    put_s(st, STATE_CF_FEATURES, "u:1", "1"); /* shorter: in place */
    expect(st, STATE_CF_FEATURES, "u:1", "1");
    put_s(st, STATE_CF_FEATURES, "u:2", ""); /* an empty value is a value */
    expect(st, STATE_CF_FEATURES, "u:2", "");
    del_s(st, STATE_CF_FEATURES, "u:1");
    expect(st, STATE_CF_FEATURES, "u:1", NULL);
    expect(st, STATE_CF_PROFILES, "u:1", "profile-one");
    del_s(st, STATE_CF_FEATURES, "never-there");
    expect(st, STATE_CF_FEATURES, "never-there", NULL);
    put_s(st, STATE_CF_FEATURES, "u:1", "back");
    expect(st, STATE_CF_FEATURES, "u:1", "back");

    /* A buffer too small says how much is needed and copies nothing. */
    char small[2] = {'x', 'x'};
    size_t n = 0;
    assert_int_equal(state_store_get(st, STATE_CF_FEATURES, "u:1", 3, small, 2, &n, NULL),
                     SL_ERR_LIMIT);
    assert_int_equal(n, 4);
    assert_int_equal(small[0], 'x');

    /* Limits and the reserved record. */
    sl_err err = {{0}};
    static char big[STATE_STORE_MAX_VALUE + 1];
    assert_int_equal(state_store_put(st, STATE_CF_MODELS, "m", 1, big, sizeof big, &err),
                     SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "limit"));
    assert_int_equal(
        state_store_put(st, STATE_CF_MODELS, big, STATE_STORE_MAX_KEY + 1, "v", 1, &err),
        SL_ERR_INVALID);
    assert_int_equal(state_store_put(st, STATE_CF_META, STATE_META_CHECKPOINT,
                                     strlen(STATE_META_CHECKPOINT), "v", 1, &err),
                     SL_ERR_INVALID);
    assert_int_equal(state_store_put(st, STATE_CF_MODELS, "m", 1, big, STATE_STORE_MAX_VALUE, &err),
                     SL_OK);
}

static void test_basics_memory(void **state) {
    (void)state;
    state_store *st = open_store(NULL, 4 << 20);
    basics(st);
    assert_int_equal(state_store_checkpoint(st, "o", 1, NULL, NULL), SL_OK);
    basics(st); /* again over a committed state */
    state_store_close(st);
    state_store_close(NULL);
}

static void test_basics_disk(void **state) {
    (void)state;
    char dir[512], sub[600];
    make_tmpdir_(dir, sizeof dir);
    snprintf(sub, sizeof sub, "%s/a/b/state", dir); /* created, parents too */
    state_store *st = open_store(sub, 4 << 20);
    basics(st);
    state_store_close(st);
    test_rm_rf(dir);
}

/* ------------------------------------------------ checkpoint and reopen */

static void test_checkpoint_reopen(void **state) {
    (void)state;
    char dir[512];
    make_tmpdir_(dir, sizeof dir);
    state_store *st = open_store(dir, 8 << 20);
    uint64_t id = 99;
    const void *off = NULL;
    size_t off_len = 7;
    state_store_last_checkpoint(st, &id, &off, &off_len);
    assert_int_equal(id, 0);
    assert_null(off);
    assert_int_equal(off_len, 0);

    char k[32], v[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "u:%d", i);
        snprintf(v, sizeof v, "value-%d", i * 7);
        put_s(st, (state_cf)(i % STATE_CF_META), k, v);
    }
    assert_int_equal(state_store_checkpoint(st, "offsets-1", 9, &id, NULL), SL_OK);
    assert_int_equal(id, 1);
    /* Second interval: overwrite some, delete some committed keys, delete
     * a key that was written and deleted inside the interval. */
    for (int i = 0; i < 5000; i += 3) {
        snprintf(k, sizeof k, "u:%d", i);
        snprintf(v, sizeof v, "second-%d", i);
        put_s(st, (state_cf)(i % STATE_CF_META), k, v);
    }
    for (int i = 1; i < 5000; i += 10) {
        snprintf(k, sizeof k, "u:%d", i);
        del_s(st, (state_cf)(i % STATE_CF_META), k);
    }
    put_s(st, STATE_CF_PENDING, "short-lived", "x");
    del_s(st, STATE_CF_PENDING, "short-lived");
    put_s(st, STATE_CF_META, "caller-key", "caller-value");
    assert_int_equal(state_store_checkpoint(st, "offsets-2!", 10, &id, NULL), SL_OK);
    assert_int_equal(id, 2);
    state_store_close(st);

    st = open_store(dir, 8 << 20);
    state_store_last_checkpoint(st, &id, &off, &off_len);
    assert_int_equal(id, 2);
    assert_int_equal(off_len, 10);
    assert_memory_equal(off, "offsets-2!", 10);
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "u:%d", i);
        state_cf cf = (state_cf)(i % STATE_CF_META);
        if (i % 3 == 0)
            snprintf(v, sizeof v, "second-%d", i);
        else
            snprintf(v, sizeof v, "value-%d", i * 7);
        expect(st, cf, k, i % 10 == 1 ? NULL : v);
        /* and nowhere else */
        expect(st, (state_cf)((i + 1) % STATE_CF_META), k, NULL);
    }
    expect(st, STATE_CF_PENDING, "short-lived", NULL);
    expect(st, STATE_CF_META, "caller-key", "caller-value");
    /* Ids keep counting across opens. */
    assert_int_equal(state_store_checkpoint(st, NULL, 0, &id, NULL), SL_OK);
    assert_int_equal(id, 3);
    state_store_close(st);

    /* A read-only open sees the same and refuses writes. */
    state_store_opts o;
    state_store_opts_default(&o);
    o.dir = dir;
    o.read_only = true;
    sl_err err = {{0}};
    assert_int_equal(state_store_open(&o, &st, &err), SL_OK);
    expect(st, STATE_CF_META, "caller-key", "caller-value");
    assert_int_equal(state_store_put(st, STATE_CF_META, "x", 1, "y", 1, &err), SL_ERR_INVALID);
    assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, &err), SL_ERR_INVALID);
    state_store_last_checkpoint(st, &id, NULL, NULL);
    assert_int_equal(id, 3);
    state_store_close(st);
    test_rm_rf(dir);
}

/* Checkpoints big enough to start fresh memtables (write buffers of
 * 256 KiB: any checkpoint over 64 KiB to one family), many of them, with
 * overwrites and deletes across them: every one reads back after a reopen. */
static void test_big_checkpoints(void **state) {
    (void)state;
    char dir[512];
    make_tmpdir_(dir, sizeof dir);
    state_store_opts o;
    state_store_opts_default(&o);
    o.dir = dir;
    o.cache_bytes = 8 << 20;
    o.write_buffer_bytes = 256 << 10;
    state_store *st = NULL;
    assert_int_equal(state_store_open(&o, &st, NULL), SL_OK);
    char k[32], v[128];
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < 3000; i++) {
            snprintf(k, sizeof k, "u:%05d", (i * 7 + round * 1000) % 9000);
            snprintf(v, sizeof v, "round-%d-%d-%s", round, i, "padding padding padding");
            put_s(st, STATE_CF_FEATURES, k, v);
        }
        snprintf(k, sizeof k, "u:%05d", round * 3);
        del_s(st, STATE_CF_FEATURES, k);
        assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
    }
    /* Expected: the last round that wrote each key, minus the deletes. */
    static char want[9000][128];
    static bool has[9000];
    memset(has, 0, sizeof has);
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < 3000; i++) {
            int key = (i * 7 + round * 1000) % 9000;
            snprintf(want[key], sizeof want[key], "round-%d-%d-%s", round, i,
                     "padding padding padding");
            has[key] = true;
        }
        has[round * 3] = false;
    }
    state_store_close(st);
    assert_int_equal(state_store_open(&o, &st, NULL), SL_OK);
    for (int key = 0; key < 9000; key++) {
        snprintf(k, sizeof k, "u:%05d", key);
        expect(st, STATE_CF_FEATURES, k, has[key] ? want[key] : NULL);
    }
    state_store_close(st);
    test_rm_rf(dir);
}

/* A child process writes checkpoint 1, then keeps writing and is killed
 * with SIGKILL: the parent must find exactly checkpoint 1. */
static void test_crash_between_checkpoints(void **state) {
    (void)state;
    char dir[512];
    make_tmpdir_(dir, sizeof dir);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        state_store *st = open_store(dir, 8 << 20);
        char k[32], v[64];
        for (int i = 0; i < 2000; i++) {
            snprintf(k, sizeof k, "k%d", i);
            snprintf(v, sizeof v, "committed-%d", i);
            put_s(st, STATE_CF_FEATURES, k, v);
        }
        if (state_store_checkpoint(st, "at-2000", 7, NULL, NULL) != SL_OK)
            _exit(3);
        for (int i = 0; i < 4000; i++) { /* never checkpointed */
            snprintf(k, sizeof k, "k%d", i);
            if (i % 2)
                del_s(st, STATE_CF_FEATURES, k);
            else
                put_s(st, STATE_CF_FEATURES, k, "lost");
        }
        raise(SIGKILL);
        _exit(4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    state_store *st = open_store(dir, 8 << 20);
    uint64_t id = 0;
    const void *off = NULL;
    size_t off_len = 0;
    state_store_last_checkpoint(st, &id, &off, &off_len);
    assert_int_equal(id, 1);
    assert_int_equal(off_len, 7);
    assert_memory_equal(off, "at-2000", 7);
    char k[32], v[64];
    for (int i = 0; i < 4000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "committed-%d", i);
        expect(st, STATE_CF_FEATURES, k, i < 2000 ? v : NULL);
    }
    state_store_close(st);
    test_rm_rf(dir);
}

/* ------------------------------------------------------- the cache cap */

static void test_cache_cap(void **state) {
    (void)state;
    const size_t cap = 1 << 20;
    state_store *st = open_store(NULL, cap);
    char k[32], v[200];
    memset(v, 'v', sizeof v);
    int i = 0;
    bool wanted = false;
    sl_err err = {{0}};
    sl_status rc;
    for (;; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        rc = state_store_put(st, STATE_CF_FEATURES, k, strlen(k), v, sizeof v, &err);
        if (rc)
            break;
        wanted = wanted || state_store_want_checkpoint(st);
        state_store_stats s;
        state_store_stats_get(st, &s);
        assert_true(s.cache_held <= cap);
        assert_true(i < 100000);
    }
    assert_int_equal(rc, SL_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "checkpoint now"));
    assert_true(wanted); /* the early warning came first */
    assert_true(state_store_want_checkpoint(st));
    expect(st, STATE_CF_FEATURES, k, NULL); /* the refused write did not happen */
    state_store_stats s0, s1;
    state_store_stats_get(st, &s0);
    assert_int_equal(state_store_put(st, STATE_CF_FEATURES, "other", 5, v, sizeof v, NULL),
                     SL_ERR_LIMIT); /* and again, without another compaction */
    state_store_stats_get(st, &s1);
    assert_int_equal(s1.compactions, s0.compactions);
    assert_true(s1.dirty_bytes > cap / 2);
    /* Overwrites in place need no memory and still work. */
    put_s(st, STATE_CF_FEATURES, "key-0", "small");
    for (int j = 1; j < i; j += 97) {
        char kk[32];
        snprintf(kk, sizeof kk, "key-%d", j);
        char buf[256];
        size_t n = 0;
        assert_int_equal(
            state_store_get(st, STATE_CF_FEATURES, kk, strlen(kk), buf, sizeof buf, &n, NULL),
            SL_OK);
        assert_int_equal(n, sizeof v);
    }
    /* A checkpoint makes everything clean, so the cache can drop it. */
    assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
    assert_false(state_store_want_checkpoint(st));
    for (int j = 0; j < i / 2; j++) {
        char kk[32];
        snprintf(kk, sizeof kk, "new-%d", j);
        assert_int_equal(state_store_put(st, STATE_CF_FEATURES, kk, strlen(kk), v, sizeof v, NULL),
                         SL_OK);
    }
    expect(st, STATE_CF_FEATURES, "key-0", "small"); /* from RocksDB now */
    state_store_stats s;
    state_store_stats_get(st, &s);
    assert_true(s.compactions > 0);
    assert_true(s.cache_held <= cap);
    state_store_close(st);
}

/* Making room compacts one slab at a time, never the whole cache: with the
 * cache full of clean entries, no put drops more than a couple of slabs'
 * worth of entries. Entries dropped
 * still read from RocksDB, and a key read between every few puts stays in
 * the cache however many slabs cycle through. */
static void test_cache_evicts_slab_at_a_time(void **state) {
    (void)state;
    const size_t cap = 8 << 20; /* 32 slabs */
    state_store *st = open_store(NULL, cap);
    char k[32], v[400];
    memset(v, 'c', sizeof v - 1);
    v[sizeof v - 1] = '\0';
    put_s(st, STATE_CF_FEATURES, "hot", "h");
    int n = 0;
    state_store_stats s0, s1;
    for (int round = 0; round < 8; round++) { /* several caches' worth, clean each time */
        for (int i = 0; i < 8000; i++, n++) {
            snprintf(k, sizeof k, "key-%d", n);
            state_store_stats_get(st, &s0);
            put_s(st, STATE_CF_FEATURES, k, v);
            state_store_stats_get(st, &s1);
            /* At most the second-chance slabs and one more compacted, and
             * at most two slabs' worth of entries (~600 a slab) dropped:
             * the whole-cache compaction this replaced dropped thousands. */
            assert_true(s1.compactions - s0.compactions <= 5);
            assert_true(s0.entries + 1 <= s1.entries + 1300);
            assert_true(s1.cache_held <= cap);
            if (i % 64 == 0) {
                uint64_t misses = s1.misses;
                expect(st, STATE_CF_FEATURES, "hot", "h");
                state_store_stats_get(st, &s1);
                assert_int_equal(s1.misses, misses); /* a hit: kept by its second chance */
            }
        }
        assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
    }
    state_store_stats_get(st, &s1);
    assert_true(s1.compactions > 32); /* the slabs cycled */
    expect(st, STATE_CF_FEATURES, "key-0", v); /* dropped long ago: from RocksDB */
    expect(st, STATE_CF_FEATURES, "key-16000", v);
    state_store_close(st);
}

/* --------------------------------------- random workload vs a reference */

#define MODEL_KEYS 3000

typedef struct model_val {
    int len;      /* -1 = absent */
    uint32_t gen; /* which version of the bytes */
} model_val;

static void model_bytes(int key, model_val mv, unsigned char *out) {
    for (int i = 0; i < mv.len; i++)
        out[i] = (unsigned char)(key * 31 + (int)mv.gen * 7 + i);
}

static void model_check(state_store *st, const model_val *want) {
    unsigned char buf[1024], exp[1024];
    for (int key = 0; key < MODEL_KEYS; key++) {
        char k[32];
        snprintf(k, sizeof k, "m%05d", key);
        size_t n = 0;
        sl_status rc =
            state_store_get(st, STATE_CF_PENDING, k, strlen(k), buf, sizeof buf, &n, NULL);
        if (want[key].len < 0) {
            if (rc != SL_ERR_NOT_FOUND)
                fail_msg("%s: want absent, got rc %d len %zu", k, rc, n);
            continue;
        }
        if (rc != SL_OK || n != (size_t)want[key].len)
            fail_msg("%s: want %d bytes, got rc %d len %zu", k, want[key].len, rc, n);
        model_bytes(key, want[key], exp);
        assert_memory_equal(buf, exp, n);
    }
}

static void test_random_vs_model(void **state) {
    (void)state;
    char dir[512];
    make_tmpdir_(dir, sizeof dir);
    /* 1 MiB of cache for ~3000 keys of up to 600 bytes: constant compaction. */
    state_store *st = open_store(dir, 1 << 20);
    static model_val cur[MODEL_KEYS], committed[MODEL_KEYS];
    for (int i = 0; i < MODEL_KEYS; i++)
        cur[i] = committed[i] = (model_val){-1, 0};
    sl_rand r;
    sl_rand_seed(&r, 2024);
    unsigned char buf[1024];
    int checkpoints = 0;
    for (int op = 0; op < 200000; op++) {
        int key = (int)sl_rand_below(&r, MODEL_KEYS);
        char k[32];
        snprintf(k, sizeof k, "m%05d", key);
        uint64_t what = sl_rand_below(&r, 100);
        if (what < 45) {
            model_val mv = {(int)sl_rand_below(&r, 600), (uint32_t)op};
            model_bytes(key, mv, buf);
            sl_status rc =
                state_store_put(st, STATE_CF_PENDING, k, strlen(k), buf, (size_t)mv.len, NULL);
            if (rc == SL_ERR_LIMIT) {
                assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
                memcpy(committed, cur, sizeof cur);
                checkpoints++;
                rc = state_store_put(st, STATE_CF_PENDING, k, strlen(k), buf, (size_t)mv.len, NULL);
            }
            assert_int_equal(rc, SL_OK);
            cur[key] = mv;
        } else if (what < 65) {
            /* update: in place, growing or shrinking; the old prefix stays */
            model_val mv = {(int)sl_rand_below(&r, 600), (uint32_t)op};
            void *v = NULL;
            size_t old = 0;
            sl_status rc = state_store_update(st, STATE_CF_PENDING, k, strlen(k), (size_t)mv.len,
                                              &v, &old, NULL);
            if (rc == SL_ERR_LIMIT) {
                assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
                memcpy(committed, cur, sizeof cur);
                checkpoints++;
                rc = state_store_update(st, STATE_CF_PENDING, k, strlen(k), (size_t)mv.len, &v,
                                        &old, NULL);
            }
            assert_int_equal(rc, SL_OK);
            if (cur[key].len < 0) {
                assert_true(old == STATE_STORE_ABSENT);
            } else {
                assert_int_equal(old, (size_t)cur[key].len);
                unsigned char exp[1024];
                model_bytes(key, cur[key], exp);
                size_t keep = old < (size_t)mv.len ? old : (size_t)mv.len;
                assert_memory_equal(v, exp, keep);
            }
            model_bytes(key, mv, buf);
            memcpy(v, buf, (size_t)mv.len);
            cur[key] = mv;
        } else if (what < 70) {
            sl_status rc = state_store_delete(st, STATE_CF_PENDING, k, strlen(k), NULL);
            if (rc == SL_ERR_LIMIT) {
                assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
                memcpy(committed, cur, sizeof cur);
                checkpoints++;
                rc = state_store_delete(st, STATE_CF_PENDING, k, strlen(k), NULL);
            }
            assert_int_equal(rc, SL_OK);
            cur[key].len = -1;
        } else if (what < 99) {
            size_t n = 0;
            sl_status rc =
                state_store_get(st, STATE_CF_PENDING, k, strlen(k), buf, sizeof buf, &n, NULL);
            if (cur[key].len < 0) {
                assert_int_equal(rc, SL_ERR_NOT_FOUND);
            } else {
                assert_int_equal(rc, SL_OK);
                assert_int_equal(n, (size_t)cur[key].len);
                unsigned char exp[1024];
                model_bytes(key, cur[key], exp);
                assert_memory_equal(buf, exp, n);
            }
        } else if (state_store_want_checkpoint(st) || sl_rand_below(&r, 4) == 0) {
            assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
            memcpy(committed, cur, sizeof cur);
            checkpoints++;
        }
    }
    model_check(st, cur);
    state_store_stats s;
    state_store_stats_get(st, &s);
    assert_true(s.compactions > 10);
    assert_true(checkpoints > 10);
    assert_true(s.cache_held <= (1 << 20));
    state_store_close(st); /* drops the writes since the last checkpoint */
    st = open_store(dir, 1 << 20);
    model_check(st, committed);
    state_store_close(st);
    test_rm_rf(dir);
}

/* ------------------------------------------------------------- update */

static void test_update_in_place(void **state) {
    (void)state;
    char dir[512];
    make_tmpdir_(dir, sizeof dir);
    state_store *st = open_store(dir, 4 << 20);
    void *v = NULL;
    size_t old = 0;
    /* Absent: zeros. */
    assert_int_equal(state_store_update(st, STATE_CF_FEATURES, "u:1", 3, 8, &v, &old, NULL), SL_OK);
    assert_true(old == STATE_STORE_ABSENT);
    assert_memory_equal(v, "\0\0\0\0\0\0\0\0", 8);
    memcpy(v, "abcdefgh", 8);
    expect(st, STATE_CF_FEATURES, "u:1", "abcdefgh");
    /* Again: the same bytes, in place. */
    assert_int_equal(state_store_update(st, STATE_CF_FEATURES, "u:1", 3, 8, &v, &old, NULL), SL_OK);
    assert_int_equal(old, 8);
    assert_memory_equal(v, "abcdefgh", 8);
    /* Shrink then grow: the kept prefix survives, the new tail is zero. */
    assert_int_equal(state_store_update(st, STATE_CF_FEATURES, "u:1", 3, 3, &v, &old, NULL), SL_OK);
    assert_memory_equal(v, "abc", 3);
    assert_int_equal(state_store_update(st, STATE_CF_FEATURES, "u:1", 3, 100, &v, &old, NULL),
                     SL_OK);
    assert_int_equal(old, 3);
    assert_memory_equal(v, "abc\0\0", 5);
    memcpy(v, "grown", 5);
    assert_int_equal(state_store_update(st, STATE_CF_FEATURES, "u:1", 3, 5, &v, &old, NULL), SL_OK);
    /* Deleted reads as absent. */
    put_s(st, STATE_CF_FEATURES, "u:2", "two");
    del_s(st, STATE_CF_FEATURES, "u:2");
    assert_int_equal(state_store_update(st, STATE_CF_FEATURES, "u:2", 3, 4, &v, &old, NULL), SL_OK);
    assert_true(old == STATE_STORE_ABSENT);
    memcpy(v, "TWO!", 4);
    put_s(st, STATE_CF_FEATURES, "u:3", "three");
    assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
    state_store_close(st);
    /* From RocksDB after a reopen: loaded, then changed and committed. */
    st = open_store(dir, 4 << 20);
    assert_int_equal(state_store_update(st, STATE_CF_FEATURES, "u:3", 3, 5, &v, &old, NULL), SL_OK);
    assert_int_equal(old, 5);
    assert_memory_equal(v, "three", 5);
    memcpy(v, "THREE", 5);
    expect(st, STATE_CF_FEATURES, "u:1", "grown");
    expect(st, STATE_CF_FEATURES, "u:2", "TWO!");
    assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
    state_store_close(st);
    st = open_store(dir, 4 << 20);
    expect(st, STATE_CF_FEATURES, "u:3", "THREE");
    sl_err err = {{0}};
    assert_int_equal(state_store_update(st, STATE_CF_META, STATE_META_CHECKPOINT,
                                        strlen(STATE_META_CHECKPOINT), 4, &v, &old, &err),
                     SL_ERR_INVALID);
    state_store_close(st);
    test_rm_rf(dir);
}

/* ---------------------------------------------------------------- scan */

typedef struct scan_out {
    char text[4096]; /* "key=value;" ... */
    int stop_after;  /* stop after this many (0 = never) */
    int n;           /* calls */
    state_store *st; /* to check re-entry is refused */
} scan_out;

static bool scan_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    scan_out *o = ctx;
    size_t len = strlen(o->text);
    snprintf(o->text + len, sizeof o->text - len, "%.*s=%.*s;", (int)klen, (const char *)key,
             (int)vlen, (const char *)val);
    char buf[8];
    size_t n;
    assert_int_equal(state_store_get(o->st, STATE_CF_FEATURES, "x", 1, buf, sizeof buf, &n, NULL),
                     SL_ERR_INVALID);
    o->n++;
    return !(o->stop_after && o->n >= o->stop_after);
}

static void test_scan_merges_cache_and_rocksdb(void **state) {
    (void)state;
    state_store *st = open_store(NULL, 4 << 20);
    put_s(st, STATE_CF_FEATURES, "u:7:a", "1");
    put_s(st, STATE_CF_FEATURES, "u:7:c", "3");
    put_s(st, STATE_CF_FEATURES, "u:7:e", "5");
    put_s(st, STATE_CF_FEATURES, "u:8:a", "other user");
    put_s(st, STATE_CF_FEATURES, "u:7", "shorter key, same prefix");
    put_s(st, STATE_CF_PROFILES, "u:7:b", "other family");
    assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
    put_s(st, STATE_CF_FEATURES, "u:7:b", "2");  /* cache only */
    put_s(st, STATE_CF_FEATURES, "u:7:c", "33"); /* cache over RocksDB */
    del_s(st, STATE_CF_FEATURES, "u:7:e");       /* tombstone over RocksDB */
    put_s(st, STATE_CF_FEATURES, "u:7:f", "6");
    del_s(st, STATE_CF_FEATURES, "u:7:f"); /* never committed, deleted */

    scan_out o = {.st = st};
    assert_int_equal(state_store_scan(st, STATE_CF_FEATURES, "u:7", 3, scan_cb, &o, NULL), SL_OK);
    assert_string_equal(o.text, "u:7=shorter key, same prefix;u:7:a=1;u:7:b=2;u:7:c=33;");
    memset(&o, 0, sizeof o);
    o.st = st;
    o.stop_after = 2;
    assert_int_equal(state_store_scan(st, STATE_CF_FEATURES, "u:7:", 4, scan_cb, &o, NULL), SL_OK);
    assert_string_equal(o.text, "u:7:a=1;u:7:b=2;");
    memset(&o, 0, sizeof o);
    o.st = st;
    assert_int_equal(state_store_scan(st, STATE_CF_FEATURES, "", 0, scan_cb, &o, NULL), SL_OK);
    assert_int_equal(o.n, 5);
    /* After the scan the store works again. */
    expect(st, STATE_CF_FEATURES, "u:7:c", "33");
    state_store_close(st);
}

/* --------------------------------------------------------------- sweep */

#define T0 INT64_C(1767225600000)

typedef struct sweep_ctx {
    state_decay_spec spec; /* half-lives of the values */
    int64_t now;           /* event time of the sweep (the watermark) */
    int calls;             /* keys asked about */
} sweep_ctx;

static bool decayed(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    (void)key;
    (void)klen;
    sweep_ctx *c = ctx;
    c->calls++;
    assert_int_equal(vlen, STATE_DECAY_BYTES(c->spec.n));
    state_decay d;
    state_decay_decode(val, c->spec.n, &d);
    return state_decay_negligible(&d, &c->spec, c->now, 1e-6);
}

static void put_decay(state_store *st, const sweep_ctx *c, const char *k, int64_t t, double x) {
    state_decay d;
    state_decay_init(&d);
    assert_int_equal(state_decay_add(&d, &c->spec, t, x), SL_OK);
    unsigned char buf[STATE_DECAY_BYTES(STATE_DECAY_MAX_HL)];
    state_decay_encode(&d, c->spec.n, buf);
    assert_int_equal(state_store_put(st, STATE_CF_FEATURES, k, strlen(k), buf,
                                     STATE_DECAY_BYTES(c->spec.n), NULL),
                     SL_OK);
}

static void test_sweep_removes_decayed(void **state) {
    (void)state;
    char dir[512];
    make_tmpdir_(dir, sizeof dir);
    state_store *st = open_store(dir, 4 << 20);
    sweep_ctx c = {.now = T0 + 100 * INT64_C(3600000)}; /* 100 h later */
    const int64_t hl[2] = {60000, 3600000};             /* a minute, an hour */
    assert_int_equal(state_decay_spec_init(&c.spec, hl, 2, NULL), SL_OK);
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "u:%04d", i);
        /* Even keys last saw an event 100 h ago (2^-100 left); odd ones an
         * hour ago (1/2 left at the long half-life). */
        put_decay(st, &c, k, i % 2 ? c.now - 3600000 : T0, 1.0);
    }
    assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
    /* A decayed key refreshed since the checkpoint: the sweep must judge
     * the cache's value, not RocksDB's. */
    put_decay(st, &c, "u:0000", c.now, 1.0);

    size_t total = 0, steps = 0, deleted = 0;
    bool wrapped = false;
    while (!wrapped) {
        assert_int_equal(
            state_store_sweep(st, STATE_CF_FEATURES, 64, decayed, &c, &deleted, &wrapped, NULL),
            SL_OK);
        total += deleted;
        steps++;
    }
    assert_int_equal(steps, 16); /* 1000 keys, 64 per step: bounded work per call */
    assert_int_equal(c.calls, 1000);
    assert_int_equal(total, 499);
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "u:%04d", i);
        char buf[64];
        size_t n;
        sl_status rc =
            state_store_get(st, STATE_CF_FEATURES, k, strlen(k), buf, sizeof buf, &n, NULL);
        assert_int_equal(rc, (i % 2 || i == 0) ? SL_OK : SL_ERR_NOT_FOUND);
    }
    /* The deletions commit with the next checkpoint and survive a reopen;
     * a second pass finds nothing more to delete. */
    assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
    state_store_close(st);
    st = open_store(dir, 4 << 20);
    c.calls = 0;
    total = 0;
    wrapped = false;
    while (!wrapped) {
        assert_int_equal(
            state_store_sweep(st, STATE_CF_FEATURES, 1000, decayed, &c, &deleted, &wrapped, NULL),
            SL_OK);
        total += deleted;
    }
    assert_int_equal(c.calls, 501);
    assert_int_equal(total, 0);
    assert_int_equal(state_store_sweep(st, STATE_CF_META, 10, decayed, &c, NULL, NULL, NULL),
                     SL_ERR_INVALID);
    state_store_close(st);
    test_rm_rf(dir);
}

/* ------------------------------------------- the checkpoint in flight */

/* A checkpoint's write on its own thread, as the engine does it. */
typedef struct flight {
    pthread_t th;   /* runs flight_main */
    state_ckpt *ck; /* begun */
    sl_status rc;   /* what the write returned */
    bool running;   /* th was started and not joined */
} flight;

static void *flight_main(void *arg) {
    flight *f = arg;
    f->rc = state_store_checkpoint_write(f->ck, NULL);
    return NULL;
}

static void flight_begin(flight *f, state_store *st, const char *offsets) {
    sl_err err = {{0}};
    size_t n = offsets ? strlen(offsets) : 0;
    if (state_store_checkpoint_begin(st, offsets, n, &f->ck, &err))
        fail_msg("checkpoint_begin: %s", err.msg);
    assert_true(state_store_checkpoint_in_flight(st));
    assert_int_equal(pthread_create(&f->th, NULL, flight_main, f), 0);
    f->running = true;
}

/* Joins the writer and finishes; returns finish's status. */
static sl_status flight_end(flight *f, state_store *st, uint64_t *id) {
    if (f->running)
        assert_int_equal(pthread_join(f->th, NULL), 0);
    f->running = false;
    sl_status rc = state_store_checkpoint_finish(st, f->ck, id, NULL);
    f->ck = NULL;
    assert_false(state_store_checkpoint_in_flight(st));
    return rc;
}

/* While a checkpoint's write runs on another thread, reads see the newest
 * values (the ones in flight, and ones written after begin), writes go on,
 * and the checkpoint holds exactly the state at begin. */
static void test_async_reads_newest(void **state) {
    (void)state;
    char dir[512], k[32], v[64];
    make_tmpdir_(dir, sizeof dir);
    state_store *st = open_store(dir, 8 << 20);
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        put_s(st, STATE_CF_FEATURES, k, "c1");
    }
    assert_int_equal(state_store_checkpoint(st, "one", 3, NULL, NULL), SL_OK);
    /* Checkpoint 2: every key rewritten, a third deleted. */
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        if (i % 3 == 0)
            del_s(st, STATE_CF_FEATURES, k);
        else
            put_s(st, STATE_CF_FEATURES, k, "c2");
    }
    flight f = {0};
    flight_begin(&f, st, "two");
    assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_ERR_INVALID);
    state_ckpt *other = NULL;
    assert_int_equal(state_store_checkpoint_begin(st, NULL, 0, &other, NULL), SL_ERR_INVALID);
    uint64_t id = 0;
    state_store_last_checkpoint(st, &id, NULL, NULL);
    assert_int_equal(id, 1); /* not before finish */
    /* Concurrently with the write: reads, rewrites of half the keys in
     * flight (in place and growing), new keys. */
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 3000; i++) {
            snprintf(k, sizeof k, "k%d", i);
            if (i % 2 == 0 && round == 1) {
                snprintf(v, sizeof v, i % 4 ? "c3" : "c3, longer than its entry: moved");
                put_s(st, STATE_CF_FEATURES, k, v);
            }
            const char *want = i % 2 == 0 && round >= 1 ? (i % 4 ? "c3" : "c3, longer than its entry: moved")
                               : i % 3 == 0         ? NULL
                                                    : "c2";
            expect(st, STATE_CF_FEATURES, k, want);
        }
    put_s(st, STATE_CF_PROFILES, "new", "after begin");
    state_store_stats s;
    state_store_stats_get(st, &s);
    assert_int_equal(s.misses, 0); /* every read came from the cache */
    assert_true(s.pinned_bytes > 0);
    assert_int_equal(flight_end(&f, st, &id), SL_OK);
    assert_int_equal(id, 2);
    const void *off = NULL;
    size_t off_len = 0;
    state_store_last_checkpoint(st, &id, &off, &off_len);
    assert_int_equal(id, 2);
    assert_int_equal(off_len, 3);
    assert_memory_equal(off, "two", 3);
    state_store_stats_get(st, &s);
    assert_int_equal(s.last_checkpoint_keys, 3000);
    assert_int_equal(s.dirty, 1500 + 1); /* rewritten in flight, and "new" */
    state_store_close(st); /* drops the writes after begin */
    st = open_store(dir, 8 << 20);
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        expect(st, STATE_CF_FEATURES, k, i % 3 == 0 ? NULL : "c2");
    }
    expect(st, STATE_CF_PROFILES, "new", NULL);
    state_store_close(st);
    test_rm_rf(dir);
}

/* Cache pressure with clean entries: n reads of absent keys, each cached
 * as known-absent (100 k are several 1 MiB caches' worth). Asserts that
 * slabs were compacted and the cap held; *after (OUT:) the stats then. */
static void press_absent(state_store *st, int n, size_t cap, state_store_stats *after) {
    char k[32];
    state_store_stats s0;
    state_store_stats_get(st, &s0);
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "absent-%d", i);
        expect(st, STATE_CF_PENDING, k, NULL);
    }
    state_store_stats_get(st, after);
    assert_true(after->compactions > s0.compactions + 5);
    assert_true(after->cache_held <= cap);
}

/* Entries in flight are clean but pinned: cache pressure (compactions that
 * drop clean entries) must keep them, or a read would fetch the older
 * committed value from RocksDB. Once the cap is full of pinned and dirty
 * data, writes are refused, and the finish gives the room back. */
static void test_async_pressure_keeps_pinned(void **state) {
    (void)state;
    const size_t cap = 1 << 20;
    char dir[512], k[32], v[200];
    make_tmpdir_(dir, sizeof dir);
    state_store *st = open_store(dir, cap);
    memset(v, 'o', 150);
    v[150] = '\0';
    for (int i = 0; i < 2000; i++) { /* ~400 KiB committed as "ooo..." */
        snprintf(k, sizeof k, "p%04d", i);
        put_s(st, STATE_CF_PENDING, k, v);
    }
    assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
    memset(v, 'n', 150);
    for (int i = 0; i < 2000; i++) { /* the same keys, newer, in place */
        snprintf(k, sizeof k, "p%04d", i);
        put_s(st, STATE_CF_PENDING, k, v);
    }
    state_ckpt *ck = NULL;
    assert_int_equal(state_store_checkpoint_begin(st, NULL, 0, &ck, NULL), SL_OK);
    state_store_stats s;
    press_absent(st, 100000, cap, &s);
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "p%04d", i);
        expect(st, STATE_CF_PENDING, k, v);
    }
    state_store_stats s2;
    state_store_stats_get(st, &s2);
    assert_int_equal(s2.misses, s.misses); /* none of them came from RocksDB */
    /* Now dirty data on top of the pinned: the store asks to wait, then
     * refuses. */
    bool wanted = false;
    int refused_at = -1;
    char big[200];
    memset(big, 'd', 199);
    big[199] = '\0';
    for (int i = 0; i < 10000 && refused_at < 0; i++) {
        wanted = wanted || state_store_want_checkpoint(st);
        snprintf(k, sizeof k, "d%05d", i);
        if (state_store_put(st, STATE_CF_PENDING, k, strlen(k), big, strlen(big), NULL) ==
            SL_ERR_LIMIT)
            refused_at = i;
    }
    assert_true(wanted);
    assert_true(refused_at > 0);
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "p%04d", i);
        expect(st, STATE_CF_PENDING, k, v);
    }
    /* The write lands: the pinned entries may go, and the refused put fits
     * once a checkpoint of the dirty ones is done too. */
    assert_int_equal(state_store_checkpoint_write(ck, NULL), SL_OK);
    assert_int_equal(state_store_checkpoint_finish(st, ck, NULL, NULL), SL_OK);
    assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
    snprintf(k, sizeof k, "d%05d", refused_at);
    assert_int_equal(state_store_put(st, STATE_CF_PENDING, k, strlen(k), big, strlen(big), NULL),
                     SL_OK);
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "p%04d", i);
        expect(st, STATE_CF_PENDING, k, v);
    }
    state_store_close(st);
    st = open_store(dir, cap);
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "p%04d", i);
        expect(st, STATE_CF_PENDING, k, v);
    }
    state_store_close(st);
    test_rm_rf(dir);
}

/* The checkpoint copies nothing at begin: it writes the pinned entries'
 * bytes from the slabs. So while it is in flight, a write to a pinned
 * entry (put of any size, delete, update in place) makes a new entry and
 * compaction moves nothing pinned, and the write, run only after all of
 * that, still holds exactly the values at begin. */
static void test_async_copy_on_write(void **state) {
    (void)state;
    const size_t cap = 1 << 20;
    char dir[512], k[32], v[200], w[200];
    make_tmpdir_(dir, sizeof dir);
    state_store *st = open_store(dir, cap);
    for (int i = 0; i < 1500; i++) { /* ~300 KiB, spread over several slabs */
        snprintf(k, sizeof k, "p%04d", i);
        snprintf(v, sizeof v, "begin-%04d-%0120d", i, i);
        put_s(st, STATE_CF_PENDING, k, v);
    }
    state_ckpt *ck = NULL;
    assert_int_equal(state_store_checkpoint_begin(st, "cow", 3, &ck, NULL), SL_OK);
    /* Every pinned key written again: the same size (in place before),
     * shorter, longer, deleted, or updated through update(). */
    int copies = 0;
    for (int i = 0; i < 1500; i++) {
        snprintf(k, sizeof k, "p%04d", i);
        snprintf(w, sizeof w, "after-%04d-%0120d", i, i);
        switch (i % 5) {
        case 0: put_s(st, STATE_CF_PENDING, k, w); break;
        case 1: put_s(st, STATE_CF_PENDING, k, "short"); break;
        case 2: strcat(w, "-and-longer-than-its-entry"); put_s(st, STATE_CF_PENDING, k, w); break;
        case 3: del_s(st, STATE_CF_PENDING, k); break;
        default: {
            void *val = NULL;
            size_t old = 0;
            assert_int_equal(state_store_update(st, STATE_CF_PENDING, k, strlen(k), 5, &val,
                                                &old, NULL),
                             SL_OK);
            assert_int_equal(old, 131);
            memcpy(val, "UPD", 3); /* "UPDin": the old first 5 bytes, 3 of them new */
        }
        }
        copies++;
    }
    /* Pressure: several caches' worth of known-absent keys compacts every
     * slab, around the pinned entries. */
    state_store_stats s;
    press_absent(st, 60000, cap, &s);
    assert_int_equal(s.pinned_copies, (uint64_t)copies);
    /* The cache answers with the newest values. */
    for (int i = 0; i < 1500; i++) {
        snprintf(k, sizeof k, "p%04d", i);
        snprintf(w, sizeof w, "after-%04d-%0120d", i, i);
        if (i % 5 == 2)
            strcat(w, "-and-longer-than-its-entry");
        expect(st, STATE_CF_PENDING, k,
               i % 5 == 0 || i % 5 == 2 ? w
               : i % 5 == 1             ? "short"
               : i % 5 == 3             ? NULL
                                        : "UPDin");
    }
    /* Only now the write: it reads the pinned bytes, untouched. */
    assert_int_equal(state_store_checkpoint_write(ck, NULL), SL_OK);
    assert_int_equal(state_store_checkpoint_finish(st, ck, NULL, NULL), SL_OK);
    state_store_close(st); /* drops every write after begin */
    st = open_store(dir, cap);
    for (int i = 0; i < 1500; i++) {
        snprintf(k, sizeof k, "p%04d", i);
        snprintf(v, sizeof v, "begin-%04d-%0120d", i, i);
        expect(st, STATE_CF_PENDING, k, v);
    }
    state_store_close(st);
    test_rm_rf(dir);
}

/* Keys rewritten again and again between checkpoints, each time longer
 * (every rewrite a new entry, the old one dead): the checkpoint writes
 * each key once, with its last value, and a dirty entry's place in the
 * store's bookkeeping survives both its moves and the others' deaths. */
static void test_rewrites_between_checkpoints(void **state) {
    (void)state;
    char dir[512], k[32], v[2048];
    make_tmpdir_(dir, sizeof dir);
    state_store *st = open_store(dir, 2 << 20);
    for (int round = 0; round < 3; round++) {
        for (int n = 1; n <= 1200; n++)
            for (int i = 0; i < 10; i++) {
                snprintf(k, sizeof k, "g%d", i);
                memset(v, 'a' + (char)((n + i) % 26), (size_t)n);
                v[n] = '\0';
                put_s(st, STATE_CF_PROFILES, k, v);
            }
        state_store_stats s;
        state_store_stats_get(st, &s);
        assert_int_equal(s.dirty, 10);
        assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
        state_store_stats_get(st, &s);
        assert_int_equal(s.last_checkpoint_keys, 10);
        assert_int_equal(s.dirty, 0);
    }
    state_store_close(st);
    st = open_store(dir, 2 << 20);
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof k, "g%d", i);
        memset(v, 'a' + (char)((1200 + i) % 26), 1200);
        v[1200] = '\0';
        expect(st, STATE_CF_PROFILES, k, v);
    }
    state_store_close(st);
    test_rm_rf(dir);
}

/* A prefetch reads every key the cache lacks in one batched read per
 * family and caches it (value or absence), so the gets that follow are
 * hits with the same answers as before; keys already cached (a newer dirty
 * value among them) are left alone, repeats are read once, and a key too
 * long is skipped. */
static void test_prefetch(void **state) {
    (void)state;
    char dir[512], k[32], v[64];
    make_tmpdir_(dir, sizeof dir);
    state_store *st = open_store(dir, 4 << 20);
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "value-%d", i);
        put_s(st, STATE_CF_FEATURES, k, v);
        if (i < 50) {
            snprintf(k, sizeof k, "p%d", i);
            put_s(st, STATE_CF_PROFILES, k, v);
        }
    }
    assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
    for (int i = 0; i < 1000; i += 10) {
        snprintf(k, sizeof k, "k%d", i);
        del_s(st, STATE_CF_FEATURES, k);
    }
    assert_int_equal(state_store_checkpoint(st, NULL, 0, NULL, NULL), SL_OK);
    state_store_close(st);
    st = open_store(dir, 4 << 20); /* a cold cache */
    put_s(st, STATE_CF_FEATURES, "k5", "newer, dirty");
    static char keys[2200][32];
    static unsigned char toolong[STATE_STORE_MAX_KEY + 1];
    state_key list[2300];
    size_t n = 0;
    for (int i = 0; i < 1100; i++) { /* k1000..k1099 were never written */
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        list[n++] = (state_key){STATE_CF_FEATURES, (uint32_t)strlen(keys[i]),
                                (const unsigned char *)keys[i]};
    }
    for (int i = 0; i < 1000; i++) /* every one again */
        list[n++] = list[i];
    for (int i = 0; i < 60; i++) { /* p50..p59 were never written */
        snprintf(keys[1100 + i], sizeof keys[0], "p%d", i);
        list[n++] = (state_key){STATE_CF_PROFILES, (uint32_t)strlen(keys[1100 + i]),
                                (const unsigned char *)keys[1100 + i]};
    }
    memset(toolong, 'x', sizeof toolong);
    list[n++] = (state_key){STATE_CF_FEATURES, (uint32_t)sizeof toolong, toolong};
    state_store_prefetch(st, list, n);
    state_store_stats s;
    state_store_stats_get(st, &s);
    assert_int_equal(s.prefetched, 1099 + 60); /* all but k5, each once */
    assert_int_equal(s.misses, 0);
    for (int i = 0; i < 1100; i++) {
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "value-%d", i);
        const char *want = i == 5 ? "newer, dirty" : i % 10 == 0 || i >= 1000 ? NULL : v;
        expect(st, STATE_CF_FEATURES, k, want);
    }
    for (int i = 0; i < 60; i++) {
        snprintf(k, sizeof k, "p%d", i);
        snprintf(v, sizeof v, "value-%d", i);
        expect(st, STATE_CF_PROFILES, k, i < 50 ? v : NULL);
    }
    state_store_stats_get(st, &s);
    assert_int_equal(s.misses, 0); /* every get above was a hit */
    state_store_prefetch(st, list, n); /* all cached now: nothing read */
    state_store_stats_get(st, &s);
    assert_int_equal(s.prefetched, 1099 + 60);
    state_store_close(st);
    test_rm_rf(dir);
}

/* A write that fails (injected) or never runs leaves RocksDB at the
 * previous checkpoint, the id where it was, and the entries dirty again
 * (or newer, if rewritten meanwhile), so the next checkpoint writes them. */
static void test_async_failed_write(void **state) {
    (void)state;
    char dir[512];
    make_tmpdir_(dir, sizeof dir);
    state_store *st = open_store(dir, 8 << 20);
    put_s(st, STATE_CF_FEATURES, "a", "1");
    put_s(st, STATE_CF_FEATURES, "gone", "1");
    assert_int_equal(state_store_checkpoint(st, "one", 3, NULL, NULL), SL_OK);

    put_s(st, STATE_CF_FEATURES, "a", "2");
    put_s(st, STATE_CF_FEATURES, "b", "2");
    del_s(st, STATE_CF_FEATURES, "gone");
    state_store__fail_next_write(st);
    flight f = {0};
    flight_begin(&f, st, "two");
    put_s(st, STATE_CF_FEATURES, "b", "3"); /* rewritten in flight */
    uint64_t id = 0;
    sl_err err = {{0}};
    assert_int_equal(pthread_join(f.th, NULL), 0);
    f.running = false;
    assert_int_equal(f.rc, SL_ERR_STATE);
    assert_int_equal(state_store_checkpoint_finish(st, f.ck, &id, &err), SL_ERR_STATE);
    assert_non_null(strstr(err.msg, "injected"));
    assert_non_null(strstr(err.msg, dir));
    state_store_stats s;
    state_store_stats_get(st, &s);
    assert_int_equal(s.dirty, 3);
    assert_int_equal(s.checkpoint_id, 1);
    expect(st, STATE_CF_FEATURES, "a", "2");
    expect(st, STATE_CF_FEATURES, "b", "3");
    expect(st, STATE_CF_FEATURES, "gone", NULL);

    /* Abandoned: finished without a write. */
    state_ckpt *ck = NULL;
    assert_int_equal(state_store_checkpoint_begin(st, "two", 3, &ck, NULL), SL_OK);
    assert_int_equal(state_store_checkpoint_finish(st, ck, &id, &err), SL_ERR_STOPPED);
    state_store_stats_get(st, &s);
    assert_int_equal(s.dirty, 3);

    /* RocksDB is still at checkpoint 1. */
    state_store_close(st);
    st = open_store(dir, 8 << 20);
    const void *off = NULL;
    size_t off_len = 0;
    state_store_last_checkpoint(st, &id, &off, &off_len);
    assert_int_equal(id, 1);
    assert_memory_equal(off, "one", 3);
    expect(st, STATE_CF_FEATURES, "a", "1");
    expect(st, STATE_CF_FEATURES, "b", NULL);
    expect(st, STATE_CF_FEATURES, "gone", "1");

    /* The retry after a failure writes what the failed one carried. */
    put_s(st, STATE_CF_FEATURES, "a", "2");
    put_s(st, STATE_CF_FEATURES, "b", "2");
    del_s(st, STATE_CF_FEATURES, "gone");
    state_store__fail_next_write(st);
    assert_int_equal(state_store_checkpoint(st, "two", 3, &id, &err), SL_ERR_STATE);
    assert_int_equal(state_store_checkpoint(st, "two", 3, &id, &err), SL_OK);
    assert_int_equal(id, 2);
    state_store_close(st);
    st = open_store(dir, 8 << 20);
    expect(st, STATE_CF_FEATURES, "a", "2");
    expect(st, STATE_CF_FEATURES, "b", "2");
    expect(st, STATE_CF_FEATURES, "gone", NULL);
    state_store_close(st);
    test_rm_rf(dir);
}

/* Close with a checkpoint in flight: before its write, RocksDB keeps the
 * previous checkpoint; after it (not finished), the new one. Either way a
 * whole checkpoint, and nothing leaks (ASan). */
static void test_async_close_in_flight(void **state) {
    (void)state;
    char dir[512];
    make_tmpdir_(dir, sizeof dir);
    state_store *st = open_store(dir, 8 << 20);
    put_s(st, STATE_CF_FEATURES, "a", "1");
    assert_int_equal(state_store_checkpoint(st, "one", 3, NULL, NULL), SL_OK);
    put_s(st, STATE_CF_FEATURES, "a", "2");
    state_ckpt *ck = NULL;
    assert_int_equal(state_store_checkpoint_begin(st, "two", 3, &ck, NULL), SL_OK);
    state_store_close(st); /* never written */
    st = open_store(dir, 8 << 20);
    uint64_t id = 0;
    state_store_last_checkpoint(st, &id, NULL, NULL);
    assert_int_equal(id, 1);
    expect(st, STATE_CF_FEATURES, "a", "1");

    put_s(st, STATE_CF_FEATURES, "a", "2");
    assert_int_equal(state_store_checkpoint_begin(st, "two", 3, &ck, NULL), SL_OK);
    assert_int_equal(state_store_checkpoint_write(ck, NULL), SL_OK);
    state_store_close(st); /* written, not finished */
    st = open_store(dir, 8 << 20);
    const void *off = NULL;
    size_t off_len = 0;
    state_store_last_checkpoint(st, &id, &off, &off_len);
    assert_int_equal(id, 2);
    assert_memory_equal(off, "two", 3);
    expect(st, STATE_CF_FEATURES, "a", "2");
    state_store_close(st);
    test_rm_rf(dir);
}

/* A child checkpoints in a loop, each write on another thread while the
 * child keeps writing the next state, and is killed with SIGKILL at a
 * random moment. Every key of checkpoint c holds "c<c>" and the offsets
 * blob names c: the parent must find one whole checkpoint. */
#define CRASH_KEYS 4000
static void test_async_crash_any_moment(void **state) {
    (void)state;
    sl_rand r;
    sl_rand_seed(&r, 77);
    for (int run = 0; run < 4; run++) {
        char dir[512];
        make_tmpdir_(dir, sizeof dir);
        int ready[2]; /* the child says when checkpoint 1 is committed */
        assert_int_equal(pipe(ready), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(ready[0]);
            state_store *st = open_store(dir, 16 << 20);
            char k[32], v[32], off[32];
            for (int c = 1;; c++) {
                snprintf(v, sizeof v, "c%d", c);
                for (int i = 0; i < CRASH_KEYS; i++) {
                    snprintf(k, sizeof k, "k%05d", i);
                    if ((i + c) % 7 == 0)
                        del_s(st, STATE_CF_FEATURES, k);
                    else
                        put_s(st, STATE_CF_FEATURES, k, v);
                }
                snprintf(off, sizeof off, "%d", c);
                flight f = {0};
                flight_begin(&f, st, off);
                for (int i = 0; i < CRASH_KEYS; i += 3) { /* the next state, meanwhile */
                    snprintf(k, sizeof k, "k%05d", i);
                    put_s(st, STATE_CF_FEATURES, k, "uncommitted");
                }
                if (flight_end(&f, st, NULL) != SL_OK)
                    _exit(3);
                if (c == 1 && write(ready[1], "1", 1) != 1)
                    _exit(4);
            }
        }
        close(ready[1]);
        char one;
        assert_int_equal(read(ready[0], &one, 1), 1);
        close(ready[0]);
        usleep((useconds_t)sl_rand_below(&r, 400000));
        kill(pid, SIGKILL);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        state_store *st = open_store(dir, 16 << 20);
        uint64_t id = 0;
        const void *off = NULL;
        size_t off_len = 0;
        state_store_last_checkpoint(st, &id, &off, &off_len);
        assert_true(id >= 1);
        char want_off[32], k[32], v[32];
        snprintf(want_off, sizeof want_off, "%llu", (unsigned long long)id);
        assert_int_equal(off_len, strlen(want_off));
        assert_memory_equal(off, want_off, off_len);
        snprintf(v, sizeof v, "c%llu", (unsigned long long)id);
        for (int i = 0; i < CRASH_KEYS; i++) {
            snprintf(k, sizeof k, "k%05d", i);
            expect(st, STATE_CF_FEATURES, k, (i + (int)id) % 7 == 0 ? NULL : v);
        }
        state_store_close(st);
        test_rm_rf(dir);
    }
}

/* The random workload of test_random_vs_model with checkpoints in flight:
 * each write runs on a thread for a random number of operations, 1 in 10
 * fails, and a few are abandoned. The cache matches the model throughout,
 * RocksDB matches the last committed snapshot. */
static void test_async_random_vs_model(void **state) {
    (void)state;
    char dir[512];
    make_tmpdir_(dir, sizeof dir);
    state_store *st = open_store(dir, 1 << 20);
    static model_val cur[MODEL_KEYS], committed[MODEL_KEYS], inflight[MODEL_KEYS];
    for (int i = 0; i < MODEL_KEYS; i++)
        cur[i] = committed[i] = (model_val){-1, 0};
    sl_rand r;
    sl_rand_seed(&r, 4202);
    unsigned char buf[1024];
    flight f = {0};
    int ends_at = 0, committed_n = 0, failed_n = 0;
    for (int op = 0; op < 150000; op++) {
        if (f.ck && op >= ends_at) {
            sl_status rc = flight_end(&f, st, NULL);
            if (rc == SL_OK) {
                memcpy(committed, inflight, sizeof inflight);
                committed_n++;
            } else {
                failed_n++;
            }
        }
        int key = (int)sl_rand_below(&r, MODEL_KEYS);
        char k[32];
        snprintf(k, sizeof k, "m%05d", key);
        uint64_t what = sl_rand_below(&r, 100);
        sl_status rc = SL_OK;
        if (what < 50) {
            model_val mv = {(int)sl_rand_below(&r, 600), (uint32_t)op};
            model_bytes(key, mv, buf);
            rc = state_store_put(st, STATE_CF_PENDING, k, strlen(k), buf, (size_t)mv.len, NULL);
            if (rc == SL_OK)
                cur[key] = mv;
        } else if (what < 55) {
            rc = state_store_delete(st, STATE_CF_PENDING, k, strlen(k), NULL);
            if (rc == SL_OK)
                cur[key].len = -1;
        } else if (what < 99) {
            size_t n = 0;
            rc = state_store_get(st, STATE_CF_PENDING, k, strlen(k), buf, sizeof buf, &n, NULL);
            if (cur[key].len < 0) {
                assert_int_equal(rc, SL_ERR_NOT_FOUND);
            } else {
                assert_int_equal(rc, SL_OK);
                assert_int_equal(n, (size_t)cur[key].len);
                unsigned char exp[1024];
                model_bytes(key, cur[key], exp);
                assert_memory_equal(buf, exp, n);
            }
            rc = SL_OK;
        }
        if (rc == SL_ERR_LIMIT) { /* full: end the one in flight (or one begun now) next */
            if (!f.ck) {
                memcpy(inflight, cur, sizeof cur);
                flight_begin(&f, st, NULL);
            }
            ends_at = op;
            continue;
        }
        assert_int_equal(rc, SL_OK);
        if (!f.ck && (what == 99 || state_store_want_checkpoint(st))) {
            if (sl_rand_below(&r, 10) == 0)
                state_store__fail_next_write(st);
            memcpy(inflight, cur, sizeof cur);
            if (sl_rand_below(&r, 50) == 0) { /* abandoned */
                state_ckpt *ck = NULL;
                assert_int_equal(state_store_checkpoint_begin(st, NULL, 0, &ck, NULL), SL_OK);
                assert_int_equal(state_store_checkpoint_finish(st, ck, NULL, NULL),
                                 SL_ERR_STOPPED);
                continue;
            }
            flight_begin(&f, st, NULL);
            ends_at = op + (int)sl_rand_below(&r, 400);
        }
    }
    if (f.ck && flight_end(&f, st, NULL) == SL_OK)
        memcpy(committed, inflight, sizeof inflight);
    model_check(st, cur);
    state_store_stats s;
    state_store_stats_get(st, &s);
    assert_true(s.compactions > 10);
    assert_true(committed_n > 10);
    assert_true(failed_n > 0);
    assert_true(s.cache_held <= (1 << 20));
    state_store_close(st);
    st = open_store(dir, 1 << 20);
    model_check(st, committed);
    state_store_close(st);
    test_rm_rf(dir);
}

/* --------------------------------------------------------------- errors */

static void test_rocksdb_errors(void **state) {
    (void)state;
    char dir[512], file[600];
    make_tmpdir_(dir, sizeof dir);
    snprintf(file, sizeof file, "%s/a-file", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);

    state_store_opts o;
    state_store_opts_default(&o);
    state_store *st = NULL;
    sl_err err = {{0}};
    o.dir = file;
    assert_int_equal(state_store_open(&o, &st, &err), SL_ERR_STATE);
    assert_null(st);
    assert_non_null(strstr(err.msg, file));
    assert_non_null(strstr(err.msg, "not a directory"));

    /* Under a file: mkdir fails. */
    char under[700];
    snprintf(under, sizeof under, "%s/sub", file);
    o.dir = under;
    assert_int_equal(state_store_open(&o, &st, &err), SL_ERR_STATE);
    assert_non_null(strstr(err.msg, under));

    /* RocksDB's own refusal: the directory is locked by an open store. */
    char db[600];
    snprintf(db, sizeof db, "%s/db", dir);
    state_store *first = open_store(db, 4 << 20);
    o.dir = db;
    memset(&err, 0, sizeof err);
    assert_int_equal(state_store_open(&o, &st, &err), SL_ERR_STATE);
    assert_null(st);
    assert_non_null(strstr(err.msg, db));
    assert_non_null(strstr(err.msg, "LOCK"));
    state_store_close(first);

    /* A read-only open of nothing, and a nonsense cap. */
    snprintf(db, sizeof db, "%s/nothing-here", dir);
    o.dir = db;
    o.read_only = true;
    assert_int_equal(state_store_open(&o, &st, &err), SL_ERR_STATE);
    assert_non_null(strstr(err.msg, db));
    o.read_only = false;
    o.cache_bytes = 1000;
    assert_int_equal(state_store_open(&o, &st, &err), SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "state.cache_mb"));
    test_rm_rf(dir);
}

static void test_opts_from_config(void **state) {
    (void)state;
    sl_config_state cs = {
        .dir = "some/dir", .cache_mb = 3, .block_cache_mb = 5, .write_buffer_mb = 7};
    state_store_opts o;
    state_store_opts_from_config(&o, &cs);
    assert_string_equal(o.dir, "some/dir");
    assert_int_equal(o.cache_bytes, (size_t)3 << 20);
    assert_int_equal(o.block_cache_bytes, (size_t)5 << 20);
    assert_int_equal(o.write_buffer_bytes, (size_t)7 << 20);
    assert_string_equal(state_cf_str(STATE_CF_GRAPH), "graph");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics_memory),
        cmocka_unit_test(test_basics_disk),
        cmocka_unit_test(test_checkpoint_reopen),
        cmocka_unit_test(test_big_checkpoints),
        cmocka_unit_test(test_crash_between_checkpoints),
        cmocka_unit_test(test_cache_cap),
        cmocka_unit_test(test_cache_evicts_slab_at_a_time),
        cmocka_unit_test(test_random_vs_model),
        cmocka_unit_test(test_update_in_place),
        cmocka_unit_test(test_scan_merges_cache_and_rocksdb),
        cmocka_unit_test(test_sweep_removes_decayed),
        cmocka_unit_test(test_async_reads_newest),
        cmocka_unit_test(test_async_pressure_keeps_pinned),
        cmocka_unit_test(test_async_copy_on_write),
        cmocka_unit_test(test_rewrites_between_checkpoints),
        cmocka_unit_test(test_prefetch),
        cmocka_unit_test(test_async_failed_write),
        cmocka_unit_test(test_async_close_in_flight),
        cmocka_unit_test(test_async_crash_any_moment),
        cmocka_unit_test(test_async_random_vs_model),
        cmocka_unit_test(test_rocksdb_errors),
        cmocka_unit_test(test_opts_from_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
