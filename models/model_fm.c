/*
 * model_fm.c — the online factorization machine (model_fm.h).
 *
 * Legend: D = 2^bits linear coordinates, R = 2^factor_bits factor rows,
 * k = factors per row, n = the example's sparse features.
 */
#include "model_fm.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "sl_rand.h"

/* 8-lane AVX2 forms of the factor kernels, chosen at run time where the
 * CPU has AVX2 (the build targets baseline x86-64). Each lane does the
 * same IEEE operations as the SSE2 lanes (no FMA: it is not enabled, and
 * C11 mode does not contract), and the pairwise sum adds the two 4-lane
 * halves in the SSE2 order, so both paths give bitwise the same floats. */
#if defined(MODEL__SSE2) && defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define MODEL_FM__AVX2 1
#define FM__AVX2       __attribute__((target("avx2")))
#endif

struct model_fm {
    model_fm_params p; /* hyperparameters, factor_bits resolved */
    model__ftrl_k lin; /* the linear weights' constants in float */
    model__ftrl_k bias; /* the bias's: no L1, no L2 */
    float max_dz;      /* the guard's bound on |Δz| */
    float base;        /* lin.base_margin in float */
    bool per_field;    /* some field has its own α (lin.fast_fields) */
    float ia_field[256]; /* 1/α of each field's linear features */
    _Alignas(16) float ia_same[MODEL_MAX_SPARSE]; /* 1/lin.alpha in every lane */
    float factor_lr;   /* AdaGrad step */
    float factor_l2;   /* L2 on the factors */
    uint32_t bits;     /* log2 D */
    uint32_t mask;     /* D − 1 */
    uint32_t k;        /* factors per row */
    uint32_t stride;   /* 2k floats per row of vg */
    bool identity;     /* factor_bits == bits: row = index */
    bool wide;         /* the AVX2 factor kernels (the CPU has them) */
    float zb[2];       /* (2) the bias's z, n */
    float *zn;         /* (D, 2) linear z, n */
    float *vg;         /* (R, 2k) factors, then their AdaGrad sums, per row */
    float *undo;       /* (rows stepped, 2k) the guard's copy of the rows it steps:
                        * MODEL_MAX_SPARSE, field-aware MODEL_FFM_MAX_ROWS */
    bool ffm;          /* field-aware (model_fm.h) */
    float *fs;         /* FFM: (F, F, k) the field sums S_ab of the example */
    const float **frows; /* FFM: (n, F) each feature's row for each field */
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
    p->field_aware = false;
}

void model_fm_params_from_config(const sl_config_model *cm, model_fm_params *p) {
    model_fm_params_default(p);
    model_ftrl_params_from_config(cm, &p->lin);
    p->k = (uint32_t)cm->factors;
    p->factor_lr = cm->factor_lr;
    p->factor_l2 = cm->factor_l2;
    p->init_std = cm->init_std;
    p->seed = cm->seed;
    p->field_aware = cm->kind == SL_MODEL_FFM;
}

bool model_fm__set_wide(model_fm *m, bool on) {
#ifdef MODEL_FM__AVX2
    m->wide = on && __builtin_cpu_supports("avx2");
#else
    (void)on;
#endif
    return m->wide;
}

