/*
 * test_mtl.c — the multi-task feed model: the BLAS path against a naive
 * double-precision reference written here (forward, loss, backward), every
 * layer's and head's gradient by finite differences of that reference
 * (masked dwell and both Huber regimes included), learning on a synthetic
 * multi-task stream against the base rates, the three optimizers, the
 * guard, snapshots (round trip, resume, corrupt and mismatched ones), the
 * state arrays and their dirty rows, determinism.
 *
 * Legend as in model_mtl.h: R rows, K = embed_dim, F fields, Dn dense,
 * I = F·K + Dn, L hidden layers, T = 4 heads. Every random stream has a
 * fixed seed.
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

#include "model_mtl.h"
#include "model_mtl_internal.h"
#include "model_snapshot.h"
#include "mtl_stream.h"
#include "sl_rand.h"

#define T_HEADS MODEL_MTL_HEADS

/* ---- small models and random examples ---------------------------------- */

static void small_params(model_mtl_params *p) {
    model_mtl_params_default(p);
    p->emb_bits = 6; /* 64 rows: features collide on purpose */
    p->embed_dim = 4;
    p->n_fields = 3; /* examples use fields 0..4: folded mod 3 */
    p->n_dense = 3;
    p->hidden[0] = 8;
    p->hidden[1] = 6;
    p->n_hidden = 2;
    p->mini_batch = 16;
    p->init_std = 0.5;
    p->huber_delta = 0.7;
    p->dwell_init_ms = 50;
    p->head_weights[1] = 0.8;
    p->head_weights[3] = 1.3;
    p->seed = 11;
}

static model_mtl *make(const model_mtl_params *p) {
    model_mtl *m = NULL;
    sl_err err = {{0}};
    sl_status st = model_mtl_create(p, &m, &err);
    if (st)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, SL_OK);
    return m;
}

/* Labels: all four (dwell masked unless clicked), or none, or some. */
static void random_example(sl_rand *r, model_example *ex) {
    model_example_reset(ex);
    uint32_t n = 1 + (uint32_t)sl_rand_below(r, 9);
    for (uint32_t j = 0; j < n; j++)
        model_example_add(ex, (uint32_t)sl_rand_u64(r), (float)sl_rand_uniform(r, 0.2, 1.5),
                          (uint8_t)sl_rand_below(r, 5));
    ex->n_dense = (uint32_t)sl_rand_below(r, 4); /* < Dn sometimes: zeros */
    for (uint32_t d = 0; d < ex->n_dense; d++)
        ex->dense[d] = (float)(10.0 + 4.0 * sl_rand_normal(r));
    double kind = sl_rand_double(r);
    if (kind < 0.1)
        return; /* no labels: learns nothing */
    bool click = sl_rand_bernoulli(r, 0.5);
    model_example_set_label(ex, MODEL_LABEL_CLICK, click ? 1.0f : 0.0f);
    if (kind < 0.2)
        return; /* click only */
    model_example_set_label(ex, MODEL_LABEL_LIKE, sl_rand_bernoulli(r, 0.3) ? 1.0f : 0.0f);
    model_example_set_label(ex, MODEL_LABEL_SHARE, sl_rand_bernoulli(r, 0.2) ? 1.0f : 0.0f);
    /* log1p(dwell) spread over ~2..7 around the bias log1p(50) ≈ 3.9: both
     * Huber regimes */
    model_example_set_label(ex, MODEL_LABEL_DWELL, (float)exp(sl_rand_uniform(r, 2, 7)));
    ex->weight = (float)sl_rand_uniform(r, 0.5, 2.0);
}

static const model_mtl_array *find_array(const model_mtl_array *a, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(a[i].name, name) == 0)
            return &a[i];
    return NULL;
}

/* ---- the naive reference, in double ------------------------------------ */

#define REF_MAXW 64

typedef struct ref {
    const model_mtl_params *p;
    model_mtl *m;
    const float *emb, *norm; /* (R, emb_w), (Dn, 3) */
    uint32_t emb_w;
    const float *w[MODEL_MTL_MAX_LAYERS + 1]; /* (width[l+1], width[l]+1) */
    uint32_t width[MODEL_MTL_MAX_LAYERS + 2];
    uint32_t L, K, F, Dn, I;
} ref;

static void ref_init(ref *r, model_mtl *m) {
    model_mtl_array a[MODEL_MTL_MAX_ARRAYS];
    uint32_t na = model_mtl_arrays(m, a, MODEL_MTL_MAX_ARRAYS);
    r->m = m;
    r->p = model_mtl_params_get(m);
    r->K = r->p->embed_dim;
    r->F = r->p->n_fields;
    r->Dn = r->p->n_dense;
    r->I = r->F * r->K + r->Dn;
    r->L = r->p->n_hidden;
    const model_mtl_array *e = find_array(a, na, "emb");
    r->emb = e->data;
    r->emb_w = e->width;
    r->norm = r->Dn ? find_array(a, na, "norm")->data : NULL;
    r->width[0] = r->I;
    for (uint32_t l = 0; l < r->L; l++)
        r->width[l + 1] = r->p->hidden[l];
    r->width[r->L + 1] = T_HEADS;
    for (uint32_t l = 0; l <= r->L; l++) {
        char name[24];
        if (l < r->L)
            snprintf(name, sizeof name, "l%u", l);
        else
            snprintf(name, sizeof name, "head");
        const model_mtl_array *w = find_array(a, na, name);
        assert_non_null(w);
        assert_int_equal(w->rows, r->width[l + 1]);
        assert_int_equal(w->width, r->width[l] + 1);
        r->w[l] = w->data;
    }
    assert_true(r->I <= REF_MAXW);
}

/* The input vector of ex, straight from the definition. */
static void ref_input(const ref *r, const model_example *ex, double *x) {
    for (uint32_t i = 0; i < r->I; i++)
        x[i] = 0.0;
    for (uint32_t j = 0; j < ex->n; j++) {
        uint32_t f = ex->field[j] % r->F, cnt = 0;
        for (uint32_t q = 0; q < ex->n; q++)
            cnt += ex->field[q] % r->F == f;
        double sc = ex->val[j] / (r->p->pool == MODEL_MTL_POOL_MEAN ? (double)cnt : 1.0);
        const float *e = r->emb + (size_t)model_mtl__row(r->m, ex->idx[j]) * r->emb_w;
        for (uint32_t k = 0; k < r->K; k++)
            x[f * r->K + k] += sc * e[k];
    }
    for (uint32_t d = 0; d < r->Dn; d++) {
        double v = d < ex->n_dense ? ex->dense[d] : 0.0;
        double z = (v - r->norm[3 * d + 1]) / sqrt(r->norm[3 * d + 2] + 1e-6);
        x[r->F * r->K + d] = z > 5 ? 5 : z < -5 ? -5 : z;
    }
}

