/*
 * model_mtl.c — the multi-task feed model (model_mtl.h).
 *
 * Legend: R = 2^emb_bits embedding rows, K = embed_dim, F = fields,
 * Dn = dense inputs, I = F·K + Dn, L = hidden layers, B = batch examples,
 * s = optimizer state floats per parameter, T = 4 heads.
 *
 * Layer l (0..L; L is the heads) maps width[l] inputs to width[l+1] outputs,
 * width[0] = I, width[1..L] = H_1..H_L, width[L+1] = T. Its array w[l] is
 * (width[l+1], width[l] + 1): each row a unit's weights then its bias. The
 * activations act[l] (B, width[l] + 1) carry a constant 1 in their last
 * column, so one sgemm computes X·Wᵀ + b forward and one dZᵀ·X gives the
 * weights' and the bias's gradients together.
 *
 *   forward   Z_l = act_l · w_lᵀ          act_{l+1} = [ReLU(Z_l), 1]
 *             M   = act_L · w_Lᵀ          (B, T) head margins
 *   backward  gw_l = dZ_lᵀ · act_l        dact_l = dZ_l · w_l[:, :in]
 *             dZ_{l-1} = dact_l ⊙ [act_l > 0]
 */
#include "model_mtl.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "model_mtl_internal.h"
#include "sl_rand.h"

#if defined(MODEL__SSE2) && defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define MTL_AVX 1 /* the optimizer's AVX form, used when the CPU has AVX */
#endif

#define MTL_NORM_MAX_COUNT 10000.0 /* normalizer: running mean up to here, then an EMA */
#define MTL_NORM_EPS       1e-6    /* variance floor of the normalizer */
#define MTL_NORM_CLIP      5.0f    /* |normalized dense value| cap */
#define MTL_DWELL_CLAMP    20.0    /* dwell margin range [0, 20] at predict */
#define MTL_PEND_W         (1 + (MODEL_EXAMPLE_MAX_BYTES + 2) / 3) /* floats per buffered row */
#define MTL_LAYERS         (MODEL_MTL_MAX_LAYERS + 1)               /* hidden + heads */
#define MTL_PF_SLOTS       8  /* embedding rows prefetched this many slots ahead of their step */
#define MTL_PF_FEATS       16 /* rows (and slot entries) prefetched this many features ahead */

struct model_mtl {
    model_mtl_params p;              /* hyperparameters */
    uint32_t K, F, Dn, n_in, L;      /* dimensions (legend; n_in = I) */
    uint32_t s;                      /* optimizer state floats per parameter */
    uint32_t width[MTL_LAYERS + 1];  /* (L + 2) layer widths, I .. T */
    uint32_t cap;                    /* rows of the batch scratch */
    uint64_t R;                      /* embedding rows */
    uint32_t emb_stride;             /* K·(1 + s) floats per embedding row */
    float *emb;                      /* (R, K(1+s)) rows: vector, then optimizer state */
    float *w[MTL_LAYERS];            /* (L+1) (width[l+1], width[l]+1) */
    float *wopt[MTL_LAYERS];         /* (L+1) (width[l+1], s·(width[l]+1)) */
    float *gw[MTL_LAYERS];           /* (L+1) gradients, shaped as w */
    float *norm;                     /* (Dn, 3) count, mean, variance */
    float norm_save[MODEL_MAX_DENSE * 3]; /* the normalizer before a batch */
    float meta[3];                   /* Adam β1^t, β2^t; 1 once the head biases were set */
    float *pending;                  /* (mini_batch, MTL_PEND_W) buffered examples */
    uint32_t n_pending;              /* buffered examples */
    model_example *batch;            /* (mini_batch) the decoded batch */
    float *act[MTL_LAYERS + 1];      /* (L+2) act[l] (cap, width[l]+1); act[L+1] (cap, T) */
    float *dact[MTL_LAYERS + 1];     /* (L+1) gradients w.r.t. act[l], same shapes; dact[L+1] = dM */
    uint8_t fmap[256];               /* example field → pooled field (field mod F) */
    uint32_t *feat_off;              /* (cap + 1) the batch's features of example i: [off_i, off_i+1) */
    uint32_t *feat_row;              /* (cap·MODEL_MAX_SPARSE) a feature's embedding row */
    uint32_t *feat_col;              /* (same) its field's first column f·K in act[0] */
    float *feat_sc;                  /* (same) its pooling scale, val / n_f (val when summed) */
    double *norm_den;                /* (Dn + 1) √(σ² + ε) of each dense input, per forward */
    int32_t *slot_of;                /* (R) row → slot of its gradient, −1 when unused */
    uint32_t *slot_row;              /* (slot_cap) slot → row, in first-use order */
    float *slot_grad;                /* (slot_cap, K) embedding gradients */
    uint32_t n_slots, slot_cap;      /* slots used, available */
    model_mtl_counters c;            /* counters */
    bool avx;                        /* the optimizer step in its AVX form (the CPU has it) */
    model_mtl__gemm_fn gemm;         /* matrix product (cblas by default) */
    void *gemm_ctx;                  /* its context */
    model_dirty d_emb, d_w[MTL_LAYERS], d_wopt[MTL_LAYERS], d_norm, d_meta, d_pending;
    char names[MTL_LAYERS][2][MODEL_MTL_NAME_MAX]; /* "l0", "l0_opt", ..., "head", "head_opt" */
};

/* ---- parameters ---------------------------------------------------------- */

static const char *const opt_names[MODEL_MTL_OPT_COUNT] = {"adam", "adagrad", "momentum"};

const char *model_mtl_opt_str(model_mtl_opt opt) {
    return (unsigned)opt < MODEL_MTL_OPT_COUNT ? opt_names[opt] : "?";
}

bool model_mtl_opt_parse(const char *s, model_mtl_opt *opt) {
    for (int i = 0; i < MODEL_MTL_OPT_COUNT; i++)
        if (s && strcmp(s, opt_names[i]) == 0) {
            *opt = (model_mtl_opt)i;
            return true;
        }
    return false;
}

void model_mtl_params_default(model_mtl_params *p) {
    memset(p, 0, sizeof *p);
    p->emb_bits = 17;
    p->embed_dim = 16;
    p->n_fields = 32;
    p->n_dense = MODEL_MAX_DENSE;
    p->hidden[0] = 128;
    p->hidden[1] = 64;
    p->n_hidden = 2;
    p->mini_batch = 64;
    p->opt = MODEL_MTL_OPT_ADAM;
    p->pool = MODEL_MTL_POOL_MEAN;
    p->lr = 0.001;
    p->momentum = 0.9;
    p->beta1 = 0.9;
    p->beta2 = 0.999;
    p->eps = 1e-8;
    const double hw[MODEL_MTL_HEADS] = {1, 1, 1, 0.5}, bl[MODEL_MTL_HEADS] = {1, 2, 4, 0.0001};
    memcpy(p->head_weights, hw, sizeof hw);
    memcpy(p->blend, bl, sizeof bl);
    p->huber_delta = 1.0;
    p->dwell_init_ms = 10000.0;
    for (int t = 0; t < 3; t++)
        p->base_rate[t] = 0.5;
    p->init_std = 0.01;
    p->max_grad = 1e6;
    p->seed = 1;
}

void model_mtl_params_from_config(const sl_config_model *cm, model_mtl_params *p) {
    model_mtl_params_default(p);
    p->emb_bits = (uint32_t)cm->emb_bits;
    p->embed_dim = (uint32_t)cm->embed_dim;
    p->n_hidden = (uint32_t)cm->n_hidden;
    for (int l = 0; l < cm->n_hidden && l < MODEL_MTL_MAX_LAYERS; l++)
        p->hidden[l] = (uint32_t)cm->hidden[l];
    p->mini_batch = (uint32_t)cm->mini_batch;
    p->lr = cm->lr;
    if (cm->optimizer)
        (void)model_mtl_opt_parse(cm->optimizer, &p->opt); /* the loader checked it */
    for (int t = 0; t < MODEL_MTL_HEADS; t++) {
        p->head_weights[t] = cm->head_weights[t];
        p->blend[t] = cm->blend[t];
    }
    p->init_std = cm->init_std;
    p->seed = cm->seed;
    const double rates[3] = {cm->base_rate, cm->like_base_rate, cm->share_base_rate};
    for (int t = 0; t < 3; t++)
        if (rates[t] > 0 && rates[t] < 1)
            p->base_rate[t] = rates[t];
}