uint32_t model_fm__row(const model_fm *m, uint32_t idx) {
    return model__fm_row(idx & m->mask, 32 - m->p.factor_bits, m->identity);
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
    if (p->field_aware && p->k > MODEL_FFM_MAX_K)
        return sl_err_set(err, SL_ERR_INVALID, "ffm: factors must be in 1..%d, got %u",
                          MODEL_FFM_MAX_K, p->k);
    model_fm *m = calloc(1, sizeof *m);
    if (!m)
        return sl_err_set(err, SL_ERR_NOMEM, "fm: out of memory");
    m->p = *p;
    m->p.factor_bits = fbits;
    float ia = (float)(1.0 / p->lin.alpha);
    m->lin = (model__ftrl_k){ia, (float)p->lin.beta, (float)p->lin.l1, (float)p->lin.l2};
    m->bias = (model__ftrl_k){ia, (float)p->lin.beta, 0.0f, 0.0f};
    m->per_field = model__ftrl_ia_fields(&p->lin, m->ia_field, m->ia_same);
    m->max_dz = p->lin.max_dz < FLT_MAX ? (float)p->lin.max_dz : FLT_MAX;
    m->base = (float)p->lin.base_margin;
    m->factor_lr = (float)p->factor_lr;
    m->factor_l2 = (float)p->factor_l2;
    m->bits = hash_bits;
    m->mask = (uint32_t)(((size_t)1 << hash_bits) - 1);
    m->k = p->k;
    m->stride = 2 * p->k;
    m->identity = fbits == hash_bits;
#ifdef MODEL_FM__AVX2
    m->wide = __builtin_cpu_supports("avx2");
#endif
    size_t rows = (size_t)1 << fbits;
    m->zn = model__table_alloc(((size_t)1 << hash_bits) * 2 * sizeof(float));
    m->vg = model__table_alloc(rows * m->stride * sizeof(float));
    m->ffm = p->field_aware;
    size_t stepped = m->ffm ? MODEL_FFM_MAX_ROWS : MODEL_MAX_SPARSE;
    m->undo = malloc(stepped * m->stride * sizeof(float));
    if (m->ffm) {
        m->fs = malloc((size_t)MODEL_FFM_MAX_ROWS * m->k * sizeof(float));
        m->frows = malloc((size_t)MODEL_FFM_MAX_ROWS * sizeof *m->frows);
    }
    if (!m->zn || !m->vg || !m->undo || (m->ffm && (!m->fs || !m->frows))) {
        size_t mib = ((((size_t)1 << hash_bits) * 2 + rows * m->stride) * sizeof(float)) >> 20;
        model_fm_destroy(m);
        return sl_err_set(err, SL_ERR_NOMEM, "fm: cannot allocate %zu MiB of parameters", mib);
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
    free(m->fs);
    free(m->frows);
    free(m);
}

static inline float bias_w(const model_fm *m) {
    return model__ftrl_w(m->zb[0], sqrtf(m->zb[1]), &m->bias);
}

static inline const float *fm_row(const model_fm *m, uint32_t i) {
    return m->vg + (size_t)model_fm__row(m, i) * m->stride;
}

/* Issues the loads of the example's linear coordinates and factor rows
 * before any is used (the tables are 96 MiB at bits 22, k 8: two random
 * accesses per feature). */
MODEL__PREFETCH_FN void fm_prefetch(const model_fm *m, const model_example *ex) {
    uint32_t n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
    size_t row_bytes = m->stride * sizeof(float);
    for (uint32_t j = 0; j < n; j++) {
        uint32_t i = ex->idx[j] & m->mask;
        __builtin_prefetch(m->zn + 2 * (size_t)i);
        const char *row = (const char *)fm_row(m, i);
        for (size_t off = 0; off < row_bytes; off += 64)
            __builtin_prefetch(row + off);
    }
}

/* OUT: rows (n), each feature's factor row. pf: the example whose lines to
 * prefetch first: ex itself (in the same pass: each row is hashed once),
 * or in a batch one further on (ex's were prefetched while an earlier
 * example was learned), or NULL. */
static void fm_rows(const model_fm *m, const model_example *ex, const model_example *pf,
                    uint32_t n, const float **rows) {
    if (pf == ex) {
        size_t row_bytes = m->stride * sizeof(float);
        for (uint32_t j = 0; j < n; j++) {
            uint32_t i = ex->idx[j] & m->mask;
            __builtin_prefetch(m->zn + 2 * (size_t)i);
            rows[j] = fm_row(m, i);
            for (size_t off = 0; off < row_bytes; off += 64)
                __builtin_prefetch((const char *)rows[j] + off);
        }
        return;
    }
    if (pf)
        fm_prefetch(m, pf);
    for (uint32_t j = 0; j < n; j++)
        rows[j] = fm_row(m, ex->idx[j]);
}

/* OUT: s (k) = Σ_j v_{r(j)} x_j and, when pair is not NULL, *pair =
 * ½ Σ_f [s_f² − Σ_j v_{r(j)f}² x_j²], the pairwise term. Factors go four at
 * a time with the sums in registers, each lane summing over j in order; the
 * pair term sums lane l over f ≡ l (mod 4) in order, then
 * (l0 + l2) + (l1 + l3), then the k mod 4 leftovers: the SSE2 and scalar
 * forms agree bitwise. */
#ifdef MODEL_FM__AVX2
/* fm_factor_sums for the groups of 8 factors: OUT: s (k8), acc (4) the
 * pairwise lanes, added low half then high half as the SSE2 loop would.
 * Returns k8, where the SSE2 loop goes on. */
FM__AVX2 static uint32_t fm_factor_sums8(const model_fm *m, const model_example *ex, uint32_t n,
                                         const float *const *rows, float *s, float *acc) {
    uint32_t k8 = m->k / 8 * 8, f = 0;
    __m128 pacc = _mm_loadu_ps(acc);
    for (; f < k8; f += 8) {
        __m256 as = _mm256_setzero_ps(), aq = _mm256_setzero_ps();
        for (uint32_t j = 0; j < n; j++) {
            __m256 vx = _mm256_mul_ps(_mm256_loadu_ps(rows[j] + f), _mm256_set1_ps(ex->val[j]));
            as = _mm256_add_ps(as, vx);
            aq = _mm256_add_ps(aq, _mm256_mul_ps(vx, vx));
        }
        _mm256_storeu_ps(s + f, as);
        __m256 t = _mm256_sub_ps(_mm256_mul_ps(as, as), aq);
        pacc = _mm_add_ps(pacc, _mm256_castps256_ps128(t));
        pacc = _mm_add_ps(pacc, _mm256_extractf128_ps(t, 1));
    }
    _mm_storeu_ps(acc, pacc);
    return f;
}
#endif

static void fm_factor_sums(const model_fm *m, const model_example *ex, uint32_t n,
                           const float *const *rows, float *s, float *pair) {
    uint32_t k = m->k, k4 = k / 4 * 4, f = 0;
    float acc[4] = {0, 0, 0, 0}; /* lane l: f ≡ l (mod 4) */
#ifdef MODEL_FM__AVX2
    if (m->wide)
        f = fm_factor_sums8(m, ex, n, rows, s, acc);
#endif
#ifdef MODEL__SSE2
    __m128 pacc = _mm_loadu_ps(acc);
    for (; f < k4; f += 4) {
        __m128 as = _mm_setzero_ps(), aq = _mm_setzero_ps();
        for (uint32_t j = 0; j < n; j++) {
            __m128 vx = _mm_mul_ps(_mm_loadu_ps(rows[j] + f), _mm_set1_ps(ex->val[j]));
            as = _mm_add_ps(as, vx);
            aq = _mm_add_ps(aq, _mm_mul_ps(vx, vx));
        }
        _mm_storeu_ps(s + f, as);
        pacc = _mm_add_ps(pacc, _mm_sub_ps(_mm_mul_ps(as, as), aq));
    }
    _mm_storeu_ps(acc, pacc);
#else
    for (; f < k4; f++) {
        float sf = 0, qf = 0;
        for (uint32_t j = 0; j < n; j++) {
            float vx = rows[j][f] * ex->val[j];
            sf += vx;
            qf += vx * vx;
        }
        s[f] = sf;
        acc[f & 3] += sf * sf - qf;
    }
#endif
    float t = (acc[0] + acc[2]) + (acc[1] + acc[3]);
    for (; f < k; f++) {
        float sf = 0, qf = 0;
        for (uint32_t j = 0; j < n; j++) {
            float vx = rows[j][f] * ex->val[j];
            sf += vx;
            qf += vx * vx;
        }
        s[f] = sf;
        t += sf * sf - qf;
    }
    if (pair)
        *pair = 0.5f * t;
}

/* The margin, and OUT: s (k) = Σ_j v_{r(j)} x_j. */
static float fm_margin(const model_fm *m, const model_example *ex, float *s) {
    _Alignas(16) float z[MODEL_MAX_SPARSE], q[MODEL_MAX_SPARSE], x[MODEL_MAX_SPARSE]; /* (n4) */
    const float *rows[MODEL_MAX_SPARSE]; /* (n) */
    uint32_t n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
    fm_rows(m, ex, ex, n, rows);
    _Alignas(16) float ia[MODEL_MAX_SPARSE]; /* (n4) */
    uint32_t n4 = model__ftrl_gather(m->zn, m->mask, ex, n, z, q, x, NULL);
    const float *ial =
        model__ftrl_lanes(m->per_field ? m->ia_field : NULL, m->ia_same, ex, n, n4, ia);
    float lin = model__ftrl_dot(z, q, x, ial, n4, &m->lin), pair;
    fm_factor_sums(m, ex, n, rows, s, &pair);
    return bias_w(m) + lin + pair + m->base;
}

static float ffm_margin_of(const model_fm *m, const model_example *ex);
static uint32_t ffm_fields(const model_example *ex, uint32_t n, uint8_t *fields, uint8_t *slot);
static float ffm_margin(const model_fm *m, const model_example *ex, uint32_t n, uint32_t nf,
                        const uint8_t *fields, const uint8_t *slot);

double model_fm__margin(const model_fm *m, const model_example *ex) {
    float s[MODEL_FM_MAX_K];
    return m->ffm ? ffm_margin_of(m, ex) : fm_margin(m, ex, s);
}

float model_fm_predict(const model_fm *m, const model_example *ex) {
    float s[MODEL_FM_MAX_K];
    return model__sigmoidf(m->ffm ? ffm_margin_of(m, ex) : fm_margin(m, ex, s));
}

float model_fm_predict_calibrated(const model_fm *m, const model_example *ex) {
    return model_ftrl_calibrate(model_fm_predict(m, ex), m->p.lin.neg_weight);
}

void model_fm__gradient(const model_fm *m, const model_example *ex, float label, double *g_b,
                        double *g_w, double *g_v) {
    float s[MODEL_FM_MAX_K];
    if (m->ffm) {
        uint8_t fields[MODEL_MAX_SPARSE], slot[MODEL_MAX_SPARSE];
        uint32_t n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE, k = m->k;
        uint32_t nf = ffm_fields(ex, n, fields, slot);
        double d = (double)ex->weight * (model__sigmoid(ffm_margin(m, ex, n, nf, fields, slot)) -
                                         label);
        *g_b = d;
        for (uint32_t j = 0; j < n; j++) {
            double x = ex->val[j];
            g_w[j] = d * x;
            for (uint32_t b = 0; b < nf; b++) {
                const float *v = m->frows[j * nf + b];
                const float *sb = m->fs + ((size_t)b * nf + slot[j]) * k;
                for (uint32_t f = 0; f < k; f++)
                    g_v[((size_t)j * nf + b) * k + f] =
                        d * x * ((double)sb[f] - (b == slot[j] ? (double)v[f] * x : 0.0));
            }
        }
        return;
    }
    double d = (double)ex->weight * (model__sigmoid(fm_margin(m, ex, s)) - label);
    *g_b = d;
    for (uint32_t j = 0; j < ex->n; j++) {
        double x = ex->val[j];
        g_w[j] = d * x;
        const float *v = fm_row(m, ex->idx[j]);
        for (uint32_t f = 0; f < m->k; f++)
            g_v[j * m->k + f] = d * x * ((double)s[f] - (double)v[f] * x);
    }
}

/* One AdaGrad step of a factor row v (k) with its sums G (k), for a
 * feature of value x, residual r, importance weight c and s (k) the factor
 * sums from before the update:
 *   ĝ_f = r·x·(s_f − v_f·xs) + l2·v_f,  G_f += c·ĝ_f²,  v_f −= lr·c·ĝ_f·rsqrt(G_f)
 * with xs = x when s includes the row's own term v·x (the FM; the FFM's row
 * for the feature's own field), else 0.
 * with model__rsqrt, and no step where G_f < FLT_MIN (nothing learned yet;
 * also keeps rsqrt's first guess away from denormals). Four factors per
 * SSE2 group, the rest scalar: the same operations in the same order.
 * Returns false when a new value is not finite (the row may be partly
 * written: the caller restores it). */
#ifdef MODEL_FM__AVX2
FM__AVX2 static inline __m256 fm_rsqrt8(__m256 x) { /* model__rsqrt4, 8 lanes */
    const __m256 half = _mm256_set1_ps(0.5f), three_halves = _mm256_set1_ps(1.5f);
    __m256 hx = _mm256_mul_ps(half, x);
    __m256i i = _mm256_sub_epi32(_mm256_set1_epi32(0x5f375a86),
                                 _mm256_srli_epi32(_mm256_castps_si256(x), 1));
    __m256 y = _mm256_castsi256_ps(i);
    y = _mm256_mul_ps(y, _mm256_sub_ps(three_halves, _mm256_mul_ps(_mm256_mul_ps(hx, y), y)));
    y = _mm256_mul_ps(y, _mm256_sub_ps(three_halves, _mm256_mul_ps(_mm256_mul_ps(hx, y), y)));
    return y;
}

/* fm_row_step for the groups of 8 factors. Returns false when a new value
 * is not finite; OUT: *f_end = k8, where the SSE2 loop goes on. */
FM__AVX2 static bool fm_row_step8(const model_fm *m, float *v, float *gs, const float *s,
                                  float x, float xs, float r, float c, uint32_t *f_end) {
    uint32_t k8 = m->k / 8 * 8, f = 0;
    float rx = r * x, lr_c = m->factor_lr * c;
    const __m256 xv = _mm256_set1_ps(xs), rxv = _mm256_set1_ps(rx);
    const __m256 l2v = _mm256_set1_ps(m->factor_l2), cv = _mm256_set1_ps(c);
    const __m256 lrc = _mm256_set1_ps(lr_c), tiny = _mm256_set1_ps(FLT_MIN);
    const __m256 big = _mm256_set1_ps(FLT_MAX), sgn = _mm256_set1_ps(-0.0f);
    __m256 fine = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    for (; f < k8; f += 8) {
        __m256 vf = _mm256_loadu_ps(v + f), gf = _mm256_loadu_ps(gs + f);
        __m256 gu = _mm256_add_ps(
            _mm256_mul_ps(rxv, _mm256_sub_ps(_mm256_loadu_ps(s + f), _mm256_mul_ps(vf, xv))),
            _mm256_mul_ps(l2v, vf));
        __m256 g2 = _mm256_add_ps(gf, _mm256_mul_ps(_mm256_mul_ps(cv, gu), gu));
        __m256 step = _mm256_mul_ps(_mm256_mul_ps(lrc, gu), fm_rsqrt8(g2));
        __m256 v2 =
            _mm256_sub_ps(vf, _mm256_and_ps(_mm256_cmp_ps(g2, tiny, _CMP_GE_OQ), step));
        fine = _mm256_and_ps(fine,
                             _mm256_cmp_ps(_mm256_andnot_ps(sgn, v2), big, _CMP_LE_OQ));
        fine = _mm256_and_ps(fine, _mm256_cmp_ps(g2, big, _CMP_LE_OQ));
        _mm256_storeu_ps(v + f, v2);
        _mm256_storeu_ps(gs + f, g2);
    }
    *f_end = f;
    return _mm256_movemask_ps(fine) == 0xff;
}
#endif

static bool fm_row_step(const model_fm *m, float *v, float *gs, const float *s, float x, float xs,
                        float r, float c) {
    uint32_t k = m->k, f = 0;
    float rx = r * x, lr_c = m->factor_lr * c, l2 = m->factor_l2;
    bool ok = true;
#ifdef MODEL_FM__AVX2
    if (m->wide)
        ok = fm_row_step8(m, v, gs, s, x, xs, r, c, &f);
#endif
#ifdef MODEL__SSE2
    uint32_t k4 = k / 4 * 4;
    const __m128 xv = _mm_set1_ps(xs), rxv = _mm_set1_ps(rx), l2v = _mm_set1_ps(l2);
    const __m128 cv = _mm_set1_ps(c), lrc = _mm_set1_ps(lr_c), tiny = _mm_set1_ps(FLT_MIN);
    const __m128 big = _mm_set1_ps(FLT_MAX), sgn = _mm_set1_ps(-0.0f);
    __m128 fine = _mm_castsi128_ps(_mm_set1_epi32(-1));
    for (; f < k4; f += 4) {
        __m128 vf = _mm_loadu_ps(v + f), gf = _mm_loadu_ps(gs + f);
        __m128 gu = _mm_add_ps(_mm_mul_ps(rxv, _mm_sub_ps(_mm_loadu_ps(s + f), _mm_mul_ps(vf, xv))),
                               _mm_mul_ps(l2v, vf));
        __m128 g2 = _mm_add_ps(gf, _mm_mul_ps(_mm_mul_ps(cv, gu), gu));
        __m128 step = _mm_mul_ps(_mm_mul_ps(lrc, gu), model__rsqrt4(g2));
        __m128 v2 = _mm_sub_ps(vf, _mm_and_ps(_mm_cmpge_ps(g2, tiny), step));
        fine = _mm_and_ps(fine, _mm_cmple_ps(_mm_andnot_ps(sgn, v2), big));
        fine = _mm_and_ps(fine, _mm_cmple_ps(g2, big));
        _mm_storeu_ps(v + f, v2);
        _mm_storeu_ps(gs + f, g2);
    }
    ok = ok && _mm_movemask_ps(fine) == 0xf;
#endif
    for (; f < k; f++) {
        float vf = v[f];
        float gu = rx * (s[f] - vf * xs) + l2 * vf;
        float g2 = gs[f] + c * gu * gu;
        float v2 = g2 >= FLT_MIN ? vf - lr_c * gu * model__rsqrt(g2) : vf;
        ok = ok && fabsf(v2) <= FLT_MAX && g2 <= FLT_MAX;
        v[f] = v2;
        gs[f] = g2;
    }
    return ok;
}

/* Puts back rows[0, n) from the guard's undo copies, newest first (a row
 * stepped twice gets its oldest copy last). */
static void fm_restore(model_fm *m, const float *const *rows, uint32_t n) {
    while (n-- > 0)
        memcpy((float *)rows[n], m->undo + (size_t)n * m->stride, m->stride * sizeof(float));
}

/* The update after its factor rows: the bias, then the linear coordinates
 * (model__ftrl_update_coords restores them itself), when ok; then commit,
 * or refuse and put back the n rows stepped (rows[0, n)) and the bias. The
 * FM's and the FFM's updates both end here. */
static sl_status fm_finish(model_fm *m, const model_example *ex, bool ok, float r, float c_w,
                           const float *const *rows, uint32_t n) {
    float zb_old[2] = {m->zb[0], m->zb[1]};
    if (ok) {
        float sq = sqrtf(m->zb[1]), z2, n2;
        model__ftrl_step(m->zb[0], m->zb[1], sq, model__ftrl_w(m->zb[0], sq, &m->bias), r, c_w,
                         m->bias.inv_alpha, &z2, &n2);
        ok = fabsf(z2 - m->zb[0]) <= m->max_dz && fabsf(z2) <= FLT_MAX && n2 <= FLT_MAX;
        if (ok) {
            m->zb[0] = z2;
            m->zb[1] = n2;
            ok = model__ftrl_update_coords(m->zn, m->mask, ex, m->per_field ? m->ia_field : NULL,
                                           m->ia_same, r, c_w, m->max_dz, &m->lin);
        }
    }
    if (!ok) {
        fm_restore(m, rows, n);
        m->zb[0] = zb_old[0];
        m->zb[1] = zb_old[1];
        m->refused++;
        return SL_ERR_INVALID;
    }
    m->updates++;
    return SL_OK;
}

/* ---- field-aware (model_fm.h) ------------------------------------------- */

/* The FFM's factor row of coordinate i (< D) for field f. */
static inline uint32_t ffm_row_of(const model_fm *m, uint32_t i, uint32_t f) {
    uint32_t rmask = (uint32_t)(((uint64_t)1 << m->p.factor_bits) - 1);
    return (((i * 0x9E3779B1u) >> (32 - m->p.factor_bits)) + f) & rmask;
}

uint32_t model_fm__ffm_row(const model_fm *m, uint32_t idx, uint32_t field) {
    return ffm_row_of(m, idx & m->mask, field);
}

/* The example's fields in first-appearance order. OUT: fields (F), slot
 * (n) each feature's position in fields. Returns F. */
static uint32_t ffm_fields(const model_example *ex, uint32_t n, uint8_t *fields, uint8_t *slot) {
    uint8_t at[256];
    memset(at, 0xff, sizeof at); /* F ≤ n ≤ 128 < 0xff */
    uint32_t nf = 0;
    for (uint32_t j = 0; j < n; j++) {
        uint8_t f = ex->field[j];
        if (at[f] == 0xff) {
            at[f] = (uint8_t)nf;
            fields[nf++] = f;
        }
        slot[j] = at[f];
    }
    return nf;
}

/* Gathers m->frows (n, F) and sums m->fs (F, F, k): S_ab = Σ_{j in a}
 * v_{r(j, b)} x_j, each lane over j in order. Every row's lines are
 * prefetched before the first is read. OUT: *pair (when not NULL) =
 * Σ_{a<b} ⟨S_ab, S_ba⟩ + ½ Σ_a (|S_aa|² − Σ_{j in a} |v_{r(j,a)} x_j|²),
 * a then b ascending, f ascending. */
static void ffm_sums(const model_fm *m, const model_example *ex, uint32_t n, uint32_t nf,
                     const uint8_t *fields, const uint8_t *slot, float *pair) {
    uint32_t k = m->k;
    size_t row_bytes = m->stride * sizeof(float);
    const float **rows = m->frows;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t i = ex->idx[j] & m->mask;
        for (uint32_t b = 0; b < nf; b++) {
            const float *row = m->vg + (size_t)ffm_row_of(m, i, fields[b]) * m->stride;
            rows[j * nf + b] = row;
            for (size_t off = 0; off < row_bytes; off += 64)
                __builtin_prefetch((const char *)row + off);
        }
    }
    float *fs = m->fs;
    memset(fs, 0, (size_t)nf * nf * k * sizeof(float));
    float own[MODEL_MAX_SPARSE]; /* (F) Σ_{j in a} |v_{r(j,a)} x_j|² */
    memset(own, 0, nf * sizeof(float));
    for (uint32_t j = 0; j < n; j++) {
        uint32_t a = slot[j];
        float x = ex->val[j];
        for (uint32_t b = 0; b < nf; b++) {
            const float *v = rows[j * nf + b];
            float *s = fs + ((size_t)a * nf + b) * k;
            for (uint32_t f = 0; f < k; f++)
                s[f] += v[f] * x;
            if (b == a)
                for (uint32_t f = 0; f < k; f++)
                    own[a] += (v[f] * x) * (v[f] * x);
        }
    }
    if (!pair)
        return;
    float t = 0;
    for (uint32_t a = 0; a < nf; a++) {
        const float *saa = fs + ((size_t)a * nf + a) * k;
        float q = 0;
        for (uint32_t f = 0; f < k; f++)
            q += saa[f] * saa[f];
        t += 0.5f * (q - own[a]);
        for (uint32_t b = a + 1; b < nf; b++) {
            const float *sab = fs + ((size_t)a * nf + b) * k, *sba = fs + ((size_t)b * nf + a) * k;
            float d = 0;
            for (uint32_t f = 0; f < k; f++)
                d += sab[f] * sba[f];
            t += d;
        }
    }
    *pair = t;
}

