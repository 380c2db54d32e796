/*
 * bench_models.c — learning throughput of the click models on one core:
 * predict + update per example, FTRL-LR and FM (k = 8), hash_bits 22.
 *
 * Examples are generated (fixed seed) with ~80 sparse features each, the
 * featurizer's typical count (docs/FEATURES.md): a bias plus 79 fields whose
 * values are drawn either log-uniformly from 1..1e5 per field (skewed, like
 * real categorical traffic: a few hot values, a long tail) or uniformly over
 * all 2^22 buckets (every access a cache miss: the worst case). A pool of
 * examples is generated first and cycled, so generation is not timed.
 *
 * Usage: bench_models [examples (default 2000000)] [skewed|uniform|both]
 *                     [ftrl|fm|both] [split|fused|batch|both|all]
 *
 * split: model_*_predict then model_*_update, as two calls (nothing carried
 * from one to the other: a score made at view time and an update at label
 * time); fused: model_*_learn, the learner's path (op_learners learns with
 * the weights as they are when the label arrives: predict and update back
 * to back, one pass over the coordinates); batch: model_*_learn_batch on
 * BATCH examples a call (the next examples' parameters prefetched while one
 * is learned). The same floats every way. both = split and fused (the
 * earlier runs' default); all (the default) = the three.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model_example.h"
#include "model_fm.h"
#include "model_ftrl.h"
#include "sl_rand.h"

#define POOL   32768 /* examples generated up front and cycled */
#define FIELDS 79    /* plus the bias: 80 features */
#ifndef BITS
#define BITS 22 /* -DBITS=12 for a table that fits in cache */
#endif
#define BATCH 256 /* examples per model_*_learn_batch call */

enum { PATH_SPLIT, PATH_FUSED, PATH_BATCH, PATH_COUNT };
static const char *const path_names[PATH_COUNT] = {"split", "fused", "batch"};

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Wall and CPU time of this thread: on a shared VM the wall rate drops
 * whenever the thread waits for a core; the CPU rate does not. */
typedef struct bench_clock {
    double wall, cpu;
} bench_clock;

static bench_clock bench_now(void) {
    return (bench_clock){clock_s(CLOCK_MONOTONIC), clock_s(CLOCK_THREAD_CPUTIME_ID)};
}

static void report(const char *dist, const char *what, long n, bench_clock t0, double loss,
                   const char *extra) {
    bench_clock t1 = bench_now();
    double wall = t1.wall - t0.wall, cpu = t1.cpu - t0.cpu;
    printf("%-8s %-10s %9.0f examples/s wall, %9.0f per CPU-s  (%.3f s, progressive log loss "
           "%.4f%s)\n",
           dist, what, n / wall, n / cpu, wall, loss / n, extra);
}

/* OUT: pool (POOL) and labels (POOL) from a hidden logistic model. */
static void make_pool(model_example *pool, float *labels, int uniform) {
    sl_rand rng;
    sl_rand_seed(&rng, 42);
    uint32_t mask = (1u << BITS) - 1;
    for (int e = 0; e < POOL; e++) {
        model_example *ex = &pool[e];
        model_example_reset(ex);
        model_example_add(ex, 0, 1.0f, 0);
        double s = -2.0;
        for (uint32_t f = 0; f < FIELDS; f++) {
            uint64_t v =
                uniform ? sl_rand_u64(&rng) : (uint64_t)exp(sl_rand_double(&rng) * log(1e5));
            uint64_t h = sl_rand_hash64(((uint64_t)f << 40) ^ v);
            model_example_add(ex, (uint32_t)h & mask, 1.0f, (uint8_t)(f + 1));
            s += 0.08 * ((double)(h >> 40 & 0xff) / 128.0 - 1.0); /* a hidden weight */
        }
        labels[e] = sl_rand_bernoulli(&rng, 1 / (1 + exp(-s))) ? 1.0f : 0.0f;
    }
}

static double logloss(double p, double y) {
    p = p < 1e-15 ? 1e-15 : p > 1 - 1e-15 ? 1 - 1e-15 : p;
    return y > 0.5 ? -log(p) : -log(1 - p);
}

/* OUT: exs (c) pointers to the c examples from i on, ys (c) their labels. */
static void batch_of(const model_example *pool, const float *labels, long i, long c,
                     const model_example **exs, float *ys) {
    for (long b = 0; b < c; b++) {
        exs[b] = &pool[(i + b) % POOL];
        ys[b] = labels[(i + b) % POOL];
    }
}