static sl_status check_params(const model_mtl_params *p, sl_err *err) {
    if (p->emb_bits < MODEL_MTL_MIN_BITS || p->emb_bits > MODEL_MTL_MAX_BITS)
        return sl_err_set(err, SL_ERR_INVALID, "mtl: emb_bits must be in %d..%d, got %u",
                          MODEL_MTL_MIN_BITS, MODEL_MTL_MAX_BITS, p->emb_bits);
    if (p->embed_dim < 1 || p->embed_dim > 512)
        return sl_err_set(err, SL_ERR_INVALID, "mtl: embed_dim must be in 1..512, got %u",
                          p->embed_dim);
    if (p->n_fields < 1 || p->n_fields > MODEL_MTL_MAX_FIELDS)
        return sl_err_set(err, SL_ERR_INVALID, "mtl: n_fields must be in 1..%d, got %u",
                          MODEL_MTL_MAX_FIELDS, p->n_fields);
    if (p->n_dense > MODEL_MAX_DENSE)
        return sl_err_set(err, SL_ERR_INVALID, "mtl: n_dense must be in 0..%d, got %u",
                          MODEL_MAX_DENSE, p->n_dense);
    if (p->n_hidden < 1 || p->n_hidden > MODEL_MTL_MAX_LAYERS)
        return sl_err_set(err, SL_ERR_INVALID, "mtl: need 1..%d hidden layers, got %u",
                          MODEL_MTL_MAX_LAYERS, p->n_hidden);
    for (uint32_t l = 0; l < p->n_hidden; l++)
        if (p->hidden[l] < 1 || p->hidden[l] > MODEL_MTL_MAX_WIDTH)
            return sl_err_set(err, SL_ERR_INVALID, "mtl: hidden[%u] must be in 1..%d, got %u", l,
                              MODEL_MTL_MAX_WIDTH, p->hidden[l]);
    if (p->mini_batch < 1 || p->mini_batch > MODEL_MTL_MAX_BATCH)
        return sl_err_set(err, SL_ERR_INVALID, "mtl: mini_batch must be in 1..%d, got %u",
                          MODEL_MTL_MAX_BATCH, p->mini_batch);
    if ((unsigned)p->opt >= MODEL_MTL_OPT_COUNT || p->pool > MODEL_MTL_POOL_SUM)
        return sl_err_set(err, SL_ERR_INVALID, "mtl: unknown optimizer or pooling");
    if (!(p->lr > 0) || !(p->momentum >= 0 && p->momentum < 1) ||
        !(p->beta1 >= 0 && p->beta1 < 1) || !(p->beta2 >= 0 && p->beta2 < 1) || !(p->eps > 0) ||
        !(p->huber_delta > 0) || !(p->dwell_init_ms >= 0) || !(p->init_std >= 0) ||
        !(p->max_grad > 0) || !isfinite(p->lr + p->eps + p->huber_delta + p->dwell_init_ms +
                                        p->init_std + p->max_grad))
        return sl_err_set(err, SL_ERR_INVALID,
                          "mtl: need lr > 0, momentum, beta1, beta2 in [0, 1), eps > 0, "
                          "huber_delta > 0, dwell_init_ms >= 0, init_std >= 0, max_grad > 0");
    for (int t = 0; t < 3; t++)
        if (!(p->base_rate[t] > 0 && p->base_rate[t] < 1))
            return sl_err_set(err, SL_ERR_INVALID, "mtl: base_rate[%d] must be in (0, 1), got %g",
                              t, p->base_rate[t]);
    for (int t = 0; t < MODEL_MTL_HEADS; t++)
        if (!(p->head_weights[t] >= 0) || !isfinite(p->head_weights[t]) || !isfinite(p->blend[t]))
            return sl_err_set(err, SL_ERR_INVALID,
                              "mtl: head weights must be finite and >= 0, blend finite");
    return SL_OK;
}

/* ---- create / destroy --------------------------------------------------- */

static void mtl_gemm_blas(void *ctx, bool ta, bool tb, int M, int N, int Kd, const float *A,
                          int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    (void)ctx;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, Kd, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

void model_mtl__gemm_naive(void *ctx, bool ta, bool tb, int M, int N, int Kd, const float *A,
                           int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    (void)ctx;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int k = 0; k < Kd; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0f ? acc : acc + beta * *c;
        }
}

bool model_mtl__set_avx(model_mtl *m, bool on) {
#ifdef MTL_AVX
    m->avx = on && __builtin_cpu_supports("avx");
#else
    (void)on;
#endif
    return m->avx;
}

void model_mtl__set_gemm(model_mtl *m, model_mtl__gemm_fn fn, void *ctx) {
    m->gemm = fn ? fn : mtl_gemm_blas;
    m->gemm_ctx = fn ? ctx : NULL;
}

void model_mtl_destroy(model_mtl *m) {
    if (!m)
        return;
    free(m->emb);
    for (uint32_t l = 0; l < MTL_LAYERS; l++) {
        free(m->w[l]);
        free(m->wopt[l]);
        free(m->gw[l]);
        model_dirty_deinit(&m->d_w[l]);
        model_dirty_deinit(&m->d_wopt[l]);
    }
    for (uint32_t l = 0; l < MTL_LAYERS + 1; l++) {
        free(m->act[l]);
        free(m->dact[l]);
    }
    free(m->norm);
    free(m->pending);
    free(m->batch);
    free(m->feat_off);
    free(m->feat_row);
    free(m->feat_col);
    free(m->feat_sc);
    free(m->norm_den);
    free(m->slot_of);
    free(m->slot_row);
    free(m->slot_grad);
    model_dirty_deinit(&m->d_emb);
    model_dirty_deinit(&m->d_norm);
    model_dirty_deinit(&m->d_meta);
    model_dirty_deinit(&m->d_pending);
    free(m);
}

static size_t layer_floats(const model_mtl *m, uint32_t l) {
    return (size_t)m->width[l + 1] * (m->width[l] + 1);
}

/* Fills the parameters from the seed: embeddings N(0, init_std²), hidden
 * layers He-normal N(0, 2/in), heads N(0, 0.01/in), biases 0 except the
 * dwell head's, log1p(dwell_init_ms), and the click, like and share
 * heads', the logits of their base rates (until the first batch sets the
 * head biases, views are scored at the expected rates, not 0.5);
 * optimizer state 0. */
static void init_params(model_mtl *m) {
    sl_rand rng;
    sl_rand_seed(&rng, m->p.seed);
    uint32_t K = m->K;
    for (uint64_t r = 0; r < m->R; r++) {
        float *row = m->emb + r * m->emb_stride;
        for (uint32_t k = 0; k < K; k++)
            row[k] = (float)(m->p.init_std * sl_rand_normal(&rng));
        memset(row + K, 0, (size_t)K * m->s * sizeof(float));
    }
    for (uint32_t l = 0; l <= m->L; l++) {
        uint32_t in = m->width[l], out = m->width[l + 1];
        double std = l < m->L ? sqrt(2.0 / in) : 0.1 * sqrt(1.0 / in);
        for (uint32_t o = 0; o < out; o++) {
            float *row = m->w[l] + (size_t)o * (in + 1);
            for (uint32_t i = 0; i < in; i++)
                row[i] = (float)(std * sl_rand_normal(&rng));
            row[in] = 0.0f;
        }
        memset(m->wopt[l], 0, layer_floats(m, l) * m->s * sizeof(float));
    }
    m->w[m->L][(size_t)MODEL_MTL_DWELL * (m->width[m->L] + 1) + m->width[m->L]] =
        (float)log1p(m->p.dwell_init_ms);
    for (int t = MODEL_MTL_CLICK; t <= MODEL_MTL_SHARE; t++) {
        double r = m->p.base_rate[t];
        m->w[m->L][(size_t)t * (m->width[m->L] + 1) + m->width[m->L]] = (float)log(r / (1.0 - r));
    }
    for (uint32_t d = 0; d < m->Dn; d++) {
        m->norm[3 * d] = 0.0f;
        m->norm[3 * d + 1] = 0.0f;
        m->norm[3 * d + 2] = 1.0f;
    }
    m->meta[0] = m->meta[1] = 1.0f;
    m->meta[2] = 0.0f;
}

