/*
 * test_fm.c — the online factorization machine: the O(n·k) margin against
 * the naive O(n²·k) pairwise sum, gradients by finite differences (factor
 * entries, linear weights, bias), learning a pairwise interaction that LR
 * cannot, importance weights, the guard, the factor table's size, the
 * one-pass learn against predict + update, the batch learn against the
 * one-pass learn in order, the AVX2 kernels against the SSE2 ones,
 * determinism. The field-aware variant (FFM) against its own pairwise
 * definition and finite differences, learning field-specific interactions
 * the FM cannot at the same k, and through the same guard, learn, batch and
 * determinism tests as the FM.
 *
 * Legend: D = 2^bits coordinates, R = 2^factor_bits rows, k = factors,
 * n = features of one example. Every random stream has a fixed seed.
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

#include "model_fm.h"
#include "model_ftrl.h"
#include "model_internal.h"
#include "sl_rand.h"

static bool field_aware; /* make() builds the FFM (the test_ffm_ wrappers set it) */

static model_fm *make(uint32_t bits, uint32_t factor_bits, uint32_t k, double init_std,
                      uint64_t seed) {
    model_fm_params p;
    model_fm_params_default(&p);
    p.field_aware = field_aware;
    p.k = k;
    p.factor_bits = factor_bits;
    p.init_std = init_std;
    p.seed = seed;
    p.lin.l1 = 0;
    p.lin.l2 = 0;
    p.lin.alpha = 0.1;
    model_fm *m = NULL;
    sl_err err = {{0}};
    assert_int_equal(model_fm_create(&p, bits, &m, &err), SL_OK);
    return m;
}

/* Random example over distinct indices of [0, D) (and so distinct rows when
 * the factor table is the identity), index i in field i mod 5 (the FM
 * ignores fields). */
static void random_example(sl_rand *rng, uint32_t d, double density, model_example *ex) {
    model_example_reset(ex);
    for (uint32_t i = 0; i < d && ex->n < MODEL_MAX_SPARSE; i++)
        if (sl_rand_bernoulli(rng, density))
            model_example_add(ex, i, (float)sl_rand_normal(rng), (uint8_t)(i % 5));
}

/* ---- the O(n·k) margin against the naive pairwise sum ----------------- */

/* The FTRL weight from the paper's formula, in double. */
static double ref_w(double z, double n, double alpha, double beta, double l1, double l2) {
    if (fabs(z) <= l1)
        return 0.0;
    double sgn = z < 0 ? -1.0 : 1.0;
    return -(z - sgn * l1) / ((beta + sqrt(n)) / alpha + l2);
}

/* The row feature a of ex pairs with feature b through: its one row (the
 * FM), its row for b's field (the FFM). */
static uint32_t ref_row(model_fm *m, const model_example *ex, uint32_t a, uint32_t b) {
    return field_aware ? model_fm__ffm_row(m, ex->idx[a], ex->field[b])
                       : model_fm__row(m, ex->idx[a]);
}

/* b + Σ_i w_i x_i + Σ_{i<j} ⟨v_{r(i)}, v_{r(j)}⟩ x_i x_j (the FFM: v_{r(i, f_j)},
 * v_{r(j, f_i)}), straight from the definition, in double. The model computes in float with the
 * sum-of-squares identity, so they agree to float rounding (1e-5 relative
 * allowed; the identity's s_f² − Σ v² x² cancels a little). */
static double ref_margin(model_fm *m, const model_example *ex) {
    const model_fm_params *p = model_fm_params_get(m);
    const float *zn = model_fm_linear_zn_const(m), *vg = model_fm_factors_const(m);
    const float *zb = model_fm_bias_zn(m);
    uint32_t k = model_fm_k(m), mask = (1u << model_fm_bits(m)) - 1;
    double s = ref_w(zb[0], zb[1], p->lin.alpha, p->lin.beta, 0, 0);
    for (uint32_t a = 0; a < ex->n; a++) {
        uint32_t i = ex->idx[a] & mask;
        s += ref_w(zn[2 * i], zn[2 * i + 1], p->lin.alpha, p->lin.beta, p->lin.l1, p->lin.l2) *
             ex->val[a];
        for (uint32_t b = a + 1; b < ex->n; b++) {
            const float *va = vg + (size_t)ref_row(m, ex, a, b) * 2 * k;
            const float *vb = vg + (size_t)ref_row(m, ex, b, a) * 2 * k;
            double dot = 0;
            for (uint32_t f = 0; f < k; f++)
                dot += (double)va[f] * vb[f];
            s += dot * ex->val[a] * ex->val[b];
        }
    }
    return s;
}

static void test_margin_matches_pairwise_reference(void **state) {
    (void)state;
    /* Hashed rows (factor_bits 7 < bits 10), so shared rows are covered. */
    model_fm *m = make(10, 7, 8, 0.3, 21);
    sl_rand rng;
    sl_rand_seed(&rng, 22);
    double worst = 0;
    for (int t = 0; t < 300; t++) {
        model_example ex;
        random_example(&rng, 1024, 0.06, &ex);
        double fast = model_fm__margin(m, &ex), ref = ref_margin(m, &ex);
        worst = fmax(worst, fabs(fast - ref) / (1 + fabs(ref)));
        float y = sl_rand_bernoulli(&rng, 0.3) ? 1.0f : 0.0f;
        assert_int_equal(model_fm_update(m, &ex, y, model_fm_predict(m, &ex)), SL_OK);
    }
    printf("%s: worst relative margin error vs the pairwise definition %.1e\n",
           field_aware ? "ffm" : "fm", worst);
    assert_true(worst <= 1e-5);
    model_fm_destroy(m);
}