/* Is head t trained on ex, and on which target. */
static bool ref_target(const model_example *ex, int t, double *y) {
    bool has_click = ex->has_label & (1u << MODEL_LABEL_CLICK);
    switch (t) {
    case 0:
        *y = ex->label[MODEL_LABEL_CLICK];
        return has_click;
    case 1:
        *y = ex->label[MODEL_LABEL_LIKE];
        return ex->has_label & (1u << MODEL_LABEL_LIKE);
    case 2:
        *y = ex->label[MODEL_LABEL_SHARE];
        return ex->has_label & (1u << MODEL_LABEL_SHARE);
    default:
        *y = log1p(ex->label[MODEL_LABEL_DWELL]);
        return (ex->has_label & (1u << MODEL_LABEL_DWELL)) && has_click &&
               ex->label[MODEL_LABEL_CLICK] >= 0.5f;
    }
}

/*
 * Loss (1/n) Σ_i c_i Σ_t w_t·mask·ℓ, and when gw is given the gradients:
 * gw[l] (width[l+1], width[l]+1) and gemb (R, K), zeroed here. OUT:
 * margins (n, T) when not NULL.
 */
static double ref_loss(const ref *r, const model_example *exs, uint32_t n, double **gw,
                       double *gemb, double *margins) {
    const model_mtl_params *p = r->p;
    uint64_t R = (uint64_t)1 << p->emb_bits;
    if (gw) {
        for (uint32_t l = 0; l <= r->L; l++)
            memset(gw[l], 0, sizeof(double) * r->width[l + 1] * (r->width[l] + 1));
        memset(gemb, 0, sizeof(double) * R * r->K);
    }
    double loss = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        const model_example *ex = &exs[i];
        double a[MODEL_MTL_MAX_LAYERS + 2][REF_MAXW + 1]; /* a[l]: input of layer l */
        ref_input(r, ex, a[0]);
        for (uint32_t l = 0; l <= r->L; l++) {
            uint32_t in = r->width[l], out = r->width[l + 1];
            for (uint32_t o = 0; o < out; o++) {
                const float *w = r->w[l] + (size_t)o * (in + 1);
                double z = w[in];
                for (uint32_t k = 0; k < in; k++)
                    z += (double)w[k] * a[l][k];
                a[l + 1][o] = l < r->L ? (z > 0 ? z : 0) : z;
            }
        }
        const double *mg = a[r->L + 1];
        double dm[T_HEADS];
        for (int t = 0; t < T_HEADS; t++) {
            double y, l = 0, g = 0, z = mg[t];
            if (margins)
                margins[i * T_HEADS + t] = z;
            if (ref_target(ex, t, &y)) {
                if (t < 3) {
                    double pr = 1.0 / (1.0 + exp(-z));
                    l = -(y * log(pr) + (1 - y) * log(1 - pr));
                    g = pr - y;
                } else {
                    double d = z - y, dl = p->huber_delta;
                    l = fabs(d) <= dl ? 0.5 * d * d : dl * (fabs(d) - 0.5 * dl);
                    g = fabs(d) <= dl ? d : (d > 0 ? dl : -dl);
                }
            }
            double wt = ex->weight * p->head_weights[t] / n;
            loss += wt * l;
            dm[t] = wt * g;
        }
        if (!gw)
            continue;
        double d[MODEL_MTL_MAX_LAYERS + 2][REF_MAXW + 1]; /* d[l]: ∂loss/∂a[l] */
        memcpy(d[r->L + 1], dm, sizeof dm);
        for (uint32_t l = r->L + 1; l-- > 0;) {
            uint32_t in = r->width[l], out = r->width[l + 1];
            for (uint32_t k = 0; k < in; k++)
                d[l][k] = 0;
            for (uint32_t o = 0; o < out; o++) {
                double dz = d[l + 1][o];
                if (l < r->L && !(a[l + 1][o] > 0))
                    dz = 0; /* through the ReLU */
                const float *w = r->w[l] + (size_t)o * (in + 1);
                double *g = gw[l] + (size_t)o * (in + 1);
                for (uint32_t k = 0; k < in; k++) {
                    g[k] += dz * a[l][k];
                    d[l][k] += dz * w[k];
                }
                g[in] += dz;
            }
        }
        for (uint32_t j = 0; j < ex->n; j++) {
            uint32_t f = ex->field[j] % r->F, cnt = 0;
            for (uint32_t q = 0; q < ex->n; q++)
                cnt += ex->field[q] % r->F == f;
            double sc = ex->val[j] / (p->pool == MODEL_MTL_POOL_MEAN ? (double)cnt : 1.0);
            uint32_t row = model_mtl__row(r->m, ex->idx[j]);
            for (uint32_t k = 0; k < r->K; k++)
                gemb[(size_t)row * r->K + k] += sc * d[0][f * r->K + k];
        }
    }
    return loss;
}

typedef struct ref_grads {
    double *gw[MODEL_MTL_MAX_LAYERS + 1];
    double *gemb;
} ref_grads;

static void ref_grads_alloc(const ref *r, ref_grads *g) {
    for (uint32_t l = 0; l <= r->L; l++)
        g->gw[l] = calloc((size_t)r->width[l + 1] * (r->width[l] + 1), sizeof(double));
    g->gemb = calloc(((size_t)1 << r->p->emb_bits) * r->K, sizeof(double));
}

static void ref_grads_free(const ref *r, ref_grads *g) {
    for (uint32_t l = 0; l <= r->L; l++)
        free(g->gw[l]);
    free(g->gemb);
}

/* A model whose parameters moved away from the init (and a normalizer that
 * saw data): a few batches of random examples. */
static model_mtl *trained_small(model_mtl_params *p, uint64_t seed) {
    model_mtl *m = make(p);
    sl_rand rng;
    sl_rand_seed(&rng, seed);
    model_example ex;
    for (int i = 0; i < 64; i++) {
        random_example(&rng, &ex);
        assert_int_equal(model_mtl_learn(m, &ex), SL_OK);
    }
    return m;
}

static void random_batch(uint64_t seed, model_example *exs, uint32_t n) {
    sl_rand rng;
    sl_rand_seed(&rng, seed);
    for (uint32_t i = 0; i < n; i++)
        random_example(&rng, &exs[i]);
}