sl_status model_mtl_create(const model_mtl_params *p, model_mtl **out, sl_err *err) {
    *out = NULL;
    sl_status st = check_params(p, err);
    if (st)
        return st;
    model_mtl *m = calloc(1, sizeof *m);
    if (!m)
        return sl_err_set(err, SL_ERR_NOMEM, "mtl: out of memory");
    m->p = *p;
    m->K = p->embed_dim;
    m->F = p->n_fields;
    m->Dn = p->n_dense;
    m->n_in = m->F * m->K + m->Dn;
    m->L = p->n_hidden;
    m->s = p->opt == MODEL_MTL_OPT_ADAM ? 2 : 1;
    m->width[0] = m->n_in;
    for (uint32_t l = 0; l < m->L; l++)
        m->width[l + 1] = p->hidden[l];
    m->width[m->L + 1] = MODEL_MTL_HEADS;
    m->cap = p->mini_batch < 64 ? 64 : p->mini_batch; /* predict_batch wants some rows */
    m->R = (uint64_t)1 << p->emb_bits;
    m->emb_stride = m->K * (1 + m->s);
    m->gemm = mtl_gemm_blas;
#ifdef MTL_AVX
    m->avx = __builtin_cpu_supports("avx");
#endif
    uint64_t slots = (uint64_t)m->cap * MODEL_MAX_SPARSE;
    m->slot_cap = (uint32_t)(slots < m->R ? slots : m->R);

    bool ok = true;
    /* 64-byte aligned, so a row of K·(1+s) floats spans the fewest cache
     * lines (one per 16 floats when K(1+s) is a multiple of 16), and from
     * 2 MiB up on huge pages: rows are read at random. */
    m->emb = model__table_alloc((size_t)m->R * m->emb_stride * sizeof(float));
    ok = ok && m->emb && !model_dirty_init(&m->d_emb, m->R, 0);
    for (uint32_t l = 0; ok && l <= m->L; l++) {
        size_t n = layer_floats(m, l);
        m->w[l] = malloc(n * sizeof(float));
        m->wopt[l] = malloc(n * m->s * sizeof(float));
        m->gw[l] = calloc(n, sizeof(float));
        ok = m->w[l] && m->wopt[l] && m->gw[l] &&
             !model_dirty_init(&m->d_w[l], m->width[l + 1], 0) &&
             !model_dirty_init(&m->d_wopt[l], m->width[l + 1], 0);
        if (l < m->L) {
            snprintf(m->names[l][0], MODEL_MTL_NAME_MAX, "l%u", l);
            snprintf(m->names[l][1], MODEL_MTL_NAME_MAX, "l%u_opt", l);
        } else {
            snprintf(m->names[l][0], MODEL_MTL_NAME_MAX, "head");
            snprintf(m->names[l][1], MODEL_MTL_NAME_MAX, "head_opt");
        }
    }
    for (uint32_t l = 0; ok && l <= m->L + 1; l++) {
        size_t cols = l <= m->L ? (size_t)m->width[l] + 1 : MODEL_MTL_HEADS;
        m->act[l] = calloc((size_t)m->cap * cols, sizeof(float));
        m->dact[l] = calloc((size_t)m->cap * cols, sizeof(float));
        ok = m->act[l] && m->dact[l];
    }
    m->norm = malloc(((size_t)m->Dn + 1) * 3 * sizeof(float));
    ok = ok && m->norm && !model_dirty_init(&m->d_norm, m->Dn ? m->Dn : 1, 0) &&
         !model_dirty_init(&m->d_meta, 1, 0);
    m->pending = calloc((size_t)p->mini_batch * MTL_PEND_W, sizeof(float));
    m->batch = malloc((size_t)p->mini_batch * sizeof *m->batch);
    ok = ok && m->pending && m->batch && !model_dirty_init(&m->d_pending, p->mini_batch, 0);
    size_t nfeat = (size_t)m->cap * MODEL_MAX_SPARSE;
    m->feat_off = malloc(((size_t)m->cap + 1) * sizeof *m->feat_off);
    m->feat_row = malloc(nfeat * sizeof *m->feat_row);
    m->feat_col = malloc(nfeat * sizeof *m->feat_col);
    m->feat_sc = malloc(nfeat * sizeof *m->feat_sc);
    m->norm_den = malloc(((size_t)m->Dn + 1) * sizeof *m->norm_den);
    ok = ok && m->feat_off && m->feat_row && m->feat_col && m->feat_sc && m->norm_den;
    for (uint32_t f = 0; f < 256; f++)
        m->fmap[f] = (uint8_t)(f % m->F);
    m->slot_of = malloc((size_t)m->R * sizeof *m->slot_of);
    m->slot_row = malloc((size_t)m->slot_cap * sizeof *m->slot_row);
    m->slot_grad = malloc((size_t)m->slot_cap * m->K * sizeof *m->slot_grad);
    ok = ok && m->slot_of && m->slot_row && m->slot_grad;
    if (!ok) {
        size_t mib = ((size_t)m->R * m->emb_stride * sizeof(float)) >> 20;
        model_mtl_destroy(m);
        return sl_err_set(err, SL_ERR_NOMEM,
                          "mtl: cannot allocate the model (%zu MiB of embeddings)", mib);
    }
    for (uint64_t r = 0; r < m->R; r++)
        m->slot_of[r] = -1;
    init_params(m);
    /* One BLAS thread: the same sums in the same order on every run, and no
     * threads behind the engine's back (model_mtl.h). */
    openblas_set_num_threads(1);
    *out = m;
    return SL_OK;
}

/* ---- forward / backward ------------------------------------------------- */

/* Asks for every cache line of a row of `bytes` (a hint: no fault, no
 * effect on the results). */
static inline void prefetch_row(const float *row, size_t bytes) {
    const char *c = (const char *)row;
    for (size_t b = 0; b < bytes; b += 64)
        __builtin_prefetch(c + b, 1, 3);
}

uint32_t model_mtl__row(const model_mtl *m, uint32_t idx) {
    return (uint32_t)(idx * 0x9E3779B1u) >> (32 - m->p.emb_bits);
}

/*
 * The batch's features, flattened: example i's are [feat_off[i],
 * feat_off[i+1]), each with its embedding row, its field's offset f·K in
 * the input and its pooling scale val/n_f (val with sum pooling). Computed
 * once per forward and used again by the backward, so the hash, the field
 * map and the division are paid once per feature, and every row of the
 * batch is known before the first one is read: the pooling and the slot
 * lookups prefetch MTL_PF_FEATS features ahead (the table is far larger
 * than the caches; the rows are random).
 */
static void batch_features(model_mtl *m, const model_example *exs, uint32_t n) {
    uint32_t q = 0, cnt[MODEL_MTL_MAX_FIELDS];
    for (uint32_t i = 0; i < n; i++) {
        const model_example *ex = &exs[i];
        m->feat_off[i] = q;
        memset(cnt, 0, m->F * sizeof *cnt);
        for (uint32_t j = 0; j < ex->n; j++)
            cnt[m->fmap[ex->field[j]]]++;
        for (uint32_t j = 0; j < ex->n; j++, q++) {
            uint32_t f = m->fmap[ex->field[j]];
            float sc = ex->val[j];
            if (m->p.pool == MODEL_MTL_POOL_MEAN)
                sc /= (float)cnt[f];
            m->feat_row[q] = model_mtl__row(m, ex->idx[j]);
            m->feat_col[q] = f * m->K;
            m->feat_sc[q] = sc;
        }
    }
    m->feat_off[n] = q;
}

/* y[0..K) += a·x[0..K): one multiply and one add per element, in float,
 * four lanes at a time and the rest one by one: the same result either
 * way. */
static inline void axpy(float *y, float a, const float *x, uint32_t K) {
    uint32_t k = 0;
#ifdef MODEL__SSE2
    __m128 av = _mm_set1_ps(a);
    for (; k + 4 <= K; k += 4)
        _mm_storeu_ps(y + k, _mm_add_ps(_mm_loadu_ps(y + k), _mm_mul_ps(av, _mm_loadu_ps(x + k))));
#endif
    for (; k < K; k++)
        y[k] += a * x[k];
}

/* v[k] = a[k] > 0 ? v[k] : +0 for k < n: the ReLU forward (v = a = Z,
 * NaN becomes 0 as with the comparison) and backward (v = the gradient, a =
 * the activation). Branch-free: the sign of a unit's input is a coin flip
 * to the branch predictor. */
static inline void relu_mask(float *v, const float *a, uint32_t n) {
    uint32_t k = 0;
#ifdef MODEL__SSE2
    const __m128 zero = _mm_setzero_ps();
    for (; k + 4 <= n; k += 4)
        _mm_storeu_ps(v + k, _mm_and_ps(_mm_loadu_ps(v + k), _mm_cmpgt_ps(_mm_loadu_ps(a + k), zero)));
#endif
    for (; k < n; k++)
        v[k] = a[k] > 0.0f ? v[k] : 0.0f;
}

