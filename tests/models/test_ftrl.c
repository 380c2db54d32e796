/*
 * test_ftrl.c — FTRL-Proximal logistic regression: against a naive dense
 * reference, gradients by finite differences, learning a known logistic
 * model to within 2 % of the Bayes-optimal loss, L1 sparsity, importance
 * weights, down-sampling recalibration, the guard, fast fields, the
 * one-pass learn against predict + update, the batch learn against the
 * one-pass learn in order, determinism.
 *
 * Legend: D = coordinates (2^bits), n = features of one example.
 * Every random stream has a fixed seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "model_ftrl.h"
#include "model_internal.h"
#include "sl_rand.h"

static model_ftrl *make(double alpha, double beta, double l1, double l2, uint32_t bits) {
    model_ftrl_params p;
    model_ftrl_params_default(&p);
    p.alpha = alpha;
    p.beta = beta;
    p.l1 = l1;
    p.l2 = l2;
    model_ftrl *m = NULL;
    sl_err err = {{0}};
    assert_int_equal(model_ftrl_create(&p, bits, &m, &err), SL_OK);
    return m;
}

/* ---- the naive dense reference ---------------------------------------- */

/* McMahan et al.'s Algorithm 1 written out directly over dense arrays, in
 * float like the model (which rearranges it: 1/α precomputed, the L1 test
 * as a mask, SIMD lanes), so the two agree to a few float roundings per
 * step rather than bitwise; the test allows 1e-5 relative after 1000
 * steps. */

#define REF_D 16

typedef struct ref_ftrl {
    float z[REF_D]; /* (D) */
    float n[REF_D]; /* (D) */
    float alpha, beta, l1, l2;
} ref_ftrl;

static float ref_w(const ref_ftrl *r, int i) {
    float z = r->z[i], n = r->n[i];
    if (fabsf(z) <= r->l1)
        return 0.0f;
    float sgn = z < 0 ? -1.0f : 1.0f;
    return -(z - sgn * r->l1) / ((r->beta + sqrtf(n)) / r->alpha + r->l2);
}

/* p = σ(Σ_i w_i x_i) over the dense x (D). */
static double ref_predict(const ref_ftrl *r, const float *x) {
    double s = 0;
    for (int i = 0; i < REF_D; i++)
        s += (double)ref_w(r, i) * x[i];
    return 1.0 / (1.0 + exp(-s));
}

static void ref_update(ref_ftrl *r, const float *x, float y, float p, float weight) {
    float wv[REF_D];
    for (int i = 0; i < REF_D; i++)
        wv[i] = ref_w(r, i);
    for (int i = 0; i < REF_D; i++) {
        if (x[i] == 0)
            continue;
        float gu = (p - y) * x[i]; /* n grows by weight·gu², as weight copies would */
        float g = weight * gu;
        float sigma = (sqrtf(r->n[i] + weight * gu * gu) - sqrtf(r->n[i])) / r->alpha;
        r->z[i] = r->z[i] + g - sigma * wv[i];
        r->n[i] = r->n[i] + weight * gu * gu;
    }
}

static void test_matches_dense_reference(void **state) {
    (void)state;
    const double alpha = 0.1, beta = 1.0, l1 = 0.3, l2 = 0.5;
    model_ftrl *m = make(alpha, beta, l1, l2, 4);
    ref_ftrl r = {.alpha = (float)alpha, .beta = (float)beta, .l1 = (float)l1, .l2 = (float)l2};
    sl_rand rng;
    sl_rand_seed(&rng, 11);
    double truth[REF_D];
    for (int i = 0; i < REF_D; i++)
        truth[i] = sl_rand_normal(&rng);
    double max_dp = 0;
    for (int t = 0; t < 1000; t++) {
        model_example ex;
        model_example_reset(&ex);
        float x[REF_D] = {0};
        double s = 0;
        /* A random sparse subset, in a shuffled order, distinct indices. */
        uint32_t start = (uint32_t)sl_rand_below(&rng, REF_D);
        for (uint32_t k = 0; k < REF_D; k++) {
            uint32_t i = (start + k * 5) % REF_D; /* 5 is coprime with 16 */
            if (!sl_rand_bernoulli(&rng, 0.3))
                continue;
            float v = (float)sl_rand_normal(&rng);
            model_example_add(&ex, i, v, 0);
            x[i] = v;
            s += truth[i] * v;
        }
        ex.weight = (float)(0.5 + sl_rand_double(&rng));
        float y = sl_rand_bernoulli(&rng, 1.0 / (1.0 + exp(-s))) ? 1.0f : 0.0f;
        float p = model_ftrl_predict(m, &ex);
        double pr = ref_predict(&r, x);
        if (fabs(p - pr) > max_dp)
            max_dp = fabs(p - pr);
        assert_int_equal(model_ftrl_update(m, &ex, y, p), SL_OK);
        ref_update(&r, x, y, p, ex.weight); /* same p: the reference checks the update */
    }
    const float *zn = model_ftrl_zn_const(m);
    double max_dz = 0, max_dn = 0, max_dw = 0;
    for (int i = 0; i < REF_D; i++) {
        max_dz = fmax(max_dz, fabs(zn[2 * i] - r.z[i]) / (1 + fabs(r.z[i])));
        max_dn = fmax(max_dn, fabs(zn[2 * i + 1] - r.n[i]) / (1 + fabs(r.n[i])));
        max_dw = fmax(max_dw, fabs(model_ftrl_weight(m, (uint32_t)i) - ref_w(&r, i)));
    }
    printf("vs the naive reference: |dp| %.1e, z %.1e, n %.1e (relative), |dw| %.1e\n", max_dp,
           max_dz, max_dn, max_dw);
    assert_true(max_dp < 1e-5);
    assert_true(max_dz < 1e-5 && max_dn < 1e-5 && max_dw < 1e-5);
    assert_int_equal(model_ftrl_updates(m), 1000);
    assert_int_equal(model_ftrl_refused(m), 0);
    model_ftrl_destroy(m);
}