/* The margin; m->frows and m->fs hold the example's rows and sums after. */
static float ffm_margin(const model_fm *m, const model_example *ex, uint32_t n, uint32_t nf,
                        const uint8_t *fields, const uint8_t *slot) {
    _Alignas(16) float z[MODEL_MAX_SPARSE], q[MODEL_MAX_SPARSE], x[MODEL_MAX_SPARSE]; /* (n4) */
    _Alignas(16) float ia[MODEL_MAX_SPARSE];                                          /* (n4) */
    float pair;
    ffm_sums(m, ex, n, nf, fields, slot, &pair);
    uint32_t n4 = model__ftrl_gather(m->zn, m->mask, ex, n, z, q, x, NULL);
    const float *ial =
        model__ftrl_lanes(m->per_field ? m->ia_field : NULL, m->ia_same, ex, n, n4, ia);
    return bias_w(m) + model__ftrl_dot(z, q, x, ial, n4, &m->lin) + pair + m->base;
}

/* The update given m->frows / m->fs of the example from before it: rows
 * (j, b) in order, each with s = S_{b, a(j)} (model_fm.h), an undo copy
 * each; then the bias and the linear part as the FM's. */
static sl_status ffm_step(model_fm *m, const model_example *ex, uint32_t n, uint32_t nf,
                          const uint8_t *slot, float label, float p) {
    uint32_t k = m->k, u = 0;
    float c_w = ex->weight, r = p - label; /* importance weight, residual */
    bool ok = isfinite(c_w * r) && c_w >= 0;
    for (uint32_t j = 0; ok && j < n; j++) {
        uint32_t a = slot[j];
        float x = ex->val[j];
        for (uint32_t b = 0; ok && b < nf; b++, u++) { /* u counts a failed row too */
            float *row = (float *)m->frows[j * nf + b];
            memcpy(m->undo + (size_t)u * m->stride, row, m->stride * sizeof(float));
            const float *s = m->fs + ((size_t)b * nf + a) * k;
            ok = fm_row_step(m, row, row + k, s, x, b == a ? x : 0.0f, r, c_w);
        }
    }
    return fm_finish(m, ex, ok, r, c_w, m->frows, u);
}