/* ---- the update against the formulas ---------------------------------- */

/* One update of a trained model against model_fm.h's formulas written out
 * in double with an exact square root: v −= lr·c·ĝ/√G, G += c·ĝ², the FTRL
 * step of the bias and linear part. The model uses float and model__rsqrt
 * (≤ 5e-6 relative), so 2e-5 relative is allowed (for v, relative to
 * |v| + |Δv|: a small v after a large step cancels). Identity rows,
 * distinct indices. */
static void test_update_matches_formulas(void **state) {
    (void)state;
    model_fm *m = make(8, 8, 4, 0.2, 35);
    const model_fm_params *p = model_fm_params_get(m);
    sl_rand rng;
    sl_rand_seed(&rng, 36);
    model_example ex;
    for (int t = 0; t < 200; t++) { /* non-trivial n, G */
        random_example(&rng, 256, 0.05, &ex);
        float y = sl_rand_bernoulli(&rng, 0.3) ? 1.0f : 0.0f;
        assert_int_equal(model_fm_update(m, &ex, y, model_fm_predict(m, &ex)), SL_OK);
    }
    float *zn = model_fm_linear_zn(m), *vg = model_fm_factors(m), *zb = model_fm_bias_zn(m);
    double worst = 0;
    for (int t = 0; t < 50; t++) {
        random_example(&rng, 256, 0.05, &ex);
        ex.weight = (float)(0.5 + sl_rand_double(&rng));
        float y = (float)(t & 1), pr = model_fm_predict(m, &ex);
        double r = (double)pr - y, c = ex.weight, a = p->lin.alpha, b = p->lin.beta;
        double s[4] = {0}, want_v[MODEL_MAX_SPARSE][4], want_g[MODEL_MAX_SPARSE][4];
        double scale_v[MODEL_MAX_SPARSE][4]; /* |v| + |Δv|: v's error is relative to these */
        double want_z[MODEL_MAX_SPARSE], want_n[MODEL_MAX_SPARSE], want_zb, want_nb;
        for (uint32_t j = 0; j < ex.n; j++)
            for (int f = 0; f < 4; f++)
                s[f] += (double)vg[ex.idx[j] * 8 + f] * ex.val[j];
        for (uint32_t j = 0; j < ex.n; j++) {
            double x = ex.val[j], z = zn[2 * ex.idx[j]], n = zn[2 * ex.idx[j] + 1];
            double w = ref_w(z, n, a, b, p->lin.l1, p->lin.l2), gu = r * x;
            want_n[j] = n + c * gu * gu;
            want_z[j] = z + c * gu - (sqrt(want_n[j]) - sqrt(n)) / a * w;
            for (int f = 0; f < 4; f++) {
                double v = vg[ex.idx[j] * 8 + f], g = vg[ex.idx[j] * 8 + 4 + f];
                double gv = r * x * (s[f] - v * x) + p->factor_l2 * v;
                want_g[j][f] = g + c * gv * gv;
                want_v[j][f] = v - p->factor_lr * c * gv / sqrt(want_g[j][f]);
                scale_v[j][f] = fabs(v) + fabs(want_v[j][f] - v);
            }
        }
        double wb = ref_w(zb[0], zb[1], a, b, 0, 0);
        want_nb = zb[1] + c * r * r;
        want_zb = zb[0] + c * r - (sqrt(want_nb) - sqrt(zb[1])) / a * wb;
        assert_int_equal(model_fm_update(m, &ex, y, pr), SL_OK);
#define REL(got, want) fabs((double)(got) - (want)) / (1e-3 + fabs(want))
        worst = fmax(worst, fmax(REL(zb[0], want_zb), REL(zb[1], want_nb)));
        for (uint32_t j = 0; j < ex.n; j++) {
            worst = fmax(worst, REL(zn[2 * ex.idx[j]], want_z[j]));
            worst = fmax(worst, REL(zn[2 * ex.idx[j] + 1], want_n[j]));
            for (int f = 0; f < 4; f++) {
                worst = fmax(worst, fabs(vg[ex.idx[j] * 8 + f] - want_v[j][f]) / scale_v[j][f]);
                worst = fmax(worst, REL(vg[ex.idx[j] * 8 + 4 + f], want_g[j][f]));
            }
        }
#undef REL
    }
    printf("fm: worst relative error of an update vs the formulas %.1e\n", worst);
    assert_true(worst <= 2e-5);
    model_fm_destroy(m);
}

/* model__rsqrt: within 5e-6 of 1/√x over the normal floats (sampled), and
 * the SSE2 form bitwise equal to the scalar one. */
