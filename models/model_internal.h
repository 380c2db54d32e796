/*
 * model_internal.h — math shared by the click models (model_ftrl, model_fm)
 * and the test hooks that expose their analytic gradients. Not a public
 * API: only models/ and tests/models/ include it.
 *
 * Legend: n = sparse features of one example, k = factors per row.
 * Parameters are stored as float (memory, cache footprint) and every step is
 * computed in float: sqrtf and divss cost half of their double forms, and
 * one online gradient moves a parameter far more than float's 24 bits
 * resolve. IEEE float add, multiply, divide and square root are correctly
 * rounded, so the SSE2 kernels below and their scalar fallbacks (the same
 * operations in the same order) give bitwise the same results on every
 * machine: no approximate rsqrt, no FMA contraction (C11 mode), no
 * -ffast-math.
 *
 * Pure functions: any thread.
 */
#ifndef MODEL_INTERNAL_H
#define MODEL_INTERNAL_H

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#define MODEL__SSE2 1
#endif

#include "model_example.h"

#define MODEL__MARGIN_CLAMP 35.0 /* |margin| beyond this: σ is 0 or 1 in float */
#define MODEL__PAD          4    /* SIMD lanes: gathered arrays are padded to this */

/* How many examples ahead the batch learns (model_ftrl_learn_batch,
 * model_fm_learn_batch) prefetch: example i + AHEAD's parameters are
 * loaded while example i is learned. bench/MODELS.md has the measurement;
 * -DMODEL__LEARN_AHEAD=N to try another distance. */
#ifndef MODEL__LEARN_AHEAD
#define MODEL__LEARN_AHEAD 2
#endif

/* For a function that only prefetches: GCC's IPA sees no side effect in
 * __builtin_prefetch, marks such a function const when it is not inlined
 * early, and deletes its calls (gcc 12 -O2 did, silently). Inlined
 * always, the prefetches stay in the caller, which has side effects. */
#define MODEL__PREFETCH_FN static inline __attribute__((always_inline))

/* For the learn paths that take a model__ahead: inlined into each caller, a
 * constant NULL folds the hooks away, so the single learn and predict pay
 * nothing for the batch learn's prefetches (two copies of the code, each
 * specialized; C has no other way to ask for it). */
#define MODEL__SPECIALIZED static inline __attribute__((always_inline))

/*
 * The parameters of a later example, prefetched a few at a time from
 * inside the learn of the current one (the batch learns). Issued all at
 * once, 80–160 prefetches fill the core's miss buffers, the ones behind
 * wait, and the arithmetic behind them waits too: no overlap. A few per
 * loop step keep the misses in flight while the arithmetic runs
 * (bench/MODELS.md, "Prefetch across examples"). Only timing: nothing read
 * through it is used. NULL everywhere else (a kernel given NULL issues
 * nothing).
 */
typedef struct model__ahead {
    const model_example *ex; /* the later example (borrowed) */
    const float *zn;         /* (D, 2) the linear table */
    const char *vg;          /* (R, row_bytes) the factor rows (FM), or NULL */
    uint32_t mask;           /* D − 1 */
    uint32_t row_shift;      /* 32 − log2 R (model__fm_row) */
    bool identity;           /* R = D: row = index */
    uint32_t row_bytes;      /* bytes of a factor row */
    uint32_t next;           /* the first feature not issued yet */
    uint32_t n;              /* features */
} model__ahead;

/* The factor row of linear coordinate i (< D): i itself when R = D, else
 * a multiplicative hash to log2 R = 32 − shift bits. */
static inline uint32_t model__fm_row(uint32_t i, uint32_t shift, bool identity) {
    return identity ? i : (uint32_t)(i * 0x9E3779B1u) >> shift;
}

/* Starts a on ex (its next feature first). */
static inline void model__ahead_start(model__ahead *a, const model_example *ex) {
    a->ex = ex;
    a->next = 0;
    a->n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
}

/* Prefetches the lines of a's next feature (its linear z, n and its factor
 * row); nothing when a is NULL or done. */
