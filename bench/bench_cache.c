/*
 * bench_cache.c — the longest single write into a full write-back cache
 * (state_store), the stop a caller sees when the cache makes room.
 *
 * Puts of new keys (alternately 40-byte and 1000-byte values, like the label
 * join's pending views next to small feature records) into a cache of
 * --cache-mb (default 256) with the state in memory; a checkpoint whenever
 * the store asks for one (state_store_want_checkpoint), timed apart. Prints
 * the longest put while the cache fills (the first --fill puts) and after,
 * the mean put, and the checkpoint's two steps on the owner's thread
 * (state_store_checkpoint_begin and _finish): their longest and total time.
 *
 * usage: bench_cache [--puts N] [--cache-mb MB] [--fill N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "state_store.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    long puts = 3000000, fill = 400000;
    size_t cache_mb = 256;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--puts") && i + 1 < argc)
            puts = atol(argv[++i]);
        else if (!strcmp(argv[i], "--cache-mb") && i + 1 < argc)
            cache_mb = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--fill") && i + 1 < argc)
            fill = atol(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_cache [--puts N] [--cache-mb MB] [--fill N]\n");
            return 2;
        }
    }
    state_store_opts o;
    state_store_opts_default(&o);
    o.cache_bytes = cache_mb << 20;
    state_store *st;
    sl_err err = {{0}};
    if (state_store_open(&o, &st, &err)) {
        fprintf(stderr, "bench_cache: %s\n", err.msg);
        return 1;
    }
    static char v[1000];
    memset(v, 'x', sizeof v);
    double worst_fill = 0, worst = 0, ck = 0, begin_max = 0, begin_total = 0, fin_max = 0,
           fin_total = 0, t0 = now_s();
    for (long i = 0; i < puts; i++) {
        char k[32];
        int kl = snprintf(k, sizeof k, "k%ld", i);
        if (state_store_want_checkpoint(st)) {
            double c = now_s();
            state_ckpt *job = NULL;
            if (state_store_checkpoint_begin(st, NULL, 0, &job, &err)) {
                fprintf(stderr, "bench_cache: %s\n", err.msg);
                return 1;
            }
            double b = now_s() - c;
            begin_total += b;
            if (b > begin_max)
                begin_max = b;
            (void)state_store_checkpoint_write(job, NULL);
            double f = now_s();
            if (state_store_checkpoint_finish(st, job, NULL, &err)) {
                fprintf(stderr, "bench_cache: %s\n", err.msg);
                return 1;
            }
            f = now_s() - f;
            fin_total += f;
            if (f > fin_max)
                fin_max = f;
            ck += now_s() - c;
        }
        double a = now_s();
        sl_status rc = state_store_put(st, STATE_CF_PENDING, k, (size_t)kl, v,
                                       (i & 1) ? sizeof v : 40, &err);
        double d = now_s() - a;
        if (rc) {
            fprintf(stderr, "bench_cache: put %ld: %s\n", i, err.msg);
            return 1;
        }
        if (i < fill) {
            if (d > worst_fill)
                worst_fill = d;
        } else if (d > worst) {
            worst = d;
        }
    }
    double total = now_s() - t0 - ck;
    state_store_stats s;
    state_store_stats_get(st, &s);
    printf("bench_cache: %ld puts into %zu MiB: mean %.2f us, longest %.1f ms while filling "
           "(first %ld), %.1f ms after; %llu cache compactions, %llu checkpoints (%.1f s; "
           "begin longest %.1f ms, total %.1f ms; finish longest %.1f ms, total %.1f ms)\n",
           puts, cache_mb, total / (double)puts * 1e6, worst_fill * 1e3, fill, worst * 1e3,
           (unsigned long long)s.compactions, (unsigned long long)s.checkpoints, ck,
           begin_max * 1e3, begin_total * 1e3, fin_max * 1e3, fin_total * 1e3);
    state_store_close(st);
    return 0;
}
