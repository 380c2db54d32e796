/*
 * model_ftrl.h — logistic regression over hashed sparse features, learned
 * online with per-coordinate FTRL-Proximal (McMahan et al., "Ad Click
 * Prediction: a View from the Trenches", KDD 2013, Algorithm 1).
 *
 * Legend: D = 2^hash_bits coordinates, n = the example's sparse features.
 *
 * State is two floats per coordinate, z and n, interleaved ((D, 2): z at
 * [2i], n at [2i+1]) so one coordinate is one cache access; allocated and
 * zeroed at create. Memory: 8·2^bits bytes — 32 MiB at the default
 * hash_bits 22. Weights are never stored: predict materializes
 *   w_i = 0 if |z_i| ≤ l1, else −(z_i − sgn(z_i)·l1) / ((β + √n_i)/α + l2)
 * for the example's coordinates only, and an update touches only those.
 * α may differ by field (fast_fields learn at fast_alpha): the features
 * with many distinct values and few events each — a user, a user × ad pair
 * — need a bigger step than the shared ones (position, hour, bucketed
 * counts) to learn from the few clicks they see, while a big step for the
 * shared ones only adds noise. The feature's field (model_example.field)
 * picks the α of its coordinate.
 * Float, not double: half the memory and cache misses, and float keeps 24
 * bits of z and n — far below the noise of one online gradient; the
 * arithmetic is float too (SSE2 four coordinates at a time where available,
 * bitwise equal to the scalar form, so the same on every machine).
 *
 * The update honours the example's importance weight c (≥ 0) as c copies
 * would: the gradient is c·ĝ and the squared-gradient sum n grows by c·ĝ²
 * (not (c·ĝ)², which would treat weight 3 as one louder copy and slow the
 * coordinate's rate by √3 for good). A guard refuses an update that would
 * store a non-finite z or n, has a negative or non-finite weight, or would
 * move any z by more than max_dz: nothing is written, the `refused` counter
 * grows, and the call returns SL_ERR_INVALID. Duplicate indices in one
 * example act as separate features sharing a coordinate (updated one after
 * the other).
 *
 * Deterministic (no clock, no randomness). Not thread-safe: one writer; any
 * number of predicts may run concurrently when no update is running.
 */
#ifndef MODEL_FTRL_H
#define MODEL_FTRL_H

#include <stdint.h>

#include "model_example.h"
#include "sl_config.h"
#include "sl_status.h"

#define MODEL_FTRL_MAX_BITS    30 /* 8 GiB of z and n; more is surely a mistake */
#define MODEL_FTRL_FIELD_WORDS 4  /* 64-bit words of a field set: the 256 field ids */

typedef struct model_ftrl_params {
    double alpha;      /* learning rate, > 0 */
    double beta;       /* smoothing, ≥ 0 (1 is the paper's choice) */
    double l1;         /* L1 strength, ≥ 0: |z| ≤ l1 gives an exact 0 weight */
    double l2;         /* L2 strength, ≥ 0 */
    double neg_weight; /* negatives kept 1 in neg_weight (≥ 1); for the calibrated predict */
    double max_dz;     /* guard: the largest |Δz| one update may make, > 0 */
    uint64_t fast_fields[MODEL_FTRL_FIELD_WORDS]; /* bit f: features of field f learn at
                                                     fast_alpha instead of alpha */
    double fast_alpha; /* their learning rate, > 0 (unused when no field is set) */
    double base_margin; /* added to every margin (|·| ≤ 30): an untrained model predicts
                         * σ(base_margin); 0 by default (model_ftrl_base_margin) */
} model_ftrl_params;

typedef struct model_ftrl model_ftrl;

/* Defaults: the config's (alpha 0.05, beta 1, l1 1, l2 1, neg_weight 1, no
 * fast fields, fast_alpha 0.2) and max_dz 1e6. OUT: *p. */
void model_ftrl_params_default(model_ftrl_params *p);
/* The config's values for one model, defaults for what it does not have;
 * base_margin from the model's resolved base_rate and neg_weight. */
