/*
 * model_ftrl.c — FTRL-Proximal logistic regression (model_ftrl.h).
 *
 * Legend: D = 2^bits coordinates, n = the example's sparse features.
 */
#include "model_ftrl.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

struct model_ftrl {
    model_ftrl_params p; /* hyperparameters, copied at create */
    model__ftrl_k k;     /* the weight's constants in float */
    float max_dz;        /* the guard's bound in float */
    float base;          /* p.base_margin in float */
    bool per_field;      /* some field has its own α (fast_fields) */
    float ia_field[256]; /* 1/α of each field's features */
    _Alignas(16) float ia_same[MODEL_MAX_SPARSE]; /* 1/alpha in every lane */
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
    memset(p->fast_fields, 0, sizeof p->fast_fields);
    p->fast_alpha = 0.2;
    p->base_margin = 0.0;
}

bool model__ftrl_ia_fields(const model_ftrl_params *p, float *ia_field, float *same) {
    bool any = false;
    for (int f = 0; f < 256; f++) {
        bool fast = p->fast_fields[f >> 6] >> (f & 63) & 1;
        ia_field[f] = (float)(1.0 / (fast ? p->fast_alpha : p->alpha));
        any = any || fast;
    }
    for (int j = 0; j < MODEL_MAX_SPARSE; j++)
        same[j] = (float)(1.0 / p->alpha);
    return any;
}

void model_ftrl_params_from_config(const sl_config_model *cm, model_ftrl_params *p) {
    model_ftrl_params_default(p);
    p->alpha = cm->alpha;
    p->beta = cm->beta;
    p->l1 = cm->l1;
    p->l2 = cm->l2;
    p->neg_weight = cm->neg_weight;
    p->base_margin = cm->base_rate > 0 && cm->base_rate < 1
                         ? model_ftrl_base_margin(cm->base_rate, cm->neg_weight)
                         : 0.0;
    for (int i = 0; i < cm->n_fast_fields; i++) {
        unsigned f = (unsigned)cm->fast_field_ids[i] & 255;
        p->fast_fields[f >> 6] |= (uint64_t)1 << (f & 63);
    }
    p->fast_alpha = cm->fast_alpha;
}

double model_ftrl_base_margin(double rate, double neg_weight) {
    double raw = rate * neg_weight / (1.0 - rate + rate * neg_weight);
    return log(raw / (1.0 - raw));
}

