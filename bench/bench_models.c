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
 * Usage: bench_models [examples (default 2000000)] [skewed|uniform (default both)]
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
#define BITS   22

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
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

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    const char *only = argc > 2 ? argv[2] : NULL;
    model_example *pool = malloc(POOL * sizeof *pool);
    float *labels = malloc(POOL * sizeof *labels);
    if (!pool || !labels)
        return 1;
    printf("examples %ld, features/example %d, hash_bits %d, pool %d\n", n, FIELDS + 1, BITS, POOL);
    for (int uniform = 0; uniform < 2; uniform++) {
        const char *dist = uniform ? "uniform" : "skewed";
        if (only && strcmp(only, dist) != 0)
            continue;
        make_pool(pool, labels, uniform);
        sl_err err = {{0}};
        model_ftrl_params lp;
        model_ftrl_params_default(&lp);
        model_ftrl *lr = NULL;
        if (model_ftrl_create(&lp, BITS, &lr, &err) != SL_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double loss = 0, t0 = now_s();
        for (long i = 0; i < n; i++) {
            const model_example *ex = &pool[i % POOL];
            float p = model_ftrl_predict(lr, ex);
            loss += logloss(p, labels[i % POOL]);
            model_ftrl_update(lr, ex, labels[i % POOL], p);
        }
        double dt = now_s() - t0;
        printf("%-8s ftrl_lr     %9.0f examples/s  (%.3f s, progressive log loss %.4f)\n", dist,
               n / dt, dt, loss / n);
        model_ftrl_destroy(lr);

        model_fm_params fp;
        model_fm_params_default(&fp);
        fp.k = 8;
        model_fm *fm = NULL;
        if (model_fm_create(&fp, BITS, &fm, &err) != SL_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        loss = 0;
        t0 = now_s();
        for (long i = 0; i < n; i++) {
            const model_example *ex = &pool[i % POOL];
            float p = model_fm_predict(fm, ex);
            loss += logloss(p, labels[i % POOL]);
            model_fm_update(fm, ex, labels[i % POOL], p);
        }
        dt = now_s() - t0;
        printf("%-8s fm k=8      %9.0f examples/s  (%.3f s, progressive log loss %.4f, "
               "factor_bits %u)\n",
               dist, n / dt, dt, loss / n, model_fm_factor_bits(fm));
        model_fm_destroy(fm);
    }
    free(pool);
    free(labels);
    return 0;
}
