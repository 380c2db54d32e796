/*
 * model_fm.c — the online factorization machine (model_fm.h).
 *
 * Legend: D = 2^bits linear coordinates, R = 2^factor_bits factor rows,
 * k = factors per row, n = the example's sparse features.
 */
#include "model_fm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "sl_rand.h"

struct model_fm {
    model_fm_params p; /* hyperparameters, factor_bits resolved */
    double inv_alpha;  /* 1/α of the linear part */
    uint32_t bits;     /* log2 D */
    uint32_t mask;     /* D − 1 */
    uint32_t k;        /* factors per row */
    uint32_t stride;   /* 2k floats per row of vg */
    bool identity;     /* factor_bits == bits: row = index */
    float zb[2];       /* (2) the bias's z, n */
    float *zn;         /* (D, 2) linear z, n */
    float *vg;         /* (R, 2k) factors, then their AdaGrad sums, per row */
    float *undo;       /* (MODEL_MAX_SPARSE, 2 + 2k) scratch of the guard */
    uint64_t updates;  /* updates applied */
    uint64_t refused;  /* updates refused by the guard */
};

void model_fm_params_default(model_fm_params *p) {
    model_ftrl_params_default(&p->lin);
    p->k = 8;
    p->factor_bits = 0;
    p->factor_lr = 0.05;
    p->factor_l2 = 1e-4;
    p->init_std = 0.01;
    p->seed = 1;
}

void model_fm_params_from_config(const sl_config_model *cm, model_fm_params *p) {
    model_fm_params_default(p);
    model_ftrl_params_from_config(cm, &p->lin);
    p->k = (uint32_t)cm->factors;
    p->factor_lr = cm->factor_lr;
    p->factor_l2 = cm->factor_l2;
    p->init_std = cm->init_std;
    p->seed = cm->seed;
}

uint32_t model_fm__row(const model_fm *m, uint32_t idx) {
    idx &= m->mask;
    if (m->identity)
        return idx;
    return (uint32_t)(idx * 0x9E3779B1u) >> (32 - m->p.factor_bits);
}

sl_status model_fm_create(const model_fm_params *p, uint32_t hash_bits, model_fm **out,
                          sl_err *err) {
    *out = NULL;
    /* The linear part's checks are model_ftrl's. */
    model_ftrl *probe = NULL;
    sl_status st = model_ftrl_create(&p->lin, 1, &probe, err);
    model_ftrl_destroy(probe);
    if (st != SL_OK)
        return st;
    if (hash_bits < 1 || hash_bits > MODEL_FTRL_MAX_BITS)
        return sl_err_set(err, SL_ERR_INVALID, "fm: hash_bits must be in 1..%d, got %u",
                          MODEL_FTRL_MAX_BITS, hash_bits);
    uint32_t fbits = p->factor_bits;
    if (fbits == 0)
        fbits = hash_bits < MODEL_FM_DEFAULT_FACTOR_BITS ? hash_bits : MODEL_FM_DEFAULT_FACTOR_BITS;
    if (fbits > hash_bits)
        return sl_err_set(err, SL_ERR_INVALID, "fm: factor_bits %u exceeds hash_bits %u", fbits,
                          hash_bits);
    if (p->k < 1 || p->k > MODEL_FM_MAX_K || !(p->factor_lr > 0) || !(p->factor_l2 >= 0) ||
        !(p->init_std >= 0) || !isfinite(p->factor_lr + p->factor_l2 + p->init_std))
        return sl_err_set(err, SL_ERR_INVALID,
                          "fm: need k in 1..%d, factor_lr > 0, factor_l2 >= 0, init_std >= 0 "
                          "(got %u, %g, %g, %g)",
                          MODEL_FM_MAX_K, p->k, p->factor_lr, p->factor_l2, p->init_std);
    model_fm *m = calloc(1, sizeof *m);
    if (!m)
        return sl_err_set(err, SL_ERR_NOMEM, "fm: out of memory");
    m->p = *p;
    m->p.factor_bits = fbits;
    m->inv_alpha = 1.0 / p->lin.alpha;
    m->bits = hash_bits;
    m->mask = (uint32_t)(((size_t)1 << hash_bits) - 1);
    m->k = p->k;
    m->stride = 2 * p->k;
    m->identity = fbits == hash_bits;
    size_t rows = (size_t)1 << fbits;
    m->zn = calloc((size_t)1 << hash_bits, 2 * sizeof(float));
    m->vg = malloc(rows * m->stride * sizeof(float));
    m->undo = malloc((size_t)MODEL_MAX_SPARSE * (2 + m->stride) * sizeof(float));
    if (!m->zn || !m->vg || !m->undo) {
        model_fm_destroy(m);
        return sl_err_set(err, SL_ERR_NOMEM, "fm: cannot allocate %zu MiB of parameters",
                          ((((size_t)1 << hash_bits) * 2 + rows * m->stride) * sizeof(float)) >>
                              20);
    }
    sl_rand rng;
    sl_rand_seed(&rng, p->seed);
    for (size_t r = 0; r < rows; r++) {
        float *row = m->vg + r * m->stride;
        for (uint32_t f = 0; f < m->k; f++)
            row[f] = (float)(p->init_std * sl_rand_normal(&rng));
        memset(row + m->k, 0, m->k * sizeof(float));
    }
    *out = m;
    return SL_OK;
}