MODEL__PREFETCH_FN void model__ahead_issue(model__ahead *a) {
    if (!a || a->next >= a->n)
        return;
    uint32_t i = a->ex->idx[a->next++] & a->mask;
    __builtin_prefetch(a->zn + 2 * (size_t)i);
    if (!a->vg)
        return;
    const char *row = a->vg + (size_t)model__fm_row(i, a->row_shift, a->identity) * a->row_bytes;
    for (uint32_t off = 0; off < a->row_bytes; off += 64)
        __builtin_prefetch(row + off);
}

/* Issues what is left of a (a learn that took the repeated-index path or
 * was refused early issued less); NULL is fine. */
MODEL__PREFETCH_FN void model__ahead_rest(model__ahead *a) {
    while (a && a->next < a->n)
        model__ahead_issue(a);
}

/* Prefetches the example's indices (what a batch learn reads to find its
 * lines, a further example ahead): the examples of a batch may be
 * anywhere, and cold. */
MODEL__PREFETCH_FN void model__example_prefetch(const model_example *ex) {
    uint32_t n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
    for (uint32_t off = 0; off < n * sizeof ex->idx[0]; off += 64)
        __builtin_prefetch((const char *)ex->idx + off);
}

/*
 * The batch learns' driver, one for FTRL-LR and the FM: learns exs[0, n)
 * in order with labels, OUT: p (n), st (n, or NULL), *refused the count
 * the guard refused. Example i + MODEL__LEARN_AHEAD's lines are prefetched
 * while example i is learned (a, started on it, issued by LEARN from
 * inside its passes), the indices of the example after that too; the first
 * examples are prefetched at once by PREFETCH(m, ex). LEARN(m, ex, pf, a,
 * label, &p) is the one-pass learn with pf = NULL. A macro, not a function
 * taking the two as pointers: everything must inline into the caller, or
 * gcc drops the prefetches (bench/MODELS.md).
 */
#define MODEL__LEARN_BATCH(PREFETCH, LEARN, m, a, exs, labels, n, p, st, refused)                 \
    do {                                                                                           \
        *(refused) = 0;                                                                            \
        for (uint32_t i_ = 0; i_ < (n) && i_ < MODEL__LEARN_AHEAD; i_++)                           \
            PREFETCH((m), (exs)[i_]);                                                              \
        for (uint32_t i_ = 0; i_ < (n); i_++) {                                                    \
            model__ahead *ap_ = NULL;                                                              \
            if (i_ + 2 * MODEL__LEARN_AHEAD < (n))                                                 \
                model__example_prefetch((exs)[i_ + 2 * MODEL__LEARN_AHEAD]);                       \
            if (i_ + MODEL__LEARN_AHEAD < (n)) {                                                   \
                model__ahead_start((a), (exs)[i_ + MODEL__LEARN_AHEAD]);                           \
                ap_ = (a);                                                                         \
            }                                                                                      \
            sl_status s_ = LEARN((m), (exs)[i_], NULL, ap_, (labels)[i_], &(p)[i_]);               \
            model__ahead_rest(ap_);                                                                \
            *(refused) += s_ != SL_OK;                                                             \
            if (st)                                                                                \
                (st)[i_] = s_;                                                                     \
        }                                                                                          \
    } while (0)

/* The FTRL constants of one model, as float. */
typedef struct model__ftrl_k {
    float inv_alpha; /* 1/α, so a weight costs one division */
    float beta;      /* β */
    float l1;        /* L1: |z| ≤ l1 gives w = 0 */
    float l2;        /* L2 */
} model__ftrl_k;

/* The FTRL-Proximal weight of one coordinate (McMahan et al. 2013, eq. 7)
 * from z, √n and 1/α (a field may have its own α: model_ftrl.h): 0 inside
 * the L1 band, else (sgn(z)·l1 − z) / ((β + √n)·(1/α) + l2). A NaN z gives 0. Branch-free:
 * whether a rare feature's z sits inside the band is a coin flip to the
 * branch predictor, so the quotient is always computed and masked (a 0/0
 * in the band is masked away too). */