/* Rows of act[0]: pooled fields, normalized dense values, the 1. */
static void build_inputs(model_mtl *m, const model_example *exs, uint32_t n) {
    uint32_t K = m->K, nq = m->feat_off[n], ld = m->n_in + 1;
    const uint32_t *row = m->feat_row;
    for (uint32_t q = 0; q < MTL_PF_FEATS && q < nq; q++)
        __builtin_prefetch(m->emb + (size_t)row[q] * m->emb_stride, 0, 3);
    /* (v − μ)/√(σ² + ε): the root once per dense input and forward, the
     * same double as computing it per example */
    for (uint32_t d = 0; d < m->Dn; d++)
        m->norm_den[d] = sqrt((double)m->norm[3 * d + 2] + MTL_NORM_EPS);
    for (uint32_t i = 0; i < n; i++) {
        const model_example *ex = &exs[i];
        float *x = m->act[0] + (size_t)i * ld;
        memset(x, 0, (size_t)m->F * K * sizeof(float));
        for (uint32_t q = m->feat_off[i]; q < m->feat_off[i + 1]; q++) {
            if (q + MTL_PF_FEATS < nq)
                __builtin_prefetch(m->emb + (size_t)row[q + MTL_PF_FEATS] * m->emb_stride, 0, 3);
            axpy(x + m->feat_col[q], m->feat_sc[q], m->emb + (size_t)row[q] * m->emb_stride, K);
        }
        float *xd = x + (size_t)m->F * K;
        for (uint32_t d = 0; d < m->Dn; d++) {
            float v = d < ex->n_dense ? ex->dense[d] : 0.0f;
            float z = (float)((v - (double)m->norm[3 * d + 1]) / m->norm_den[d]);
            if (z > MTL_NORM_CLIP) /* written so that NaN passes through to the guard */
                z = MTL_NORM_CLIP;
            else if (z < -MTL_NORM_CLIP)
                z = -MTL_NORM_CLIP;
            xd[d] = z;
        }
        x[m->n_in] = 1.0f;
    }
}

/* Forward of n ≤ cap examples: act[0..L] and the margins act[L+1]. */
static void forward(model_mtl *m, const model_example *exs, uint32_t n) {
    batch_features(m, exs, n);
    build_inputs(m, exs, n);
    for (uint32_t l = 0; l <= m->L; l++) {
        int in = (int)m->width[l], out = (int)m->width[l + 1];
        bool head = l == m->L;
        int ldc = head ? MODEL_MTL_HEADS : out + 1;
        float *z = m->act[l + 1];
        m->gemm(m->gemm_ctx, false, true, (int)n, out, in + 1, m->act[l], in + 1, m->w[l], in + 1,
                0.0f, z, ldc);
        if (head)
            break;
        for (uint32_t i = 0; i < n; i++) {
            float *zi = z + (size_t)i * ldc;
            relu_mask(zi, zi, (uint32_t)out);
            zi[out] = 1.0f;
        }
    }
}

/* Whether head t learns from ex, and its target (log1p(dwell) for dwell). */
static bool head_target(const model_example *ex, int t, double *y) {
    static const model_label lab[MODEL_MTL_HEADS] = {MODEL_LABEL_CLICK, MODEL_LABEL_LIKE,
                                                     MODEL_LABEL_SHARE, MODEL_LABEL_DWELL};
    if (!(ex->has_label & (1u << lab[t])))
        return false;
    if (t == MODEL_MTL_DWELL) {
        if (!(ex->has_label & (1u << MODEL_LABEL_CLICK)) || !(ex->label[MODEL_LABEL_CLICK] >= 0.5f))
            return false; /* masked: dwell is only defined for clicked views */
        double d = ex->label[MODEL_LABEL_DWELL];
        *y = log1p(d > 0 ? d : 0.0);
        return true;
    }
    *y = ex->label[lab[t]];
    return true;
}

/* Loss of every head, and dM = ∂loss/∂margins into dact[L+1]. */
static double head_losses(model_mtl *m, const model_example *exs, uint32_t n, double *head_loss) {
    const float *mg = m->act[m->L + 1];
    float *dm = m->dact[m->L + 1];
    double tot = 0.0, hl[MODEL_MTL_HEADS] = {0};
    double delta = m->p.huber_delta;
    for (uint32_t i = 0; i < n; i++) {
        double c = exs[i].weight;
        for (int t = 0; t < MODEL_MTL_HEADS; t++) {
            double y, z = mg[(size_t)i * MODEL_MTL_HEADS + t], l = 0.0, g = 0.0;
            if (head_target(&exs[i], t, &y)) {
                if (t == MODEL_MTL_DWELL) {
                    double r = z - y;
                    if (fabs(r) <= delta) {
                        l = 0.5 * r * r;
                        g = r;
                    } else {
                        l = delta * (fabs(r) - 0.5 * delta);
                        g = r > 0 ? delta : -delta;
                    }
                    if (isnan(r))
                        l = g = r;
                } else {
                    l = model__logloss_margin(z, y);
                    g = model__sigmoid(z) - y;
                }
            }
            double wt = c * m->p.head_weights[t] / n;
            hl[t] += c * l / n;
            tot += wt * l;
            dm[(size_t)i * MODEL_MTL_HEADS + t] = (float)(wt * g);
        }
    }
    if (head_loss)
        memcpy(head_loss, hl, sizeof hl);
    return tot;
}

static void slots_reset(model_mtl *m) {
    for (uint32_t s = 0; s < m->n_slots; s++)
        m->slot_of[m->slot_row[s]] = -1;
    m->n_slots = 0;
}

/* The embedding gradients from dact[0]: each feature of the batch (the
 * list forward made) adds its pooling scale times its field's input
 * gradient to its row's slot, slots in first-use order. */
static void emb_backward(model_mtl *m, uint32_t n) {
    uint32_t K = m->K, nq = m->feat_off[n], ld = m->n_in + 1;
    const uint32_t *row = m->feat_row;
    for (uint32_t i = 0; i < n; i++) {
        const float *dx = m->dact[0] + (size_t)i * ld;
        for (uint32_t q = m->feat_off[i]; q < m->feat_off[i + 1]; q++) {
            if (q + MTL_PF_FEATS < nq)
                __builtin_prefetch(&m->slot_of[row[q + MTL_PF_FEATS]], 1, 3);
            uint32_t r = row[q];
            int32_t s = m->slot_of[r];
            if (s < 0) { /* slot_cap ≥ min(R, features of a batch): never full */
                s = (int32_t)m->n_slots++;
                m->slot_of[r] = s;
                m->slot_row[s] = r;
                memset(m->slot_grad + (size_t)s * K, 0, K * sizeof(float));
            }
            axpy(m->slot_grad + (size_t)s * K, m->feat_sc[q], dx + m->feat_col[q], K);
        }
    }
}

double model_mtl__loss_grad(model_mtl *m, const model_example *exs, uint32_t n,
                            double head_loss[MODEL_MTL_HEADS]) {
    slots_reset(m);
    if (n == 0) {
        if (head_loss)
            memset(head_loss, 0, MODEL_MTL_HEADS * sizeof *head_loss);
        return 0.0;
    }
    forward(m, exs, n);
    double loss = head_losses(m, exs, n, head_loss);
    for (uint32_t l = m->L + 1; l-- > 0;) {
        int in = (int)m->width[l], out = (int)m->width[l + 1];
        const float *dz = m->dact[l + 1];
        int lddz = l == m->L ? MODEL_MTL_HEADS : out + 1;
        /* gw_l = dZᵀ · act_l: the weights' and (ones column) the bias's */
        m->gemm(m->gemm_ctx, true, false, out, in + 1, (int)n, dz, lddz, m->act[l], in + 1, 0.0f,
                m->gw[l], in + 1);
        /* dact_l = dZ · w_l[:, :in] */
        m->gemm(m->gemm_ctx, false, false, (int)n, in, out, dz, lddz, m->w[l], in + 1, 0.0f,
                m->dact[l], in + 1);
        if (l == 0)
            break;
        for (uint32_t i = 0; i < n; i++) /* through the ReLU of act_l */
            relu_mask(m->dact[l] + (size_t)i * (in + 1), m->act[l] + (size_t)i * (in + 1),
                      (uint32_t)in);
    }
    emb_backward(m, n);
    return loss;
}

const float *model_mtl__grad(const model_mtl *m, uint32_t l) { return l <= m->L ? m->gw[l] : NULL; }

const float *model_mtl__emb_grad(const model_mtl *m, uint32_t r) {
    if (r >= m->R || m->slot_of[r] < 0)
        return NULL;
    return m->slot_grad + (size_t)m->slot_of[r] * m->K;
}

const float *model_mtl__margins(const model_mtl *m, uint32_t i) {
    return m->act[m->L + 1] + (size_t)i * MODEL_MTL_HEADS;
}

double model_mtl__flops(const model_mtl *m, uint32_t n, bool train) {
    double f = 0.0;
    for (uint32_t l = 0; l <= m->L; l++) {
        double in = m->width[l], out = m->width[l + 1];
        f += 2.0 * n * out * (in + 1);     /* forward */
        if (train)
            f += 2.0 * n * out * (in + 1) + 2.0 * n * out * in; /* gw, dact */
    }
    return f;
}