/* ---- BLAS path = reference ---------------------------------------------- */

static double rel_err(double a, double b) { return fabs(a - b) / (fabs(b) + 1e-3); }

static void check_against_ref(model_mtl *m, const model_example *exs, uint32_t n, double tol) {
    ref r;
    ref_init(&r, m);
    ref_grads g;
    ref_grads_alloc(&r, &g);
    double *mg = calloc((size_t)n * T_HEADS, sizeof(double));
    double rl = ref_loss(&r, exs, n, g.gw, g.gemb, mg);
    double ml = model_mtl__loss_grad(m, exs, n, NULL);
    assert_true(rel_err(ml, rl) < tol);
    for (uint32_t i = 0; i < n; i++)
        for (int t = 0; t < T_HEADS; t++)
            assert_true(rel_err(model_mtl__margins(m, i)[t], mg[i * T_HEADS + t]) < tol);
    double worst = 0;
    for (uint32_t l = 0; l <= r.L; l++) {
        const float *gm = model_mtl__grad(m, l);
        size_t cnt = (size_t)r.width[l + 1] * (r.width[l] + 1);
        for (size_t k = 0; k < cnt; k++) {
            double e = rel_err(gm[k], g.gw[l][k]);
            worst = e > worst ? e : worst;
        }
    }
    uint64_t R = (uint64_t)1 << r.p->emb_bits;
    for (uint32_t row = 0; row < R; row++) {
        const float *ge = model_mtl__emb_grad(m, row);
        for (uint32_t k = 0; k < r.K; k++) {
            double want = g.gemb[(size_t)row * r.K + k];
            if (!ge) {
                assert_true(want == 0.0); /* an unused row has no gradient */
                continue;
            }
            double e = rel_err(ge[k], want);
            worst = e > worst ? e : worst;
        }
    }
    assert_true(worst < tol);
    free(mg);
    ref_grads_free(&r, &g);
}

static void test_blas_equals_reference(void **state) {
    (void)state;
    model_mtl_params p;
    small_params(&p);
    for (int pool = 0; pool < 2; pool++) {
        p.pool = pool ? MODEL_MTL_POOL_SUM : MODEL_MTL_POOL_MEAN;
        model_mtl *m = trained_small(&p, 21);
        model_example exs[16];
        random_batch(22, exs, 16);
        check_against_ref(m, exs, 16, 1e-4); /* cblas_sgemm */
        model_mtl__set_gemm(m, model_mtl__gemm_naive, NULL);
        check_against_ref(m, exs, 16, 1e-4); /* the naive product */
        check_against_ref(m, exs, 1, 1e-4);  /* a batch of one */
        model_mtl_destroy(m);
    }
}

/* The BLAS and naive products give the same margins to float rounding. */
static void test_blas_equals_naive_gemm(void **state) {
    (void)state;
    model_mtl_params p;
    small_params(&p);
    p.hidden[0] = 40;
    p.hidden[1] = 24;
    p.embed_dim = 8;
    model_mtl *m = trained_small(&p, 5);
    model_example exs[16];
    random_batch(6, exs, 16);
    float blas[16][T_HEADS], naive[16][T_HEADS];
    model_mtl_predict_batch(m, exs, 16, blas);
    model_mtl__set_gemm(m, model_mtl__gemm_naive, NULL);
    model_mtl_predict_batch(m, exs, 16, naive);
    for (int i = 0; i < 16; i++)
        for (int t = 0; t < T_HEADS; t++)
            assert_true(fabsf(blas[i][t] - naive[i][t]) <= 1e-5f * (1 + fabsf(naive[i][t])));
    model_mtl_destroy(m);
}

/* ---- finite differences --------------------------------------------------- */

/* Central difference of the reference loss w.r.t. *x (a float parameter). */
static double fd(const ref *r, const model_example *exs, uint32_t n, float *x) {
    float x0 = *x, h = 1e-5f * (fabsf(x0) > 1 ? fabsf(x0) : 1.0f);
    float xp = x0 + h, xm = x0 - h;
    *x = xp;
    double lp = ref_loss(r, exs, n, NULL, NULL, NULL);
    *x = xm;
    double lm = ref_loss(r, exs, n, NULL, NULL, NULL);
    *x = x0;
    return (lp - lm) / ((double)xp - (double)xm);
}

static bool fd_close(double f, double g) {
    bool ok = fabs(f - g) <= 2e-4 + 2e-3 * fabs(g);
    if (!ok)
        fprintf(stderr, "finite difference %.8g, gradient %.8g\n", f, g);
    return ok;
}

static void test_gradients_fd(void **state) {
    (void)state;
    model_mtl_params p;
    small_params(&p);
    model_mtl *m = trained_small(&p, 31);
    model_example exs[16];
    random_batch(32, exs, 16);
    ref r;
    ref_init(&r, m);
    model_mtl_array a[MODEL_MTL_MAX_ARRAYS];
    uint32_t na = model_mtl_arrays(m, a, MODEL_MTL_MAX_ARRAYS);
    (void)model_mtl__loss_grad(m, exs, 16, NULL);
    sl_rand rng;
    sl_rand_seed(&rng, 33);
    uint32_t checked = 0;
    /* every hidden layer: 16 random coordinates and every bias */
    for (uint32_t l = 0; l < r.L; l++) {
        char name[24];
        snprintf(name, sizeof name, "l%u", l);
        const model_mtl_array *w = find_array(a, na, name);
        const float *g = model_mtl__grad(m, l);
        for (int s = 0; s < 16; s++) {
            size_t k = (size_t)sl_rand_below(&rng, w->rows * w->width);
            assert_true(fd_close(fd(&r, exs, 16, &w->data[k]), g[k]));
            checked++;
        }
        for (uint64_t o = 0; o < w->rows; o++) {
            size_t k = (size_t)o * w->width + w->width - 1;
            assert_true(fd_close(fd(&r, exs, 16, &w->data[k]), g[k]));
            checked++;
        }
    }
    /* every head: every weight and the bias */
    const model_mtl_array *h = find_array(a, na, "head");
    const float *gh = model_mtl__grad(m, r.L);
    for (size_t k = 0; k < h->rows * h->width; k++) {
        assert_true(fd_close(fd(&r, exs, 16, &h->data[k]), gh[k]));
        checked++;
    }
    /* embeddings: every entry of every row the batch uses */
    const model_mtl_array *e = find_array(a, na, "emb");
    uint32_t rows_used = 0;
    for (uint32_t row = 0; row < e->rows; row++) {
        const float *ge = model_mtl__emb_grad(m, row);
        if (!ge)
            continue;
        rows_used++;
        for (uint32_t k = 0; k < r.K; k++) {
            assert_true(fd_close(fd(&r, exs, 16, &e->data[(size_t)row * e->width + k]), ge[k]));
            checked++;
        }
    }
    printf("  %u coordinates checked, %u embedding rows\n", checked, rows_used);
    assert_true(rows_used > 20);
    assert_true(checked > 200);
    model_mtl_destroy(m);
}