/* The FFM's entry points stay out of line: inlined into model_fm_update,
 * _learn and _learn_batch they slowed the FM's own paths (bench_models fm
 * batch, alternated with the build before the FFM). */
__attribute__((noinline)) static sl_status ffm_update(model_fm *m, const model_example *ex,
                                                     float label, float p) {
    uint8_t fields[MODEL_MAX_SPARSE], slot[MODEL_MAX_SPARSE];
    uint32_t n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
    uint32_t nf = ffm_fields(ex, n, fields, slot);
    ffm_sums(m, ex, n, nf, fields, slot, NULL);
    return ffm_step(m, ex, n, nf, slot, label, p);
}

/* Predict, then update with the same sums: bitwise the two calls. */
__attribute__((noinline)) static sl_status ffm_learn(model_fm *m, const model_example *ex,
                                                    float label, float *p) {
    uint8_t fields[MODEL_MAX_SPARSE], slot[MODEL_MAX_SPARSE];
    uint32_t n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
    uint32_t nf = ffm_fields(ex, n, fields, slot);
    *p = model__sigmoidf(ffm_margin(m, ex, n, nf, fields, slot));
    return ffm_step(m, ex, n, nf, slot, label, *p);
}

__attribute__((noinline)) static float ffm_margin_of(const model_fm *m, const model_example *ex) {
    uint8_t fields[MODEL_MAX_SPARSE], slot[MODEL_MAX_SPARSE];
    uint32_t n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
    uint32_t nf = ffm_fields(ex, n, fields, slot);
    return ffm_margin(m, ex, n, nf, fields, slot);
}

