/*
 * bench_state.c — decayed-feature updates + reads per second through the
 * write-back cache and RocksDB (state_store), against the naive design of a
 * plain RocksDB get + put per event, on the same generated events in the
 * same run.
 *
 * The data: U users (default 1 M), each with one feature record of two
 * decayed aggregates (views, clicks) at two half-lives (1 h, 1 day): 48
 * bytes under a 9-byte key. Events pick a user Zipf(1)-like (a few hot
 * users, a long tail), are views (95 %) or clicks, 1 ms of event time
 * apart. Per event: read the record, compute the features a view would be
 * frozen with (smoothed CTR at both half-lives, age), add the event, write
 * the record back. Both designs start from the same state (every user
 * preloaded and committed, then the store reopened so the cache is cold).
 *
 * The cached run starts a checkpoint (one synced WriteBatch) every
 * --checkpoint-ms of wall time, default 1000, measured start to start, so
 * the time checkpoints take is inside the interval and inside the rate. The naive
 * run writes each put through RocksDB's WAL without sync (syncing each
 * event would be far slower still).
 *
 * Then the sweep: one pass over the features column family with a
 * "decayed to nothing" test at a late watermark, in steps of 10 000 keys.
 *
 * usage: bench_state [--users N] [--events N] [--naive-events N]
 *                    [--checkpoint-ms MS] [--cache-mb MB] [--dir DIR] [--copy]
 *
 * The cached run uses state_store_update (in place, one lookup); --copy
 * uses state_store_get + state_store_put instead.
 *
 * The naive baseline talks to RocksDB directly on purpose: it is the thing
 * being compared against and must not go through the code under test. The
 * RocksDB settings match state_store's defaults (64 MiB block cache, 32 MiB
 * write buffers, bloom filters, 512 open files).
 */
#include <dirent.h>
#include <math.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"
#include "sl_rand.h"
#include "state_decay.h"
#include "state_store.h"

#define T0        INT64_C(1767225600000)
#define REC_BYTES (2 * STATE_DECAY_BYTES(2)) /* views, clicks at two half-lives */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "bench_state: %s: %s\n", what, msg);
    exit(1);
}

typedef struct bench_ev {
    uint32_t user; /* user index */
    uint8_t click; /* 1 = click, 0 = view */
} bench_ev;

/* "u:" and seven digits, as snprintf("u:%07u") would write them but
 * without its cost, which is not the store's (the engine copies ids). */
static int key_of(uint32_t user, char *k) {
    k[0] = 'u';
    k[1] = ':';
    for (int i = 8; i >= 2; i--) {
        k[i] = (char)('0' + user % 10);
        user /= 10;
    }
    k[9] = '\0';
    return 9;
}

/* The per-event work both designs share: decode, read the features a view
 * would be frozen with, add the event, encode. Returns a checksum of the
 * features so the compiler cannot drop the reads (and both designs can be
 * compared: they must agree). */
static double apply(unsigned char *rec, bool found, const state_decay_spec *spec, const bench_ev *e,
                    int64_t t) {
    state_decay views, clicks;
    if (found) {
        state_decay_decode(rec, spec->n, &views);
        state_decay_decode(rec + STATE_DECAY_BYTES(2), spec->n, &clicks);
    } else {
        state_decay_init(&views);
        state_decay_init(&clicks);
    }
    double f = 0;
    for (int i = 0; i < spec->n; i++)
        f += state_decay_ratio(&clicks, &views, spec, i, t, 1.0, 49.0);
    f += (double)state_decay_age_ms(&views, t) * 1e-9;
    (void)state_decay_add(e->click ? &clicks : &views, spec, t, 1.0);
    state_decay_encode(&views, spec->n, rec);
    state_decay_encode(&clicks, spec->n, rec + STATE_DECAY_BYTES(2));
    return f;
}

/* ------------------------------------------------------- the cached path */