/* Dwell learns only from clicked views; an unlabeled example teaches nothing. */
static void test_masked_dwell(void **state) {
    (void)state;
    model_mtl_params p;
    small_params(&p);
    model_mtl *m = trained_small(&p, 41);
    model_example exs[8];
    random_batch(42, exs, 8);
    for (int i = 0; i < 8; i++) { /* every view unclicked, dwell present */
        model_example_set_label(&exs[i], MODEL_LABEL_CLICK, 0.0f);
        model_example_set_label(&exs[i], MODEL_LABEL_DWELL, 5000.0f);
    }
    double hl[T_HEADS];
    (void)model_mtl__loss_grad(m, exs, 8, hl);
    assert_true(hl[MODEL_MTL_DWELL] == 0.0);
    const float *gh = model_mtl__grad(m, p.n_hidden);
    uint32_t cols = p.hidden[p.n_hidden - 1] + 1;
    for (uint32_t k = 0; k < cols; k++)
        assert_true(gh[(size_t)MODEL_MTL_DWELL * cols + k] == 0.0f);
    /* clicked: the dwell row learns, and FD agrees (masked and unmasked mixed) */
    for (int i = 0; i < 8; i += 2)
        model_example_set_label(&exs[i], MODEL_LABEL_CLICK, 1.0f);
    (void)model_mtl__loss_grad(m, exs, 8, hl);
    assert_true(hl[MODEL_MTL_DWELL] > 0.0);
    ref r;
    ref_init(&r, m);
    model_mtl_array a[MODEL_MTL_MAX_ARRAYS];
    uint32_t na = model_mtl_arrays(m, a, MODEL_MTL_MAX_ARRAYS);
    const model_mtl_array *h = find_array(a, na, "head");
    bool nonzero = false;
    for (uint32_t k = 0; k < cols; k++) {
        size_t at = (size_t)MODEL_MTL_DWELL * cols + k;
        nonzero |= gh[at] != 0.0f;
        assert_true(fd_close(fd(&r, exs, 8, &h->data[at]), gh[at]));
    }
    assert_true(nonzero);
    /* no labels at all: zero loss, zero gradients */
    for (int i = 0; i < 8; i++)
        exs[i].has_label = 0;
    assert_true(model_mtl__loss_grad(m, exs, 8, NULL) == 0.0);
    for (uint32_t l = 0; l <= p.n_hidden; l++) {
        uint32_t in = l ? p.hidden[l - 1] : p.n_fields * p.embed_dim + p.n_dense;
        uint32_t out = l < p.n_hidden ? p.hidden[l] : T_HEADS;
        for (size_t k = 0; k < (size_t)out * (in + 1); k++)
            assert_true(model_mtl__grad(m, l)[k] == 0.0f);
    }
    model_mtl_destroy(m);
}

/* ---- learning on the synthetic stream ------------------------------------ */

typedef struct prog {
    double loss[2][T_HEADS]; /* per half: model */
    double base[2][T_HEADS]; /* per half: the running base rate */
    double cnt[2][T_HEADS];  /* examples per half and head */
    double best[2][T_HEADS]; /* per half: the true probabilities (Bayes) */
} prog;

static double ll(double p, double y) {
    p = p < 1e-7 ? 1e-7 : p > 1 - 1e-7 ? 1 - 1e-7 : p;
    return -(y * log(p) + (1 - y) * log(1 - p));
}

static double huber(double d) { return fabs(d) <= 1 ? 0.5 * d * d : fabs(d) - 0.5; }

/* Progressive validation over n views: predict, score, then learn. */
static void run_stream(model_mtl *m, uint64_t seed, uint32_t n, prog *pr) {
    memset(pr, 0, sizeof *pr);
    mtl_stream s;
    assert_true(mtl_stream_init(&s, seed, 500, 2000));
    double pos[T_HEADS] = {0}, seen = 0, dsum = 0, dn = 0;
    model_example ex;
    for (uint32_t i = 0; i < n; i++) {
        double truth[T_HEADS];
        mtl_stream_next(&s, &ex, truth);
        float out[T_HEADS];
        model_mtl_predict(m, &ex, out);
        int half = i >= n / 2;
        for (int t = 0; t < 3; t++) {
            double y = ex.label[t];
            double base = (pos[t] + 0.5) / (seen + 1.0);
            pr->loss[half][t] += ll(out[t], y);
            pr->base[half][t] += ll(base, y);
            pr->best[half][t] += ll(truth[t], y);
            pr->cnt[half][t]++;
            pos[t] += y;
        }
        seen++;
        if (ex.label[MODEL_LABEL_CLICK] > 0.5f) {
            double y = log1p(ex.label[MODEL_LABEL_DWELL]);
            double base = dn ? dsum / dn : 0.0;
            pr->loss[half][3] += huber(log1p(out[3]) - y);
            pr->base[half][3] += huber(base - y);
            pr->best[half][3] += huber(truth[3] - y);
            pr->cnt[half][3]++;
            dsum += y;
            dn++;
        }
        sl_status st = model_mtl_learn(m, &ex);
        assert_int_equal(st, SL_OK);
    }
    mtl_stream_free(&s);
}

static void stream_params(model_mtl_params *p) {
    model_mtl_params_default(p);
    p->emb_bits = 14;
    p->embed_dim = 8;
    p->n_fields = MS_FIELDS;
    p->n_dense = MS_DENSE;
    p->hidden[0] = 32;
    p->hidden[1] = 16;
    p->n_hidden = 2;
    p->mini_batch = 32;
    p->lr = 0.003;
    p->init_std = 0.05;
    p->seed = 3;
}