void model_fm_destroy(model_fm *m) {
    if (!m)
        return;
    free(m->zn);
    free(m->vg);
    free(m->undo);
    free(m);
}

static inline double lin_w(const model_fm *m, const float *c) {
    return model__ftrl_weight(c[0], c[1], m->inv_alpha, m->p.lin.beta, m->p.lin.l1, m->p.lin.l2);
}

static inline double bias_w(const model_fm *m) {
    return model__ftrl_weight(m->zb[0], m->zb[1], m->inv_alpha, m->p.lin.beta, 0.0, 0.0);
}

/* The margin, and OUT: s (k) = Σ_i v_{r(i)} x_i. */
static double fm_margin(const model_fm *m, const model_example *ex, double *s) {
    uint32_t k = m->k;
    double lin = bias_w(m), sq = 0.0;
    for (uint32_t f = 0; f < k; f++)
        s[f] = 0.0;
    for (uint32_t j = 0; j < ex->n; j++) {
        uint32_t i = ex->idx[j] & m->mask;
        double x = ex->val[j];
        lin += lin_w(m, m->zn + 2 * (size_t)i) * x;
        const float *v = m->vg + (size_t)model_fm__row(m, i) * m->stride;
        for (uint32_t f = 0; f < k; f++) {
            double vx = v[f] * x;
            s[f] += vx;
            sq += vx * vx;
        }
    }
    double ss = 0.0;
    for (uint32_t f = 0; f < k; f++)
        ss += s[f] * s[f];
    return lin + 0.5 * (ss - sq);
}

double model_fm__margin(const model_fm *m, const model_example *ex) {
    double s[MODEL_FM_MAX_K];
    return fm_margin(m, ex, s);
}

float model_fm_predict(const model_fm *m, const model_example *ex) {
    double s[MODEL_FM_MAX_K];
    return (float)model__sigmoid(fm_margin(m, ex, s));
}

float model_fm_predict_calibrated(const model_fm *m, const model_example *ex) {
    return model_ftrl_calibrate(model_fm_predict(m, ex), m->p.lin.neg_weight);
}

void model_fm__gradient(const model_fm *m, const model_example *ex, float label, double *g_b,
                        double *g_w, double *g_v) {
    double s[MODEL_FM_MAX_K];
    double d = (double)ex->weight * (model__sigmoid(fm_margin(m, ex, s)) - label);
    *g_b = d;
    for (uint32_t j = 0; j < ex->n; j++) {
        double x = ex->val[j];
        g_w[j] = d * x;
        const float *v = m->vg + (size_t)model_fm__row(m, ex->idx[j]) * m->stride;
        for (uint32_t f = 0; f < m->k; f++)
            g_v[j * m->k + f] = d * x * (s[f] - v[f] * x);
    }
}