/* ---- predict ------------------------------------------------------------ */

static void outputs(const float *mg, float *out) {
    for (int t = 0; t < MODEL_MTL_DWELL; t++)
        out[t] = (float)model__sigmoid(mg[t]);
    double d = mg[MODEL_MTL_DWELL];
    if (d > MTL_DWELL_CLAMP)
        d = MTL_DWELL_CLAMP;
    else if (!(d >= 0.0))
        d = isnan(d) ? d : 0.0;
    out[MODEL_MTL_DWELL] = (float)expm1(d);
}

void model_mtl_predict_batch(model_mtl *m, const model_example *exs, uint32_t n,
                             float (*out)[MODEL_MTL_HEADS]) {
    for (uint32_t off = 0; off < n; off += m->cap) {
        uint32_t b = n - off < m->cap ? n - off : m->cap;
        forward(m, exs + off, b);
        for (uint32_t i = 0; i < b; i++)
            outputs(m->act[m->L + 1] + (size_t)i * MODEL_MTL_HEADS, out[off + i]);
    }
}

void model_mtl_predict(model_mtl *m, const model_example *ex, float out[MODEL_MTL_HEADS]) {
    forward(m, ex, 1);
    outputs(m->act[m->L + 1], out);
}

float model_mtl_blend(const model_mtl *m, const float out[MODEL_MTL_HEADS]) {
    double s = 0.0;
    for (int t = 0; t < MODEL_MTL_HEADS; t++)
        s += m->p.blend[t] * out[t];
    return (float)s;
}

/* ---- training ----------------------------------------------------------- */

/* Folds the batch's dense values into the normalizer: a running mean and
 * variance, an EMA of horizon MTL_NORM_MAX_COUNT once that many were seen. */
static void norm_update(model_mtl *m, const model_example *exs, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t d = 0; d < m->Dn; d++) {
            float *nm = m->norm + 3 * d;
            double x = d < exs[i].n_dense ? exs[i].dense[d] : 0.0;
            double cnt = nm[0] + 1.0;
            if (cnt > MTL_NORM_MAX_COUNT)
                cnt = MTL_NORM_MAX_COUNT;
            double a = 1.0 / cnt, delta = x - nm[1];
            nm[0] = (float)cnt;
            nm[1] = (float)(nm[1] + a * delta);
            nm[2] = (float)((1.0 - a) * (nm[2] + a * delta * delta));
        }
}

/* True when every value the batch feeds the model is usable. */
static bool inputs_ok(const model_example *exs, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        const model_example *ex = &exs[i];
        if (!(ex->weight >= 0) || !isfinite(ex->weight))
            return false;
        for (uint32_t j = 0; j < ex->n; j++)
            if (!isfinite(ex->val[j]))
                return false;
        for (uint32_t d = 0; d < ex->n_dense; d++)
            if (!isfinite(ex->dense[d]))
                return false;
        for (int l = 0; l < MODEL_LABEL_COUNT; l++)
            if ((ex->has_label & (1u << l)) && !isfinite(ex->label[l]))
                return false;
    }
    return true;
}

static bool grads_ok(const float *g, size_t n, float lim) {
    size_t i = 0;
#ifdef MODEL__SSE2
    /* not(|g| ≤ lim), which NaN satisfies too, OR-ed over four lanes */
    const __m128 abs_mask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff)), lv = _mm_set1_ps(lim);
    __m128 bad = _mm_setzero_ps();
    for (; i + 4 <= n; i += 4)
        bad = _mm_or_ps(bad, _mm_cmpnle_ps(_mm_and_ps(_mm_loadu_ps(g + i), abs_mask), lv));
    if (_mm_movemask_ps(bad))
        return false;
#endif
    for (; i < n; i++)
        if (!(fabsf(g[i]) <= lim)) /* NaN fails too */
            return false;
    return true;
}

/* The optimizer's constants for one batch, in double. */
typedef struct opt_k {
    double lr, eps;        /* step size, denominator ε (AdaGrad) */
    double mu;             /* momentum */
    double b1, b2;         /* Adam β1, β2 */
    double omb1, omb2;     /* 1 − β1, 1 − β2 */
    double step, eps_hat;  /* Adam: lr·√(1−β2^t)/(1−β1^t), ε·√(1−β2^t) */
} opt_k;

/* b1c, b2c: Adam's 1 − β^t (1 for the other optimizers). OUT: *k. */
static void opt_k_init(const model_mtl *m, double b1c, double b2c, opt_k *k) {
    k->lr = m->p.lr;
    k->eps = m->p.eps;
    k->mu = m->p.momentum;
    k->b1 = m->p.beta1;
    k->b2 = m->p.beta2;
    k->omb1 = 1.0 - k->b1;
    k->omb2 = 1.0 - k->b2;
    /* lr·m̂/(√v̂ + ε) with the bias corrections folded into two constants:
     * one √ and one division per parameter. */
    k->step = k->lr * sqrt(b2c) / b1c;
    k->eps_hat = k->eps * sqrt(b2c);
}

/*
 * One optimizer step of n parameters p with gradients g and state st0
 * (momentum velocity, AdaGrad sum or Adam m) and st1 (Adam v), each in
 * double, rounded once when stored. Every parameter goes through the same
 * sequence of IEEE double operations whether it is in the SSE2 part (two
 * lanes, four parameters per iteration) or in the scalar tail, and C11 mode
 * contracts nothing into FMA: the two forms are bitwise the same, on any
 * x86-64 (sqrt, add, multiply and divide are correctly rounded).
 */
#ifdef MODEL__SSE2
/* Two float lanes (lo or hi half of v) as doubles, and back. */
static inline __m128d f2_lo(__m128 v) { return _mm_cvtps_pd(v); }
static inline __m128d f2_hi(__m128 v) { return _mm_cvtps_pd(_mm_movehl_ps(v, v)); }
static inline __m128 f4_of(__m128d lo, __m128d hi) {
    return _mm_movelh_ps(_mm_cvtpd_ps(lo), _mm_cvtpd_ps(hi));
}

static inline void adam2(__m128d g, __m128d *p, __m128d *s0, __m128d *s1, const opt_k *k) {
    __m128d mm = _mm_add_pd(_mm_mul_pd(_mm_set1_pd(k->b1), *s0), _mm_mul_pd(_mm_set1_pd(k->omb1), g));
    __m128d vv = _mm_add_pd(_mm_mul_pd(_mm_set1_pd(k->b2), *s1),
                            _mm_mul_pd(_mm_mul_pd(_mm_set1_pd(k->omb2), g), g));
    __m128d den = _mm_add_pd(_mm_sqrt_pd(vv), _mm_set1_pd(k->eps_hat));
    *p = _mm_sub_pd(*p, _mm_div_pd(_mm_mul_pd(_mm_set1_pd(k->step), mm), den));
    *s0 = mm;
    *s1 = vv;
}

static inline void adagrad2(__m128d g, __m128d *p, __m128d *s0, const opt_k *k) {
    __m128d G = _mm_add_pd(*s0, _mm_mul_pd(g, g));
    __m128d den = _mm_add_pd(_mm_sqrt_pd(G), _mm_set1_pd(k->eps));
    *p = _mm_sub_pd(*p, _mm_div_pd(_mm_mul_pd(_mm_set1_pd(k->lr), g), den));
    *s0 = G;
}

static inline void momentum2(__m128d g, __m128d *p, __m128d *s0, const opt_k *k) {
    __m128d v = _mm_add_pd(_mm_mul_pd(_mm_set1_pd(k->mu), *s0), g);
    *p = _mm_sub_pd(*p, _mm_mul_pd(_mm_set1_pd(k->lr), v));
    *s0 = v;
}
#endif