static void test_learns_stream(void **state) {
    (void)state;
    model_mtl_params p;
    stream_params(&p);
    model_mtl *m = make(&p);
    prog pr;
    uint32_t n = 120000;
    run_stream(m, 77, n, &pr);
    static const char *const names[T_HEADS] = {"click", "like", "share", "dwell"};
    for (int t = 0; t < T_HEADS; t++) {
        double first = pr.loss[0][t] / pr.cnt[0][t], second = pr.loss[1][t] / pr.cnt[1][t];
        double base = (pr.base[0][t] + pr.base[1][t]) / (pr.cnt[0][t] + pr.cnt[1][t]);
        double base2 = pr.base[1][t] / pr.cnt[1][t];
        double all = (pr.loss[0][t] + pr.loss[1][t]) / (pr.cnt[0][t] + pr.cnt[1][t]);
        printf("  %-5s progressive loss %.4f (first half %.4f, second %.4f), base rate %.4f "
               "(second half %.4f): %.1f %% better in the second half; truth %.4f\n",
               names[t], all, first, second, base, base2, 100.0 * (1 - second / base2),
               pr.best[1][t] / pr.cnt[1][t]);
        assert_true(second < first);          /* keeps improving */
        assert_true(all < 0.97 * base);       /* beats the base rate over the whole stream */
        assert_true(second < 0.92 * base2);   /* clearly (≥ 8 %), once warm */
    }
    model_mtl_counters c;
    model_mtl_counters_get(m, &c);
    assert_int_equal(c.updates, n / p.mini_batch);
    assert_int_equal(c.examples, n);
    assert_int_equal(c.refused, 0);
    model_mtl_destroy(m);
}

/* SGD with momentum and AdaGrad learn too (shorter stream). */
static void test_optimizers(void **state) {
    (void)state;
    for (int o = 0; o < MODEL_MTL_OPT_COUNT; o++) {
        model_mtl_params p;
        stream_params(&p);
        p.opt = (model_mtl_opt)o;
        p.lr = o == MODEL_MTL_OPT_ADAM ? 0.003 : o == MODEL_MTL_OPT_ADAGRAD ? 0.03 : 0.05;
        model_mtl *m = make(&p);
        prog pr;
        run_stream(m, 78, 30000, &pr);
        double second = pr.loss[1][0] / pr.cnt[1][0], base2 = pr.base[1][0] / pr.cnt[1][0];
        printf("  %-8s click second half %.4f vs base rate %.4f\n",
               model_mtl_opt_str((model_mtl_opt)o), second, base2);
        assert_true(second < 0.97 * base2);
        model_mtl_destroy(m);
    }
    model_mtl_opt o;
    assert_true(model_mtl_opt_parse("adagrad", &o) && o == MODEL_MTL_OPT_ADAGRAD);
    assert_false(model_mtl_opt_parse("sgd", &o));
}

/* ---- the guard ------------------------------------------------------------ */

/* Copies every state array but the buffer. */
static float *copy_state(model_mtl *m, size_t *len) {
    model_mtl_array a[MODEL_MTL_MAX_ARRAYS];
    uint32_t na = model_mtl_arrays(m, a, MODEL_MTL_MAX_ARRAYS);
    size_t tot = 0;
    for (uint32_t i = 0; i < na; i++)
        if (strcmp(a[i].name, "pending"))
            tot += (size_t)a[i].rows * a[i].width;
    float *out = malloc(tot * sizeof(float)), *o = out;
    for (uint32_t i = 0; i < na; i++)
        if (strcmp(a[i].name, "pending")) {
            memcpy(o, a[i].data, (size_t)a[i].rows * a[i].width * sizeof(float));
            o += (size_t)a[i].rows * a[i].width;
        }
    *len = tot;
    return out;
}

static bool same_state(model_mtl *a, model_mtl *b) {
    size_t na, nb;
    float *sa = copy_state(a, &na), *sb = copy_state(b, &nb);
    bool same = na == nb && memcmp(sa, sb, na * sizeof(float)) == 0;
    free(sa);
    free(sb);
    return same;
}