uint32_t model_fm_example_rows(const model_fm *m, const model_example *ex, uint32_t *rows) {
    uint32_t n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
    if (!m->ffm) {
        for (uint32_t j = 0; j < n; j++)
            rows[j] = model_fm__row(m, ex->idx[j]);
        return n;
    }
    uint8_t fields[MODEL_MAX_SPARSE], slot[MODEL_MAX_SPARSE];
    uint32_t nf = ffm_fields(ex, n, fields, slot), u = 0;
    for (uint32_t j = 0; j < n; j++)
        for (uint32_t b = 0; b < nf; b++)
            rows[u++] = ffm_row_of(m, ex->idx[j] & m->mask, fields[b]);
    return u;
}

sl_status model_fm_update(model_fm *m, const model_example *ex, float label, float p) {
    if (m->ffm)
        return ffm_update(m, ex, label, p);
    /* Factor rows one feature after the other, in place with an undo log of
     * each row (rows repeat: hashed to fewer rows than coordinates); then
     * the bias; then the linear coordinates (fm_finish). The parts share no
     * state, so this order is the sequential update's. A refusal anywhere
     * restores everything. */
    uint32_t n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
    float s[MODEL_FM_MAX_K];
    const float *rows[MODEL_MAX_SPARSE]; /* (n) */
    float c_w = ex->weight, r = p - label; /* importance weight, residual */
    bool ok = isfinite(c_w * r) && c_w >= 0;
    uint32_t j = 0;
    if (ok) {
        fm_rows(m, ex, ex, n, rows);
        fm_factor_sums(m, ex, n, rows, s, NULL); /* from before the update */
    }
    for (; ok && j < n; j++) { /* j counts a failed row too: partly written */
        float *row = (float *)rows[j];
        memcpy(m->undo + (size_t)j * m->stride, row, m->stride * sizeof(float));
        ok = fm_row_step(m, row, row + m->k, s, ex->val[j], ex->val[j], r, c_w);
    }
    return fm_finish(m, ex, ok, r, c_w, rows, j);
}