typedef struct run_stats {
    double seconds;      /* wall time of the events, checkpoints included */
    double rate;         /* events per second */
    double checksum;     /* sum of the features read */
    double checksum_at;  /* ... after the first check_at events */
    double half_s;       /* wall time of the first half of the events */
    int checkpoints;     /* checkpoints taken during the run */
    double ckpt_total_s; /* time spent in them */
    double ckpt_max_s;   /* the longest */
    uint64_t ckpt_keys;  /* keys they wrote */
} run_stats;

static state_store *store_open(const char *dir, size_t cache_mb) {
    state_store_opts o;
    state_store_opts_default(&o);
    o.dir = dir;
    o.cache_bytes = cache_mb << 20;
    state_store *st = NULL;
    sl_err err = {{0}};
    if (state_store_open(&o, &st, &err))
        die("open", err.msg);
    return st;
}

static void store_checkpoint(state_store *st, uint64_t offset, run_stats *rs) {
    unsigned char off[8];
    for (int i = 0; i < 8; i++)
        off[i] = (unsigned char)(offset >> (8 * i));
    sl_err err = {{0}};
    double t0 = now_s();
    if (state_store_checkpoint(st, off, sizeof off, NULL, &err))
        die("checkpoint", err.msg);
    double dt = now_s() - t0;
    if (rs) {
        state_store_stats s;
        state_store_stats_get(st, &s);
        rs->checkpoints++;
        rs->ckpt_total_s += dt;
        if (dt > rs->ckpt_max_s)
            rs->ckpt_max_s = dt;
        rs->ckpt_keys += s.last_checkpoint_keys;
    }
}

static void preload_store(const char *dir, size_t cache_mb, uint32_t users,
                          const state_decay_spec *spec) {
    state_store *st = store_open(dir, cache_mb);
    unsigned char rec[REC_BYTES];
    char k[16];
    sl_err err = {{0}};
    for (uint32_t u = 0; u < users; u++) {
        bench_ev e = {u, 0};
        apply(rec, false, spec, &e, T0 - 86400000 + (int64_t)(u % 86400000));
        int kl = key_of(u, k);
        sl_status rc = state_store_put(st, STATE_CF_FEATURES, k, (size_t)kl, rec, REC_BYTES, &err);
        if (rc == SL_ERR_LIMIT || state_store_want_checkpoint(st)) {
            store_checkpoint(st, 0, NULL);
            if (rc)
                rc = state_store_put(st, STATE_CF_FEATURES, k, (size_t)kl, rec, REC_BYTES, &err);
        }
        if (rc)
            die("preload put", err.msg);
    }
    store_checkpoint(st, 0, NULL);
    state_store_close(st);
}

static run_stats run_cached(state_store *st, const bench_ev *ev, size_t n,
                            const state_decay_spec *spec, double ckpt_s, size_t check_at,
                            bool copy) {
    run_stats rs = {0};
    unsigned char buf[REC_BYTES];
    char k[16];
    sl_err err = {{0}};
    double t0 = now_s(), next_ckpt = t0 + ckpt_s;
    for (size_t i = 0; i < n; i++) {
        int64_t t = T0 + (int64_t)i;
        int kl = key_of(ev[i].user, k);
        sl_status rc;
        if (copy) { /* get, compute, put: two lookups, two copies */
            size_t vlen = 0;
            rc =
                state_store_get(st, STATE_CF_FEATURES, k, (size_t)kl, buf, sizeof buf, &vlen, &err);
            if (rc && rc != SL_ERR_NOT_FOUND)
                die("get", err.msg);
            rs.checksum += apply(buf, rc == SL_OK, spec, &ev[i], t);
            rc = state_store_put(st, STATE_CF_FEATURES, k, (size_t)kl, buf, REC_BYTES, &err);
            if (rc == SL_ERR_LIMIT) { /* the cap: checkpoint early, then retry */
                store_checkpoint(st, i, &rs);
                rc = state_store_put(st, STATE_CF_FEATURES, k, (size_t)kl, buf, REC_BYTES, &err);
            }
        } else { /* in place: one lookup, no copies */
            void *v = NULL;
            size_t old = 0;
            rc =
                state_store_update(st, STATE_CF_FEATURES, k, (size_t)kl, REC_BYTES, &v, &old, &err);
            if (rc == SL_ERR_LIMIT) {
                store_checkpoint(st, i, &rs);
                rc = state_store_update(st, STATE_CF_FEATURES, k, (size_t)kl, REC_BYTES, &v, &old,
                                        &err);
            }
            if (!rc)
                rs.checksum += apply(v, old == REC_BYTES, spec, &ev[i], t);
        }
        if (rc)
            die("write", err.msg);
        if (i + 1 == check_at)
            rs.checksum_at = rs.checksum;
        if (i + 1 == n / 2)
            rs.half_s = now_s() - t0;
        if ((i & 1023) == 1023) {
            double now = now_s();
            if (now >= next_ckpt || state_store_want_checkpoint(st)) {
                /* Start to start: checkpoints begin every ckpt_s of wall
                 * time, the time they take included. */
                store_checkpoint(st, i + 1, &rs);
                next_ckpt += ckpt_s;
                if (next_ckpt < now)
                    next_ckpt = now + ckpt_s;
            }
        }
    }
    store_checkpoint(st, n, &rs); /* the last interval counts too */
    rs.seconds = now_s() - t0;
    rs.rate = (double)n / rs.seconds;
    return rs;
}