static inline float model__ftrl_wa(float z, float sqrt_n, float inv_alpha,
                                   const model__ftrl_k *k) {
    float w = (copysignf(k->l1, z) - z) / ((k->beta + sqrt_n) * inv_alpha + k->l2);
    uint32_t bits, keep = -(uint32_t)(fabsf(z) > k->l1);
    memcpy(&bits, &w, sizeof bits);
    bits &= keep;
    memcpy(&w, &bits, sizeof w);
    return w;
}

/* model__ftrl_wa with the model's own 1/α. */
static inline float model__ftrl_w(float z, float sqrt_n, const model__ftrl_k *k) {
    return model__ftrl_wa(z, sqrt_n, k->inv_alpha, k);
}

/* One FTRL-Proximal step of a coordinate (z, n) with √n known, weight w
 * (model__ftrl_w), unweighted gradient gu and importance weight c:
 *   g = c·gu, n' = n + c·gu², σ = (√n' − √n)/α, z' = z + g − σ·w.
 * n grows by c·gu², what c copies would add, so weight 3 behaves like three
 * copies rather than one copy with a 3× gradient (which would add 9·gu² and
 * slow the coordinate for good). With c = 1 it is McMahan's step.
 * OUT: *z_new, *n_new. */
static inline void model__ftrl_step(float z, float n, float sqrt_n, float w, float gu, float c,
                                    float inv_alpha, float *z_new, float *n_new) {
    float g = c * gu;
    float n2 = n + g * gu;
    *z_new = z + g - (sqrtf(n2) - sqrt_n) * inv_alpha * w;
    *n_new = n2;
}

/* Gathers the example's n linear coordinates from zn ((D, 2) z, n
 * interleaved; mask = D − 1) into z, q, x ((n4) each, 16-byte aligned),
 * padding to n4 = n rounded up to MODEL__PAD with zeros (a zero z is a zero
 * weight). Returns n4. Shared by FTRL-LR and the FM's linear part. One
 * model__ahead_issue per four features (a may be NULL). */
static inline uint32_t model__ftrl_gather(const float *zn, uint32_t mask, const model_example *ex,
                                          uint32_t n, float *z, float *q, float *x,
                                          model__ahead *a) {
    uint32_t n4 = (n + MODEL__PAD - 1) / MODEL__PAD * MODEL__PAD;
    for (uint32_t j = 0; j < n; j++) {
        const float *c = zn + 2 * (size_t)(ex->idx[j] & mask);
        z[j] = c[0];
        q[j] = c[1];
        x[j] = ex->val[j];
        if ((j & 3) == 3)
            model__ahead_issue(a);
    }
    for (uint32_t j = n; j < n4; j++)
        z[j] = q[j] = x[j] = 0.0f;
    return n4;
}

/* The 1/α of each lane, for the kernels below. With one α for every field
 * (ia_field NULL) it is `same`, (MODEL_MAX_SPARSE) copies of 1/α, and
 * nothing is gathered; else each feature's from ia_field (256, by the
 * feature's field) into buf (n4), the padding 1. */
static inline const float *model__ftrl_lanes(const float *ia_field, const float *same,
                                             const model_example *ex, uint32_t n, uint32_t n4,
                                             float *buf) {
    if (!ia_field)
        return same;
    for (uint32_t j = 0; j < n; j++)
        buf[j] = ia_field[ex->field[j]];
    for (uint32_t j = n; j < n4; j++)
        buf[j] = 1.0f;
    return buf;
}

/* Σ_j w_j·x_j over gathered coordinates: z, q (the n's) and x are (n4)
 * arrays, 16-byte aligned, n4 a multiple of MODEL__PAD (pad with zeros: a
 * zero z is a zero weight). Four lanes, lane l summing j ≡ l (mod 4) in
 * order, then (l0 + l2) + (l1 + l3): the SSE2 and scalar forms agree
 * bitwise. The weights are computed branch-free (both sides, then a mask). */