static void test_guard(void **state) {
    (void)state;
    model_mtl_params p;
    small_params(&p);
    p.mini_batch = 4;
    model_mtl *m = trained_small(&p, 51);
    model_mtl_counters c0;
    model_mtl_counters_get(m, &c0);
    for (int bad = 0; bad < 6; bad++) {
        size_t n0;
        float *before = copy_state(m, &n0);
        model_example exs[4];
        random_batch(52 + (uint64_t)bad, exs, 4);
        for (int i = 0; i < 4; i++) { /* every head has work */
            model_example_set_label(&exs[i], MODEL_LABEL_CLICK, 1.0f);
            model_example_set_label(&exs[i], MODEL_LABEL_DWELL, 100.0f);
        }
        model_example *x = &exs[2];
        switch (bad) {
        case 0: x->dense[0] = NAN, x->n_dense = 3; break;
        case 1: x->val[0] = INFINITY; break;
        case 2: model_example_set_label(x, MODEL_LABEL_LIKE, NAN); break;
        case 3: x->weight = -1.0f; break;
        case 4: x->weight = NAN; break;
        default: x->val[0] = 1e30f; break; /* finite, but the gradient explodes */
        }
        for (int i = 0; i < 3; i++)
            assert_int_equal(model_mtl_learn(m, &exs[i]), SL_OK);
        assert_int_equal(model_mtl_learn(m, &exs[3]), SL_ERR_INVALID);
        size_t n1;
        float *after = copy_state(m, &n1);
        assert_int_equal(n0, n1);
        assert_memory_equal(before, after, n0 * sizeof(float)); /* bitwise unchanged */
        free(before);
        free(after);
        assert_int_equal(model_mtl_pending(m), 0);
    }
    model_mtl_counters c1;
    model_mtl_counters_get(m, &c1);
    assert_int_equal(c1.refused, c0.refused + 6);
    assert_int_equal(c1.dropped, c0.dropped + 24);
    assert_int_equal(c1.updates, c0.updates);
    /* and it still learns afterwards */
    model_example exs[4];
    random_batch(60, exs, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(model_mtl_learn(m, &exs[i]), SL_OK);
    model_mtl_counters_get(m, &c1);
    assert_int_equal(c1.updates, c0.updates + 1);
    /* a label bit past the last label would not decode from the buffer
     * after a restore: refused up front, nothing buffered */
    random_batch(61, exs, 1);
    exs[0].has_label |= 1u << MODEL_LABEL_COUNT;
    assert_int_equal(model_mtl_learn(m, &exs[0]), SL_ERR_LIMIT);
    assert_int_equal(model_mtl_pending(m), 0);
    model_mtl_destroy(m);
}

/* ---- state arrays, dirty rows, snapshots --------------------------------- */

static void test_arrays_and_dirty(void **state) {
    (void)state;
    model_mtl_params p;
    small_params(&p);
    p.emb_bits = 10;
    p.mini_batch = 4;
    model_mtl *m = make(&p);
    model_mtl_array a[MODEL_MTL_MAX_ARRAYS];
    uint32_t na = model_mtl_arrays(m, a, MODEL_MTL_MAX_ARRAYS);
    /* emb, l0, l1, head, l0_opt, l1_opt, head_opt, norm, meta, pending */
    assert_int_equal(na, 10);
    for (uint32_t i = 0; i < na; i++) {
        assert_true(strlen(a[i].name) <= 23);
        for (uint32_t j = 0; j < i; j++)
            assert_string_not_equal(a[i].name, a[j].name);
        assert_int_equal(a[i].dirty->rows, a[i].rows);
    }
    const model_mtl_array *e = find_array(a, na, "emb");
    assert_int_equal(e->rows, 1024);
    assert_int_equal(e->width, 4 * 3); /* Adam: vector, m, v */
    assert_int_equal(find_array(a, na, "l0")->width, 3 * 4 + 3 + 1);
    assert_int_equal(find_array(a, na, "l0_opt")->width, 2 * (3 * 4 + 3 + 1));
    /* the buffer marks its rows, a batch marks the rows it used */
    sl_rand rng;
    sl_rand_seed(&rng, 61);
    model_example exs[4];
    for (int i = 0; i < 3; i++) {
        random_example(&rng, &exs[i]);
        assert_int_equal(model_mtl_learn(m, &exs[i]), SL_OK);
    }
    const model_mtl_array *pend = find_array(a, na, "pending");
    assert_int_equal(pend->dirty->n, 3);
    assert_false(model_dirty_whole(e->dirty) || e->dirty->n);
    random_example(&rng, &exs[3]);
    assert_int_equal(model_mtl_learn(m, &exs[3]), SL_OK);
    uint32_t used = 0;
    for (uint32_t r = 0; r < 1024; r++) {
        bool u = false;
        for (int i = 0; i < 4; i++)
            for (uint32_t j = 0; j < exs[i].n; j++)
                u |= model_mtl__row(m, exs[i].idx[j]) == r;
        used += u;
        assert_int_equal(u, (e->dirty->bits[r >> 6] >> (r & 63)) & 1);
    }
    assert_int_equal(e->dirty->n, used);
    assert_true(model_dirty_whole(find_array(a, na, "l0")->dirty));
    assert_true(model_dirty_whole(find_array(a, na, "head_opt")->dirty));
    assert_true(model_dirty_whole(find_array(a, na, "norm")->dirty));
    assert_int_equal(pend->dirty->n, 4);
    model_mtl_destroy(m);
}

/* The same stream into a and b (a model restored mid-way): bitwise equal. */
static void feed(model_mtl *m, sl_rand *rng, int n) {
    model_example ex;
    for (int i = 0; i < n; i++) {
        random_example(rng, &ex);
        assert_int_equal(model_mtl_learn(m, &ex), SL_OK);
    }
}

static void test_restore_arrays_resumes(void **state) {
    (void)state;
    model_mtl_params p;
    small_params(&p);
    p.mini_batch = 5;
    model_mtl *a = make(&p);
    sl_rand ra;
    sl_rand_seed(&ra, 71);
    feed(a, &ra, 38); /* 7 batches and 3 buffered */
    assert_int_equal(model_mtl_pending(a), 3);
    /* restore into a model of another seed through the arrays */
    model_mtl_params q = p;
    q.seed = 999;
    model_mtl *b = make(&q);
    model_mtl_array xa[MODEL_MTL_MAX_ARRAYS], xb[MODEL_MTL_MAX_ARRAYS];
    uint32_t na = model_mtl_arrays(a, xa, MODEL_MTL_MAX_ARRAYS);
    assert_int_equal(model_mtl_arrays(b, xb, MODEL_MTL_MAX_ARRAYS), na);
    for (uint32_t i = 0; i < na; i++)
        memcpy(xb[i].data, xa[i].data, (size_t)xa[i].rows * xa[i].width * sizeof(float));
    model_mtl_counters c;
    model_mtl_counters_get(a, &c);
    model_mtl_counters_set(b, &c);
    sl_err err = {{0}};
    assert_int_equal(model_mtl_restored(b, &err), SL_OK);
    assert_int_equal(model_mtl_pending(b), 3);
    sl_rand rb = ra;
    feed(a, &ra, 23);
    feed(b, &rb, 23);
    assert_true(same_state(a, b));
    assert_int_equal(model_mtl_flush(a), SL_OK);
    assert_int_equal(model_mtl_flush(b), SL_OK);
    assert_true(same_state(a, b));
    /* a corrupt buffer row is refused */
    xb[na - 1].data[0] = 3.5f;
    assert_int_equal(model_mtl_restored(b, &err), SL_ERR_CORRUPT);
    xb[na - 1].data[0] = 0.0f;
    xb[0].data[5] = NAN;
    assert_int_equal(model_mtl_restored(b, &err), SL_ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "emb"));
    model_mtl_destroy(a);
    model_mtl_destroy(b);
}

static void snapshot_of(model_mtl *m, sl_buf *buf) {
    model_snapshot_writer w;
    sl_buf_init(buf, 64u << 20);
    assert_int_equal(model_snapshot_begin(&w, buf, SL_MODEL_MTL, "feed"), SL_OK);
    assert_int_equal(model_mtl_snapshot_write(m, &w), SL_OK);
    sl_err err = {{0}};
    size_t len;
    assert_int_equal(model_snapshot_finish(&w, &len, &err), SL_OK);
}