/* -------------------------------------------------------- the naive path */

typedef struct naive_db {
    rocksdb_t *db;                              /* one column family: default */
    rocksdb_options_t *opts;                    /* same settings as state_store */
    rocksdb_block_based_table_options_t *topts; /* block cache + bloom */
    rocksdb_cache_t *cache;                     /* 64 MiB LRU */
    rocksdb_readoptions_t *ropts;               /* defaults */
    rocksdb_writeoptions_t *wopts;              /* WAL on, no sync */
} naive_db;

static void naive_open(naive_db *n, const char *dir) {
    char *err = NULL;
    n->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(n->opts, 1);
    rocksdb_options_set_max_open_files(n->opts, 512);
    rocksdb_options_set_write_buffer_size(n->opts, (size_t)32 << 20);
    rocksdb_options_set_max_write_buffer_number(n->opts, 2);
    rocksdb_options_set_max_background_jobs(n->opts, 2);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(n->opts, 1);
    n->cache = rocksdb_cache_create_lru((size_t)64 << 20);
    n->topts = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(n->topts, n->cache);
    rocksdb_block_based_options_set_filter_policy(n->topts,
                                                  rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(n->topts, 1);
    rocksdb_block_based_options_set_index_type(
        n->topts, rocksdb_block_based_table_index_type_two_level_index_search);
    rocksdb_block_based_options_set_partition_filters(n->topts, 1);
    rocksdb_block_based_options_set_metadata_block_size(n->topts, 4096);
    rocksdb_block_based_options_set_pin_top_level_index_and_filter(n->topts, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(n->topts, 1);
    rocksdb_options_set_block_based_table_factory(n->opts, n->topts);
    n->db = rocksdb_open(n->opts, dir, &err);
    if (err)
        die("naive open", err);
    n->ropts = rocksdb_readoptions_create();
    n->wopts = rocksdb_writeoptions_create();
}

static void naive_close(naive_db *n) {
    rocksdb_close(n->db);
    rocksdb_readoptions_destroy(n->ropts);
    rocksdb_writeoptions_destroy(n->wopts);
    rocksdb_options_destroy(n->opts);
    rocksdb_block_based_options_destroy(n->topts);
    rocksdb_cache_destroy(n->cache);
}

static void preload_naive(const char *dir, uint32_t users, const state_decay_spec *spec) {
    naive_db n;
    naive_open(&n, dir);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    unsigned char rec[REC_BYTES];
    char k[16], *err = NULL;
    for (uint32_t u = 0; u < users; u++) {
        bench_ev e = {u, 0};
        apply(rec, false, spec, &e, T0 - 86400000 + (int64_t)(u % 86400000));
        rocksdb_writebatch_put(wb, k, (size_t)key_of(u, k), (const char *)rec, REC_BYTES);
        if (rocksdb_writebatch_count(wb) == 100000 || u + 1 == users) {
            rocksdb_write(n.db, n.wopts, wb, &err);
            if (err)
                die("naive preload", err);
            rocksdb_writebatch_clear(wb);
        }
    }
    rocksdb_writebatch_destroy(wb);
    naive_close(&n);
}

static run_stats run_naive(naive_db *n, const bench_ev *ev, size_t count,
                           const state_decay_spec *spec) {
    run_stats rs = {0};
    unsigned char rec[REC_BYTES];
    char k[16], *err = NULL;
    double t0 = now_s();
    for (size_t i = 0; i < count; i++) {
        int64_t t = T0 + (int64_t)i;
        int kl = key_of(ev[i].user, k);
        size_t vlen = 0;
        char *v = rocksdb_get(n->db, n->ropts, k, (size_t)kl, &vlen, &err);
        if (err)
            die("naive get", err);
        bool found = v && vlen == REC_BYTES;
        if (found)
            memcpy(rec, v, REC_BYTES);
        rocksdb_free(v);
        rs.checksum += apply(rec, found, spec, &ev[i], t);
        rocksdb_put(n->db, n->wopts, k, (size_t)kl, (const char *)rec, REC_BYTES, &err);
        if (err)
            die("naive put", err);
    }
    rs.seconds = now_s() - t0;
    rs.rate = (double)count / rs.seconds;
    return rs;
}

/* ------------------------------------------------------------- the sweep */

typedef struct sweep_ctx {
    state_decay_spec spec; /* half-lives of the records */
    int64_t now;           /* the sweep's watermark */
} sweep_ctx;

static bool rec_dead(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    (void)key;
    (void)klen;
    const sweep_ctx *c = ctx;
    if (vlen != REC_BYTES)
        return false;
    state_decay views, clicks;
    state_decay_decode(val, c->spec.n, &views);
    state_decay_decode((const unsigned char *)val + STATE_DECAY_BYTES(2), c->spec.n, &clicks);
    return state_decay_negligible(&views, &c->spec, c->now, 1e-3) &&
           state_decay_negligible(&clicks, &c->spec, c->now, 1e-3);
}

/* ----------------------------------------------------------------- main */

int main(int argc, char **argv) {
    uint32_t users = 1000000;
    size_t n_events = 10000000, n_naive = 2000000, cache_mb = 256;
    double ckpt_ms = 1000;
    const char *base = NULL;
    bool copy = false;
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "--copy")) {
            copy = true;
            i--;
            continue;
        }
        if (i + 1 >= argc)
            die("usage", argv[i]);
        if (!strcmp(argv[i], "--users"))
            users = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--events"))
            n_events = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--naive-events"))
            n_naive = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--checkpoint-ms"))
            ckpt_ms = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--cache-mb"))
            cache_mb = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--dir"))
            base = argv[i + 1];
        else
            die("usage", "bench_state [--users N] [--events N] [--naive-events N] "
                         "[--checkpoint-ms MS] [--cache-mb MB] [--dir DIR] [--copy]");
    }
    if (n_naive > n_events)
        n_naive = n_events;
    char root[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/bench_state_XXXXXX", base ? base : tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root))
        die("mkdtemp", root);
    char dir_store[600], dir_naive[600];
    snprintf(dir_store, sizeof dir_store, "%s/store", root);
    snprintf(dir_naive, sizeof dir_naive, "%s/naive", root);

    state_decay_spec spec;
    const int64_t hl[2] = {3600000, 86400000};
    if (state_decay_spec_init(&spec, hl, 2, NULL))
        die("spec", "half-lives");

    /* Events: Zipf(1)-like ranks scattered over the user ids. */
    bench_ev *ev = malloc(n_events * sizeof *ev);
    if (!ev)
        die("events", "out of memory");
    sl_rand r;
    sl_rand_seed(&r, 1);
    double lnu = log((double)users + 1.0);
    for (size_t i = 0; i < n_events; i++) {
        uint64_t rank = (uint64_t)exp(sl_rand_double(&r) * lnu) - 1;
        if (rank >= users)
            rank = users - 1;
        ev[i].user = (uint32_t)((rank * 999983u + 12345u) % users);
        ev[i].click = sl_rand_bernoulli(&r, 0.05);
    }
    printf("bench_state: %u users, %zu events (cached), %zu events (naive), checkpoint every "
           "%.0f ms of wall time, cache %zu MiB, in %s\n",
           users, n_events, n_naive, ckpt_ms, cache_mb, root);

    double t0 = now_s();
    preload_store(dir_store, cache_mb, users, &spec);
    double pre_store = now_s() - t0;
    t0 = now_s();
    preload_naive(dir_naive, users, &spec);
    double pre_naive = now_s() - t0;
    printf("preload: %u users committed in %.2f s (store, one checkpoint per cache fill) / "
           "%.2f s (naive, 100k-key batches)\n",
           users, pre_store, pre_naive);

    state_store *st = store_open(dir_store, cache_mb); /* cold cache */
    run_stats c = run_cached(st, ev, n_events, &spec, ckpt_ms / 1000.0, n_naive, copy);
    state_store_stats s;
    state_store_stats_get(st, &s);
    printf("cached:  %10.0f events/s  (%zu events in %.2f s, %s; %d checkpoints, mean %.1f ms, "
           "max %.1f ms, %.0f keys each, %.1f%% of the time)\n",
           c.rate, n_events, c.seconds, copy ? "get + put" : "update in place", c.checkpoints,
           c.checkpoints ? 1e3 * c.ckpt_total_s / c.checkpoints : 0, 1e3 * c.ckpt_max_s,
           c.checkpoints ? (double)c.ckpt_keys / c.checkpoints : 0,
           100.0 * c.ckpt_total_s / c.seconds);
    printf("         first half (cold cache) %.0f events/s, second half %.0f events/s\n",
           (double)(n_events / 2) / c.half_s,
           (double)(n_events - n_events / 2) / (c.seconds - c.half_s));
    printf("         cache: %.1f%% hits, %zu entries, %.0f MiB held of %zu, %llu compactions\n",
           100.0 * (double)s.hits / (double)(s.hits + s.misses), s.entries,
           (double)s.cache_held / (1 << 20), cache_mb, (unsigned long long)s.compactions);

    /* Same events from the same start on the naive design. */
    naive_db n;
    naive_open(&n, dir_naive);
    run_stats nv = run_naive(&n, ev, n_naive, &spec);
    naive_close(&n);
    printf("naive:   %10.0f events/s  (%zu events in %.2f s; RocksDB get + put per event)\n",
           nv.rate, n_naive, nv.seconds);
    printf("ratio:   %.1fx   (features read by both over the first %zu events: %s)\n",
           c.rate / nv.rate, n_naive, c.checksum_at == nv.checksum ? "identical" : "DIFFER");

    /* The sweep: one full pass at a watermark 10 days on. A user seen only
     * in the preload (one view, 10+ days old) is below 1e-3 at the 1-day
     * half-life and goes; one seen in the run (two views or more) stays. */
    sweep_ctx sc = {spec, T0 + (int64_t)n_events + 10 * INT64_C(86400000)};
    size_t deleted = 0, visited_steps = 0, total_del = 0;
    bool wrapped = false;
    sl_err err = {{0}};
    t0 = now_s();
    while (!wrapped) {
        sl_status rc = state_store_sweep(st, STATE_CF_FEATURES, 10000, rec_dead, &sc, &deleted,
                                         &wrapped, &err);
        if (rc == SL_ERR_LIMIT) {
            store_checkpoint(st, n_events, NULL);
            continue;
        }
        if (rc)
            die("sweep", err.msg);
        total_del += deleted;
        visited_steps++;
    }
    double sweep_s = now_s() - t0;
    t0 = now_s();
    store_checkpoint(st, n_events, NULL);
    double sweep_ckpt = now_s() - t0;
    printf("sweep:   %u keys visited in %.2f s (%.2f M keys/s, %zu steps of 10000), %zu deleted "
           "(watermark +10 days), committed in %.0f ms\n",
           users, sweep_s, users / sweep_s / 1e6, visited_steps, total_del, 1e3 * sweep_ckpt);
    state_store_close(st);
    free(ev);
    test_rm_rf(root);
    return 0;
}