static inline float model__ftrl_dot(const float *z, const float *q, const float *x,
                                    const float *ia, uint32_t n4, const model__ftrl_k *k) {
#ifdef MODEL__SSE2
    const __m128 beta = _mm_set1_ps(k->beta);
    const __m128 l1 = _mm_set1_ps(k->l1), l2 = _mm_set1_ps(k->l2), sgn = _mm_set1_ps(-0.0f);
    __m128 acc = _mm_setzero_ps();
    for (uint32_t j = 0; j < n4; j += 4) {
        __m128 zv = _mm_load_ps(z + j), qv = _mm_load_ps(q + j), xv = _mm_load_ps(x + j);
        __m128 num = _mm_sub_ps(_mm_or_ps(_mm_and_ps(sgn, zv), l1), zv); /* sgn(z)·l1 − z */
        __m128 den = _mm_add_ps(_mm_mul_ps(_mm_add_ps(beta, _mm_sqrt_ps(qv)), _mm_load_ps(ia + j)),
                                l2);
        __m128 w = _mm_and_ps(_mm_cmpgt_ps(_mm_andnot_ps(sgn, zv), l1), _mm_div_ps(num, den));
        acc = _mm_add_ps(acc, _mm_mul_ps(w, xv));
    }
    __m128 h = _mm_add_ps(acc, _mm_movehl_ps(acc, acc)); /* l0 + l2, l1 + l3 */
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
#else
    float acc[4] = {0, 0, 0, 0};
    for (uint32_t j = 0; j < n4; j++)
        acc[j & 3] += model__ftrl_wa(z[j], sqrtf(q[j]), ia[j], k) * x[j];
    return (acc[0] + acc[2]) + (acc[1] + acc[3]);
#endif
}

/* model__ftrl_dot that also keeps what the update needs again: OUT: w, sq
 * (n4), each coordinate's weight and √n, 16-byte aligned. The same
 * operations in the same order as model__ftrl_dot (bitwise the same sum),
 * so model__ftrl_steps_kept on them is bitwise model__ftrl_steps. One
 * model__ahead_issue per four coordinates (a may be NULL). */
static inline float model__ftrl_dot_keep(const float *z, const float *q, const float *x,
                                         const float *ia, uint32_t n4, const model__ftrl_k *k,
                                         float *w, float *sq, model__ahead *a) {
#ifdef MODEL__SSE2
    const __m128 beta = _mm_set1_ps(k->beta);
    const __m128 l1 = _mm_set1_ps(k->l1), l2 = _mm_set1_ps(k->l2), sgn = _mm_set1_ps(-0.0f);
    __m128 acc = _mm_setzero_ps();
    for (uint32_t j = 0; j < n4; j += 4) {
        __m128 zv = _mm_load_ps(z + j), sv = _mm_sqrt_ps(_mm_load_ps(q + j));
        __m128 num = _mm_sub_ps(_mm_or_ps(_mm_and_ps(sgn, zv), l1), zv); /* sgn(z)·l1 − z */
        __m128 den = _mm_add_ps(_mm_mul_ps(_mm_add_ps(beta, sv), _mm_load_ps(ia + j)), l2);
        __m128 wv = _mm_and_ps(_mm_cmpgt_ps(_mm_andnot_ps(sgn, zv), l1), _mm_div_ps(num, den));
        _mm_store_ps(w + j, wv);
        _mm_store_ps(sq + j, sv);
        acc = _mm_add_ps(acc, _mm_mul_ps(wv, _mm_load_ps(x + j)));
        model__ahead_issue(a);
    }
    __m128 h = _mm_add_ps(acc, _mm_movehl_ps(acc, acc)); /* l0 + l2, l1 + l3 */
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
#else
    float acc[4] = {0, 0, 0, 0};
    for (uint32_t j = 0; j < n4; j++) {
        sq[j] = sqrtf(q[j]);
        w[j] = model__ftrl_wa(z[j], sq[j], ia[j], k);
        acc[j & 3] += w[j] * x[j];
        if ((j & 3) == 3)
            model__ahead_issue(a);
    }
    return (acc[0] + acc[2]) + (acc[1] + acc[3]);
#endif
}