/* ---- the SIMD kernels against their scalar form ------------------------ */

/* model__ftrl_dot and model__ftrl_steps, and their _keep/_kept forms
 * (SSE2 where the compiler targets it), with a per-lane 1/α (some lanes of
 * a fast field), against model__ftrl_wa and model__ftrl_step one lane at a
 * time, in the documented order: bitwise equal, so a model learns the same
 * floats on every machine. Values cover the L1 band, fresh coordinates
 * (z = n = 0), and β = l1 = l2 = 0, where a fresh one is a 0/0 the mask
 * must hide. */
static void test_kernels_match_scalar_bitwise(void **state) {
    (void)state;
    sl_rand rng;
    sl_rand_seed(&rng, 19);
    model__ftrl_k ks[2] = {{1.0f / 0.05f, 1.0f, 0.5f, 1.0f}, {1.0f / 0.1f, 0.0f, 0.0f, 0.0f}};
    for (int t = 0; t < 2000; t++) {
        const model__ftrl_k *k = &ks[t & 1];
        _Alignas(16) float z[64], q[64], x[64], ia[64], z2[64], n2[64];
        uint32_t n4 = 4 * (1 + (uint32_t)sl_rand_below(&rng, 16));
        for (uint32_t j = 0; j < n4; j++) {
            z[j] = sl_rand_bernoulli(&rng, 0.2) ? 0.0f : (float)(2 * sl_rand_normal(&rng));
            q[j] = sl_rand_bernoulli(&rng, 0.2) ? 0.0f : (float)(10 * sl_rand_double(&rng));
            x[j] = (float)sl_rand_normal(&rng);
            ia[j] = sl_rand_bernoulli(&rng, 0.3) ? 1.0f / 0.3f : k->inv_alpha; /* a fast field */
            if (q[j] == 0.0f) /* z moves only with a gradient, which grows n */
                z[j] = 0.0f;
        }
        float r = (float)(sl_rand_double(&rng) - 0.5), c = (float)(2 * sl_rand_double(&rng));
        float acc[4] = {0, 0, 0, 0};
        for (uint32_t j = 0; j < n4; j++)
            acc[j & 3] += model__ftrl_wa(z[j], sqrtf(q[j]), ia[j], k) * x[j];
        float dot = (acc[0] + acc[2]) + (acc[1] + acc[3]);
        float fast = model__ftrl_dot(z, q, x, ia, n4, k);
        assert_memory_equal(&dot, &fast, sizeof dot);
        _Alignas(16) float w[64], sqk[64], z3[64], n3[64];
        float kept = model__ftrl_dot_keep(z, q, x, ia, n4, k, w, sqk, NULL);
        assert_memory_equal(&dot, &kept, sizeof dot);
        assert_true(model__ftrl_steps(z, q, x, ia, n4, r, c, 1e6f, k, z2, n2));
        assert_true(model__ftrl_steps_kept(z, q, x, ia, w, sqk, n4, r, c, 1e6f, z3, n3, NULL));
        for (uint32_t j = 0; j < n4; j++) {
            float sq = sqrtf(q[j]), zs, ns;
            model__ftrl_step(z[j], q[j], sq, model__ftrl_wa(z[j], sq, ia[j], k), r * x[j], c,
                             ia[j], &zs, &ns);
            assert_memory_equal(&zs, &z2[j], sizeof zs);
            assert_memory_equal(&ns, &n2[j], sizeof ns);
            assert_memory_equal(&zs, &z3[j], sizeof zs);
            assert_memory_equal(&ns, &n3[j], sizeof ns);
        }
    }
}

/* ---- duplicate indices --------------------------------------------------- */

/* An example that names a coordinate twice updates it twice, the second
 * step seeing the first (the documented order), and leaves no trace of the
 * duplicate detection: against the naive sequential reference, one feature
 * after the other. */
