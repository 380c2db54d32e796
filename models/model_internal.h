/*
 * model_internal.h — math shared by the click models (model_ftrl, model_fm)
 * and the test hooks that expose their analytic gradients. Not a public
 * API: only models/ and tests/models/ include it.
 *
 * Legend: n = sparse features of one example, k = factors per row.
 * Parameters are stored as float (memory, cache footprint); every step is
 * computed in double and rounded once when stored, so the float arrays are
 * the only state and a reference implementation in the tests that does the
 * same arithmetic matches bitwise.
 *
 * Pure functions: any thread.
 */
#ifndef MODEL_INTERNAL_H
#define MODEL_INTERNAL_H

#include <math.h>
#include <stdint.h>

#include "model_example.h"

#define MODEL__MARGIN_CLAMP 35.0 /* |margin| beyond this: σ is 0 or 1 in float */

/* The FTRL-Proximal weight of one coordinate (McMahan et al. 2013, eq. 7):
 * 0 inside the L1 band, else −(z − sgn(z)·l1) / ((β + √n)/α + l2). */
static inline double model__ftrl_weight_sq(double z, double sqrt_n, double inv_alpha, double beta,
                                           double l1, double l2) {
    if (fabs(z) <= l1)
        return 0.0;
    double zs = z > 0 ? z - l1 : z + l1;
    return -zs / ((beta + sqrt_n) * inv_alpha + l2);
}

static inline double model__ftrl_weight(double z, double n, double inv_alpha, double beta,
                                        double l1, double l2) {
    if (fabs(z) <= l1) /* skip the √ of a zero weight */
        return 0.0;
    return model__ftrl_weight_sq(z, sqrt(n), inv_alpha, beta, l1, l2);
}

/* model__ftrl_step with √n already known (the weight needed it). */
static inline void model__ftrl_step_sq(double z, double n, double sqrt_n, double g, double gsq,
                                       double w, double inv_alpha, double *z_new, double *n_new) {
    double n2 = n + gsq;
    double sigma = (sqrt(n2) - sqrt_n) * inv_alpha;
    *z_new = z + g - sigma * w;
    *n_new = n2;
}

/* One FTRL-Proximal step of a coordinate with gradient g, increment gsq of
 * the squared-gradient sum and current weight w: σ = (√(n + gsq) − √n)/α;
 * z += g − σ·w; n += gsq. For an example of importance weight c and
 * unweighted gradient ĝ, g = c·ĝ and gsq = c·ĝ² — what c copies would add
 * to n — so weight 3 behaves like three copies, not like one copy with a
 * gradient three times larger (which would add 9ĝ² and slow the coordinate
 * down for good). With c = 1 it is McMahan's step. OUT: *z_new, *n_new. */
static inline void model__ftrl_step(double z, double n, double g, double gsq, double w,
                                    double inv_alpha, double *z_new, double *n_new) {
    model__ftrl_step_sq(z, n, sqrt(n), g, gsq, w, inv_alpha, z_new, n_new);
}

/* σ(m) with m clamped to ±MODEL__MARGIN_CLAMP (NaN passes through). */
static inline double model__sigmoid(double m) {
    if (m > MODEL__MARGIN_CLAMP)
        m = MODEL__MARGIN_CLAMP;
    else if (m < -MODEL__MARGIN_CLAMP)
        m = -MODEL__MARGIN_CLAMP;
    return 1.0 / (1.0 + exp(-m));
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

/* The LR margin w·x in double, with the lazily materialized weights. */
double model_ftrl__margin(const struct model_ftrl *m, const model_example *ex);
/* The example's weighted log-loss gradient w.r.t. each coordinate's weight,
 * g_i = weight·(p − y)·x_i at p = σ(margin). OUT: g (n). */
void model_ftrl__gradient(const struct model_ftrl *m, const model_example *ex, float label,
                          double *g);

/* The FM margin b + Σ w_i x_i + ½ Σ_f [(Σ_i v_if x_i)² − Σ_i v_if² x_i²]. */
double model_fm__margin(const struct model_fm *m, const model_example *ex);
/* The weighted log-loss gradient (no regularization) w.r.t. the bias, the
 * linear weights and the factor rows of the example's features.
 * OUT: *g_b, g_w (n), g_v (n, k). */
void model_fm__gradient(const struct model_fm *m, const model_example *ex, float label, double *g_b,
                        double *g_w, double *g_v);
/* The factor row a feature index maps to. */
uint32_t model_fm__row(const struct model_fm *m, uint32_t idx);

#endif