/* model__ftrl_steps with each coordinate's weight w and √n sq already known
 * (model__ftrl_dot_keep): the same floats, without computing them twice.
 * One model__ahead_issue per four coordinates (a may be NULL). */
static inline bool model__ftrl_steps_kept(const float *z, const float *q, const float *x,
                                          const float *ia, const float *w, const float *sq,
                                          uint32_t n4, float r, float c, float max_dz,
                                          float *z2, float *n2, model__ahead *a) {
#ifdef MODEL__SSE2
    const __m128 sgn = _mm_set1_ps(-0.0f);
    const __m128 rv = _mm_set1_ps(r), cv = _mm_set1_ps(c), dz = _mm_set1_ps(max_dz);
    const __m128 big = _mm_set1_ps(FLT_MAX);
    __m128 fine = _mm_castsi128_ps(_mm_set1_epi32(-1));
    for (uint32_t j = 0; j < n4; j += 4) {
        __m128 zv = _mm_load_ps(z + j), qv = _mm_load_ps(q + j);
        __m128 gu = _mm_mul_ps(rv, _mm_load_ps(x + j));
        __m128 g = _mm_mul_ps(cv, gu);
        __m128 nv = _mm_add_ps(qv, _mm_mul_ps(g, gu));
        __m128 sigma =
            _mm_mul_ps(_mm_sub_ps(_mm_sqrt_ps(nv), _mm_load_ps(sq + j)), _mm_load_ps(ia + j));
        __m128 zn = _mm_sub_ps(_mm_add_ps(zv, g), _mm_mul_ps(sigma, _mm_load_ps(w + j)));
        fine = _mm_and_ps(fine, _mm_cmple_ps(_mm_andnot_ps(sgn, _mm_sub_ps(zn, zv)), dz));
        fine = _mm_and_ps(fine, _mm_cmple_ps(_mm_andnot_ps(sgn, zn), big));
        fine = _mm_and_ps(fine, _mm_cmple_ps(nv, big));
        _mm_store_ps(z2 + j, zn);
        _mm_store_ps(n2 + j, nv);
        model__ahead_issue(a);
    }
    return _mm_movemask_ps(fine) == 0xf;
#else
    bool fine = true;
    for (uint32_t j = 0; j < n4; j++) {
        model__ftrl_step(z[j], q[j], sq[j], w[j], r * x[j], c, ia[j], &z2[j], &n2[j]);
        fine &= fabsf(z2[j] - z[j]) <= max_dz && fabsf(z2[j]) <= FLT_MAX && n2[j] <= FLT_MAX;
        if ((j & 3) == 3)
            model__ahead_issue(a);
    }
    return fine;
#endif
}

/* model__ftrl_step over gathered coordinates with distinct indices: z, q
 * (the n's), x (n4), 16-byte aligned, n4 a multiple of MODEL__PAD (zero
 * padding steps to zeros). r is the residual p − y, c the importance
 * weight. OUT: z2, n2 (n4). Returns false when any new z or n is not finite
 * or a z moves by more than max_dz (the guard). Each lane is exactly the
 * scalar model__ftrl_w + model__ftrl_step. */