static void test_duplicates_step_in_order(void **state) {
    (void)state;
    const double alpha = 0.1, beta = 1.0, l1 = 0.2, l2 = 0.3;
    model_ftrl *m = make(alpha, beta, l1, l2, 4);
    ref_ftrl r = {.alpha = (float)alpha, .beta = (float)beta, .l1 = (float)l1, .l2 = (float)l2};
    sl_rand rng;
    sl_rand_seed(&rng, 20);
    int with_dup = 0;
    for (int t = 0; t < 500; t++) {
        model_example ex;
        model_example_reset(&ex);
        uint32_t nf = 1 + (uint32_t)sl_rand_below(&rng, 12);
        for (uint32_t j = 0; j < nf; j++) { /* 16 coordinates: repeats are common */
            uint32_t i = (uint32_t)sl_rand_below(&rng, REF_D);
            model_example_add(&ex, i, (float)sl_rand_normal(&rng), 0);
        }
        for (uint32_t a = 0; a < ex.n; a++)
            for (uint32_t b = a + 1; b < ex.n; b++)
                with_dup += a == 0 && ex.idx[a] == ex.idx[b];
        float y = sl_rand_bernoulli(&rng, 0.4) ? 1.0f : 0.0f;
        float p = model_ftrl_predict(m, &ex);
        assert_int_equal(model_ftrl_update(m, &ex, y, p), SL_OK);
        for (uint32_t j = 0; j < ex.n; j++) { /* one feature after the other */
            float x[REF_D] = {0};
            x[ex.idx[j]] = ex.val[j];
            ref_update(&r, x, y, p, 1.0f);
        }
    }
    assert_true(with_dup > 50);
    const float *zn = model_ftrl_zn_const(m);
    for (int i = 0; i < REF_D; i++) {
        assert_true(zn[2 * i + 1] >= 0.0f); /* no mark left behind */
        assert_true(fabs(zn[2 * i] - r.z[i]) <= 1e-5 * (1 + fabs(r.z[i])));
        assert_true(fabs(zn[2 * i + 1] - r.n[i]) <= 1e-5 * (1 + fabs(r.n[i])));
    }
    model_ftrl_destroy(m);
}

/* ---- gradient by finite differences ------------------------------------ */

static void test_gradient_finite_differences(void **state) {
    (void)state;
    /* α = 1, β = 1, l1 = l2 = 0 and n = 0 make w = −z exactly, so a step of
     * ε in z is a step of −ε in w. */
    model_ftrl *m = make(1.0, 1.0, 0.0, 0.0, 6);
    float *zn = model_ftrl_zn(m);
    sl_rand rng;
    sl_rand_seed(&rng, 12);
    for (int i = 0; i < 64; i++)
        zn[2 * i] = (float)(0.5 * sl_rand_normal(&rng));
    for (int trial = 0; trial < 20; trial++) {
        model_example ex;
        model_example_reset(&ex);
        for (uint32_t i = 0; i < 64; i++)
            if (sl_rand_bernoulli(&rng, 0.2))
                model_example_add(&ex, i, (float)sl_rand_normal(&rng), 0);
        ex.weight = (float)(0.5 + 2 * sl_rand_double(&rng));
        float y = (float)(trial & 1);
        double g[MODEL_MAX_SPARSE];
        model_ftrl__gradient(m, &ex, y, g);
        for (uint32_t j = 0; j < ex.n; j++) {
            float *z = &zn[2 * ex.idx[j]];
            float z0 = *z;
            const float eps = 1e-2f;
            *z = z0 - eps; /* w + ε */
            double wp = -(double)*z;
            double lp = ex.weight * model__logloss_margin(model_ftrl__margin(m, &ex), y);
            *z = z0 + eps; /* w − ε */
            double wm = -(double)*z;
            double lm = ex.weight * model__logloss_margin(model_ftrl__margin(m, &ex), y);
            *z = z0;
            double fd = (lp - lm) / (wp - wm);
            assert_true(fabs(fd - g[j]) <= 1e-4 * (1 + fabs(g[j])));
        }
    }
    model_ftrl_destroy(m);
}

/* ---- learning a known logistic model ----------------------------------- */

/* A sparse logistic "world": F categorical fields of C values each plus a
 * bias at index 0; true weights N(0, 0.6²), bias −1.5 (CTR-like rates). */
#define W_F 8
#define W_C 16

typedef struct world {
    sl_rand rng;
    double w[1 + W_F * W_C]; /* true weights */
} world;

static void world_init(world *wd, uint64_t seed) {
    sl_rand_seed(&wd->rng, seed);
    wd->w[0] = -1.5;
    for (int i = 1; i < 1 + W_F * W_C; i++)
        wd->w[i] = 0.6 * sl_rand_normal(&wd->rng);
}

/* OUT: ex (bias + one value per field, at hashed-looking spread indices),
 * *y, *p_true. */
static void world_draw(world *wd, model_example *ex, float *y, double *p_true) {
    model_example_reset(ex);
    model_example_add(ex, 0, 1.0f, 0);
    double s = wd->w[0];
    for (int f = 0; f < W_F; f++) {
        int c = (int)sl_rand_below(&wd->rng, W_C);
        int i = 1 + f * W_C + c;
        model_example_add(ex, (uint32_t)i * 2654435761u, 1.0f, (uint8_t)(f + 1));
        s += wd->w[i];
    }
    *p_true = 1.0 / (1.0 + exp(-s));
    *y = sl_rand_bernoulli(&wd->rng, *p_true) ? 1.0f : 0.0f;
}