static void test_snapshot_round_trip(void **state) {
    (void)state;
    model_mtl_params p;
    small_params(&p);
    p.mini_batch = 6;
    model_mtl *a = make(&p);
    sl_rand ra;
    sl_rand_seed(&ra, 81);
    feed(a, &ra, 40); /* 6 batches, 4 buffered */
    sl_buf buf;
    snapshot_of(a, &buf);
    model_snapshot snap;
    sl_err err = {{0}};
    assert_int_equal(model_snapshot_open(buf.p, buf.len, &snap, &err), SL_OK);
    model_mtl *b = NULL;
    assert_int_equal(model_mtl_create_from_snapshot(&snap, &p, &b, &err), SL_OK);
    assert_true(same_state(a, b));
    assert_int_equal(model_mtl_pending(b), 4);
    model_mtl_counters ca, cb;
    model_mtl_counters_get(a, &ca);
    model_mtl_counters_get(b, &cb);
    assert_memory_equal(&ca, &cb, sizeof ca);
    model_mtl_array x[MODEL_MTL_MAX_ARRAYS];
    uint32_t nx = model_mtl_arrays(b, x, MODEL_MTL_MAX_ARRAYS);
    for (uint32_t i = 0; i < nx; i++)
        assert_true(model_dirty_whole(x[i].dirty)); /* a loaded table is all dirty */
    /* resumes bitwise identical */
    sl_rand rb = ra;
    feed(a, &ra, 17);
    feed(b, &rb, 17);
    assert_true(same_state(a, b));
    float oa[T_HEADS], ob[T_HEADS];
    model_example ex;
    random_example(&ra, &ex);
    model_mtl_predict(a, &ex, oa);
    model_mtl_predict(b, &ex, ob);
    assert_memory_equal(oa, ob, sizeof oa);
    model_mtl_destroy(b);

    /* a larger mini_batch keeps the buffered rows; a smaller one that
     * cannot hold them is refused */
    model_mtl_params q = p;
    q.mini_batch = 9;
    assert_int_equal(model_mtl_create_from_snapshot(&snap, &q, &b, &err), SL_OK);
    assert_int_equal(model_mtl_pending(b), 4);
    model_mtl_destroy(b);
    q.mini_batch = 3;
    assert_int_equal(model_mtl_create_from_snapshot(&snap, &q, &b, &err), SL_ERR_INVALID);
    assert_null(b);
    /* another learning rate is fine: hyperparameters come from the config */
    q = p;
    q.lr = 0.5;
    assert_int_equal(model_mtl_create_from_snapshot(&snap, &q, &b, &err), SL_OK);
    model_mtl_destroy(b);
    sl_buf_deinit(&buf);
    model_mtl_destroy(a);
}

static void expect_refused(const model_snapshot *snap, const model_mtl_params *p, sl_status want,
                           const char *msg) {
    model_mtl *b = NULL;
    sl_err err = {{0}};
    assert_int_equal(model_mtl_create_from_snapshot(snap, p, &b, &err), want);
    assert_null(b);
    if (!strstr(err.msg, msg))
        fprintf(stderr, "message: %s (want %s)\n", err.msg, msg);
    assert_non_null(strstr(err.msg, msg));
}

static void test_snapshot_refused(void **state) {
    (void)state;
    model_mtl_params p;
    small_params(&p);
    model_mtl *a = trained_small(&p, 91);
    sl_buf buf;
    snapshot_of(a, &buf);
    model_snapshot snap;
    sl_err err = {{0}};
    /* a flipped byte: the checksum */
    ((unsigned char *)buf.p)[buf.len / 2] ^= 0x40;
    assert_int_equal(model_snapshot_open(buf.p, buf.len, &snap, &err), SL_ERR_CORRUPT);
    ((unsigned char *)buf.p)[buf.len / 2] ^= 0x40;
    assert_int_equal(model_snapshot_open(buf.p, buf.len, &snap, &err), SL_OK);
    /* mismatched shapes, each named */
    model_mtl_params q = p;
    q.embed_dim = 8;
    expect_refused(&snap, &q, SL_ERR_INVALID, "embed_dim is 4 in the snapshot, 8 in the config");
    q = p;
    q.hidden[1] = 7;
    expect_refused(&snap, &q, SL_ERR_INVALID, "hidden1 is 6 in the snapshot, 7 in the config");
    q = p;
    q.emb_bits = 7;
    expect_refused(&snap, &q, SL_ERR_INVALID, "emb_bits");
    q = p;
    q.opt = MODEL_MTL_OPT_ADAGRAD;
    expect_refused(&snap, &q, SL_ERR_INVALID, "optimizer");
    q = p;
    q.n_dense = 2;
    expect_refused(&snap, &q, SL_ERR_INVALID, "n_dense");
    /* another kind of model */
    snap.kind = SL_MODEL_FM;
    expect_refused(&snap, &p, SL_ERR_INVALID, "holds a fm model");
    snap.kind = SL_MODEL_MTL;
    sl_buf_deinit(&buf);

    /* a snapshot without an array, and one with a NaN parameter */
    for (int variant = 0; variant < 2; variant++) {
        model_snapshot_writer w;
        sl_buf_init(&buf, 64u << 20);
        assert_int_equal(model_snapshot_begin(&w, &buf, SL_MODEL_MTL, "feed"), SL_OK);
        model_snapshot_put_dim(&w, "emb_bits", p.emb_bits);
        model_snapshot_put_dim(&w, "embed_dim", p.embed_dim);
        model_snapshot_put_dim(&w, "n_fields", p.n_fields);
        model_snapshot_put_dim(&w, "n_dense", p.n_dense);
        model_snapshot_put_dim(&w, "n_hidden", p.n_hidden);
        model_snapshot_put_dim(&w, "hidden0", p.hidden[0]);
        model_snapshot_put_dim(&w, "hidden1", p.hidden[1]);
        model_snapshot_put_dim(&w, "optimizer", p.opt);
        model_snapshot_put_dim(&w, "pool", p.pool);
        model_mtl_array x[MODEL_MTL_MAX_ARRAYS];
        uint32_t nx = model_mtl_arrays(a, x, MODEL_MTL_MAX_ARRAYS);
        float keep = x[1].data[0];
        if (variant == 1)
            x[1].data[0] = NAN;
        for (uint32_t i = 0; i < nx; i++)
            if (variant == 1 || strcmp(x[i].name, "l1_opt"))
                model_snapshot_put_array(&w, x[i].name, x[i].data, x[i].rows * x[i].width);
        x[1].data[0] = keep;
        size_t len;
        assert_int_equal(model_snapshot_finish(&w, &len, &err), SL_OK);
        assert_int_equal(model_snapshot_open(buf.p, buf.len, &snap, &err), SL_OK);
        if (variant == 0)
            expect_refused(&snap, &p, SL_ERR_CORRUPT, "array l1_opt is missing");
        else
            expect_refused(&snap, &p, SL_ERR_CORRUPT, "array l0: float 0 is not finite");
        sl_buf_deinit(&buf);
    }
    model_mtl_destroy(a);
}

/* ---- determinism, predict, params ---------------------------------------- */

static void test_determinism(void **state) {
    (void)state;
    model_mtl_params p;
    stream_params(&p);
    p.emb_bits = 10;
    model_mtl *m[3];
    for (int k = 0; k < 3; k++) {
        model_mtl_params q = p;
        q.seed = k == 2 ? 4 : 3;
        m[k] = make(&q);
        mtl_stream s;
        assert_true(mtl_stream_init(&s, 5, 300, 400));
        model_example ex;
        for (int i = 0; i < 3000; i++) {
            mtl_stream_next(&s, &ex, NULL);
            assert_int_equal(model_mtl_learn(m[k], &ex), SL_OK);
        }
        mtl_stream_free(&s);
    }
    assert_true(same_state(m[0], m[1]));
    assert_false(same_state(m[0], m[2]));
    for (int k = 0; k < 3; k++)
        model_mtl_destroy(m[k]);
}