static void test_rsqrt(void **state) {
    (void)state;
    double worst = 0;
    for (uint32_t i = 0x00800000u; i < 0x7f800000u; i += 4099) {
        float x, y;
        memcpy(&x, &i, sizeof x);
        y = model__rsqrt(x);
        worst = fmax(worst, fabs((double)y * sqrt((double)x) - 1.0));
#ifdef MODEL__SSE2
        float v[4];
        _mm_storeu_ps(v, model__rsqrt4(_mm_set1_ps(x)));
        assert_memory_equal(&v[0], &y, sizeof y);
#endif
    }
    printf("rsqrt: worst relative error %.2e\n", worst);
    assert_true(worst <= 5e-6);
}

/* ---- gradients by finite differences ----------------------------------- */

static double loss_at(model_fm *m, const model_example *ex, float y) {
    return ex->weight * model__logloss_margin(model_fm__margin(m, ex), y);
}

/* Central difference of the loss w.r.t. *x (a stored float), with the step
 * actually taken after rounding to float. The margin is computed in float,
 * so the step trades its rounding (~1e-7 of the margin, divided by the
 * step) against truncation (the step squared): 5e-3 gives ~4e-5 worst. */
static double fd(model_fm *m, const model_example *ex, float y, float *x, float eps) {
    float x0 = *x;
    *x = x0 + eps;
    double hi = *x, lp = loss_at(m, ex, y);
    *x = x0 - eps;
    double lo = *x, lm = loss_at(m, ex, y);
    *x = x0;
    return (lp - lm) / (hi - lo);
}

/* The model the gradient tests differentiate: α = 1, β = 1, l1 = l2 = 0,
 * n = 0, so w = −z exactly and the derivative w.r.t. w is minus the one
 * w.r.t. z; k = 4, factor_bits = bits (the FM: identity rows); the first
 * 64 linear z and the bias's z set from rng. */
static model_fm *make_fd(uint32_t bits, uint64_t seed, bool ffm, sl_rand *rng) {
    model_fm_params p;
    model_fm_params_default(&p);
    p.lin.alpha = 1;
    p.lin.beta = 1;
    p.lin.l1 = 0;
    p.lin.l2 = 0;
    p.k = 4;
    p.factor_bits = bits;
    p.init_std = 0.4;
    p.seed = seed;
    p.field_aware = ffm;
    model_fm *m = NULL;
    sl_err err = {{0}};
    assert_int_equal(model_fm_create(&p, bits, &m, &err), SL_OK);
    float *zn = model_fm_linear_zn(m);
    for (int i = 0; i < 64; i++)
        zn[2 * i] = (float)(0.3 * sl_rand_normal(rng));
    model_fm_bias_zn(m)[0] = 0.4f;
    return m;
}

static void test_gradient_finite_differences(void **state) {
    (void)state;
    sl_rand rng;
    sl_rand_seed(&rng, 24);
    model_fm *m = make_fd(6, 23, false, &rng);
    float *zn = model_fm_linear_zn(m), *vg = model_fm_factors(m), *zb = model_fm_bias_zn(m);
    double worst = 0;
    for (int trial = 0; trial < 10; trial++) {
        model_example ex;
        random_example(&rng, 64, 0.15, &ex);
        ex.weight = (float)(0.5 + 2 * sl_rand_double(&rng));
        float y = (float)(trial & 1);
        double g_b, g_w[MODEL_MAX_SPARSE], g_v[MODEL_MAX_SPARSE * 4];
        model_fm__gradient(m, &ex, y, &g_b, g_w, g_v);
        double e = fabs(-fd(m, &ex, y, &zb[0], 5e-3f) - g_b) / (1 + fabs(g_b));
        worst = e > worst ? e : worst;
        for (uint32_t j = 0; j < ex.n; j++) {
            e = fabs(-fd(m, &ex, y, &zn[2 * ex.idx[j]], 5e-3f) - g_w[j]) / (1 + fabs(g_w[j]));
            worst = e > worst ? e : worst;
            for (uint32_t f = 0; f < 4; f++) {
                float *v = &vg[(size_t)model_fm__row(m, ex.idx[j]) * 8 + f];
                e = fabs(fd(m, &ex, y, v, 5e-3f) - g_v[j * 4 + f]) / (1 + fabs(g_v[j * 4 + f]));
                worst = e > worst ? e : worst;
            }
        }
    }
    printf("fm: worst relative gradient error %.2e\n", worst);
    assert_true(worst < 1e-4);
    model_fm_destroy(m);
}

/* ---- FM beats LR on a pairwise interaction ------------------------------ */

/* Fields A and B (16 values each) interact through rank-2 true factors;
 * field C (16 values) is linear; a bias at index 0. */
typedef struct pair_world {
    sl_rand rng;
    double lin[48];  /* true linear weights of A, B, C values */
    double u[32][2]; /* true factors of A and B values */
} pair_world;

static void pair_world_init(pair_world *wd, uint64_t seed) {
    sl_rand_seed(&wd->rng, seed);
    for (int i = 0; i < 48; i++)
        wd->lin[i] = 0.5 * sl_rand_normal(&wd->rng);
    for (int i = 0; i < 32; i++)
        for (int f = 0; f < 2; f++)
            wd->u[i][f] = 1.0 * sl_rand_normal(&wd->rng);
}