static int run_ftrl(const model_example *pool, const float *labels, long n, const char *dist,
                    int path) {
    sl_err err = {{0}};
    model_ftrl_params lp;
    model_ftrl_params_default(&lp);
    model_ftrl *lr = NULL;
    if (model_ftrl_create(&lp, BITS, &lr, &err) != SL_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double loss = 0;
    const model_example *exs[BATCH];
    float ys[BATCH], ps[BATCH];
    bench_clock t0 = bench_now();
    for (long i = 0; i < n && path == PATH_BATCH; i += BATCH) {
        long c = n - i < BATCH ? n - i : BATCH;
        batch_of(pool, labels, i, c, exs, ys);
        model_ftrl_learn_batch(lr, exs, ys, (uint32_t)c, ps, NULL);
        for (long b = 0; b < c; b++)
            loss += logloss(ps[b], ys[b]);
    }
    for (long i = 0; i < n && path != PATH_BATCH; i++) {
        const model_example *ex = &pool[i % POOL];
        float p;
        if (path == PATH_FUSED) {
            model_ftrl_learn(lr, ex, labels[i % POOL], &p);
        } else {
            p = model_ftrl_predict(lr, ex);
            model_ftrl_update(lr, ex, labels[i % POOL], p);
        }
        loss += logloss(p, labels[i % POOL]);
    }
    static const char *const what[PATH_COUNT] = {"ftrl_lr", "ftrl learn", "ftrl batch"};
    report(dist, what[path], n, t0, loss, "");
    model_ftrl_destroy(lr);
    return 0;
}

static int run_fm(const model_example *pool, const float *labels, long n, const char *dist,
                  int path) {
    sl_err err = {{0}};
    model_fm_params fp;
    model_fm_params_default(&fp);
    fp.k = 8;
    model_fm *fm = NULL;
    if (model_fm_create(&fp, BITS, &fm, &err) != SL_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double loss = 0;
    const model_example *exs[BATCH];
    float ys[BATCH], ps[BATCH];
    bench_clock t0 = bench_now();
    for (long i = 0; i < n && path == PATH_BATCH; i += BATCH) {
        long c = n - i < BATCH ? n - i : BATCH;
        batch_of(pool, labels, i, c, exs, ys);
        model_fm_learn_batch(fm, exs, ys, (uint32_t)c, ps, NULL);
        for (long b = 0; b < c; b++)
            loss += logloss(ps[b], ys[b]);
    }
    for (long i = 0; i < n && path != PATH_BATCH; i++) {
        const model_example *ex = &pool[i % POOL];
        float p;
        if (path == PATH_FUSED) {
            model_fm_learn(fm, ex, labels[i % POOL], &p);
        } else {
            p = model_fm_predict(fm, ex);
            model_fm_update(fm, ex, labels[i % POOL], p);
        }
        loss += logloss(p, labels[i % POOL]);
    }
    char extra[32];
    snprintf(extra, sizeof extra, ", factor_bits %u", model_fm_factor_bits(fm));
    static const char *const what[PATH_COUNT] = {"fm k=8", "fm learn", "fm batch"};
    report(dist, what[path], n, t0, loss, extra);
    model_fm_destroy(fm);
    return 0;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    const char *only = argc > 2 && strcmp(argv[2], "both") != 0 ? argv[2] : NULL;
    const char *model = argc > 3 ? argv[3] : "both";
    const char *path = argc > 4 ? argv[4] : "all";
    int run[PATH_COUNT], any = 0;
    for (int k = 0; k < PATH_COUNT; k++) {
        run[k] = !strcmp(path, path_names[k]) || !strcmp(path, "all") ||
                 (!strcmp(path, "both") && k != PATH_BATCH);
        any |= run[k];
    }
    if (!any) {
        fprintf(stderr, "bench_models: path must be split, fused, batch, both or all\n");
        return 2;
    }
    model_example *pool = malloc(POOL * sizeof *pool);
    float *labels = malloc(POOL * sizeof *labels);
    if (!pool || !labels || n < 1)
        return 1;
    printf("examples %ld, features/example %d, hash_bits %d, pool %d\n", n, FIELDS + 1, BITS, POOL);
    int rc = 0;
    for (int uniform = 0; uniform < 2 && !rc; uniform++) {
        const char *dist = uniform ? "uniform" : "skewed";
        if (only && strcmp(only, dist) != 0)
            continue;
        make_pool(pool, labels, uniform);
        for (int k = 0; k < PATH_COUNT && !rc; k++) {
            if (!run[k])
                continue;
            if (strcmp(model, "fm") != 0)
                rc = run_ftrl(pool, labels, n, dist, k);
            if (!rc && strcmp(model, "ftrl") != 0)
                rc = run_fm(pool, labels, n, dist, k);
        }
    }
    free(pool);
    free(labels);
    return rc;
}