/* model_fm_learn, prefetching pf's lines first (fm_rows) and a's one
 * feature per factor row stepped, then per four linear coordinates
 * (model__ahead; either may be NULL): the row steps are most of the time,
 * and issued from the passes before them the prefetches crowded together
 * (bench/MODELS.md). Predict + update in one pass: the factor sums s and
 * the linear weights of the prediction are the update's "before" values.
 * The same steps in the same order as the two calls (factor rows, bias,
 * linear part), so the same floats; a repeated linear index takes the two
 * calls. */
MODEL__SPECIALIZED sl_status fm_learn(model_fm *m, const model_example *ex,
                                   const model_example *pf, model__ahead *a, float label,
                                   float *p) {
    _Alignas(16) float z[MODEL_MAX_SPARSE], q[MODEL_MAX_SPARSE], x[MODEL_MAX_SPARSE]; /* (n4) */
    _Alignas(16) float w[MODEL_MAX_SPARSE], sq[MODEL_MAX_SPARSE];                     /* (n4) */
    _Alignas(16) float z2[MODEL_MAX_SPARSE], n2[MODEL_MAX_SPARSE];                    /* (n4) */
    const float *rows[MODEL_MAX_SPARSE]; /* (n) */
    float s[MODEL_FM_MAX_K], pair;
    uint32_t n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
    fm_rows(m, ex, pf, n, rows);
    _Alignas(16) float ia[MODEL_MAX_SPARSE]; /* (n4) */
    uint32_t n4 = model__ftrl_gather(m->zn, m->mask, ex, n, z, q, x, NULL);
    const float *ial =
        model__ftrl_lanes(m->per_field ? m->ia_field : NULL, m->ia_same, ex, n, n4, ia);
    float lin = model__ftrl_dot_keep(z, q, x, ial, n4, &m->lin, w, sq, NULL);
    fm_factor_sums(m, ex, n, rows, s, &pair);
    *p = model__sigmoidf(bias_w(m) + lin + pair + m->base);
    if (!model__ftrl_mark(m->zn, m->mask, ex, n, q, NULL)) /* a repeated index */
        return model_fm_update(m, ex, label, *p);
    float c_w = ex->weight, r = *p - label; /* importance weight, residual */
    bool ok = isfinite(c_w * r) && c_w >= 0;
    uint32_t j = 0;
    for (; ok && j < n; j++) {
        float *row = (float *)rows[j];
        memcpy(m->undo + (size_t)j * m->stride, row, m->stride * sizeof(float));
        if (!fm_row_step(m, row, row + m->k, s, ex->val[j], ex->val[j], r, c_w))
            ok = false; /* partly written: restored below (j counts it) */
        model__ahead_issue(a);
    }
    float zb2 = 0, nb2 = 0;
    if (ok) {
        float sqb = sqrtf(m->zb[1]);
        model__ftrl_step(m->zb[0], m->zb[1], sqb, model__ftrl_w(m->zb[0], sqb, &m->bias), r, c_w,
                         m->bias.inv_alpha, &zb2, &nb2);
        ok = fabsf(zb2 - m->zb[0]) <= m->max_dz && fabsf(zb2) <= FLT_MAX && nb2 <= FLT_MAX;
    }
    ok = ok && model__ftrl_steps_kept(z, q, x, ial, w, sq, n4, r, c_w, m->max_dz, z2, n2, a);
    model__ftrl_scatter(m->zn, m->mask, ex, n, ok, z2, n2, z, q, a);
    if (!ok) {
        fm_restore(m, rows, j);
        m->refused++;
        return SL_ERR_INVALID;
    }
    m->zb[0] = zb2;
    m->zb[1] = nb2;
    m->updates++;
    return SL_OK;
}