static double logloss(double p, double y) {
    p = p < 1e-15 ? 1e-15 : p > 1 - 1e-15 ? 1 - 1e-15 : p;
    return y > 0.5 ? -log(p) : -log(1 - p);
}

static void test_learns_to_bayes_optimal(void **state) {
    (void)state;
    model_ftrl *m = make(0.1, 1.0, 0.0, 0.0, 18);
    world wd;
    world_init(&wd, 13);
    const int T = 200000;
    double loss = 0, bayes = 0, loss_tail = 0, bayes_tail = 0;
    for (int t = 0; t < T; t++) {
        model_example ex;
        float y;
        double pt;
        world_draw(&wd, &ex, &y, &pt);
        float p = model_ftrl_predict(m, &ex);
        loss += logloss(p, y);
        bayes += logloss(pt, y);
        if (t >= T / 2) {
            loss_tail += logloss(p, y);
            bayes_tail += logloss(pt, y);
        }
        assert_int_equal(model_ftrl_update(m, &ex, y, p), SL_OK);
    }
    double gap = loss / bayes - 1, gap_tail = loss_tail / bayes_tail - 1;
    printf("ftrl progressive log loss %.5f, Bayes %.5f, gap %.3f %%; second half gap %.3f %%\n",
           loss / T, bayes / T, 100 * gap, 100 * gap_tail);
    assert_true(gap < 0.02);
    assert_true(gap_tail < gap); /* the gap shrinks as the stream grows */
    model_ftrl_destroy(m);
}

/* ---- L1 sparsity -------------------------------------------------------- */

static void test_l1_zeroes_useless_coordinates(void **state) {
    (void)state;
    /* A noise coordinate's z is a zero-mean walk of the gradients (sd ≈ 17
     * after 5000 examples here); l1 = 100 is six of those. */
    model_ftrl *m = make(0.1, 1.0, 100.0, 1.0, 8);
    sl_rand rng;
    sl_rand_seed(&rng, 14);
    /* The bias (0) and coordinates 1 and 2 decide the label; 10..29 are noise. */
    for (int t = 0; t < 5000; t++) {
        model_example ex;
        model_example_reset(&ex);
        model_example_add(&ex, 0, 1.0f, 0);
        int a = sl_rand_bernoulli(&rng, 0.5), b = sl_rand_bernoulli(&rng, 0.5);
        if (a)
            model_example_add(&ex, 1, 1.0f, 0);
        if (b)
            model_example_add(&ex, 2, 1.0f, 0);
        for (uint32_t i = 10; i < 30; i++)
            if (sl_rand_bernoulli(&rng, 0.3))
                model_example_add(&ex, i, 1.0f, 0);
        double s = -1.0 + 3.0 * a - 3.0 * b;
        float y = sl_rand_bernoulli(&rng, 1 / (1 + exp(-s))) ? 1.0f : 0.0f;
        assert_int_equal(model_ftrl_update(m, &ex, y, model_ftrl_predict(m, &ex)), SL_OK);
    }
    printf("l1: w1 %.3f w2 %.3f\n", model_ftrl_weight(m, 1), model_ftrl_weight(m, 2));
    assert_true(model_ftrl_weight(m, 1) > 0.5f);
    assert_true(model_ftrl_weight(m, 2) < -0.5f);
    for (uint32_t i = 10; i < 30; i++)
        assert_true(model_ftrl_weight(m, i) == 0.0f); /* exactly */
    model_ftrl_destroy(m);
}

/* ---- importance weights ------------------------------------------------- */