static void opt_apply_sse2(model_mtl_opt opt, float *p, float *st0, float *st1, const float *g,
                           uint32_t n, const opt_k *k) {
    uint32_t i = 0;
#ifdef MODEL__SSE2
    for (; i + 4 <= n; i += 4) {
        __m128 gv = _mm_loadu_ps(g + i), pv = _mm_loadu_ps(p + i), s0v = _mm_loadu_ps(st0 + i);
        __m128d gl = f2_lo(gv), gh = f2_hi(gv), pl = f2_lo(pv), ph = f2_hi(pv);
        __m128d s0l = f2_lo(s0v), s0h = f2_hi(s0v);
        if (opt == MODEL_MTL_OPT_ADAM) {
            __m128 s1v = _mm_loadu_ps(st1 + i);
            __m128d s1l = f2_lo(s1v), s1h = f2_hi(s1v);
            adam2(gl, &pl, &s0l, &s1l, k);
            adam2(gh, &ph, &s0h, &s1h, k);
            _mm_storeu_ps(st1 + i, f4_of(s1l, s1h));
        } else if (opt == MODEL_MTL_OPT_ADAGRAD) {
            adagrad2(gl, &pl, &s0l, k);
            adagrad2(gh, &ph, &s0h, k);
        } else {
            momentum2(gl, &pl, &s0l, k);
            momentum2(gh, &ph, &s0h, k);
        }
        _mm_storeu_ps(st0 + i, f4_of(s0l, s0h));
        _mm_storeu_ps(p + i, f4_of(pl, ph));
    }
#endif
    switch (opt) {
    case MODEL_MTL_OPT_MOMENTUM:
        for (; i < n; i++) {
            double v = k->mu * st0[i] + g[i];
            st0[i] = (float)v;
            p[i] = (float)(p[i] - k->lr * v);
        }
        break;
    case MODEL_MTL_OPT_ADAGRAD:
        for (; i < n; i++) {
            double G = (double)st0[i] + (double)g[i] * g[i];
            st0[i] = (float)G;
            p[i] = (float)(p[i] - k->lr * g[i] / (sqrt(G) + k->eps));
        }
        break;
    case MODEL_MTL_OPT_ADAM:
    default:
        for (; i < n; i++) {
            double gi = g[i];
            double mm = k->b1 * st0[i] + k->omb1 * gi;
            double vv = k->b2 * st1[i] + k->omb2 * gi * gi;
            st0[i] = (float)mm;
            st1[i] = (float)vv;
            p[i] = (float)(p[i] - k->step * mm / (sqrt(vv) + k->eps_hat));
        }
        break;
    }
}

#ifdef MTL_AVX
/* The same step four double lanes at a time (eight parameters per
 * iteration) on CPUs with AVX, chosen at create: AVX's sqrt, divide, add
 * and multiply are the same correctly rounded IEEE operations, and without
 * FMA nothing is fused, so it is bitwise opt_apply_sse2 (tested). */
__attribute__((target("avx"))) static inline __m256d d4_lo(__m256 v) {
    return _mm256_cvtps_pd(_mm256_castps256_ps128(v));
}
__attribute__((target("avx"))) static inline __m256d d4_hi(__m256 v) {
    return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
}
__attribute__((target("avx"))) static inline __m256 f8_of(__m256d lo, __m256d hi) {
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo)), _mm256_cvtpd_ps(hi), 1);
}

__attribute__((target("avx"))) static void opt_apply_avx(model_mtl_opt opt, float *p, float *st0,
                                                         float *st1, const float *g, uint32_t n,
                                                         const opt_k *k) {
    uint32_t i = 0;
    const __m256d b1 = _mm256_set1_pd(k->b1), b2 = _mm256_set1_pd(k->b2);
    const __m256d omb1 = _mm256_set1_pd(k->omb1), omb2 = _mm256_set1_pd(k->omb2);
    const __m256d step = _mm256_set1_pd(k->step), eps_hat = _mm256_set1_pd(k->eps_hat);
    const __m256d lr = _mm256_set1_pd(k->lr), eps = _mm256_set1_pd(k->eps);
    const __m256d mu = _mm256_set1_pd(k->mu);
    for (; i + 8 <= n; i += 8) {
        __m256 gv = _mm256_loadu_ps(g + i), pv = _mm256_loadu_ps(p + i);
        __m256 s0v = _mm256_loadu_ps(st0 + i);
        __m256d gd[2] = {d4_lo(gv), d4_hi(gv)}, pd[2] = {d4_lo(pv), d4_hi(pv)};
        __m256d s0[2] = {d4_lo(s0v), d4_hi(s0v)}, s1[2];
        if (opt == MODEL_MTL_OPT_ADAM) {
            __m256 s1v = _mm256_loadu_ps(st1 + i);
            s1[0] = d4_lo(s1v);
            s1[1] = d4_hi(s1v);
        }
        for (int h = 0; h < 2; h++) {
            __m256d gh = gd[h];
            if (opt == MODEL_MTL_OPT_ADAM) {
                __m256d mm = _mm256_add_pd(_mm256_mul_pd(b1, s0[h]), _mm256_mul_pd(omb1, gh));
                __m256d vv =
                    _mm256_add_pd(_mm256_mul_pd(b2, s1[h]), _mm256_mul_pd(_mm256_mul_pd(omb2, gh), gh));
                __m256d den = _mm256_add_pd(_mm256_sqrt_pd(vv), eps_hat);
                pd[h] = _mm256_sub_pd(pd[h], _mm256_div_pd(_mm256_mul_pd(step, mm), den));
                s0[h] = mm;
                s1[h] = vv;
            } else if (opt == MODEL_MTL_OPT_ADAGRAD) {
                __m256d G = _mm256_add_pd(s0[h], _mm256_mul_pd(gh, gh));
                __m256d den = _mm256_add_pd(_mm256_sqrt_pd(G), eps);
                pd[h] = _mm256_sub_pd(pd[h], _mm256_div_pd(_mm256_mul_pd(lr, gh), den));
                s0[h] = G;
            } else {
                __m256d v = _mm256_add_pd(_mm256_mul_pd(mu, s0[h]), gh);
                pd[h] = _mm256_sub_pd(pd[h], _mm256_mul_pd(lr, v));
                s0[h] = v;
            }
        }
        if (opt == MODEL_MTL_OPT_ADAM)
            _mm256_storeu_ps(st1 + i, f8_of(s1[0], s1[1]));
        _mm256_storeu_ps(st0 + i, f8_of(s0[0], s0[1]));
        _mm256_storeu_ps(p + i, f8_of(pd[0], pd[1]));
    }
    if (i < n)
        opt_apply_sse2(opt, p + i, st0 + i, st1 ? st1 + i : NULL, g + i, n - i, k);
}
#endif

static void opt_apply(const model_mtl *m, float *p, float *st0, float *st1, const float *g,
                      uint32_t n, const opt_k *k) {
#ifdef MTL_AVX
    if (m->avx) {
        opt_apply_avx(m->p.opt, p, st0, st1, g, n, k);
        return;
    }
#endif
    opt_apply_sse2(m->p.opt, p, st0, st1, g, n, k);
}

/* The head biases from the first batch: each classifier's at the logit of
 * its smoothed weighted base rate, dwell's at the mean log1p(dwell) of the
 * clicked views (left alone when none was clicked). Starting at p = 0.5
 * instead costs thousands of steps before a rare head (a 2 % share rate,
 * logit −3.9) is even calibrated. */
static void init_head_biases(model_mtl *m, const model_example *exs, uint32_t n) {
    uint32_t cols = m->width[m->L] + 1;
    for (int t = 0; t < MODEL_MTL_HEADS; t++) {
        double sw = 0.0, sy = 0.0, y;
        for (uint32_t i = 0; i < n; i++)
            if (head_target(&exs[i], t, &y)) {
                sw += exs[i].weight;
                sy += exs[i].weight * y;
            }
        float *b = &m->w[m->L][(size_t)t * cols + cols - 1];
        if (t == MODEL_MTL_DWELL) {
            if (sw > 0)
                *b = (float)(sy / sw);
        } else {
            double pr = (sy + 0.5) / (sw + 1.0);
            *b = (float)log(pr / (1.0 - pr));
        }
    }
}

