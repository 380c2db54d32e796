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
 *                     [ftrl|fm|both] [split|fused|both]
 *
 * split: model_*_predict then model_*_update, as two calls (nothing carried
 * from one to the other: a score made at view time and an update at label
 * time); fused: model_*_learn, the learner's path (op_learners learns with
 * the weights as they are when the label arrives: predict and update back
 * to back, one pass over the coordinates). The same floats either way.
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

static int run_ftrl(const model_example *pool, const float *labels, long n, const char *dist,
                    int fused) {
    sl_err err = {{0}};
    model_ftrl_params lp;
    model_ftrl_params_default(&lp);
    model_ftrl *lr = NULL;
    if (model_ftrl_create(&lp, BITS, &lr, &err) != SL_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double loss = 0;
    bench_clock t0 = bench_now();
    for (long i = 0; i < n; i++) {
        const model_example *ex = &pool[i % POOL];
        float p;
        if (fused) {
            model_ftrl_learn(lr, ex, labels[i % POOL], &p);
        } else {
            p = model_ftrl_predict(lr, ex);
            model_ftrl_update(lr, ex, labels[i % POOL], p);
        }
        loss += logloss(p, labels[i % POOL]);
    }
    report(dist, fused ? "ftrl learn" : "ftrl_lr", n, t0, loss, "");
    model_ftrl_destroy(lr);
    return 0;
}

static int run_fm(const model_example *pool, const float *labels, long n, const char *dist,
                  int fused) {
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
    bench_clock t0 = bench_now();
    for (long i = 0; i < n; i++) {
        const model_example *ex = &pool[i % POOL];
        float p;
        if (fused) {
            model_fm_learn(fm, ex, labels[i % POOL], &p);
        } else {
            p = model_fm_predict(fm, ex);
            model_fm_update(fm, ex, labels[i % POOL], p);
        }
        loss += logloss(p, labels[i % POOL]);
    }
    char extra[32];
    snprintf(extra, sizeof extra, ", factor_bits %u", model_fm_factor_bits(fm));
    report(dist, fused ? "fm learn" : "fm k=8", n, t0, loss, extra);
    model_fm_destroy(fm);
    return 0;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    const char *only = argc > 2 && strcmp(argv[2], "both") != 0 ? argv[2] : NULL;
    const char *model = argc > 3 ? argv[3] : "both";
    const char *path = argc > 4 ? argv[4] : "both"; /* split, fused or both */
    int split = strcmp(path, "fused") != 0, fused = strcmp(path, "split") != 0;
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
        for (int f = !split; f <= fused && !rc; f++) {
            if (strcmp(model, "fm") != 0)
                rc = run_ftrl(pool, labels, n, dist, f);
            if (!rc && strcmp(model, "ftrl") != 0)
                rc = run_fm(pool, labels, n, dist, f);
        }
    }
    free(pool);
    free(labels);
    return rc;
}
