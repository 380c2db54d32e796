/*
 * model_fm.h — a factorization machine (Rendle 2010) for click prediction,
 * learned online: a bias and a linear part by per-coordinate FTRL-Proximal
 * (the math of model_ftrl), factors by per-coordinate AdaGrad with L2.
 *
 * Legend: D = 2^bits linear coordinates, R = 2^factor_bits factor rows,
 * k = factors per row, n = the example's sparse features.
 *
 *   margin = b + Σ_i w_i x_i + ½ Σ_f [(Σ_i v_{r(i)f} x_i)² − Σ_i v_{r(i)f}² x_i²] + m₀
 *   p      = σ(margin)
 *
 * with m₀ = lin.base_margin (model_ftrl.h). The pairwise term
 * Σ_{i<j} ⟨v_i, v_j⟩ x_i x_j is computed in O(n·k) by the
 * sum-of-squares identity. The factor table is hashed to its own size: row
 * r(i) = i when factor_bits = bits, else the top factor_bits bits of
 * (i · 0x9E3779B1) (Fibonacci hashing) — factor_bits defaults to
 * min(bits, 20), because a full table at bits 22, k 8 would be 256 MiB of V
 * and AdaGrad sums; 2^20 rows cost R·2k·4 B = 64 MiB at k = 8, and the
 * collisions it adds touch only the second-order term.
 *
 * Memory: 8·D (linear z, n; 32 MiB at bits 22) + 8·k·R (V and its AdaGrad
 * sums interleaved per row, one 64-byte line per row at k = 8; 64 MiB at
 * factor_bits 20) + a scratch of MODEL_MAX_SPARSE·(2k + 2) floats.
 *
 * Update, with c the importance weight and r = p − y: linear and bias by
 * FTRL with g_i = c·r·x_i (n grows by c·(r·x_i)², as c copies would; see
 * model_ftrl.h); factor entries by ĝ = r·x_i·(s_f − v_if·x_i) + factor_l2·v_if,
 * G += c·ĝ², v −= factor_lr·c·ĝ/√G (1/√G by a deterministic Newton rsqrt,
 * ≤ 5e-6 relative; no step while G < FLT_MIN). Float arithmetic throughout.
 * The bias has no L1/L2. V starts N(0, init_std²) from the seed.
 * The guard refuses (nothing written, `refused` counted, SL_ERR_INVALID) an
 * update that would store a non-finite value anywhere or move a linear z by
 * more than lin.max_dz.
 *
 * Field-aware (params.field_aware; the config's kind "ffm"; Juan et al.
 * 2016): each feature has a factor row per field it meets, and a pair
 * interacts through the rows each keeps for the other's field,
 *
 *   pair = Σ_{i<j} ⟨v_{r(i, f_j)}, v_{r(j, f_i)}⟩ x_i x_j
 *
 * with r(i, f) = (h(i) + f) mod R, h(i) the top factor_bits bits of
 * i·0x9E3779B1: a feature's rows for its fields lie side by side, so its
 * F rows are a few sequential lines, not F random ones.
 * With F the example's distinct fields (first-appearance order) and
 * S_ab = Σ_{j in field a} v_{r(j, b)} x_j, pair = Σ_{a<b} ⟨S_ab, S_ba⟩ +
 * ½ Σ_a (|S_aa|² − Σ_{j in a} |v_{r(j, a)}|² x_j²): O(n·F·k) rows gathered
 * and O(F²·k) to combine, so it suits tens of fields, not hundreds. Row
 * (j, b), j in field a, steps as the FM's with s = S_ba and the own term
 * v·x only where b = a; the linear part and the guard are the FM's. The
 * same arrays as the FM (R rows of V and G, now shared by (feature, field)
 * pairs), so the same snapshot shape; k ≤ MODEL_FFM_MAX_K. Its predict uses
 * the model's scratch (S and the rows): one caller at a time.
 *
 * Deterministic for a seed and a stream. Not thread-safe: one writer, and
 * predicts only while no update runs.
 */
#ifndef MODEL_FM_H
#define MODEL_FM_H

#include <stdbool.h>
#include <stdint.h>

#include "model_example.h"
#include "model_ftrl.h"
#include "sl_config.h"
#include "sl_status.h"