static void test_weight_three_is_three_copies(void **state) {
    (void)state;
    model_ftrl *a = make(0.05, 1.0, 0.0, 0.0, 8);
    model_ftrl *b = make(0.05, 1.0, 0.0, 0.0, 8);
    world wd;
    world_init(&wd, 15);
    /* The gradient scales exactly with the weight. */
    model_example ex;
    float y;
    double pt, g1[MODEL_MAX_SPARSE], g3[MODEL_MAX_SPARSE];
    world_draw(&wd, &ex, &y, &pt);
    model_ftrl__gradient(a, &ex, y, g1);
    ex.weight = 3.0f;
    model_ftrl__gradient(a, &ex, y, g3);
    for (uint32_t j = 0; j < ex.n; j++)
        assert_true(fabs(g3[j] - 3.0 * g1[j]) <= 1e-12 * (1 + fabs(g1[j])));
    /* And learning with weight 3 lands close to learning from three copies
     * (not bitwise: the copies see their own moving predictions), much
     * closer than learning from one copy does. */
    model_ftrl *c = make(0.05, 1.0, 0.0, 0.0, 8);
    for (int t = 0; t < 5000; t++) {
        world_draw(&wd, &ex, &y, &pt);
        assert_int_equal(model_ftrl_update(c, &ex, y, model_ftrl_predict(c, &ex)), SL_OK);
        for (int r = 0; r < 3; r++)
            assert_int_equal(model_ftrl_update(b, &ex, y, model_ftrl_predict(b, &ex)), SL_OK);
        ex.weight = 3.0f;
        assert_int_equal(model_ftrl_update(a, &ex, y, model_ftrl_predict(a, &ex)), SL_OK);
    }
    double d3 = 0, d1 = 0;
    for (int t = 0; t < 1000; t++) {
        world_draw(&wd, &ex, &y, &pt);
        float pb = model_ftrl_predict(b, &ex);
        d3 += fabs(model_ftrl_predict(a, &ex) - pb) / 1000;
        d1 += fabs(model_ftrl_predict(c, &ex) - pb) / 1000;
    }
    printf("mean |Δp| to three copies: weight 3 %.4f, weight 1 %.4f\n", d3, d1);
    assert_true(d3 < 0.002);
    assert_true(d3 < d1 / 3);
    model_ftrl_destroy(a);
    model_ftrl_destroy(b);
    model_ftrl_destroy(c);
}

/* ---- down-sampling recalibration --------------------------------------- */

static void test_calibration(void **state) {
    (void)state;
    /* Hand-computed: p / (p + (1 − p)·neg_weight). */
    assert_true(fabsf(model_ftrl_calibrate(0.5f, 10.0) - 1.0f / 11.0f) < 1e-7f);
    assert_true(fabsf(model_ftrl_calibrate(0.2f, 4.0) - 0.2f / 3.4f) < 1e-7f);
    assert_true(fabsf(model_ftrl_calibrate(0.9f, 100.0) - 0.9f / 10.9f) < 1e-7f);
    assert_true(model_ftrl_calibrate(0.3f, 1.0) == 0.3f);
    assert_true(model_ftrl_calibrate(0.0f, 10.0) == 0.0f);
    assert_true(model_ftrl_calibrate(1.0f, 10.0) == 1.0f);
    /* A fresh model predicts 0.5; with neg_weight 10 the calibrated one is 1/11. */
    model_ftrl_params p;
    model_ftrl_params_default(&p);
    p.neg_weight = 10.0;
    model_ftrl *m = NULL;
    sl_err err = {{0}};
    assert_int_equal(model_ftrl_create(&p, 4, &m, &err), SL_OK);
    model_example ex;
    model_example_reset(&ex);
    model_example_add(&ex, 3, 1.0f, 0);
    assert_true(model_ftrl_predict(m, &ex) == 0.5f);
    assert_true(fabsf(model_ftrl_predict_calibrated(m, &ex) - 1.0f / 11.0f) < 1e-7f);
    model_ftrl_destroy(m);
    /* End to end: a 5 % base rate, negatives kept 1 in 10 and not
     * re-weighted; the calibrated prediction recovers the 5 %. */
    p.alpha = 0.1;
    p.l1 = 0;
    assert_int_equal(model_ftrl_create(&p, 4, &m, &err), SL_OK);
    sl_rand rng;
    sl_rand_seed(&rng, 16);
    for (int t = 0; t < 100000; t++) {
        float y = sl_rand_bernoulli(&rng, 0.05) ? 1.0f : 0.0f;
        if (y == 0 && !sl_rand_bernoulli(&rng, 0.1))
            continue;
        assert_int_equal(model_ftrl_update(m, &ex, y, model_ftrl_predict(m, &ex)), SL_OK);
    }
    float q = model_ftrl_predict_calibrated(m, &ex);
    printf("raw %.4f calibrated %.4f (true 0.05)\n", model_ftrl_predict(m, &ex), q);
    assert_true(fabsf(q - 0.05f) < 0.005f);
    model_ftrl_destroy(m);
}

/* ---- the guard ---------------------------------------------------------- */