sl_status model_fm_learn(model_fm *m, const model_example *ex, float label, float *p) {
    if (m->ffm)
        return ffm_learn(m, ex, label, p);
    return fm_learn(m, ex, ex, NULL, label, p);
}

uint32_t model_fm_learn_batch(model_fm *m, const model_example *const *exs, const float *labels,
                              uint32_t n, float *p, sl_status *st) {
    /* As model_ftrl_learn_batch: example i + MODEL__LEARN_AHEAD's linear
     * coordinates and factor rows are prefetched while example i is
     * learned (fm_learn says where). */
    model__ahead a = {.zn = m->zn,
                      .vg = (const char *)m->vg,
                      .mask = m->mask,
                      .row_shift = 32 - m->p.factor_bits,
                      .identity = m->identity,
                      .row_bytes = m->stride * (uint32_t)sizeof(float)};
    uint32_t refused = 0;
    if (m->ffm) { /* each example's rows are prefetched by its own gather */
        for (uint32_t i = 0; i < n; i++) {
            sl_status s = ffm_learn(m, exs[i], labels[i], &p[i]);
            refused += s != SL_OK;
            if (st)
                st[i] = s;
        }
        return refused;
    }
    MODEL__LEARN_BATCH(fm_prefetch, fm_learn, m, &a, exs, labels, n, p, st, &refused);
    return refused;
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