static inline bool model__ftrl_steps(const float *z, const float *q, const float *x,
                                     const float *ia, uint32_t n4, float r, float c, float max_dz,
                                     const model__ftrl_k *k, float *z2, float *n2) {
#ifdef MODEL__SSE2
    const __m128 beta = _mm_set1_ps(k->beta);
    const __m128 l1 = _mm_set1_ps(k->l1), l2 = _mm_set1_ps(k->l2), sgn = _mm_set1_ps(-0.0f);
    const __m128 rv = _mm_set1_ps(r), cv = _mm_set1_ps(c), dz = _mm_set1_ps(max_dz);
    const __m128 big = _mm_set1_ps(FLT_MAX);
    __m128 fine = _mm_castsi128_ps(_mm_set1_epi32(-1));
    for (uint32_t j = 0; j < n4; j += 4) {
        __m128 zv = _mm_load_ps(z + j), qv = _mm_load_ps(q + j), iav = _mm_load_ps(ia + j);
        __m128 sq = _mm_sqrt_ps(qv);
        __m128 num = _mm_sub_ps(_mm_or_ps(_mm_and_ps(sgn, zv), l1), zv);
        __m128 den = _mm_add_ps(_mm_mul_ps(_mm_add_ps(beta, sq), iav), l2);
        __m128 w = _mm_and_ps(_mm_cmpgt_ps(_mm_andnot_ps(sgn, zv), l1), _mm_div_ps(num, den));
        __m128 gu = _mm_mul_ps(rv, _mm_load_ps(x + j));
        __m128 g = _mm_mul_ps(cv, gu);
        __m128 nv = _mm_add_ps(qv, _mm_mul_ps(g, gu));
        __m128 sigma_w = _mm_mul_ps(_mm_mul_ps(_mm_sub_ps(_mm_sqrt_ps(nv), sq), iav), w);
        __m128 zn = _mm_sub_ps(_mm_add_ps(zv, g), sigma_w);
        fine = _mm_and_ps(fine, _mm_cmple_ps(_mm_andnot_ps(sgn, _mm_sub_ps(zn, zv)), dz));
        fine = _mm_and_ps(fine, _mm_cmple_ps(_mm_andnot_ps(sgn, zn), big));
        fine = _mm_and_ps(fine, _mm_cmple_ps(nv, big));
        _mm_store_ps(z2 + j, zn);
        _mm_store_ps(n2 + j, nv);
    }
    return _mm_movemask_ps(fine) == 0xf;
#else
    bool fine = true;
    for (uint32_t j = 0; j < n4; j++) {
        float sq = sqrtf(q[j]);
        model__ftrl_step(z[j], q[j], sq, model__ftrl_wa(z[j], sq, ia[j], k), r * x[j], c, ia[j],
                         &z2[j], &n2[j]);
        fine &= fabsf(z2[j] - z[j]) <= max_dz && fabsf(z2[j]) <= FLT_MAX && n2[j] <= FLT_MAX;
    }
    return fine;
#endif
}

/* Marks the example's n coordinates in zn (n = −1; a real n is ≥ 0) after
 * model__ftrl_gather took their values into q (n): an update can then step
 * them all at once (SIMD) and scatter, because meeting a mark means an index
 * repeats. For the one-pass learn, once the prediction has brought the
 * lines into cache: a store to a line still missing waits in the store
 * buffer, and 80 of those stall the core. Returns true, the marks in place
 * (model__ftrl_scatter removes them); or false when an index repeats (or
 * an n is corrupt: the sequential guard refuses it), the marks undone and
 * zn as it was. One model__ahead_issue per four features (a may be NULL). */
static inline bool model__ftrl_mark(float *zn, uint32_t mask, const model_example *ex, uint32_t n,
                                    const float *q, model__ahead *a) {
    for (uint32_t j = 0; j < n; j++) {
        float *c = zn + 2 * (size_t)(ex->idx[j] & mask);
        if (!(c[1] >= 0.0f)) { /* a mark: undo the marks before it */
            while (j-- > 0)
                zn[2 * (size_t)(ex->idx[j] & mask) + 1] = q[j];
            return false;
        }
        c[1] = -1.0f;
        if ((j & 3) == 3)
            model__ahead_issue(a);
    }
    return true;
}

/* model__ftrl_gather and model__ftrl_mark in one pass, for an update on its
 * own (the lines are in cache when it follows a predict; when it does not,
 * the loads miss either way). Returns n4, or 0 when an index repeats (the
 * marks undone). */
