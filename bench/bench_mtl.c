/*
 * bench_mtl.c — the multi-task feed model (model_mtl) on one core:
 *
 * 1. Throughput at mini_batch 1, 16, 64, 256 with the config's default
 *    shape (K 16, F 32, Dn 32: I = 544; hidden 128, 64; Adam; emb_bits 17)
 *    on a pool of 4096 examples of 80 skewed sparse features, cycled:
 *    examples/s of learn (and of predict alone), the share of the time spent
 *    inside cblas_sgemm (every product goes through a timed hook), and the
 *    GFLOP/s of the dense part, next to a bare cblas_sgemm peak measured in
 *    the same run (1024³, and the model's widest product at M = 256).
 * 2. Quality on the generated multi-task stream (tests/support/mtl_stream.h,
 *    seed 7) with progressive validation (predict, score, then learn), for
 *    two shapes of the multi-task model (K 16, hidden 128/64; and K 8,
 *    hidden 32/16), each against four independent per-task models trained
 *    on the same examples in the same run — FTRL-Proximal logistic regression
 *    (model_ftrl) for click, like and share, and an AdaGrad linear
 *    regression with the same Huber loss for log1p(dwell) — and against the
 *    running base rates. Both see the same sparse features; the baselines
 *    get the dense values standardized online (as the model's normalizer
 *    does) as extra weighted features. Cost: wall and CPU time of predict +
 *    learn (timed per block of 1024 views) and the parameter bytes.
 * 3. Optional: the click head on the MIND views (behaviors.tsv of
 *    MIND-small) when a path to its folder is given; skipped with a message
 *    when absent. The data is read in place, never copied.
 *
 * Learn and predict rates are given per wall second and per CPU second of
 * the thread (the VM is shared: read the CPU figures and the ratios); the
 * quality run ends with a checksum of the model's arrays, so two builds
 * can be shown to train bitwise the same model.
 *
 * Usage: bench_mtl [quality examples (default 1000000)] [path/to/mind]
 * SL_MTL_SHAPES="K,h0,h1,mini_batch[,emb_bits];..." runs the quality comparison for
 * these shapes instead of the two above (e.g. "8,16,8,256"), and skips the
 * throughput part.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "model_example.h"
#include "model_ftrl.h"
#include "model_mtl.h"
#include "model_mtl_internal.h"
#include "mtl_stream.h"
#include "sl_hash.h"
#include "sl_rand.h"

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }

/* CPU time of this thread: on the shared VM, wall time also counts the
 * time other jobs held the core; this does not (the model and OpenBLAS,
 * pinned to one thread, run on this thread). */
static double cpu_s(void) { return clock_s(CLOCK_THREAD_CPUTIME_ID); }

/* FNV-1a over every byte of the model's state arrays: equal checksums from
 * two builds mean bitwise the same model. */
static uint64_t state_checksum(model_mtl *m) {
    model_mtl_array a[MODEL_MTL_MAX_ARRAYS];
    uint32_t na = model_mtl_arrays(m, a, MODEL_MTL_MAX_ARRAYS);
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < na; i++) {
        const unsigned char *b = (const unsigned char *)a[i].data;
        size_t n = (size_t)a[i].rows * a[i].width * sizeof(float);
        for (size_t k = 0; k < n; k++)
            h = (h ^ b[k]) * 0x100000001b3ull;
    }
    return h;
}

/* ---- the timed sgemm hook ------------------------------------------------ */

typedef struct gemm_clock {
    double seconds; /* inside cblas_sgemm */
    double flops;   /* 2·M·N·K summed */
    uint64_t calls;
} gemm_clock;

static void timed_gemm(void *ctx, bool ta, bool tb, int M, int N, int Kd, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc) {
    gemm_clock *gc = ctx;
    double t0 = now_s();
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, Kd, 1.0f, A, lda, B, ldb, beta, C, ldc);
    gc->seconds += now_s() - t0;
    gc->flops += 2.0 * M * N * Kd;
    gc->calls++;
}