sl_status model_fm_update(model_fm *m, const model_example *ex, float label, float p) {
    /* In place with an undo log (see model_ftrl_update): entry j saves the
     * linear z, n and the whole row (v, G) before touching them. */
    uint32_t k = m->k, ulen = 2 + m->stride;
    uint32_t n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
    double s[MODEL_FM_MAX_K];
    (void)fm_margin(m, ex, s);
    double c_w = ex->weight, r = (double)p - (double)label; /* importance weight, residual */
    double d = c_w * r;
    float zb_old[2] = {m->zb[0], m->zb[1]};
    bool ok = isfinite(d) && c_w >= 0;
    uint32_t j = 0;
    if (ok) {
        double z2, n2;
        model__ftrl_step(m->zb[0], m->zb[1], d, c_w * r * r, bias_w(m), m->inv_alpha, &z2, &n2);
        ok = isfinite((float)z2) && isfinite((float)n2) && fabs(z2 - m->zb[0]) <= m->p.lin.max_dz;
        if (ok) {
            m->zb[0] = (float)z2;
            m->zb[1] = (float)n2;
        }
    }
    for (; ok && j < n; j++) {
        uint32_t i = ex->idx[j] & m->mask;
        float *c = m->zn + 2 * (size_t)i;
        float *row = m->vg + (size_t)model_fm__row(m, i) * m->stride;
        float *u = m->undo + (size_t)j * ulen;
        u[0] = c[0];
        u[1] = c[1];
        memcpy(u + 2, row, m->stride * sizeof(float));
        double x = ex->val[j];
        double z2, n2;
        model__ftrl_step(c[0], c[1], d * x, c_w * r * r * x * x, lin_w(m, c), m->inv_alpha, &z2,
                         &n2);
        float zf = (float)z2, nf = (float)n2;
        if (!isfinite(zf) || !isfinite(nf) || !(fabs(z2 - c[0]) <= m->p.lin.max_dz)) {
            ok = false;
            j++; /* logged, nothing written: restoring it is a no-op */
            break;
        }
        c[0] = zf;
        c[1] = nf;
        float *v = row, *gs = row + k;
        for (uint32_t f = 0; f < k; f++) {
            double vf = v[f];
            double gu = r * x * (s[f] - vf * x) + m->p.factor_l2 * vf; /* unweighted */
            double g = c_w * gu;
            double gsum = (double)gs[f] + c_w * gu * gu; /* as c_w copies would add */
            double v2 = gsum > 0 ? vf - m->p.factor_lr * g / sqrt(gsum) : vf;
            float vn = (float)v2, gn = (float)gsum;
            if (!isfinite(vn) || !isfinite(gn)) {
                ok = false;
                break;
            }
            v[f] = vn;
            gs[f] = gn;
        }
        if (!ok) {
            j++; /* partly written: restored below */
            break;
        }
    }
    if (!ok) {
        while (j-- > 0) {
            uint32_t i = ex->idx[j] & m->mask;
            const float *u = m->undo + (size_t)j * ulen;
            float *c = m->zn + 2 * (size_t)i;
            c[0] = u[0];
            c[1] = u[1];
            memcpy(m->vg + (size_t)model_fm__row(m, i) * m->stride, u + 2,
                   m->stride * sizeof(float));
        }
        m->zb[0] = zb_old[0];
        m->zb[1] = zb_old[1];
        m->refused++;
        return SL_ERR_INVALID;
    }
    m->updates++;
    return SL_OK;
}

float *model_fm_linear_zn(model_fm *m) { return m->zn; }
float *model_fm_bias_zn(model_fm *m) { return m->zb; }
float *model_fm_factors(model_fm *m) { return m->vg; }
const float *model_fm_linear_zn_const(const model_fm *m) { return m->zn; }
const float *model_fm_factors_const(const model_fm *m) { return m->vg; }
uint32_t model_fm_bits(const model_fm *m) { return m->bits; }
uint32_t model_fm_factor_bits(const model_fm *m) { return m->p.factor_bits; }
uint32_t model_fm_k(const model_fm *m) { return m->k; }
const model_fm_params *model_fm_params_get(const model_fm *m) { return &m->p; }
uint64_t model_fm_updates(const model_fm *m) { return m->updates; }
uint64_t model_fm_refused(const model_fm *m) { return m->refused; }