static void pair_world_draw(pair_world *wd, model_example *ex, float *y) {
    model_example_reset(ex);
    model_example_add(ex, 0, 1.0f, 0);
    int a = (int)sl_rand_below(&wd->rng, 16), b = 16 + (int)sl_rand_below(&wd->rng, 16);
    int c = 32 + (int)sl_rand_below(&wd->rng, 16);
    model_example_add(ex, 1 + (uint32_t)a, 1.0f, 1);
    model_example_add(ex, 1 + (uint32_t)b, 1.0f, 2);
    model_example_add(ex, 1 + (uint32_t)c, 1.0f, 3);
    double s = -1.0 + wd->lin[a] + wd->lin[b] + wd->lin[c] + wd->u[a][0] * wd->u[b][0] +
               wd->u[a][1] * wd->u[b][1];
    *y = sl_rand_bernoulli(&wd->rng, 1 / (1 + exp(-s))) ? 1.0f : 0.0f;
}

static double logloss(double p, double y) {
    p = p < 1e-15 ? 1e-15 : p > 1 - 1e-15 ? 1 - 1e-15 : p;
    return y > 0.5 ? -log(p) : -log(1 - p);
}

static void test_fm_beats_lr_on_interactions(void **state) {
    (void)state;
    model_fm *fm = make(8, 8, 8, 0.1, 25);
    model_ftrl_params lp;
    model_ftrl_params_default(&lp);
    lp.alpha = 0.1;
    lp.l1 = 0;
    lp.l2 = 0;
    model_ftrl *lr = NULL;
    sl_err err = {{0}};
    assert_int_equal(model_ftrl_create(&lp, 8, &lr, &err), SL_OK);
    pair_world wd;
    pair_world_init(&wd, 26);
    const int T = 100000;
    double l_fm = 0, l_lr = 0;
    for (int t = 0; t < T; t++) {
        model_example ex;
        float y;
        pair_world_draw(&wd, &ex, &y);
        float p_fm = model_fm_predict(fm, &ex), p_lr = model_ftrl_predict(lr, &ex);
        if (t >= T / 2) { /* progressive loss of the second half */
            l_fm += logloss(p_fm, y);
            l_lr += logloss(p_lr, y);
        }
        assert_int_equal(model_fm_update(fm, &ex, y, p_fm), SL_OK);
        assert_int_equal(model_ftrl_update(lr, &ex, y, p_lr), SL_OK);
    }
    printf("pairwise world, second-half progressive log loss: FM %.4f, LR %.4f\n", l_fm / (T / 2),
           l_lr / (T / 2));
    assert_true(l_fm < 0.95 * l_lr);
    model_fm_destroy(fm);
    model_ftrl_destroy(lr);
}

/* ---- importance weights ------------------------------------------------- */

static void test_weight_scales_the_gradient(void **state) {
    (void)state;
    model_fm *m = make(6, 6, 4, 0.3, 27);
    sl_rand rng;
    sl_rand_seed(&rng, 28);
    model_example ex;
    random_example(&rng, 64, 0.2, &ex);
    double b1, b3, w1[MODEL_MAX_SPARSE], w3[MODEL_MAX_SPARSE];
    double v1[MODEL_MAX_SPARSE * 4], v3[MODEL_MAX_SPARSE * 4];
    model_fm__gradient(m, &ex, 1.0f, &b1, w1, v1);
    ex.weight = 3.0f;
    model_fm__gradient(m, &ex, 1.0f, &b3, w3, v3);
    assert_true(b3 == 3 * b1);
    for (uint32_t j = 0; j < ex.n; j++) {
        assert_true(fabs(w3[j] - 3 * w1[j]) <= 1e-12 * (1 + fabs(w1[j])));
        for (uint32_t f = 0; f < 4; f++)
            assert_true(fabs(v3[j * 4 + f] - 3 * v1[j * 4 + f]) <=
                        1e-12 * (1 + fabs(v1[j * 4 + f])));
    }
    /* Weight 0 learns nothing. */
    size_t vbytes = 64 * 8 * sizeof(float);
    float before[64 * 8];
    memcpy(before, model_fm_factors_const(m), vbytes);
    ex.weight = 0.0f;
    assert_int_equal(model_fm_update(m, &ex, 1.0f, model_fm_predict(m, &ex)), SL_OK);
    assert_memory_equal(before, model_fm_factors_const(m), vbytes);
    model_fm_destroy(m);
}

/* ---- the guard ---------------------------------------------------------- */