static void test_guard_refuses_and_leaves_model_unchanged(void **state) {
    (void)state;
    model_ftrl *m = make(0.1, 1.0, 0.1, 0.1, 10);
    world wd;
    world_init(&wd, 17);
    model_example ex;
    float y;
    double pt;
    for (int t = 0; t < 2000; t++) {
        world_draw(&wd, &ex, &y, &pt);
        assert_int_equal(model_ftrl_update(m, &ex, y, model_ftrl_predict(m, &ex)), SL_OK);
    }
    size_t bytes = ((size_t)1 << 10) * 2 * sizeof(float);
    float *before = malloc(bytes);
    assert_non_null(before);
    memcpy(before, model_ftrl_zn_const(m), bytes);
    uint64_t updates = model_ftrl_updates(m);
    /* A huge value last, so the earlier coordinates were already stepped and
     * must be rolled back; a NaN value; a NaN weight; a NaN p; an infinite
     * label; a duplicate index before the huge value. */
    for (int c = 0; c < 6; c++) {
        world_draw(&wd, &ex, &y, &pt);
        if (c == 0)
            ex.val[ex.n - 1] = 1e20f;
        if (c == 1)
            ex.val[3] = NAN;
        if (c == 2)
            ex.weight = NAN;
        float p = model_ftrl_predict(m, &ex);
        y = p < 0.5f ? 1.0f : 0.0f; /* wrong, so the step is not zero */
        if (c == 3)
            p = NAN;
        if (c == 4)
            y = INFINITY;
        if (c == 5) {
            model_example_add(&ex, ex.idx[2], 1.0f, 0);
            model_example_add(&ex, 99, -1e30f, 0);
        }
        assert_int_equal(model_ftrl_update(m, &ex, y, p), SL_ERR_INVALID);
    }
    assert_memory_equal(before, model_ftrl_zn_const(m), bytes);
    assert_int_equal(model_ftrl_refused(m), 6);
    assert_int_equal(model_ftrl_updates(m), updates);
    /* A moderately large step passes under the default bound. */
    world_draw(&wd, &ex, &y, &pt);
    ex.val[1] = 1000.0f;
    assert_int_equal(model_ftrl_update(m, &ex, y, model_ftrl_predict(m, &ex)), SL_OK);
    free(before);
    model_ftrl_destroy(m);
}

static void test_create_refuses_bad_params(void **state) {
    (void)state;
    model_ftrl_params p;
    model_ftrl_params_default(&p);
    model_ftrl *m = (model_ftrl *)&p;
    sl_err err = {{0}};
    assert_int_equal(model_ftrl_create(&p, 0, &m, &err), SL_ERR_INVALID);
    assert_null(m);
    assert_int_equal(model_ftrl_create(&p, 31, &m, &err), SL_ERR_INVALID);
    p.alpha = 0;
    assert_int_equal(model_ftrl_create(&p, 10, &m, &err), SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "alpha"));
    model_ftrl_destroy(NULL);
}

/* ---- fast fields ---------------------------------------------------------- */

/* A field in fast_fields learns exactly as a model whose alpha is
 * fast_alpha, and the other fields as the base alpha: on examples from one
 * field only, the tables match those two models bitwise; on mixed ones, the
 * model is not either of them. */
static void test_fast_fields_learn_at_their_alpha(void **state) {
    (void)state;
    model_ftrl_params p;
    model_ftrl_params_default(&p);
    p.alpha = 0.05;
    p.fast_alpha = 0.3;
    p.fast_fields[0] = (uint64_t)1 << 3; /* field 3 */
    model_ftrl *m = NULL, *slow = make(0.05, 1.0, 1.0, 1.0, 10);
    model_ftrl *fast = make(0.3, 1.0, 1.0, 1.0, 10);
    sl_err err = {{0}};
    assert_int_equal(model_ftrl_create(&p, 10, &m, &err), SL_OK);
    sl_rand rng;
    sl_rand_seed(&rng, 21);
    for (int t = 0; t < 3000; t++) {
        uint8_t field = t & 1 ? 3 : 5; /* 3 is fast */
        model_example ex;
        model_example_reset(&ex);
        for (int j = 0; j < 6; j++) /* field 3 on even coordinates, 5 on odd ones */
            model_example_add(&ex, 2 * (uint32_t)sl_rand_below(&rng, 256) + (field == 5), 1.0f,
                              field);
        if (t % 7 == 0) /* a repeated index: the sequential path */
            model_example_add(&ex, ex.idx[0], 1.0f, field);
        float y = sl_rand_bernoulli(&rng, 0.3) ? 1.0f : 0.0f, pm, pr;
        model_ftrl *ref = field == 3 ? fast : slow;
        assert_int_equal(model_ftrl_learn(m, &ex, y, &pm), SL_OK);
        assert_int_equal(model_ftrl_learn(ref, &ex, y, &pr), SL_OK);
        assert_memory_equal(&pm, &pr, sizeof pm);
    }
    const float *a = model_ftrl_zn_const(m), *f = model_ftrl_zn_const(fast);
    const float *s = model_ftrl_zn_const(slow);
    for (uint32_t i = 0; i < 1024; i++) /* even: field 3's, odd: field 5's */
        assert_memory_equal(a + 2 * i, (i & 1 ? s : f) + 2 * i, 2 * sizeof(float));
    model_ftrl_destroy(m);
    model_ftrl_destroy(slow);
    model_ftrl_destroy(fast);
    p.fast_alpha = 0;
    assert_int_equal(model_ftrl_create(&p, 10, &m, &err), SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "fast_alpha"));
}

/* ---- learn = predict + update = the batch learn --------------------------- */

/* Two models bitwise the same: every z and n, and the counters. */
static void assert_ftrl_same(const model_ftrl *a, const model_ftrl *b) {
    assert_int_equal(model_ftrl_bits(a), model_ftrl_bits(b));
    assert_memory_equal(model_ftrl_zn_const(a), model_ftrl_zn_const(b),
                        ((size_t)1 << model_ftrl_bits(a)) * 2 * sizeof(float));
    assert_int_equal(model_ftrl_updates(a), model_ftrl_updates(b));
    assert_int_equal(model_ftrl_refused(a), model_ftrl_refused(b));
}