static inline uint32_t model__ftrl_gather_mark(float *zn, uint32_t mask, const model_example *ex,
                                               uint32_t n, float *z, float *q, float *x) {
    uint32_t n4 = (n + MODEL__PAD - 1) / MODEL__PAD * MODEL__PAD;
    for (uint32_t j = 0; j < n; j++) {
        float *c = zn + 2 * (size_t)(ex->idx[j] & mask);
        z[j] = c[0];
        q[j] = c[1];
        x[j] = ex->val[j];
        if (!(q[j] >= 0.0f)) { /* a mark (or a corrupt n): undo the marks before it */
            while (j-- > 0)
                zn[2 * (size_t)(ex->idx[j] & mask) + 1] = q[j];
            return 0;
        }
        c[1] = -1.0f;
    }
    for (uint32_t j = n; j < n4; j++)
        z[j] = q[j] = x[j] = 0.0f;
    return n4;
}

/* Ends model__ftrl_mark: writes z2, n2 (n) back when ok, else the gathered
 * z, q (the marks removed either way). One model__ahead_issue per four
 * features (a may be NULL). */
static inline void model__ftrl_scatter(float *zn, uint32_t mask, const model_example *ex,
                                       uint32_t n, bool ok, const float *z2, const float *n2,
                                       const float *z, const float *q, model__ahead *a) {
    for (uint32_t j = 0; j < n; j++) {
        float *c = zn + 2 * (size_t)(ex->idx[j] & mask);
        c[0] = ok ? z2[j] : z[j];
        c[1] = ok ? n2[j] : q[j];
        if ((j & 3) == 3)
            model__ahead_issue(a);
    }
}

/* OUT: ia_field (256): 1/α of each field's features under p (alpha, or
 * fast_alpha for the fast_fields); same (MODEL_MAX_SPARSE): 1/alpha.
 * Returns whether any field has its own α (else ia_field is not needed).
 * (model_ftrl.c; the FM's linear part uses it too.) */
struct model_ftrl_params;
bool model__ftrl_ia_fields(const struct model_ftrl_params *p, float *ia_field, float *same);

/*
 * The FTRL update of an example's coordinates in zn ((D, 2) z, n; index
 * idx & mask; 1/α as model__ftrl_lanes gives it) with residual r,
 * importance weight c_w and the guard's max_dz: the SIMD steps of
 * model__ftrl_steps when the indices are distinct, one coordinate after
 * the other (each seeing the previous steps) when one repeats — the same
 * floats either way. Returns false, zn bitwise unchanged, when the guard
 * refuses. (model_ftrl.c; the FM's linear part uses it too.)
 */
bool model__ftrl_update_coords(float *zn, uint32_t mask, const model_example *ex,
                               const float *ia_field, const float *ia_same, float r, float c_w,
                               float max_dz, const model__ftrl_k *k);

/* 1/√x for x ≥ FLT_MIN without sqrt or division: the bit-level first guess
 * 0x5f375a86 − (bits(x) >> 1) and two Newton steps y·(1.5 − ½x·y²), at most
 * ~5e-6 relative error. Unlike the rsqrtps instruction, whose approximation
 * differs between CPU vendors, it is integer and IEEE operations only, so
 * it is bitwise the same everywhere (and in the SSE2 form below). For
 * AdaGrad's step size, 5e-6 is far below what matters. */
static inline float model__rsqrt(float x) {
    uint32_t i;
    float y, hx = 0.5f * x;
    memcpy(&i, &x, sizeof i);
    i = 0x5f375a86u - (i >> 1);
    memcpy(&y, &i, sizeof y);
    y = y * (1.5f - hx * y * y);
    y = y * (1.5f - hx * y * y);
    return y;
}

#ifdef MODEL__SSE2
static inline __m128 model__rsqrt4(__m128 x) {
    const __m128 half = _mm_set1_ps(0.5f), three_halves = _mm_set1_ps(1.5f);
    __m128 hx = _mm_mul_ps(half, x);
    __m128i i = _mm_sub_epi32(_mm_set1_epi32(0x5f375a86), _mm_srli_epi32(_mm_castps_si128(x), 1));
    __m128 y = _mm_castsi128_ps(i);
    y = _mm_mul_ps(y, _mm_sub_ps(three_halves, _mm_mul_ps(_mm_mul_ps(hx, y), y)));
    y = _mm_mul_ps(y, _mm_sub_ps(three_halves, _mm_mul_ps(_mm_mul_ps(hx, y), y)));
    return y;
}
#endif

