/*
 * model_ftrl.c — FTRL-Proximal logistic regression (model_ftrl.h).
 *
 * Legend: D = 2^bits coordinates, n = the example's sparse features.
 */
#include "model_ftrl.h"

#include <math.h>
#include <stdlib.h>

#include "model_internal.h"

struct model_ftrl {
    model_ftrl_params p; /* hyperparameters, copied at create */
    double inv_alpha;    /* 1/α, so a weight costs one division */
    uint32_t bits;       /* log2 D */
    uint32_t mask;       /* D − 1 */
    float *zn;           /* (D, 2) z, n interleaved */
    uint64_t updates;    /* updates applied */
    uint64_t refused;    /* updates refused by the guard */
};

void model_ftrl_params_default(model_ftrl_params *p) {
    p->alpha = 0.05;
    p->beta = 1.0;
    p->l1 = 1.0;
    p->l2 = 1.0;
    p->neg_weight = 1.0;
    p->max_dz = 1e6;
}

void model_ftrl_params_from_config(const sl_config_model *cm, model_ftrl_params *p) {
    model_ftrl_params_default(p);
    p->alpha = cm->alpha;
    p->beta = cm->beta;
    p->l1 = cm->l1;
    p->l2 = cm->l2;
    p->neg_weight = cm->neg_weight;
}

sl_status model_ftrl_create(const model_ftrl_params *p, uint32_t hash_bits, model_ftrl **out,
                            sl_err *err) {
    *out = NULL;
    if (hash_bits < 1 || hash_bits > MODEL_FTRL_MAX_BITS)
        return sl_err_set(err, SL_ERR_INVALID, "ftrl: hash_bits must be in 1..%d, got %u",
                          MODEL_FTRL_MAX_BITS, hash_bits);
    if (!(p->alpha > 0) || !(p->beta >= 0) || !(p->l1 >= 0) || !(p->l2 >= 0) ||
        !(p->neg_weight >= 1) || !(p->max_dz > 0) ||
        !isfinite(p->alpha + p->beta + p->l1 + p->l2 + p->neg_weight))
        return sl_err_set(err, SL_ERR_INVALID,
                          "ftrl: need alpha > 0, beta, l1, l2 >= 0, neg_weight >= 1, "
                          "max_dz > 0 (got %g, %g, %g, %g, %g, %g)",
                          p->alpha, p->beta, p->l1, p->l2, p->neg_weight, p->max_dz);
    model_ftrl *m = calloc(1, sizeof *m);
    if (!m)
        return sl_err_set(err, SL_ERR_NOMEM, "ftrl: out of memory");
    size_t d = (size_t)1 << hash_bits;
    m->zn = calloc(d, 2 * sizeof(float));
    if (!m->zn) {
        free(m);
        return sl_err_set(err, SL_ERR_NOMEM, "ftrl: cannot allocate %zu MiB for z and n",
                          (d * 2 * sizeof(float)) >> 20);
    }
    m->p = *p;
    m->inv_alpha = 1.0 / p->alpha;
    m->bits = hash_bits;
    m->mask = (uint32_t)(d - 1);
    *out = m;
    return SL_OK;
}

void model_ftrl_destroy(model_ftrl *m) {
    if (!m)
        return;
    free(m->zn);
    free(m);
}

static inline double ftrl_w(const model_ftrl *m, uint32_t i) {
    const float *c = m->zn + 2 * (size_t)i;
    return model__ftrl_weight(c[0], c[1], m->inv_alpha, m->p.beta, m->p.l1, m->p.l2);
}

double model_ftrl__margin(const model_ftrl *m, const model_example *ex) {
    double s = 0.0;
    for (uint32_t j = 0; j < ex->n; j++)
        s += ftrl_w(m, ex->idx[j] & m->mask) * ex->val[j];
    return s;
}

float model_ftrl_predict(const model_ftrl *m, const model_example *ex) {
    return (float)model__sigmoid(model_ftrl__margin(m, ex));
}

float model_ftrl_calibrate(float p, double neg_weight) {
    double q = p / (p + (1.0 - p) * neg_weight);
    return (float)q;
}

float model_ftrl_predict_calibrated(const model_ftrl *m, const model_example *ex) {
    return model_ftrl_calibrate(model_ftrl_predict(m, ex), m->p.neg_weight);
}

void model_ftrl__gradient(const model_ftrl *m, const model_example *ex, float label, double *g) {
    double p = model__sigmoid(model_ftrl__margin(m, ex));
    double dm = (double)ex->weight * (p - label);
    for (uint32_t j = 0; j < ex->n; j++)
        g[j] = dm * ex->val[j];
}

sl_status model_ftrl_update(model_ftrl *m, const model_example *ex, float label, float p) {
    /* Applied in place with an undo log, so duplicate indices see each
     * other's steps (as in a sequential reference) and a refusal restores
     * the old floats bitwise. */
    float undo[MODEL_MAX_SPARSE][2]; /* (n, 2) old z, n */
    uint32_t n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
    double c_w = ex->weight, r = (double)p - (double)label; /* importance weight, residual */
    uint32_t j = 0;
    bool ok = isfinite(c_w * r) && c_w >= 0;
    for (; ok && j < n; j++) {
        float *c = m->zn + 2 * (size_t)(ex->idx[j] & m->mask);
        undo[j][0] = c[0];
        undo[j][1] = c[1];
        double gu = r * ex->val[j];     /* unweighted gradient */
        double sq = sqrt((double)c[1]); /* shared by the weight and σ */
        double w = model__ftrl_weight_sq(c[0], sq, m->inv_alpha, m->p.beta, m->p.l1, m->p.l2);
        double z2, n2;
        model__ftrl_step_sq(c[0], c[1], sq, c_w * gu, c_w * gu * gu, w, m->inv_alpha, &z2, &n2);
        float zf = (float)z2, nf = (float)n2;
        if (!isfinite(zf) || !isfinite(nf) || !(fabs(z2 - c[0]) <= m->p.max_dz)) {
            ok = false;
            j++; /* entry j was logged, nothing written yet: restoring it is a no-op */
            break;
        }
        c[0] = zf;
        c[1] = nf;
    }
    if (!ok) {
        while (j-- > 0) {
            float *c = m->zn + 2 * (size_t)(ex->idx[j] & m->mask);
            c[0] = undo[j][0];
            c[1] = undo[j][1];
        }
        m->refused++;
        return SL_ERR_INVALID;
    }
    m->updates++;
    return SL_OK;
}

float *model_ftrl_zn(model_ftrl *m) { return m->zn; }
const float *model_ftrl_zn_const(const model_ftrl *m) { return m->zn; }
uint32_t model_ftrl_bits(const model_ftrl *m) { return m->bits; }
const model_ftrl_params *model_ftrl_params_get(const model_ftrl *m) { return &m->p; }
float model_ftrl_weight(const model_ftrl *m, uint32_t i) { return (float)ftrl_w(m, i & m->mask); }
uint64_t model_ftrl_updates(const model_ftrl *m) { return m->updates; }
uint64_t model_ftrl_refused(const model_ftrl *m) { return m->refused; }