/* world_draw with, at example t of a stream, the cases the fast paths must
 * get right: a repeated index (the two-call fallback), a step the guard
 * refuses (a huge value), a NaN importance weight, an empty example. */
static void draw_hard(world *wd, int t, model_example *ex, float *y) {
    double pt;
    world_draw(wd, ex, y, &pt);
    if (t % 97 == 5) /* a repeated index */
        model_example_add(ex, ex->idx[3], 0.5f, 0);
    if (t % 101 == 7) /* a step the guard refuses */
        model_example_add(ex, 77, 1e30f, 0);
    if (t % 103 == 9)
        ex->weight = NAN;
    if (t % 211 == 11)
        model_example_reset(ex);
}

/* model_ftrl_learn (the learner's one-pass path) against the two calls on
 * the same stream: bitwise the same prediction, status and table after
 * every example, through repeated indices, empty examples and the guard's
 * refusals (draw_hard). */
static void test_learn_is_predict_then_update(void **state) {
    (void)state;
    model_ftrl *a = make(0.1, 1.0, 0.5, 0.5, 10), *b = make(0.1, 1.0, 0.5, 0.5, 10);
    world wd;
    world_init(&wd, 19);
    for (int t = 0; t < 5000; t++) {
        model_example ex;
        float y;
        draw_hard(&wd, t, &ex, &y);
        float pa, pb = model_ftrl_predict(b, &ex);
        sl_status sa = model_ftrl_learn(a, &ex, y, &pa);
        sl_status sb = model_ftrl_update(b, &ex, y, pb);
        assert_memory_equal(&pa, &pb, sizeof pa);
        assert_int_equal(sa, sb);
    }
    assert_ftrl_same(a, b);
    assert_true(model_ftrl_refused(a) > 40);
    model_ftrl_destroy(a);
    model_ftrl_destroy(b);
}

/* model_ftrl_learn_batch against model_ftrl_learn called in order, on
 * batches of 0 to 64 examples (shorter and longer than the prefetch
 * distance) over draw_hard's stream: bitwise the same predictions,
 * statuses, table and counters after every batch. The guard's refusals
 * fall at the start, middle and end of batches; each is refused and
 * counted where the sequential learn refuses it, and the examples after it
 * in its batch are learned as they are there. */
static void test_batch_is_sequential(void **state) {
    (void)state;
    static const uint32_t sizes[] = {1, 64, 2, 0, 3, 17, 5, 33};
    model_ftrl *a = make(0.1, 1.0, 0.5, 0.5, 10), *b = make(0.1, 1.0, 0.5, 0.5, 10);
    model_example exs[64];
    const model_example *ptrs[64];
    float ys[64], pa[64], pb[64];
    sl_status sa[64], sb[64];
    int inside = 0; /* refusals with examples before and after them in their batch */
    world wd;
    world_init(&wd, 23);
    for (int t = 0, k = 0; t < 6000; k++) {
        uint32_t n = sizes[k % (sizeof sizes / sizeof sizes[0])];
        for (uint32_t i = 0; i < n; i++, t++) {
            draw_hard(&wd, t, &exs[i], &ys[i]);
            ptrs[i] = &exs[i];
        }
        uint32_t refused = 0;
        for (uint32_t i = 0; i < n; i++) {
            sa[i] = model_ftrl_learn(a, &exs[i], ys[i], &pa[i]);
            refused += sa[i] != SL_OK;
        }
        /* Without st every fourth batch: the count alone. */
        sl_status *st = k % 4 == 3 ? NULL : sb;
        assert_int_equal(model_ftrl_learn_batch(b, ptrs, ys, n, pb, st), refused);
        for (uint32_t i = 0; i < n; i++) {
            assert_memory_equal(&pa[i], &pb[i], sizeof pa[i]);
            if (st)
                assert_int_equal(sa[i], sb[i]);
            inside += sa[i] != SL_OK && i > 0 && i + 1 < n;
        }
        assert_ftrl_same(a, b);
    }
    assert_true(model_ftrl_refused(a) > 40);
    assert_true(inside > 10);
    model_ftrl_destroy(a);
    model_ftrl_destroy(b);
}

/* ---- determinism -------------------------------------------------------- */

static void test_deterministic(void **state) {
    (void)state;
    model_ftrl *a = make(0.1, 1.0, 0.5, 0.5, 12), *b = make(0.1, 1.0, 0.5, 0.5, 12);
    model_ftrl *ms[2] = {a, b};
    for (int r = 0; r < 2; r++) {
        world wd;
        world_init(&wd, 18);
        for (int t = 0; t < 20000; t++) {
            model_example ex;
            float y;
            double pt;
            world_draw(&wd, &ex, &y, &pt);
            assert_int_equal(model_ftrl_update(ms[r], &ex, y, model_ftrl_predict(ms[r], &ex)),
                             SL_OK);
        }
    }
    assert_ftrl_same(a, b);
    model_ftrl_destroy(a);
    model_ftrl_destroy(b);
}