/* Trains on buffered examples exs[0, n): the guard, then the step. */
static sl_status train(model_mtl *m, const model_example *exs, uint32_t n) {
    size_t nsave = (size_t)m->Dn * 3;
    memcpy(m->norm_save, m->norm, nsave * sizeof(float));
    uint32_t cols = m->width[m->L] + 1;
    float bias_save[MODEL_MTL_HEADS];
    bool first = m->meta[2] == 0.0f;
    for (int t = 0; t < MODEL_MTL_HEADS; t++)
        bias_save[t] = m->w[m->L][(size_t)t * cols + cols - 1];
    bool ok = inputs_ok(exs, n);
    if (ok) {
        if (first)
            init_head_biases(m, exs, n);
        norm_update(m, exs, n);
        double loss = model_mtl__loss_grad(m, exs, n, NULL);
        float lim = (float)m->p.max_grad;
        ok = isfinite(loss);
        for (uint32_t l = 0; ok && l <= m->L; l++)
            ok = grads_ok(m->gw[l], layer_floats(m, l), lim);
        ok = ok && grads_ok(m->slot_grad, (size_t)m->n_slots * m->K, lim);
    }
    if (!ok) {
        memcpy(m->norm, m->norm_save, nsave * sizeof(float));
        for (int t = 0; t < MODEL_MTL_HEADS; t++)
            m->w[m->L][(size_t)t * cols + cols - 1] = bias_save[t];
        m->c.refused++;
        m->c.dropped += n;
        return SL_ERR_INVALID;
    }
    double b1c = 1.0, b2c = 1.0;
    if (m->p.opt == MODEL_MTL_OPT_ADAM) {
        m->meta[0] = (float)(m->meta[0] * m->p.beta1);
        m->meta[1] = (float)(m->meta[1] * m->p.beta2);
        b1c = 1.0 - m->meta[0];
        b2c = 1.0 - m->meta[1];
    }
    m->meta[2] = 1.0f;
    model_dirty_mark_all(&m->d_meta);
    opt_k k;
    opt_k_init(m, b1c, b2c, &k);
    model_mtl_opt opt = m->p.opt;
    bool adam = opt == MODEL_MTL_OPT_ADAM;
    for (uint32_t l = 0; l <= m->L; l++) {
        uint32_t lc = m->width[l] + 1;
        for (uint32_t o = 0; o < m->width[l + 1]; o++) {
            float *st0 = m->wopt[l] + (size_t)o * m->s * lc;
            opt_apply(m, m->w[l] + (size_t)o * lc, st0, adam ? st0 + lc : NULL,
                      m->gw[l] + (size_t)o * lc, lc, &k);
        }
        model_dirty_mark_all(&m->d_w[l]);
        model_dirty_mark_all(&m->d_wopt[l]);
    }
    /* The rows the batch used, in first-use order: far apart in a table
     * much larger than the caches, and only their first line was read at
     * the forward, so each row's lines are fetched MTL_PF_SLOTS slots ahead
     * of its step. */
    uint32_t K = m->K;
    size_t row_bytes = (size_t)m->emb_stride * sizeof(float);
    for (uint32_t s = 0; s < m->n_slots; s++) {
        if (s + MTL_PF_SLOTS < m->n_slots)
            prefetch_row(m->emb + (size_t)m->slot_row[s + MTL_PF_SLOTS] * m->emb_stride, row_bytes);
        uint32_t r = m->slot_row[s];
        float *row = m->emb + (size_t)r * m->emb_stride;
        opt_apply(m, row, row + K, adam ? row + 2 * K : NULL, m->slot_grad + (size_t)s * K, K,
                  &k);
        model_dirty_mark(&m->d_emb, r);
    }
    if (m->Dn)
        model_dirty_mark_all(&m->d_norm);
    m->c.updates++;
    m->c.examples += n;
    return SL_OK;
}

/* ---- the mini-batch buffer ---------------------------------------------- */

/* Encodes ex into a buffer row: its byte length, then its bytes three per
 * float (integers < 2^24: exact in float, whatever copies the row). */
static sl_status pend_put(float *row, const model_example *ex) {
    unsigned char b[MODEL_EXAMPLE_MAX_BYTES + 2];
    size_t len;
    sl_status st = model_example_encode(ex, b, MODEL_EXAMPLE_MAX_BYTES, &len);
    if (st)
        return st;
    b[len] = b[len + 1] = 0;
    row[0] = (float)len;
    for (size_t k = 0; 3 * k < len; k++)
        row[1 + k] = (float)(b[3 * k] | (uint32_t)b[3 * k + 1] << 8 | (uint32_t)b[3 * k + 2] << 16);
    return SL_OK;
}

/* Decodes a buffer row. SL_ERR_CORRUPT on anything pend_put cannot have
 * written. */
static sl_status pend_get(const float *row, model_example *ex) {
    unsigned char b[MODEL_EXAMPLE_MAX_BYTES + 2];
    float lf = row[0];
    if (!(lf >= 1.0f && lf <= (float)MODEL_EXAMPLE_MAX_BYTES) || lf != floorf(lf))
        return SL_ERR_CORRUPT;
    size_t len = (size_t)lf;
    for (size_t k = 0; 3 * k < len; k++) {
        float v = row[1 + k];
        if (!(v >= 0.0f && v < 16777216.0f) || v != floorf(v))
            return SL_ERR_CORRUPT;
        uint32_t u = (uint32_t)v;
        b[3 * k] = (unsigned char)u;
        b[3 * k + 1] = (unsigned char)(u >> 8);
        b[3 * k + 2] = (unsigned char)(u >> 16);
    }
    return model_example_decode(b, len, ex);
}

/* What pend_get of pend_put's row gives, without the round trip: the
 * fields the model reads, and the labels zeroed where has_label has no bit
 * (model_example_decode starts from model_example_reset). */
static void example_copy(model_example *dst, const model_example *src) {
    dst->n = src->n;
    dst->n_dense = src->n_dense;
    memcpy(dst->idx, src->idx, src->n * sizeof *src->idx);
    memcpy(dst->val, src->val, src->n * sizeof *src->val);
    memcpy(dst->field, src->field, src->n * sizeof *src->field);
    memcpy(dst->dense, src->dense, src->n_dense * sizeof *src->dense);
    for (int l = 0; l < MODEL_LABEL_COUNT; l++)
        dst->label[l] = (src->has_label & (1u << l)) ? src->label[l] : 0.0f;
    dst->has_label = src->has_label;
    dst->weight = src->weight;
}

/* Trains on the buffered examples. m->batch holds them decoded: learn
 * copies each one there as it encodes it into its buffer row, and
 * model_mtl_restored decodes the rows a restore wrote. */
static sl_status train_pending(model_mtl *m) {
    uint32_t n = m->n_pending;
    if (n == 0)
        return SL_OK;
    sl_status st = train(m, m->batch, n);
    for (uint32_t i = 0; i < n; i++) {
        m->pending[(size_t)i * MTL_PEND_W] = 0.0f;
        model_dirty_mark(&m->d_pending, i);
    }
    m->n_pending = 0;
    return st;
}

sl_status model_mtl_learn(model_mtl *m, const model_example *ex) {
    if (ex->has_label >> MODEL_LABEL_COUNT)
        return SL_ERR_LIMIT; /* would not decode from its buffer row */
    float *row = m->pending + (size_t)m->n_pending * MTL_PEND_W;
    sl_status st = pend_put(row, ex);
    if (st)
        return st;
    example_copy(&m->batch[m->n_pending], ex);
    model_dirty_mark(&m->d_pending, m->n_pending);
    if (++m->n_pending < m->p.mini_batch)
        return SL_OK;
    return train_pending(m);
}

sl_status model_mtl_flush(model_mtl *m) { return train_pending(m); }

uint32_t model_mtl_pending(const model_mtl *m) { return m->n_pending; }

/* ---- state -------------------------------------------------------------- */

uint32_t model_mtl_arrays(model_mtl *m, model_mtl_array *out, uint32_t cap) {
    model_mtl_array a[MODEL_MTL_MAX_ARRAYS];
    uint32_t n = 0;
    a[n++] = (model_mtl_array){"emb", m->emb, m->R, m->emb_stride, &m->d_emb};
    for (uint32_t l = 0; l <= m->L; l++)
        a[n++] = (model_mtl_array){m->names[l][0], m->w[l], m->width[l + 1], m->width[l] + 1,
                                   &m->d_w[l]};
    for (uint32_t l = 0; l <= m->L; l++)
        a[n++] = (model_mtl_array){m->names[l][1], m->wopt[l], m->width[l + 1],
                                   m->s * (m->width[l] + 1), &m->d_wopt[l]};
    if (m->Dn)
        a[n++] = (model_mtl_array){"norm", m->norm, m->Dn, 3, &m->d_norm};
    a[n++] = (model_mtl_array){"meta", m->meta, 1, 3, &m->d_meta};
    a[n++] = (model_mtl_array){"pending", m->pending, m->p.mini_batch, MTL_PEND_W, &m->d_pending};
    for (uint32_t i = 0; i < n && i < cap; i++)
        out[i] = a[i];
    return n;
}

void model_mtl_counters_get(const model_mtl *m, model_mtl_counters *c) { *c = m->c; }
void model_mtl_counters_set(model_mtl *m, const model_mtl_counters *c) { m->c = *c; }
const model_mtl_params *model_mtl_params_get(const model_mtl *m) { return &m->p; }

sl_status model_mtl_restored(model_mtl *m, sl_err *err) {
    model_mtl_array a[MODEL_MTL_MAX_ARRAYS];
    uint32_t na = model_mtl_arrays(m, a, MODEL_MTL_MAX_ARRAYS);
    for (uint32_t i = 0; i + 1 < na; i++) { /* the last one is "pending" */
        size_t cnt = (size_t)a[i].rows * a[i].width;
        for (size_t k = 0; k < cnt; k++)
            if (!isfinite(a[i].data[k]))
                return sl_err_set(err, SL_ERR_CORRUPT, "mtl: array %s: float %zu is not finite",
                                  a[i].name, k);
    }
    uint32_t n = 0;
    while (n < m->p.mini_batch && m->pending[(size_t)n * MTL_PEND_W] != 0.0f)
        n++;
    for (uint32_t i = n; i < m->p.mini_batch; i++)
        if (m->pending[(size_t)i * MTL_PEND_W] != 0.0f)
            return sl_err_set(err, SL_ERR_CORRUPT,
                              "mtl: pending row %u is used after the empty row %u", i, n);
    if (n >= m->p.mini_batch)
        return sl_err_set(err, SL_ERR_CORRUPT, "mtl: %u pending examples, a full batch", n);
    for (uint32_t i = 0; i < n; i++)
        if (pend_get(m->pending + (size_t)i * MTL_PEND_W, &m->batch[i]))
            return sl_err_set(err, SL_ERR_CORRUPT, "mtl: pending row %u does not decode", i);
    m->n_pending = n;
    return SL_OK;
}