#define MODEL_FM_MAX_K               256 /* factors per row (the config's bound) */
#define MODEL_FM_DEFAULT_FACTOR_BITS 20  /* factor table cap when factor_bits = 0 */
#define MODEL_FFM_MAX_K              32  /* factors per row of the field-aware variant */
/* Factor rows one field-aware update may step: n · F ≤ MODEL_MAX_SPARSE². */
#define MODEL_FFM_MAX_ROWS ((uint32_t)MODEL_MAX_SPARSE * MODEL_MAX_SPARSE)

typedef struct model_fm_params {
    model_ftrl_params lin; /* bias and linear part (FTRL), neg_weight, max_dz */
    uint32_t k;            /* factors per row, 1..MODEL_FM_MAX_K */
    uint32_t factor_bits;  /* log2 rows of V; 0 = min(bits, 20); ≤ bits */
    double factor_lr;      /* AdaGrad step, > 0 */
    double factor_l2;      /* L2 on the factors, ≥ 0 */
    double init_std;       /* V init standard deviation, ≥ 0 */
    uint64_t seed;         /* V init seed */
    bool field_aware;      /* a row per (feature, field met): the FFM */
} model_fm_params;

typedef struct model_fm model_fm;

/* Defaults: the config's (k 8, factor_lr 0.05, factor_l2 1e-4, init_std
 * 0.01 and model_ftrl_params_default), factor_bits 0, seed 1. OUT: *p. */
void model_fm_params_default(model_fm_params *p);
void model_fm_params_from_config(const sl_config_model *cm, model_fm_params *p);

/* Allocates the model with V drawn from the seed. OUT: *out, owned by the
 * caller (model_fm_destroy). SL_ERR_INVALID (message in err) or
 * SL_ERR_NOMEM. */
sl_status model_fm_create(const model_fm_params *p, uint32_t hash_bits, model_fm **out,
                          sl_err *err);
void model_fm_destroy(model_fm *m); /* NULL is fine */

/* σ(margin) over the example's features (indices modulo 2^bits). */
float model_fm_predict(const model_fm *m, const model_example *ex);
/* Recalibrated for negative down-sampling (model_ftrl_calibrate). */
float model_fm_predict_calibrated(const model_fm *m, const model_example *ex);

/* Learns from ex with label given p, the raw prediction made for it.
 * SL_OK, or SL_ERR_INVALID when the guard refuses (model unchanged). */
sl_status model_fm_update(model_fm *m, const model_example *ex, float label, float p);

/* model_fm_predict and then model_fm_update with that prediction, in one
 * pass (the factor sums and linear weights computed once): bitwise the same
 * model and status as the two calls. OUT: *p, the prediction. */
sl_status model_fm_learn(model_fm *m, const model_example *ex, float label, float *p);

/* model_fm_learn on exs[0], …, exs[n − 1] in order, with labels (n):
 * bitwise the same model, predictions, statuses and counters as the n
 * calls, the next examples' linear coordinates and factor rows prefetched
 * while one is learned (as model_ftrl_learn_batch). OUT: p (n); st (n) or
 * NULL. Returns the number the guard refused. */
uint32_t model_fm_learn_batch(model_fm *m, const model_example *const *exs, const float *labels,
                              uint32_t n, float *p, sl_status *st);

/* Raw state for snapshots, valid until destroy (writable: how a load works). */
float *model_fm_linear_zn(model_fm *m); /* (D, 2): z at [2i], n at [2i+1] */
float *model_fm_bias_zn(model_fm *m);   /* (2): the bias's z, n */
float *model_fm_factors(model_fm *m);   /* (R, 2k): v at [2k·r + f], G at [2k·r + k + f] */
const float *model_fm_linear_zn_const(const model_fm *m);
const float *model_fm_factors_const(const model_fm *m);
uint32_t model_fm_bits(const model_fm *m);
uint32_t model_fm_factor_bits(const model_fm *m);
uint32_t model_fm_k(const model_fm *m);
const model_fm_params *model_fm_params_get(const model_fm *m); /* factor_bits resolved */
uint64_t model_fm_updates(const model_fm *m);
/* The factor rows an update of ex steps, in the update's order (the FM: one
 * per feature; field-aware: each feature's row for each of the example's
 * fields). OUT: rows (≤ MODEL_FFM_MAX_ROWS); returns their count. */
uint32_t model_fm_example_rows(const model_fm *m, const model_example *ex, uint32_t *rows);
uint64_t model_fm_refused(const model_fm *m);

#endif