/* A zeroed parameter table of `bytes`, 64-byte aligned (a factor row of
 * k = 8 is one cache line) and, from 2 MiB up, 2 MiB aligned and advised to
 * transparent huge pages: the tables are 32–96 MiB read at random, and with
 * 4 KiB pages nearly every access also misses the TLB. Freed with free().
 * NULL when out of memory. */
static inline void *model__table_alloc(size_t bytes) {
    size_t huge = (size_t)2 << 20, align = bytes >= huge ? huge : 64;
    size_t size = (bytes + align - 1) / align * align;
    void *p = NULL;
    if (posix_memalign(&p, align, size) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (align == huge)
        (void)madvise(p, size, MADV_HUGEPAGE); /* advice: failure only costs speed */
#endif
    memset(p, 0, size);
    return p;
}

/* σ(m) with m clamped to ±MODEL__MARGIN_CLAMP (NaN passes through). */
static inline double model__sigmoid(double m) {
    if (m > MODEL__MARGIN_CLAMP)
        m = MODEL__MARGIN_CLAMP;
    else if (m < -MODEL__MARGIN_CLAMP)
        m = -MODEL__MARGIN_CLAMP;
    return 1.0 / (1.0 + exp(-m));
}

/* σ(m) in float, m clamped to ±MODEL__MARGIN_CLAMP (NaN passes through):
 * what predict returns. */
static inline float model__sigmoidf(float m) {
    if (m > (float)MODEL__MARGIN_CLAMP)
        m = (float)MODEL__MARGIN_CLAMP;
    else if (m < -(float)MODEL__MARGIN_CLAMP)
        m = -(float)MODEL__MARGIN_CLAMP;
    return 1.0f / (1.0f + expf(-m));
}

/* Log loss of label y ∈ [0, 1] at margin m, computed from the margin so it
 * stays finite and exact far into the tails: y·log(1+e^−m) + (1−y)·log(1+e^m). */
static inline double model__logloss_margin(double m, double y) {
    double lp = m > 0 ? log1p(exp(-m)) : -m + log1p(exp(m)); /* −log σ(m) */
    double ln = lp + m;                                      /* −log(1 − σ(m)) */
    return y * lp + (1.0 - y) * ln;
}

/* Test hooks. They are the code paths the updates use, exported so the
 * finite-difference checks test what actually runs. */
struct model_ftrl;
struct model_fm;

/* The LR margin w·x, with the lazily materialized weights (computed in
 * float as predict does, returned as double). */
double model_ftrl__margin(const struct model_ftrl *m, const model_example *ex);
/* The example's weighted log-loss gradient w.r.t. each coordinate's weight,
 * g_i = weight·(p − y)·x_i at p = σ(margin). OUT: g (n). */
void model_ftrl__gradient(const struct model_ftrl *m, const model_example *ex, float label,
                          double *g);

/* The FM margin b + Σ w_i x_i + ½ Σ_f [(Σ_i v_if x_i)² − Σ_i v_if² x_i²]
 * (field-aware: the pair term of model_fm.h). */
double model_fm__margin(const struct model_fm *m, const model_example *ex);
/* The weighted log-loss gradient (no regularization) w.r.t. the bias, the
 * linear weights and the factor rows of the example's features.
 * OUT: *g_b, g_w (n), g_v (n, k); field-aware g_v (n, F, k): feature j's
 * row for the example's b-th field (first-appearance order). */
void model_fm__gradient(const struct model_fm *m, const model_example *ex, float label, double *g_b,
                        double *g_w, double *g_v);
/* The factor row a feature index maps to. */
uint32_t model_fm__row(const struct model_fm *m, uint32_t idx);
/* The field-aware factor row of a feature index for a field. */
uint32_t model_fm__ffm_row(const struct model_fm *m, uint32_t idx, uint32_t field);
/* Turns the AVX2 factor kernels on (where the CPU has them) or off, so a
 * test can hold them against the SSE2 ones. Returns whether they are on. */
bool model_fm__set_wide(struct model_fm *m, bool on);

#endif