static void test_guard_refuses_and_leaves_model_unchanged(void **state) {
    (void)state;
    model_fm *m = make(10, 8, 8, 0.05, 29);
    sl_rand rng;
    sl_rand_seed(&rng, 30);
    model_example ex;
    for (int t = 0; t < 500; t++) {
        random_example(&rng, 1024, 0.03, &ex);
        float y = sl_rand_bernoulli(&rng, 0.3) ? 1.0f : 0.0f;
        assert_int_equal(model_fm_update(m, &ex, y, model_fm_predict(m, &ex)), SL_OK);
    }
    size_t lin_bytes = 1024 * 2 * sizeof(float), v_bytes = 256 * 16 * sizeof(float);
    float *lin = malloc(lin_bytes), *v = malloc(v_bytes), zb[2];
    assert_non_null(lin);
    assert_non_null(v);
    memcpy(lin, model_fm_linear_zn_const(m), lin_bytes);
    memcpy(v, model_fm_factors_const(m), v_bytes);
    memcpy(zb, model_fm_bias_zn(m), sizeof zb);
    uint64_t updates = model_fm_updates(m);
    for (int c = 0; c < 5; c++) {
        random_example(&rng, 1024, 0.03, &ex);
        model_example_add(&ex, 1000, 1.0f, 0);
        if (c == 0)
            model_example_add(&ex, 1001, 1e20f, 0); /* last: the others were stepped */
        if (c == 1)
            ex.val[0] = NAN;
        if (c == 2)
            ex.weight = NAN;
        if (c == 3)
            ex.weight = -1.0f;
        float p = model_fm_predict(m, &ex);
        float y = p < 0.5f ? 1.0f : 0.0f; /* wrong, so the step is not zero */
        if (c == 4)
            p = NAN;
        assert_int_equal(model_fm_update(m, &ex, y, p), SL_ERR_INVALID);
    }
    assert_memory_equal(lin, model_fm_linear_zn_const(m), lin_bytes);
    assert_memory_equal(v, model_fm_factors_const(m), v_bytes);
    assert_memory_equal(zb, model_fm_bias_zn(m), sizeof zb);
    assert_int_equal(model_fm_refused(m), 5);
    assert_int_equal(model_fm_updates(m), updates);
    free(lin);
    free(v);
    model_fm_destroy(m);
}

/* ---- the factor table's size and the params --------------------------- */

static void test_factor_table_size(void **state) {
    (void)state;
    model_fm *m = make(12, 0, 2, 0.01, 31);
    assert_int_equal(model_fm_factor_bits(m), 12); /* min(bits, 20) */
    model_fm_destroy(m);
    m = make(21, 0, 1, 0.01, 31);
    assert_int_equal(model_fm_factor_bits(m), 20);
    model_fm_destroy(m);
    model_fm_params p;
    model_fm_params_default(&p);
    p.factor_bits = 13;
    sl_err err = {{0}};
    assert_int_equal(model_fm_create(&p, 12, &m, &err), SL_ERR_INVALID);
    assert_null(m);
    assert_non_null(strstr(err.msg, "factor_bits"));
    model_fm_params_default(&p);
    p.k = 0;
    assert_int_equal(model_fm_create(&p, 12, &m, &err), SL_ERR_INVALID);
    model_fm_params_default(&p);
    p.lin.alpha = -1;
    assert_int_equal(model_fm_create(&p, 12, &m, &err), SL_ERR_INVALID);
    model_fm_destroy(NULL);
    /* Calibration is model_ftrl's: a fresh FM with zero-mean tiny factors. */
    model_fm_params_default(&p);
    p.init_std = 0;
    p.lin.neg_weight = 10;
    assert_int_equal(model_fm_create(&p, 8, &m, &err), SL_OK);
    model_example ex;
    model_example_reset(&ex);
    model_example_add(&ex, 5, 1.0f, 0);
    assert_true(model_fm_predict(m, &ex) == 0.5f);
    assert_true(fabsf(model_fm_predict_calibrated(m, &ex) - 1.0f / 11.0f) < 1e-7f);
    model_fm_destroy(m);
    /* With a base margin (model_ftrl.h) an untrained FM or FFM serves the
     * base rate. */
    for (int fa = 0; fa < 2; fa++) {
        p.field_aware = fa;
        p.lin.base_margin = model_ftrl_base_margin(0.02, 10.0);
        assert_int_equal(model_fm_create(&p, 8, &m, &err), SL_OK);
        assert_true(fabsf(model_fm_predict_calibrated(m, &ex) - 0.02f) < 1e-6f);
        model_fm_destroy(m);
    }
}

/* ---- learn = predict + update = the batch learn --------------------------- */

/* Two models bitwise the same: factors and their sums, linear part, bias,
 * and the counters. */
static void assert_fm_same(model_fm *a, model_fm *b) {
    assert_int_equal(model_fm_bits(a), model_fm_bits(b));
    assert_int_equal(model_fm_factor_bits(a), model_fm_factor_bits(b));
    assert_int_equal(model_fm_k(a), model_fm_k(b));
    size_t v_bytes = ((size_t)1 << model_fm_factor_bits(a)) * 2 * model_fm_k(a) * sizeof(float);
    size_t lin_bytes = ((size_t)1 << model_fm_bits(a)) * 2 * sizeof(float);
    assert_memory_equal(model_fm_factors_const(a), model_fm_factors_const(b), v_bytes);
    assert_memory_equal(model_fm_linear_zn_const(a), model_fm_linear_zn_const(b), lin_bytes);
    assert_memory_equal(model_fm_bias_zn(a), model_fm_bias_zn(b), 2 * sizeof(float));
    assert_int_equal(model_fm_updates(a), model_fm_updates(b));
    assert_int_equal(model_fm_refused(a), model_fm_refused(b));
}

/* random_example over [0, 1024) and a label, with, at example t of a
 * stream, the cases the fast paths must get right: a repeated linear index
 * (the two-call fallback), a step the guard refuses (a huge value), a NaN
 * importance weight, an empty example. */