/* GFLOP/s of a bare single-threaded sgemm C(M,N) = A(M,K)·B(K,N). */
static double sgemm_peak(int M, int N, int Kd, int reps) {
    float *A = malloc(sizeof(float) * M * Kd), *B = malloc(sizeof(float) * Kd * N),
          *C = malloc(sizeof(float) * M * N);
    for (int i = 0; i < M * Kd; i++)
        A[i] = (float)(i % 7) * 0.1f;
    for (int i = 0; i < Kd * N; i++)
        B[i] = (float)(i % 5) * 0.1f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, Kd, 1.0f, A, Kd, B, N, 0.0f, C,
                N); /* warm */
    double t0 = now_s();
    for (int r = 0; r < reps; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, Kd, 1.0f, A, Kd, B, N, 0.0f,
                    C, N);
    double dt = now_s() - t0;
    free(A);
    free(B);
    free(C);
    return 2.0 * M * N * Kd * reps / dt / 1e9;
}

/* ---- 1. throughput -------------------------------------------------------- */

/* An example of the featurizer's shape: 80 sparse features over 32 fields,
 * 32 dense values. Each feature's value is log-uniform over 1..1e5 (a few
 * hot values, a long tail, as bench_models' "skewed" traffic). */
static void random_feed_example(sl_rand *r, model_example *ex) {
    model_example_reset(ex);
    for (uint32_t j = 0; j < 80; j++) {
        uint64_t v = (uint64_t)exp(sl_rand_double(r) * log(1e5));
        model_example_add(ex, (uint32_t)sl_rand_hash64(((uint64_t)j << 40) ^ v), 1.0f,
                          (uint8_t)(j % 32));
    }
    ex->n_dense = 32;
    for (int d = 0; d < 32; d++)
        ex->dense[d] = (float)sl_rand_normal(r);
    bool click = sl_rand_bernoulli(r, 0.1);
    model_example_set_label(ex, MODEL_LABEL_CLICK, click);
    model_example_set_label(ex, MODEL_LABEL_LIKE, click && sl_rand_bernoulli(r, 0.2));
    model_example_set_label(ex, MODEL_LABEL_SHARE, click && sl_rand_bernoulli(r, 0.1));
    model_example_set_label(ex, MODEL_LABEL_DWELL, click ? (float)sl_rand_exp(r, 20000) : 0.0f);
}