void model_ftrl_params_from_config(const sl_config_model *cm, model_ftrl_params *p);
/* The margin offset under which an untrained model serves `rate` (0 < rate
 * < 1): the log-odds of the raw rate the model sees with negatives kept 1
 * in neg_weight, rate·w / (1 − rate + rate·w), so that model_ftrl_calibrate
 * brings it back to rate. */
double model_ftrl_base_margin(double rate, double neg_weight);

/* Allocates a zeroed model with 2^hash_bits coordinates. OUT: *out, owned by
 * the caller (model_ftrl_destroy). Returns SL_ERR_INVALID (bad params or
 * bits outside 1..MODEL_FTRL_MAX_BITS, message in err) or SL_ERR_NOMEM. */
sl_status model_ftrl_create(const model_ftrl_params *p, uint32_t hash_bits, model_ftrl **out,
                            sl_err *err);
/* Frees m; NULL is fine. */
void model_ftrl_destroy(model_ftrl *m);

/* The raw probability σ(w·x) over the example's features (indices are taken
 * modulo 2^hash_bits). NaN when a value is NaN. */
float model_ftrl_predict(const model_ftrl *m, const model_example *ex);
/* The raw probability recalibrated for negative down-sampling
 * (model_ftrl_calibrate with the params' neg_weight). */
float model_ftrl_predict_calibrated(const model_ftrl *m, const model_example *ex);
/* Maps p learned on data whose negatives were kept 1 in neg_weight (and not
 * re-weighted) back to the true rate: p / (p + (1 − p)·neg_weight) — the
 * issue's p / (p + (1 − p)/w) with w = 1/neg_weight the sampling rate. */
float model_ftrl_calibrate(float p, double neg_weight);

/* Learns from ex with label (0/1, or a soft label in [0, 1]) given p, the
 * raw prediction made for it (model_ftrl_predict, possibly earlier: the
 * update is the one for that prediction). Touches only ex's coordinates.
 * Returns SL_OK, or SL_ERR_INVALID when the guard refuses (model unchanged,
 * `refused` counted). */
sl_status model_ftrl_update(model_ftrl *m, const model_example *ex, float label, float p);

/* model_ftrl_predict and then model_ftrl_update with that prediction, in
 * one pass over the example's coordinates: bitwise the same model and the
 * same status as the two calls (the learner's path: it learns with the
 * weights as they are when the label arrives). OUT: *p, the prediction. */
sl_status model_ftrl_learn(model_ftrl *m, const model_example *ex, float label, float *p);

/* model_ftrl_learn on exs[0], …, exs[n − 1] in order, with labels (n):
 * bitwise the same model, predictions, statuses and counters as the n
 * calls. It differs in timing only: the coordinates of an example further
 * on are prefetched while one is learned, so the cache misses of a large
 * table overlap the arithmetic (bench/MODELS.md). OUT: p (n) the
 * predictions; st (n) each example's status (SL_OK or SL_ERR_INVALID: the
 * guard refused it and counted it), or NULL. Returns the number refused.
 * The examples are borrowed for the call. */
uint32_t model_ftrl_learn_batch(model_ftrl *m, const model_example *const *exs,
                                const float *labels, uint32_t n, float *p, sl_status *st);

/* Raw state for snapshots: (2^bits, 2) floats, z at [2i], n at [2i+1].
 * Valid until destroy; writing it is how a snapshot loads. */
float *model_ftrl_zn(model_ftrl *m);
const float *model_ftrl_zn_const(const model_ftrl *m);
uint32_t model_ftrl_bits(const model_ftrl *m);
const model_ftrl_params *model_ftrl_params_get(const model_ftrl *m);
/* The weight of coordinate i as predict would use it for a feature of a
 * field that learns at alpha (not one of fast_fields). */
float model_ftrl_weight(const model_ftrl *m, uint32_t i);
uint64_t model_ftrl_updates(const model_ftrl *m); /* updates applied */
uint64_t model_ftrl_refused(const model_ftrl *m); /* updates the guard refused */

#endif