static void draw_hard(sl_rand *rng, int t, model_example *ex, float *y) {
    random_example(rng, 1024, 0.03, ex);
    *y = sl_rand_bernoulli(rng, 0.3) ? 1.0f : 0.0f;
    if (t % 97 == 5 && ex->n > 2)
        model_example_add(ex, ex->idx[1], 0.5f, 0);
    if (t % 101 == 7)
        model_example_add(ex, 1001, 1e30f, 0);
    if (t % 103 == 9)
        ex->weight = NAN;
    if (t % 211 == 11)
        model_example_reset(ex);
}

/* model_fm_learn (the learner's one-pass path) against the two calls on the
 * same stream: bitwise the same prediction, status, factors, linear part
 * and bias after every example, with factor rows shared by hashing and
 * draw_hard's repeated indices, empty examples and refusals. */
static void test_learn_is_predict_then_update(void **state) {
    (void)state;
    model_fm *a = make(10, 6, 8, 0.05, 35), *b = make(10, 6, 8, 0.05, 35);
    sl_rand rng;
    sl_rand_seed(&rng, 36);
    for (int t = 0; t < 3000; t++) {
        model_example ex;
        float y;
        draw_hard(&rng, t, &ex, &y);
        float pa, pb = model_fm_predict(b, &ex);
        sl_status sa = model_fm_learn(a, &ex, y, &pa);
        sl_status sb = model_fm_update(b, &ex, y, pb);
        assert_memory_equal(&pa, &pb, sizeof pa);
        assert_int_equal(sa, sb);
    }
    assert_fm_same(a, b);
    assert_true(model_fm_refused(a) > 40);
    model_fm_destroy(a);
    model_fm_destroy(b);
}

/* model_fm_learn_batch against model_fm_learn called in order, on batches
 * of 0 to 64 examples (shorter and longer than the prefetch distance) over
 * draw_hard's stream, with hashed factor rows (factor_bits 6) and with one
 * row per coordinate (factor_bits = bits), k 8 and 5: bitwise the same
 * predictions, statuses, parameters and counters after every batch. The
 * guard's refusals fall at the start, middle and end of batches; each is
 * refused and counted where the sequential learn refuses it. */
static void test_batch_is_sequential(void **state) {
    (void)state;
    static const uint32_t sizes[] = {1, 64, 2, 0, 3, 17, 5, 33};
    static const uint32_t fbits[2] = {6, 10}, ks[2] = {8, 5};
    model_example exs[64];
    const model_example *ptrs[64];
    float ys[64], pa[64], pb[64];
    sl_status sa[64], sb[64];
    for (int c = 0; c < 2; c++) {
        model_fm *a = make(10, fbits[c], ks[c], 0.05, 39), *b = make(10, fbits[c], ks[c], 0.05, 39);
        int inside = 0; /* refusals with examples before and after them in their batch */
        sl_rand rng;
        sl_rand_seed(&rng, 40);
        for (int t = 0, k = 0; t < 3000; k++) {
            uint32_t n = sizes[k % (sizeof sizes / sizeof sizes[0])];
            for (uint32_t i = 0; i < n; i++, t++) {
                draw_hard(&rng, t, &exs[i], &ys[i]);
                ptrs[i] = &exs[i];
            }
            uint32_t refused = 0;
            for (uint32_t i = 0; i < n; i++) {
                sa[i] = model_fm_learn(a, &exs[i], ys[i], &pa[i]);
                refused += sa[i] != SL_OK;
            }
            sl_status *st = k % 4 == 3 ? NULL : sb; /* the count alone */
            assert_int_equal(model_fm_learn_batch(b, ptrs, ys, n, pb, st), refused);
            for (uint32_t i = 0; i < n; i++) {
                assert_memory_equal(&pa[i], &pb[i], sizeof pa[i]);
                if (st)
                    assert_int_equal(sa[i], sb[i]);
                inside += sa[i] != SL_OK && i > 0 && i + 1 < n;
            }
            assert_fm_same(a, b);
        }
        assert_true(model_fm_refused(a) > 40);
        assert_true(inside > 10);
        model_fm_destroy(a);
        model_fm_destroy(b);
    }
}

/* The AVX2 factor kernels (where the CPU has them) against the SSE2 ones
 * on the same stream, k = 8 (one 8-lane group), 12 (8 + an SSE2 group of 4)
 * and 19 (8 + 8, 0, and a scalar tail of 3): bitwise the same predictions
 * and tables. Skipped (passes) where there is no AVX2. */
static void test_wide_kernels_match_bitwise(void **state) {
    (void)state;
    const uint32_t ks[3] = {8, 12, 19};
    for (int c = 0; c < 3; c++) {
        model_fm *a = make(10, 7, ks[c], 0.05, 37), *b = make(10, 7, ks[c], 0.05, 37);
        if (!model_fm__set_wide(a, true)) {
            model_fm_destroy(a);
            model_fm_destroy(b);
            return;
        }
        model_fm__set_wide(b, false);
        sl_rand rng;
        sl_rand_seed(&rng, 38);
        for (int t = 0; t < 2000; t++) {
            model_example ex;
            random_example(&rng, 1024, 0.03, &ex);
            float y = sl_rand_bernoulli(&rng, 0.3) ? 1.0f : 0.0f, pa, pb;
            assert_int_equal(model_fm_learn(a, &ex, y, &pa), model_fm_learn(b, &ex, y, &pb));
            assert_memory_equal(&pa, &pb, sizeof pa);
        }
        assert_fm_same(a, b);
        model_fm_destroy(a);
        model_fm_destroy(b);
    }
}