/* ---- snapshots ---------------------------------------------------------- */

static const char *const head_keys[MODEL_MTL_HEADS] = {"click", "like", "share", "dwell"};

sl_status model_mtl_snapshot_write(model_mtl *m, model_snapshot_writer *w) {
    const model_mtl_params *p = &m->p;
    char key[MODEL_SNAPSHOT_KEY_MAX];
    model_snapshot_put_hyper(w, "lr", p->lr);
    model_snapshot_put_hyper(w, "momentum", p->momentum);
    model_snapshot_put_hyper(w, "beta1", p->beta1);
    model_snapshot_put_hyper(w, "beta2", p->beta2);
    model_snapshot_put_hyper(w, "eps", p->eps);
    for (int t = 0; t < MODEL_MTL_HEADS; t++) {
        snprintf(key, sizeof key, "head_weight_%s", head_keys[t]);
        model_snapshot_put_hyper(w, key, p->head_weights[t]);
        snprintf(key, sizeof key, "blend_%s", head_keys[t]);
        model_snapshot_put_hyper(w, key, p->blend[t]);
    }
    model_snapshot_put_hyper(w, "huber_delta", p->huber_delta);
    model_snapshot_put_hyper(w, "dwell_init_ms", p->dwell_init_ms);
    static const char *const rate_keys[3] = {"click_base_rate", "like_base_rate",
                                             "share_base_rate"};
    for (int t = 0; t < 3; t++) /* only when set: other snapshots keep their bytes */
        if (p->base_rate[t] != 0.5)
            model_snapshot_put_hyper(w, rate_keys[t], p->base_rate[t]);
    model_snapshot_put_hyper(w, "init_std", p->init_std);
    model_snapshot_put_hyper(w, "max_grad", p->max_grad);
    model_snapshot_put_dim(w, "emb_bits", p->emb_bits);
    model_snapshot_put_dim(w, "embed_dim", p->embed_dim);
    model_snapshot_put_dim(w, "n_fields", p->n_fields);
    model_snapshot_put_dim(w, "n_dense", p->n_dense);
    model_snapshot_put_dim(w, "n_hidden", p->n_hidden);
    for (uint32_t l = 0; l < p->n_hidden; l++) {
        snprintf(key, sizeof key, "hidden%u", l);
        model_snapshot_put_dim(w, key, p->hidden[l]);
    }
    model_snapshot_put_dim(w, "optimizer", (uint64_t)p->opt);
    model_snapshot_put_dim(w, "pool", (uint64_t)p->pool);
    model_snapshot_put_dim(w, "mini_batch", p->mini_batch);
    model_snapshot_put_dim(w, "seed", p->seed);
    model_snapshot_put_dim(w, "updates", m->c.updates);
    model_snapshot_put_dim(w, "examples", m->c.examples);
    model_snapshot_put_dim(w, "refused", m->c.refused);
    model_snapshot_put_dim(w, "dropped", m->c.dropped);
    model_mtl_array a[MODEL_MTL_MAX_ARRAYS];
    uint32_t na = model_mtl_arrays(m, a, MODEL_MTL_MAX_ARRAYS);
    for (uint32_t i = 0; i < na; i++)
        model_snapshot_put_array(w, a[i].name, a[i].data, (size_t)a[i].rows * a[i].width);
    return w->st;
}

static sl_status dim_check(const model_snapshot *snap, const char *key, uint64_t want,
                           sl_err *err) {
    uint64_t v;
    if (!model_snapshot_dim(snap, key, &v))
        return sl_err_set(err, SL_ERR_CORRUPT, "mtl snapshot: dimension %s is missing", key);
    if (v != want)
        return sl_err_set(err, SL_ERR_INVALID,
                          "mtl snapshot: %s is %llu in the snapshot, %llu in the config", key,
                          (unsigned long long)v, (unsigned long long)want);
    return SL_OK;
}

sl_status model_mtl_create_from_snapshot(const model_snapshot *snap, const model_mtl_params *p,
                                         model_mtl **out, sl_err *err) {
    *out = NULL;
    if (snap->kind != SL_MODEL_MTL)
        return sl_err_set(err, SL_ERR_INVALID, "mtl snapshot: the snapshot holds a %s model",
                          sl_model_kind_str((sl_model_kind)snap->kind));
    char key[MODEL_SNAPSHOT_KEY_MAX];
    sl_status st = SL_OK;
    st = st ? st : dim_check(snap, "emb_bits", p->emb_bits, err);
    st = st ? st : dim_check(snap, "embed_dim", p->embed_dim, err);
    st = st ? st : dim_check(snap, "n_fields", p->n_fields, err);
    st = st ? st : dim_check(snap, "n_dense", p->n_dense, err);
    st = st ? st : dim_check(snap, "n_hidden", p->n_hidden, err);
    for (uint32_t l = 0; !st && l < p->n_hidden; l++) {
        snprintf(key, sizeof key, "hidden%u", l);
        st = dim_check(snap, key, p->hidden[l], err);
    }
    st = st ? st : dim_check(snap, "optimizer", (uint64_t)p->opt, err);
    st = st ? st : dim_check(snap, "pool", (uint64_t)p->pool, err);
    if (st)
        return st;
    model_mtl *m = NULL;
    if ((st = model_mtl_create(p, &m, err)))
        return st;
    model_mtl_array a[MODEL_MTL_MAX_ARRAYS];
    uint32_t na = model_mtl_arrays(m, a, MODEL_MTL_MAX_ARRAYS);
    for (uint32_t i = 0; !st && i < na; i++) {
        const model_snapshot_array *sa = model_snapshot_find_array(snap, a[i].name);
        size_t want = (size_t)a[i].rows * a[i].width;
        bool pend = strcmp(a[i].name, "pending") == 0;
        if (!sa) {
            st = sl_err_set(err, SL_ERR_CORRUPT, "mtl snapshot: array %s is missing", a[i].name);
        } else if (pend) {
            /* Another mini_batch may hold the buffered rows if they fit. */
            if (sa->count % MTL_PEND_W)
                st = sl_err_set(err, SL_ERR_CORRUPT, "mtl snapshot: array pending has %llu floats",
                                (unsigned long long)sa->count);
            uint64_t used = 0, rows = sa->count / MTL_PEND_W;
            float *tmp = st ? NULL : malloc((size_t)sa->count * sizeof(float) + 1);
            if (!st && !tmp)
                st = sl_err_set(err, SL_ERR_NOMEM, "mtl snapshot: out of memory");
            if (!st) {
                (void)model_snapshot_array_copy(sa, tmp, sa->count);
                while (used < rows && tmp[used * MTL_PEND_W] != 0.0f)
                    used++;
                if (used >= p->mini_batch)
                    st = sl_err_set(err, SL_ERR_INVALID,
                                    "mtl snapshot: %llu buffered examples do not fit mini_batch %u",
                                    (unsigned long long)used, p->mini_batch);
                else
                    memcpy(a[i].data, tmp, (size_t)used * MTL_PEND_W * sizeof(float));
            }
            free(tmp);
        } else if (sa->count != want) {
            st = sl_err_set(err, SL_ERR_CORRUPT,
                            "mtl snapshot: array %s has %llu floats, the model needs %zu",
                            a[i].name, (unsigned long long)sa->count, want);
        } else {
            st = model_snapshot_array_copy(sa, a[i].data, want);
        }
        if (!st)
            model_dirty_mark_all(a[i].dirty);
    }
    if (!st)
        st = model_mtl_restored(m, err);
    if (!st) {
        /* Counters are informative: a snapshot without them starts at 0. */
        (void)model_snapshot_dim(snap, "updates", &m->c.updates);
        (void)model_snapshot_dim(snap, "examples", &m->c.examples);
        (void)model_snapshot_dim(snap, "refused", &m->c.refused);
        (void)model_snapshot_dim(snap, "dropped", &m->c.dropped);
    }
    if (st) {
        model_mtl_destroy(m);
        return st;
    }
    *out = m;
    return SL_OK;
}