/* ---- the base margin ---------------------------------------------------- */

/* An untrained model serves its surface's base rate: the offset is the
 * log-odds of the raw rate (down-sampling included); 0.5 gives exactly 0.
 * Gradients hold with it, and on a stream whose rate is 3 % it spares the
 * cold start: the first 2000 examples cost far less than from 0.5. */
static void test_base_margin(void **state) {
    (void)state;
    assert_true(model_ftrl_base_margin(0.5, 1.0) == 0.0);
    assert_true(fabs(model_ftrl_base_margin(0.02, 1.0) - log(0.02 / 0.98)) < 1e-12);
    double m10 = model_ftrl_base_margin(0.02, 10.0);
    assert_true(fabs(model_ftrl_calibrate((float)(1 / (1 + exp(-m10))), 10.0) - 0.02) < 1e-6);
    model_ftrl_params p;
    model_ftrl_params_default(&p);
    p.base_margin = 31;
    model_ftrl *m = NULL;
    sl_err err = {{0}};
    assert_int_equal(model_ftrl_create(&p, 8, &m, &err), SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "base_margin"));
    p.neg_weight = 10;
    p.base_margin = m10;
    assert_int_equal(model_ftrl_create(&p, 8, &m, &err), SL_OK);
    model_example ex;
    model_example_reset(&ex);
    model_example_add(&ex, 3, 1.0f, 0);
    model_example_add(&ex, 9, 2.5f, 1);
    assert_true(fabsf(model_ftrl_predict_calibrated(m, &ex) - 0.02f) < 1e-6f);
    /* The gradient by central differences in z (α = β = 1, no L1/L2, n = 0:
     * w = −z) with the offset in the margin. */
    model_ftrl_destroy(m);
    model_ftrl_params_default(&p);
    p.alpha = p.beta = 1;
    p.l1 = p.l2 = 0;
    p.base_margin = -1.7;
    assert_int_equal(model_ftrl_create(&p, 6, &m, &err), SL_OK);
    float *zn = model_ftrl_zn(m);
    zn[2 * 3] = 0.4f;
    zn[2 * 9] = -0.3f;
    double g[MODEL_MAX_SPARSE];
    model_ftrl__gradient(m, &ex, 1.0f, g);
    for (uint32_t j = 0; j < ex.n; j++) {
        float *z = &zn[2 * ex.idx[j]], z0 = *z;
        *z = z0 - 1e-2f;
        double wp = -(double)*z, lp = -log(model_ftrl_predict(m, &ex));
        *z = z0 + 1e-2f;
        double wm = -(double)*z, lm = -log(model_ftrl_predict(m, &ex));
        *z = z0;
        assert_true(fabs((lp - lm) / (wp - wm) - g[j]) < 1e-3 * (1 + fabs(g[j])));
    }
    model_ftrl_destroy(m);
    /* The cold start on a 3 % stream (a bias feature and noise features). */
    double loss[2] = {0, 0};
    for (int c = 0; c < 2; c++) {
        model_ftrl_params_default(&p);
        p.base_margin = c ? model_ftrl_base_margin(0.03, 1.0) : 0.0;
        assert_int_equal(model_ftrl_create(&p, 12, &m, &err), SL_OK);
        sl_rand rng;
        sl_rand_seed(&rng, 61);
        for (int t = 0; t < 2000; t++) {
            model_example_reset(&ex);
            model_example_add(&ex, 0, 1.0f, 0);
            for (int f = 1; f < 8; f++)
                model_example_add(&ex, (uint32_t)sl_rand_below(&rng, 4096), 1.0f, (uint8_t)f);
            float y = sl_rand_bernoulli(&rng, 0.03) ? 1.0f : 0.0f, pr;
            assert_int_equal(model_ftrl_learn(m, &ex, y, &pr), SL_OK);
            loss[c] += logloss(pr, y);
        }
        model_ftrl_destroy(m);
    }
    printf("3 %% stream, first 2000 examples: log loss %.4f from 0.5, %.4f from the base rate\n",
           loss[0] / 2000, loss[1] / 2000);
    assert_true(loss[1] < 0.7 * loss[0]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_dense_reference),
        cmocka_unit_test(test_kernels_match_scalar_bitwise),
        cmocka_unit_test(test_duplicates_step_in_order),
        cmocka_unit_test(test_gradient_finite_differences),
        cmocka_unit_test(test_learns_to_bayes_optimal),
        cmocka_unit_test(test_l1_zeroes_useless_coordinates),
        cmocka_unit_test(test_weight_three_is_three_copies),
        cmocka_unit_test(test_calibration),
        cmocka_unit_test(test_guard_refuses_and_leaves_model_unchanged),
        cmocka_unit_test(test_create_refuses_bad_params),
        cmocka_unit_test(test_fast_fields_learn_at_their_alpha),
        cmocka_unit_test(test_learn_is_predict_then_update),
        cmocka_unit_test(test_batch_is_sequential),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_base_margin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