/* ---- determinism -------------------------------------------------------- */

static void test_deterministic(void **state) {
    (void)state;
    model_fm *a = make(10, 8, 8, 0.05, 32), *b = make(10, 8, 8, 0.05, 32);
    model_fm *c = make(10, 8, 8, 0.05, 33);
    size_t v_bytes = 256 * 16 * sizeof(float);
    assert_memory_equal(model_fm_factors_const(a), model_fm_factors_const(b), v_bytes);
    assert_memory_not_equal(model_fm_factors_const(a), model_fm_factors_const(c), v_bytes);
    model_fm *ms[2] = {a, b};
    for (int r = 0; r < 2; r++) {
        sl_rand rng;
        sl_rand_seed(&rng, 34);
        for (int t = 0; t < 3000; t++) {
            model_example ex;
            random_example(&rng, 1024, 0.03, &ex);
            float y = sl_rand_bernoulli(&rng, 0.3) ? 1.0f : 0.0f;
            assert_int_equal(model_fm_update(ms[r], &ex, y, model_fm_predict(ms[r], &ex)), SL_OK);
        }
    }
    assert_fm_same(a, b);
    model_fm_destroy(a);
    model_fm_destroy(b);
    model_fm_destroy(c);
}

/* ---- the field-aware variant ------------------------------------------- */

/* Gradients of the bias, linear weights and every (feature, field) row by
 * central differences, on examples whose rows are all distinct (others are
 * drawn again: a shared row's derivative is the sum of its uses). */
static void test_ffm_gradient_finite_differences(void **state) {
    (void)state;
    sl_rand rng;
    sl_rand_seed(&rng, 54);
    model_fm *m = make_fd(14, 53, true, &rng);
    float *zn = model_fm_linear_zn(m), *vg = model_fm_factors(m), *zb = model_fm_bias_zn(m);
    static uint32_t rows[MODEL_FFM_MAX_ROWS];
    double worst = 0;
    int tried = 0;
    for (int trial = 0; trial < 10; tried++) {
        model_example ex;
        random_example(&rng, 64, 0.15, &ex);
        uint32_t nr = model_fm_example_rows(m, &ex, rows);
        bool distinct = true;
        for (uint32_t a = 0; a < nr && distinct; a++)
            for (uint32_t b = a + 1; b < nr && distinct; b++)
                distinct = rows[a] != rows[b];
        if (!distinct || ex.n < 3)
            continue;
        uint8_t fields[MODEL_MAX_SPARSE];
        uint32_t nf = 0;
        for (uint32_t j = 0; j < ex.n; j++) { /* first-appearance order, as the model */
            bool seen = false;
            for (uint32_t b = 0; b < nf; b++)
                seen = seen || fields[b] == ex.field[j];
            if (!seen)
                fields[nf++] = ex.field[j];
        }
        assert_int_equal(nr, ex.n * nf);
        ex.weight = (float)(0.5 + 2 * sl_rand_double(&rng));
        float y = (float)(trial & 1);
        double g_b, g_w[MODEL_MAX_SPARSE];
        static double g_v[MODEL_FFM_MAX_ROWS * 4];
        model_fm__gradient(m, &ex, y, &g_b, g_w, g_v);
        double e = fabs(-fd(m, &ex, y, &zb[0], 5e-3f) - g_b) / (1 + fabs(g_b));
        worst = e > worst ? e : worst;
        for (uint32_t j = 0; j < ex.n; j++) {
            e = fabs(-fd(m, &ex, y, &zn[2 * ex.idx[j]], 5e-3f) - g_w[j]) / (1 + fabs(g_w[j]));
            worst = e > worst ? e : worst;
            for (uint32_t b = 0; b < nf; b++)
                for (uint32_t f = 0; f < 4; f++) {
                    float *v = &vg[(size_t)model_fm__ffm_row(m, ex.idx[j], fields[b]) * 8 + f];
                    double g = g_v[((size_t)j * nf + b) * 4 + f];
                    e = fabs(fd(m, &ex, y, v, 5e-3f) - g) / (1 + fabs(g));
                    worst = e > worst ? e : worst;
                }
        }
        trial++;
    }
    printf("ffm: worst relative gradient error %.2e (%d examples drawn for 10)\n", worst, tried);
    assert_true(worst < 1e-4);
    model_fm_destroy(m);
}

/* Field A's values interact with field B through one set of true factors
 * and with field C through another, independent one (k = 1 each); B and C
 * do not interact. An FFM with k = 1 can represent it (a's row for B, a's
 * row for C); an FM with k = 1 shares one number per value across both. */