sl_status model_ftrl_create(const model_ftrl_params *p, uint32_t hash_bits, model_ftrl **out,
                            sl_err *err) {
    *out = NULL;
    if (hash_bits < 1 || hash_bits > MODEL_FTRL_MAX_BITS)
        return sl_err_set(err, SL_ERR_INVALID, "ftrl: hash_bits must be in 1..%d, got %u",
                          MODEL_FTRL_MAX_BITS, hash_bits);
    if (!(p->alpha > 0) || !(p->beta >= 0) || !(p->l1 >= 0) || !(p->l2 >= 0) ||
        !(p->neg_weight >= 1) || !(p->max_dz > 0) || !(p->fast_alpha > 0) ||
        !isfinite(p->alpha + p->beta + p->l1 + p->l2 + p->neg_weight + p->fast_alpha))
        return sl_err_set(err, SL_ERR_INVALID,
                          "ftrl: need alpha > 0, beta, l1, l2 >= 0, neg_weight >= 1, "
                          "max_dz > 0, fast_alpha > 0 (got %g, %g, %g, %g, %g, %g, %g)",
                          p->alpha, p->beta, p->l1, p->l2, p->neg_weight, p->max_dz,
                          p->fast_alpha);
    if (!(fabs(p->base_margin) <= 30))
        return sl_err_set(err, SL_ERR_INVALID, "ftrl: base_margin must be in -30..30, got %g",
                          p->base_margin);
    model_ftrl *m = calloc(1, sizeof *m);
    if (!m)
        return sl_err_set(err, SL_ERR_NOMEM, "ftrl: out of memory");
    size_t d = (size_t)1 << hash_bits;
    m->zn = model__table_alloc(d * 2 * sizeof(float));
    if (!m->zn) {
        free(m);
        return sl_err_set(err, SL_ERR_NOMEM, "ftrl: cannot allocate %zu MiB for z and n",
                          (d * 2 * sizeof(float)) >> 20);
    }
    m->p = *p;
    m->k = (model__ftrl_k){(float)(1.0 / p->alpha), (float)p->beta, (float)p->l1, (float)p->l2};
    m->max_dz = p->max_dz < FLT_MAX ? (float)p->max_dz : FLT_MAX;
    m->base = (float)p->base_margin;
    m->per_field = model__ftrl_ia_fields(p, m->ia_field, m->ia_same);
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

static inline float ftrl_w(const model_ftrl *m, uint32_t i) {
    const float *c = m->zn + 2 * (size_t)i;
    return model__ftrl_w(c[0], sqrtf(c[1]), &m->k);
}

/* Issues the loads of the example's coordinates before any is used: the
 * table is 32 MiB and the accesses random, so each would otherwise be a
 * cache miss waiting its turn. */
MODEL__PREFETCH_FN void ftrl_prefetch(const model_ftrl *m, const model_example *ex) {
    uint32_t n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
    for (uint32_t j = 0; j < n; j++)
        __builtin_prefetch(m->zn + 2 * (size_t)(ex->idx[j] & m->mask));
}

/* The example's coordinates, gathered: OUT: z, q, x, ia (n4, 16-byte
 * aligned), *n the features used, *ial the 1/α lanes (ia or a constant
 * array). Returns n4. The first step of both the prediction and the
 * one-pass learn. pf is the example whose coordinates to prefetch first:
 * ex itself, or in a batch one further on (ex's were prefetched while an
 * earlier example was learned), or NULL. */
MODEL__SPECIALIZED uint32_t ftrl_load(const model_ftrl *m, const model_example *ex,
                                     const model_example *pf, model__ahead *a, float *z,
                                     float *q, float *x, float *ia, uint32_t *n,
                                     const float **ial) {
    *n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
    if (pf)
        ftrl_prefetch(m, pf);
    uint32_t n4 = model__ftrl_gather(m->zn, m->mask, ex, *n, z, q, x, a);
    *ial = model__ftrl_lanes(m->per_field ? m->ia_field : NULL, m->ia_same, ex, *n, n4, ia);
    return n4;
}

static float ftrl_margin(const model_ftrl *m, const model_example *ex) {
    _Alignas(16) float z[MODEL_MAX_SPARSE], q[MODEL_MAX_SPARSE], x[MODEL_MAX_SPARSE]; /* (n4) */
    _Alignas(16) float ia[MODEL_MAX_SPARSE];                                          /* (n4) */
    uint32_t n;
    const float *ial;
    uint32_t n4 = ftrl_load(m, ex, ex, NULL, z, q, x, ia, &n, &ial);
    return model__ftrl_dot(z, q, x, ial, n4, &m->k) + m->base;
}

double model_ftrl__margin(const model_ftrl *m, const model_example *ex) {
    return ftrl_margin(m, ex);
}

float model_ftrl_predict(const model_ftrl *m, const model_example *ex) {
    return model__sigmoidf(ftrl_margin(m, ex));
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

/* The update one coordinate after the other, with an undo log: duplicate
 * indices see each other's steps, and a refusal restores the old floats
 * bitwise. The fallback of model__ftrl_update_coords. */
static bool ftrl_update_seq(float *zn, uint32_t mask, const model_example *ex, uint32_t n,
                            const float *ia_field, float r, float c_w, float max_dz,
                            const model__ftrl_k *k) {
    float undo[MODEL_MAX_SPARSE][2]; /* (n, 2) old z, n */
    uint32_t j = 0;
    bool ok = true;
    for (; j < n; j++) {
        float *c = zn + 2 * (size_t)(ex->idx[j] & mask);
        float z = c[0], q = c[1];
        undo[j][0] = z;
        undo[j][1] = q;
        float sq = sqrtf(q); /* shared by the weight and σ */
        float ia = ia_field ? ia_field[ex->field[j]] : k->inv_alpha;
        float z2, n2;
        model__ftrl_step(z, q, sq, model__ftrl_wa(z, sq, ia, k), r * ex->val[j], c_w, ia, &z2,
                         &n2);
        /* NaN fails every comparison: one test covers non-finite and too large. */
        if (!(fabsf(z2 - z) <= max_dz && fabsf(z2) <= FLT_MAX && n2 <= FLT_MAX)) {
            ok = false;
            j++; /* entry j was logged, nothing written yet: restoring it is a no-op */
            break;
        }
        c[0] = z2;
        c[1] = n2;
    }
    if (!ok)
        while (j-- > 0) {
            float *c = zn + 2 * (size_t)(ex->idx[j] & mask);
            c[0] = undo[j][0];
            c[1] = undo[j][1];
        }
    return ok;
}

bool model__ftrl_update_coords(float *zn, uint32_t mask, const model_example *ex,
                               const float *ia_field, const float *ia_same, float r, float c_w,
                               float max_dz, const model__ftrl_k *k) {
    /* Gather (marking, to find duplicates), step every coordinate at once
     * (SIMD), scatter; the sequential update when an index repeats. The
     * gathered values are the undo log. */
    _Alignas(16) float z[MODEL_MAX_SPARSE], q[MODEL_MAX_SPARSE], x[MODEL_MAX_SPARSE]; /* (n4) */
    _Alignas(16) float z2[MODEL_MAX_SPARSE], n2[MODEL_MAX_SPARSE];                    /* (n4) */
    _Alignas(16) float ia[MODEL_MAX_SPARSE];                                          /* (n4) */
    uint32_t n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
    uint32_t n4 = model__ftrl_gather_mark(zn, mask, ex, n, z, q, x);
    if (!n4 && n)
        return ftrl_update_seq(zn, mask, ex, n, ia_field, r, c_w, max_dz, k);
    const float *ial = model__ftrl_lanes(ia_field, ia_same, ex, n, n4, ia);
    bool ok = model__ftrl_steps(z, q, x, ial, n4, r, c_w, max_dz, k, z2, n2);
    model__ftrl_scatter(zn, mask, ex, n, ok, z2, n2, z, q, NULL);
    return ok;
}

sl_status model_ftrl_update(model_ftrl *m, const model_example *ex, float label, float p) {
    float c_w = ex->weight, r = p - label; /* importance weight, residual */
    bool ok = isfinite(c_w * r) && c_w >= 0;
    if (ok) {
        ftrl_prefetch(m, ex);
        ok = model__ftrl_update_coords(m->zn, m->mask, ex, m->per_field ? m->ia_field : NULL,
                                       m->ia_same, r, c_w, m->max_dz, &m->k);
    }
    if (!ok) {
        m->refused++;
        return SL_ERR_INVALID;
    }
    m->updates++;
    return SL_OK;
}

/* model_ftrl_learn, prefetching pf's coordinates first (ftrl_load) and a's
 * a few at a time (model__ahead; either may be NULL): predict + update
 * with one gather, the weights and √n the prediction computes are the ones
 * the update needs again. Duplicate indices take the two calls instead
 * (the same floats either way). */
MODEL__SPECIALIZED sl_status ftrl_learn(model_ftrl *m, const model_example *ex,
                                     const model_example *pf, model__ahead *a, float label,
                                     float *p) {
    _Alignas(16) float z[MODEL_MAX_SPARSE], q[MODEL_MAX_SPARSE], x[MODEL_MAX_SPARSE]; /* (n4) */
    _Alignas(16) float w[MODEL_MAX_SPARSE], sq[MODEL_MAX_SPARSE];                     /* (n4) */
    _Alignas(16) float z2[MODEL_MAX_SPARSE], n2[MODEL_MAX_SPARSE];                    /* (n4) */
    _Alignas(16) float ia[MODEL_MAX_SPARSE];                                          /* (n4) */
    uint32_t n;
    const float *ial;
    uint32_t n4 = ftrl_load(m, ex, pf, a, z, q, x, ia, &n, &ial);
    *p = model__sigmoidf(model__ftrl_dot_keep(z, q, x, ial, n4, &m->k, w, sq, a) + m->base);
    if (!model__ftrl_mark(m->zn, m->mask, ex, n, q, a)) /* a repeated index */
        return model_ftrl_update(m, ex, label, *p);
    float c_w = ex->weight, r = *p - label; /* importance weight, residual */
    bool ok = isfinite(c_w * r) && c_w >= 0 &&
              model__ftrl_steps_kept(z, q, x, ial, w, sq, n4, r, c_w, m->max_dz, z2, n2, a);
    model__ftrl_scatter(m->zn, m->mask, ex, n, ok, z2, n2, z, q, a);
    if (!ok) {
        m->refused++;
        return SL_ERR_INVALID;
    }
    m->updates++;
    return SL_OK;
}

sl_status model_ftrl_learn(model_ftrl *m, const model_example *ex, float label, float *p) {
    return ftrl_learn(m, ex, ex, NULL, label, p);
}

uint32_t model_ftrl_learn_batch(model_ftrl *m, const model_example *const *exs,
                                const float *labels, uint32_t n, float *p, sl_status *st) {
    /* Example i + MODEL__LEARN_AHEAD's coordinates are prefetched while
     * example i is learned, one per four coordinates of each pass over i's
     * (model__ahead), so the misses overlap i's arithmetic. */
    model__ahead a = {.zn = m->zn, .mask = m->mask};
    uint32_t refused;
    MODEL__LEARN_BATCH(ftrl_prefetch, ftrl_learn, m, &a, exs, labels, n, p, st, &refused);
    return refused;
}

float *model_ftrl_zn(model_ftrl *m) { return m->zn; }
const float *model_ftrl_zn_const(const model_ftrl *m) { return m->zn; }
uint32_t model_ftrl_bits(const model_ftrl *m) { return m->bits; }
const model_ftrl_params *model_ftrl_params_get(const model_ftrl *m) { return &m->p; }
float model_ftrl_weight(const model_ftrl *m, uint32_t i) { return ftrl_w(m, i & m->mask); }
uint64_t model_ftrl_updates(const model_ftrl *m) { return m->updates; }
uint64_t model_ftrl_refused(const model_ftrl *m) { return m->refused; }