/* The optimizer's AVX and SSE2 forms train bitwise the same model, with
 * every optimizer; embed_dim 12 and the hidden widths make rows of 8 lanes
 * plus a tail. (Without AVX on the CPU both models use SSE2: trivially.) */
static void test_avx_equals_sse2(void **state) {
    (void)state;
    for (int opt = 0; opt < MODEL_MTL_OPT_COUNT; opt++) {
        model_mtl_params p;
        stream_params(&p);
        p.emb_bits = 10;
        p.embed_dim = 12;
        p.hidden[0] = 21;
        p.hidden[1] = 13;
        p.opt = (model_mtl_opt)opt;
        p.lr = opt == MODEL_MTL_OPT_MOMENTUM ? 0.001 : 0.01;
        model_mtl *m[2] = {make(&p), make(&p)};
        assert_false(model_mtl__set_avx(m[1], false));
        mtl_stream s;
        assert_true(mtl_stream_init(&s, 8, 300, 400));
        model_example ex;
        for (int i = 0; i < 2000; i++) {
            mtl_stream_next(&s, &ex, NULL);
            for (int k = 0; k < 2; k++)
                assert_int_equal(model_mtl_learn(m[k], &ex), SL_OK);
        }
        mtl_stream_free(&s);
        assert_true(same_state(m[0], m[1]));
        for (int k = 0; k < 2; k++)
            model_mtl_destroy(m[k]);
    }
}

static void test_predict(void **state) {
    (void)state;
    model_mtl_params p;
    small_params(&p);
    p.mini_batch = 3; /* predict_batch works in chunks of 64 rows */
    model_mtl *m = trained_small(&p, 101);
    enum { N = 150 };
    model_example *exs = malloc(N * sizeof *exs);
    random_batch(102, exs, N);
    float(*out)[T_HEADS] = malloc(N * sizeof *out);
    model_mtl_predict_batch(m, exs, N, out);
    for (int i = 0; i < N; i++) {
        float o[T_HEADS];
        model_mtl_predict(m, &exs[i], o);
        for (int t = 0; t < T_HEADS; t++)
            assert_true(fabsf(o[t] - out[i][t]) <= 1e-5f * (1 + fabsf(o[t])));
        for (int t = 0; t < 3; t++)
            assert_true(o[t] > 0 && o[t] < 1);
        assert_true(o[3] >= 0);
        double want = 0;
        for (int t = 0; t < T_HEADS; t++)
            want += p.blend[t] * o[t];
        assert_true(fabs(model_mtl_blend(m, o) - want) <= 1e-5 * (1 + fabs(want)));
    }
    /* an untrained model predicts its dwell prior */
    model_mtl *fresh = make(&p);
    float o[T_HEADS];
    model_example ex;
    model_example_reset(&ex);
    model_mtl_predict(fresh, &ex, o);
    assert_true(fabsf(o[3] - 50.0f) < 0.5f);
    assert_true(fabsf(o[0] - 0.5f) < 0.02f); /* click at 0.5 without a base rate */
    model_mtl_destroy(fresh);
    /* ... and its click, like and share heads at their base rates when set */
    p.base_rate[0] = 0.06;
    p.base_rate[1] = 0.02;
    p.base_rate[2] = 0.005;
    fresh = make(&p);
    model_mtl_predict(fresh, &ex, o);
    assert_true(fabsf(o[0] - 0.06f) < 0.005f);
    assert_true(fabsf(o[1] - 0.02f) < 0.002f);
    assert_true(fabsf(o[2] - 0.005f) < 0.0005f);
    model_mtl_destroy(fresh);
    p.base_rate[1] = 1.0;
    sl_err err = {{0}};
    assert_int_equal(model_mtl_create(&p, &fresh, &err), SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "base_rate[1]"));
    free(exs);
    free(out);
    model_mtl_destroy(m);
}

static void test_params(void **state) {
    (void)state;
    model_mtl_params p;
    model_mtl *m = NULL;
    sl_err err = {{0}};
    small_params(&p);
    p.emb_bits = 30;
    assert_int_equal(model_mtl_create(&p, &m, &err), SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "emb_bits"));
    small_params(&p);
    p.lr = 0;
    assert_int_equal(model_mtl_create(&p, &m, &err), SL_ERR_INVALID);
    small_params(&p);
    p.head_weights[2] = -1;
    assert_int_equal(model_mtl_create(&p, &m, &err), SL_ERR_INVALID);
    assert_null(m);
    /* the config's defaults give the documented model */
    sl_config *cfg = NULL;
    assert_int_equal(sl_config_defaults(&cfg, &err), SL_OK);
    const sl_config_model *cm = sl_config_model_find(cfg, "feed");
    assert_non_null(cm);
    model_mtl_params_from_config(cm, &p);
    model_mtl_params d;
    model_mtl_params_default(&d);
    assert_int_equal(p.emb_bits, d.emb_bits);
    assert_int_equal(p.opt, MODEL_MTL_OPT_ADAM);
    assert_int_equal(p.hidden[0], 128);
    assert_int_equal(p.hidden[1], 64);
    assert_true(p.blend[2] == 4.0);
    sl_config_destroy(cfg);
    /* an oversized example is refused, nothing buffered */
    small_params(&p);
    m = make(&p);
    model_example ex;
    model_example_reset(&ex);
    ex.n = MODEL_MAX_SPARSE + 1;
    assert_int_equal(model_mtl_learn(m, &ex), SL_ERR_LIMIT);
    assert_int_equal(model_mtl_pending(m), 0);
    assert_int_equal(model_mtl_flush(m), SL_OK); /* nothing to do */
    model_mtl_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blas_equals_reference),
        cmocka_unit_test(test_blas_equals_naive_gemm),
        cmocka_unit_test(test_gradients_fd),
        cmocka_unit_test(test_masked_dwell),
        cmocka_unit_test(test_guard),
        cmocka_unit_test(test_arrays_and_dirty),
        cmocka_unit_test(test_restore_arrays_resumes),
        cmocka_unit_test(test_snapshot_round_trip),
        cmocka_unit_test(test_snapshot_refused),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_avx_equals_sse2),
        cmocka_unit_test(test_predict),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_optimizers),
        cmocka_unit_test(test_learns_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