static void test_ffm_learns_field_specific_interactions(void **state) {
    (void)state;
    sl_rand rng;
    sl_rand_seed(&rng, 55);
    double ub[16], uc[16], wb[16], wc[16];
    for (int i = 0; i < 16; i++) {
        ub[i] = 1.5 * sl_rand_normal(&rng);
        uc[i] = 1.5 * sl_rand_normal(&rng);
        wb[i] = 1.5 * sl_rand_normal(&rng);
        wc[i] = 1.5 * sl_rand_normal(&rng);
    }
    field_aware = true;
    model_fm *ffm = make(8, 8, 1, 0.1, 56);
    field_aware = false;
    model_fm *fm = make(8, 8, 1, 0.1, 56);
    const int T = 100000;
    double l_ffm = 0, l_fm = 0;
    for (int t = 0; t < T; t++) {
        int a = (int)sl_rand_below(&rng, 16), b = (int)sl_rand_below(&rng, 16);
        int c = (int)sl_rand_below(&rng, 16);
        model_example ex;
        model_example_reset(&ex);
        model_example_add(&ex, 1 + (uint32_t)a, 1.0f, 1);
        model_example_add(&ex, 17 + (uint32_t)b, 1.0f, 2);
        model_example_add(&ex, 33 + (uint32_t)c, 1.0f, 3);
        double s = -1.0 + ub[a] * wb[b] + uc[a] * wc[c];
        float y = sl_rand_bernoulli(&rng, 1 / (1 + exp(-s))) ? 1.0f : 0.0f, p1, p2;
        assert_int_equal(model_fm_learn(ffm, &ex, y, &p1), SL_OK);
        assert_int_equal(model_fm_learn(fm, &ex, y, &p2), SL_OK);
        if (t >= T / 2) {
            l_ffm += logloss(p1, y);
            l_fm += logloss(p2, y);
        }
    }
    printf("field-specific world, second-half progressive log loss: FFM %.4f, FM %.4f (k 1)\n",
           l_ffm / (T / 2), l_fm / (T / 2));
    assert_true(l_ffm < 0.95 * l_fm);
    model_fm_destroy(ffm);
    model_fm_destroy(fm);
}

/* The FFM's size limit and its rows: k above MODEL_FFM_MAX_K is refused
 * with a message; an update steps n · F rows, each feature's row for each
 * field, where the FM steps n. */
static void test_ffm_params_and_rows(void **state) {
    (void)state;
    model_fm_params p;
    model_fm_params_default(&p);
    p.field_aware = true;
    p.k = MODEL_FFM_MAX_K + 1;
    model_fm *m = NULL;
    sl_err err = {{0}};
    assert_int_equal(model_fm_create(&p, 10, &m, &err), SL_ERR_INVALID);
    assert_null(m);
    assert_non_null(strstr(err.msg, "ffm"));
    p.k = 4;
    assert_int_equal(model_fm_create(&p, 10, &m, &err), SL_OK);
    model_example ex;
    model_example_reset(&ex);
    model_example_add(&ex, 7, 1.0f, 3);
    model_example_add(&ex, 9, 1.0f, 1);
    model_example_add(&ex, 11, 1.0f, 3);
    uint32_t rows[16];
    assert_int_equal(model_fm_example_rows(m, &ex, rows), 6); /* 3 features × fields 3, 1 */
    assert_int_equal(rows[0], model_fm__ffm_row(m, 7, 3));
    assert_int_equal(rows[1], model_fm__ffm_row(m, 7, 1));
    assert_int_equal(rows[5], model_fm__ffm_row(m, 11, 1));
    assert_true(model_fm__ffm_row(m, 7, 3) != model_fm__ffm_row(m, 7, 1));
    model_fm_destroy(m);
    p.field_aware = false;
    assert_int_equal(model_fm_create(&p, 10, &m, &err), SL_OK);
    assert_int_equal(model_fm_example_rows(m, &ex, rows), 3);
    assert_int_equal(rows[1], model_fm__row(m, 9));
    model_fm_destroy(m);
}

#define FFM_TOO(test)                                                                              \
    static void test_ffm_##test(void **state) {                                                    \
        field_aware = true;                                                                        \
        test_##test(state);                                                                        \
        field_aware = false;                                                                       \
    }
FFM_TOO(margin_matches_pairwise_reference)
FFM_TOO(guard_refuses_and_leaves_model_unchanged)
FFM_TOO(learn_is_predict_then_update)
FFM_TOO(batch_is_sequential)
FFM_TOO(deterministic)

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_margin_matches_pairwise_reference),
        cmocka_unit_test(test_update_matches_formulas),
        cmocka_unit_test(test_rsqrt),
        cmocka_unit_test(test_gradient_finite_differences),
        cmocka_unit_test(test_fm_beats_lr_on_interactions),
        cmocka_unit_test(test_weight_scales_the_gradient),
        cmocka_unit_test(test_guard_refuses_and_leaves_model_unchanged),
        cmocka_unit_test(test_factor_table_size),
        cmocka_unit_test(test_learn_is_predict_then_update),
        cmocka_unit_test(test_batch_is_sequential),
        cmocka_unit_test(test_wide_kernels_match_bitwise),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_ffm_margin_matches_pairwise_reference),
        cmocka_unit_test(test_ffm_gradient_finite_differences),
        cmocka_unit_test(test_ffm_learns_field_specific_interactions),
        cmocka_unit_test(test_ffm_params_and_rows),
        cmocka_unit_test(test_ffm_guard_refuses_and_leaves_model_unchanged),
        cmocka_unit_test(test_ffm_learn_is_predict_then_update),
        cmocka_unit_test(test_ffm_batch_is_sequential),
        cmocka_unit_test(test_ffm_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