static void bench_throughput(void) {
    enum { POOL = 4096 };
    model_example *pool = malloc(POOL * sizeof *pool);
    sl_rand rng;
    sl_rand_seed(&rng, 1);
    for (int i = 0; i < POOL; i++)
        random_feed_example(&rng, &pool[i]);
    double peak = sgemm_peak(1024, 1024, 1024, 3);
    double peak_model = sgemm_peak(256, 128, 545, 200); /* the widest layer at B = 256 */
    printf("bare cblas_sgemm, 1 thread: %.1f GFLOP/s at 1024x1024x1024, %.1f GFLOP/s at "
           "256x128x545\n\n",
           peak, peak_model);
    printf("| mini_batch | learn examples/s (per CPU-s) | predict examples/s (per CPU-s) | "
           "sgemm share of learn | dense GFLOP/s inside sgemm | dense GFLOP/s over the whole "
           "learn |\n");
    printf("|---:|---:|---:|---:|---:|---:|\n");
    static const uint32_t batches[] = {1, 16, 64, 256};
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        model_mtl_params p;
        model_mtl_params_default(&p);
        p.mini_batch = batches[b];
        model_mtl *m = NULL;
        sl_err err;
        if (model_mtl_create(&p, &m, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        gemm_clock gc = {0};
        model_mtl__set_gemm(m, timed_gemm, &gc);
        uint32_t n = batches[b] == 1 ? 20000 : 100000;
        for (uint32_t i = 0; i < 2 * batches[b]; i++) /* warm up */
            model_mtl_learn(m, &pool[i % POOL]);
        gc = (gemm_clock){0};
        double t0 = now_s(), c0 = cpu_s();
        for (uint32_t i = 0; i < n; i++)
            model_mtl_learn(m, &pool[i % POOL]);
        double dt = now_s() - t0, dc = cpu_s() - c0;
        double flops = model_mtl__flops(m, 1, true) * n;
        gemm_clock learn = gc;
        /* predict, one view at a time as the score path does */
        gc = (gemm_clock){0};
        uint32_t np = 20000;
        float out[MODEL_MTL_HEADS];
        double t1 = now_s(), c1 = cpu_s();
        for (uint32_t i = 0; i < np; i++)
            model_mtl_predict(m, &pool[i % POOL], out);
        double dp = now_s() - t1, dpc = cpu_s() - c1;
        printf("| %u | %.0f (%.0f) | %.0f (%.0f) | %.0f %% | %.2f | %.2f |\n", batches[b], n / dt,
               n / dc, np / dp, np / dpc, 100.0 * learn.seconds / dt,
               learn.flops / learn.seconds / 1e9, flops / dt / 1e9);
        model_mtl_destroy(m);
    }
    free(pool);
}

/* ---- 2. quality against independent per-task models ----------------------- */

/* Online standardization of the dense values for the baselines (what the
 * model's normalizer does). */
typedef struct norm {
    double cnt[MODEL_MAX_DENSE], mean[MODEL_MAX_DENSE], var[MODEL_MAX_DENSE];
} norm;

static void norm_apply(norm *z, const model_example *ex, model_example *out) {
    *out = *ex;
    for (uint32_t d = 0; d < ex->n_dense && out->n < MODEL_MAX_SPARSE; d++) {
        double x = ex->dense[d];
        double c = z->cnt[d] + 1 < 1e4 ? z->cnt[d] + 1 : 1e4, a = 1.0 / c, dl = x - z->mean[d];
        z->cnt[d] = c;
        z->mean[d] += a * dl;
        z->var[d] = (1 - a) * (z->var[d] + a * dl * dl);
        double v = (x - z->mean[d]) / sqrt(z->var[d] + 1e-6);
        v = v > 5 ? 5 : v < -5 ? -5 : v;
        model_example_add(out, (uint32_t)sl_rand_hash64(0xd15e + d), (float)v, (uint8_t)(40 + d));
    }
    model_example_add(out, 0x0b1a5u, 1.0f, 63); /* a bias */
}

/* A linear regression on the hashed features, AdaGrad, Huber (δ 1): the
 * independent dwell model. */
typedef struct linreg {
    float *w, *g; /* (D) weights, squared-gradient sums */
    uint32_t mask;
    double lr;
} linreg;

static double linreg_predict(const linreg *lr, const model_example *ex) {
    double s = 0;
    for (uint32_t j = 0; j < ex->n; j++)
        s += lr->w[ex->idx[j] & lr->mask] * ex->val[j];
    return s;
}

static void linreg_update(linreg *lr, const model_example *ex, double pred, double y) {
    double r = pred - y, g = r > 1 ? 1 : r < -1 ? -1 : r;
    for (uint32_t j = 0; j < ex->n; j++) {
        uint32_t i = ex->idx[j] & lr->mask;
        double gi = g * ex->val[j];
        lr->g[i] += (float)(gi * gi);
        lr->w[i] -= (float)(lr->lr * gi / (sqrt(lr->g[i]) + 1e-8));
    }
}

static double logloss(double p, double y) {
    p = p < 1e-7 ? 1e-7 : p > 1 - 1e-7 ? 1 - 1e-7 : p;
    return -(y * log(p) + (1 - y) * log(1 - p));
}

static double huber(double d) { return fabs(d) <= 1 ? 0.5 * d * d : fabs(d) - 0.5; }

typedef struct score {
    double loss[MODEL_MTL_HEADS]; /* summed */
    double cnt[MODEL_MTL_HEADS];
} score;

/* The multi-task model's shape on the generated stream: F 8 fields, Dn 8
 * dense values; the rest from the caller. */
static void quality_params(model_mtl_params *p, uint32_t K, uint32_t h0, uint32_t h1) {
    model_mtl_params_default(p);
    p->n_fields = 8;
    p->n_dense = MS_DENSE;
    p->embed_dim = K;
    p->hidden[0] = h0;
    p->hidden[1] = h1;
    p->lr = 0.003;
    p->init_std = 0.05;
}

/* Views per timed block: the stream generates a block untimed, then each
 * side runs predict + learn over it in view order (progressive validation
 * as before), timed as one piece, so the clock is read twice per block
 * instead of per view (a thread CPU clock read is a system call of ~0.3 µs,
 * a third of what the independent models spend on a view). */
#define QBLOCK 1024

static void bench_quality(uint32_t n, const model_mtl_params *p) {
    mtl_stream s;
    if (!mtl_stream_init(&s, 7, 2000, 5000))
        exit(1);
    model_mtl *m = NULL;
    sl_err err;
    if (model_mtl_create(p, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    model_ftrl_params fp;
    model_ftrl_params_default(&fp);
    fp.alpha = 0.1;
    fp.l1 = 0.5;
    fp.l2 = 1;
    const uint32_t fbits = 20;
    model_ftrl *lr[3];
    for (int t = 0; t < 3; t++)
        if (model_ftrl_create(&fp, fbits, &lr[t], &err)) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
    linreg dw = {calloc(1u << fbits, sizeof(float)), calloc(1u << fbits, sizeof(float)),
                 (1u << fbits) - 1, 0.05};
    norm z;
    memset(&z, 0, sizeof z);
    score sm[2], sb[2], sr[2], sopt[2]; /* model, baselines, base rate, truth; per half */
    memset(sm, 0, sizeof sm);
    memset(sb, 0, sizeof sb);
    memset(sr, 0, sizeof sr);
    memset(sopt, 0, sizeof sopt);
    double pos[3] = {0}, seen = 0, dsum = 0, dn = 0, t_mtl = 0, t_base = 0, c_mtl = 0, c_base = 0;
    model_example *blk = malloc(QBLOCK * sizeof *blk);
    double(*truth)[MODEL_MTL_HEADS] = malloc(QBLOCK * sizeof *truth);
    float(*out)[MODEL_MTL_HEADS] = malloc(QBLOCK * sizeof *out);
    float(*pb)[3] = malloc(QBLOCK * sizeof *pb);
    double *pd = malloc(QBLOCK * sizeof *pd);
    model_example bx;
    for (uint32_t i0 = 0; i0 < n; i0 += QBLOCK) {
        uint32_t nb = n - i0 < QBLOCK ? n - i0 : QBLOCK;
        for (uint32_t b = 0; b < nb; b++)
            mtl_stream_next(&s, &blk[b], truth[b]);
        double t0 = now_s(), c0 = cpu_s();
        for (uint32_t b = 0; b < nb; b++) {
            model_mtl_predict(m, &blk[b], out[b]);
            model_mtl_learn(m, &blk[b]);
        }
        double t1 = now_s(), c1 = cpu_s();
        for (uint32_t b = 0; b < nb; b++) {
            const model_example *ex = &blk[b];
            norm_apply(&z, ex, &bx);
            for (int t = 0; t < 3; t++) {
                pb[b][t] = model_ftrl_predict(lr[t], &bx);
                model_ftrl_update(lr[t], &bx, ex->label[t], pb[b][t]);
            }
            pd[b] = 0;
            if (ex->label[MODEL_LABEL_CLICK] > 0.5f) {
                pd[b] = linreg_predict(&dw, &bx);
                linreg_update(&dw, &bx, pd[b], log1p(ex->label[MODEL_LABEL_DWELL]));
            }
        }
        double t2 = now_s(), c2 = cpu_s();
        t_mtl += t1 - t0;
        t_base += t2 - t1;
        c_mtl += c1 - c0;
        c_base += c2 - c1;
        for (uint32_t b = 0; b < nb; b++) {
            const model_example *ex = &blk[b];
            int h = i0 + b >= n / 2;
            bool click = ex->label[MODEL_LABEL_CLICK] > 0.5f;
            double y3 = log1p(ex->label[MODEL_LABEL_DWELL]);
            for (int t = 0; t < 3; t++) {
                double y = ex->label[t];
                sm[h].loss[t] += logloss(out[b][t], y);
                sb[h].loss[t] += logloss(pb[b][t], y);
                sr[h].loss[t] += logloss((pos[t] + 0.5) / (seen + 1), y);
                sopt[h].loss[t] += logloss(truth[b][t], y);
                sm[h].cnt[t]++;
                pos[t] += y;
            }
            seen++;
            if (click) {
                sm[h].loss[3] += huber(log1p(out[b][3]) - y3);
                sb[h].loss[3] += huber(pd[b] - y3);
                sr[h].loss[3] += huber((dn ? dsum / dn : 0) - y3);
                sopt[h].loss[3] += huber(truth[b][3] - y3);
                sm[h].cnt[3]++;
                dsum += y3;
                dn++;
            }
        }
    }
    free(blk);
    free(truth);
    free(out);
    free(pb);
    free(pd);
    static const char *const names[] = {"click (log loss)", "like (log loss)", "share (log loss)",
                                        "dwell (Huber, log1p ms, clicked views)"};
    printf("\n%u generated views (seed 7, 2000 users, 5000 items), progressive validation; "
           "multi-task K %u, hidden %u/%u, emb_bits %u, mini_batch %u; second half (first half in "
           "parentheses):\n\n",
           n, p->embed_dim, p->hidden[0], p->hidden[1], p->emb_bits, p->mini_batch);
    printf("| head | multi-task model | 4 independent models | base rate | true model |\n");
    printf("|---|---:|---:|---:|---:|\n");
    for (int t = 0; t < MODEL_MTL_HEADS; t++) {
        double c0 = sm[0].cnt[t], c1 = sm[1].cnt[t];
        printf("| %s | %.4f (%.4f) | %.4f (%.4f) | %.4f (%.4f) | %.4f |\n", names[t],
               sm[1].loss[t] / c1, sm[0].loss[t] / c0, sb[1].loss[t] / c1, sb[0].loss[t] / c0,
               sr[1].loss[t] / c1, sr[0].loss[t] / c0, sopt[1].loss[t] / c1);
    }
    model_mtl_array a[MODEL_MTL_MAX_ARRAYS];
    uint32_t na = model_mtl_arrays(m, a, MODEL_MTL_MAX_ARRAYS);
    double bytes = 0;
    for (uint32_t i = 0; i < na; i++)
        bytes += (double)a[i].rows * a[i].width * 4;
    double bbytes = 3.0 * (8u << fbits) + 2.0 * (4u << fbits);
    printf("\ncost, predict + learn of every view: multi-task %.2f s wall, %.2f s CPU (%.0f "
           "views per CPU-s, %.1f MiB of state incl. optimizer); 4 independent models %.2f s wall, "
           "%.2f s CPU (%.0f views per CPU-s, %.1f MiB); CPU ratio multi-task / independent "
           "%.2f\n",
           t_mtl, c_mtl, n / c_mtl, bytes / (1 << 20), t_base, c_base, n / c_base,
           bbytes / (1 << 20), c_mtl / c_base);
    printf("multi-task state checksum (FNV-1a of every array): %016llx\n",
           (unsigned long long)state_checksum(m));
    for (int t = 0; t < 3; t++)
        model_ftrl_destroy(lr[t]);
    free(dw.w);
    free(dw.g);
    model_mtl_destroy(m);
    mtl_stream_free(&s);
}

/* ---- 3. MIND (optional) --------------------------------------------------- */

/* behaviors.tsv: impression_id \t user \t time \t history \t imp-list, the
 * list "N1234-1 N5678-0 ..." (clicked -1 / not -0). One view per listed
 * item, in file order (the impressions are time-ordered enough for a
 * progressive comparison of the two models on the same order). */
static void bench_mind(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/behaviors.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("\nMIND: %s not found, skipped\n", path);
        return;
    }
    model_mtl_params p;
    model_mtl_params_default(&p);
    p.n_fields = 4;
    p.n_dense = 0;
    p.lr = 0.003;
    p.init_std = 0.05;
    p.head_weights[1] = p.head_weights[2] = p.head_weights[3] = 0;
    model_mtl *m = NULL;
    model_ftrl *lr = NULL;
    sl_err err;
    model_ftrl_params fp;
    model_ftrl_params_default(&fp);
    fp.alpha = 0.1;
    fp.l1 = 0.5;
    if (model_mtl_create(&p, &m, &err) || model_ftrl_create(&fp, 20, &lr, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    size_t cap = 1 << 20;
    char *line = malloc(cap);
    double lm[2] = {0}, lb[2] = {0}, lr0[2] = {0}, cnt[2] = {0}, pos = 0, seen = 0;
    uint64_t views = 0;
    /* first pass: count views, to split the halves */
    while (fgets(line, (int)cap, f)) {
        char *tab = strrchr(line, '\t');
        for (char *q = tab; q && *q; q++)
            views += *q == '-';
    }
    rewind(f);
    uint64_t v = 0;
    while (fgets(line, (int)cap, f)) {
        char *fld[5] = {0};
        int nf = 0;
        for (char *q = line; nf < 5 && q; nf++) {
            fld[nf] = q;
            q = strchr(q, '\t');
            if (q)
                *q++ = '\0';
        }
        if (nf < 5)
            continue;
        uint64_t uh = sl_hash64(fld[1], strlen(fld[1]), 1);
        int hour = 0;
        const char *sp = strchr(fld[2], ' ');
        if (sp)
            hour = atoi(sp + 1) % 12 + (strstr(sp, "PM") ? 12 : 0);
        for (char *tok = strtok(fld[4], " \n"); tok; tok = strtok(NULL, " \n")) {
            char *dash = strrchr(tok, '-');
            if (!dash)
                continue;
            float y = dash[1] == '1' ? 1.0f : 0.0f;
            *dash = '\0';
            uint64_t ih = sl_hash64(tok, strlen(tok), 2);
            model_example ex;
            model_example_reset(&ex);
            model_example_add(&ex, (uint32_t)uh, 1.0f, 0);
            model_example_add(&ex, (uint32_t)ih, 1.0f, 1);
            model_example_add(&ex, (uint32_t)sl_rand_hash64(0x4000 + (uint64_t)hour), 1.0f, 2);
            model_example_add(&ex, (uint32_t)(uh ^ ih), 1.0f, 3);
            model_example_set_label(&ex, MODEL_LABEL_CLICK, y);
            int h = v++ >= views / 2;
            float out[MODEL_MTL_HEADS];
            model_mtl_predict(m, &ex, out);
            model_mtl_learn(m, &ex);
            model_example_add(&ex, 0x0b1a5u, 1.0f, 63);
            float pb = model_ftrl_predict(lr, &ex);
            model_ftrl_update(lr, &ex, y, pb);
            lm[h] += logloss(out[0], y);
            lb[h] += logloss(pb, y);
            lr0[h] += logloss((pos + 0.5) / (seen + 1), y);
            cnt[h]++;
            pos += y;
            seen++;
        }
    }
    fclose(f);
    free(line);
    printf("\nMIND-small sample (%s): %llu views, %.0f clicks; click log loss, second half (first "
           "half): multi-task %.4f (%.4f), FTRL-LR %.4f (%.4f), base rate %.4f (%.4f)\n",
           path, (unsigned long long)views, pos, lm[1] / cnt[1], lm[0] / cnt[0], lb[1] / cnt[1],
           lb[0] / cnt[0], lr0[1] / cnt[1], lr0[0] / cnt[0]);
    model_mtl_destroy(m);
    model_ftrl_destroy(lr);
}

int main(int argc, char **argv) {
    uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000000;
    const char *shapes = getenv("SL_MTL_SHAPES");
    if (!shapes)
        bench_throughput();
    model_mtl_params p;
    if (shapes) {
        for (const char *s = shapes; *s;) {
            unsigned k, h0, h1, mb, bits = 0;
            if (sscanf(s, "%u,%u,%u,%u,%u", &k, &h0, &h1, &mb, &bits) < 4) {
                fprintf(stderr, "SL_MTL_SHAPES: want K,h0,h1,mini_batch[,emb_bits];... at \"%s\"\n",
                        s);
                return 2;
            }
            quality_params(&p, k, h0, h1);
            p.mini_batch = mb;
            if (bits)
                p.emb_bits = bits;
            bench_quality(n, &p);
            const char *semi = strchr(s, ';');
            s = semi ? semi + 1 : s + strlen(s);
        }
    } else {
        quality_params(&p, 16, 128, 64); /* the throughput shape's K and widths */
        bench_quality(n, &p);
        quality_params(&p, 8, 32, 16); /* a smaller shape, same stream */
        bench_quality(n, &p);
    }
    if (argc > 2)
        bench_mind(argv[2]);
    else
        printf("\nMIND: no path given (bench_mtl N ../shared/data/mind/...), skipped\n");
    return 0;
}
