/*
 * model_metrics.h — progressive-validation metrics, one instance per
 * (surface, model).
 *
 * Every finished example contributes (p, y, w): the prediction the model made
 * at view time, the final label the join found, and the example's weight.
 * Because p was made before the model saw y, these are honest online
 * metrics. Two ranges are kept side by side: a tumbling window of
 * `window_events` examples (reset by the caller with
 * model_metrics_reset_window once model_metrics_window_full says so, after
 * reporting it) and the totals since start (or since the restored state).
 *
 * Definitions (docs/METRICS.md has the long form; sums are weighted by w,
 * p is clipped to [1e-7, 1 - 1e-7], y is clipped to [0, 1]):
 *   log loss    = Σ w·ℓ(p, y) / Σ w,  ℓ(p, y) = -(y ln p + (1-y) ln(1-p))
 *   base rate   r = Σ w·y / Σ w over the SAME range (window or since start),
 *               evaluated at report time
 *   NE          = log loss / ℓ̄(r), where ℓ̄(r) = -(r ln r + (1-r) ln(1-r)) is
 *               the log loss the constant predictor r would have had on the
 *               same examples; null when r is 0 or 1 (no entropy). The
 *               base-rate predictor itself scores exactly 1.
 *   calibration = Σ w·p / Σ w·y (mean predicted / observed); null if Σ w·y = 0
 *   ctr         = r;  conv_rate = Σ w·c / Σ w over examples that carried a
 *               conversion label (model_metrics_add_conversion)
 *   AUC         = exact weighted ROC AUC over the most recent
 *               min(auc_window, examples in the range) examples, tied scores
 *               credited 1/2. A ring buffer of the last auc_window examples
 *               is copied and sorted at report time: O(N log N) time per
 *               report, 24 bytes of memory per slot, no approximation.
 *   MAE, Huber  = regression metrics for a real-valued label (dwell), fed
 *               through model_metrics_add_real; Huber with delta huber_delta.
 *
 * Memory is allocated once, in init (the AUC ring and its sort scratch);
 * add/report/reset never allocate, except that report appends to the
 * caller's sl_buf. Non-finite p, y or w, or a negative w, are not added; they
 * are counted as `invalid`. Not thread-safe: one instance belongs to the
 * operator thread that owns the model.
 */
#ifndef MODEL_METRICS_H
#define MODEL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_arena.h"
#include "sl_config.h"
#include "sl_status.h"

#define MODEL_METRICS_MAX_AUC_WINDOW (1 << 24) /* same bound as the config */
#define MODEL_METRICS_P_EPS          1e-7      /* clip for log loss */

/* The sums behind one range (window or since start). */
typedef struct model_metrics_acc {
    uint64_t n;       /* binary examples added */
    double w;         /* Σ w */
    double wy;        /* Σ w·y */
    double wp;        /* Σ w·p (clipped p) */
    double loss;      /* Σ w·ℓ(p, y) */
    uint64_t n_conv;  /* examples with a conversion label */
    double w_conv;    /* Σ w over them */
    double wy_conv;   /* Σ w·c over them */
    uint64_t n_real;  /* real-valued examples */
    double w_real;    /* Σ w over them */
    double abs_err;   /* Σ w·|pred - y| */
    double sq_err;    /* Σ w·(pred - y)² */
    double huber;     /* Σ w·huber(pred - y) */
    uint64_t invalid; /* inputs refused (non-finite or negative weight) */
} model_metrics_acc;

/* One slot of the AUC ring. */
typedef struct model_metrics_auc_slot {
    float p;   /* clipped prediction */
    float pos; /* w·y: weight on the positive side */
    float neg; /* w·(1-y): weight on the negative side */
} model_metrics_auc_slot;

typedef struct model_metrics {
    int window_events;            /* tumbling window length, in binary examples */
    uint32_t auc_cap;             /* ring capacity (auc_window) */
    double huber_delta;           /* Huber threshold for add_real */
    model_metrics_acc win;        /* current tumbling window */
    model_metrics_acc all;        /* since start */
    model_metrics_auc_slot *ring; /* (auc_cap) last examples, oldest at ring_head when full */
    model_metrics_auc_slot *sort; /* (auc_cap) scratch for report */
    uint32_t ring_head;           /* next slot to write */
    uint32_t ring_len;            /* slots filled, ≤ auc_cap */
    uint64_t windows;             /* tumbling windows reset so far */
} model_metrics;

/*
 * Initializes m with cfg's window_events and auc_window and the Huber delta
 * for real labels (> 0). Allocates the AUC ring. SL_ERR_INVALID for values
 * out of range (message in err), SL_ERR_NOMEM.
 */
sl_status model_metrics_init(model_metrics *m, const sl_config_metrics *cfg, double huber_delta,
                             sl_err *err);
/* Frees the ring. Accepts a zeroed or already deinit'ed m. */
void model_metrics_deinit(model_metrics *m);

/* Adds a binary example: prediction p in [0,1], label y in {0,1} (fractional
 * allowed), weight w ≥ 0. Non-finite values are counted as invalid. */
void model_metrics_add(model_metrics *m, float p, float y, float w);
/* Adds a conversion outcome c in {0,1} for an example of weight w. */
void model_metrics_add_conversion(model_metrics *m, float c, float w);
/* Adds a real-valued prediction and label (dwell) of weight w. */
void model_metrics_add_real(model_metrics *m, float pred, float y, float w);

/* True once the window holds window_events examples: binary ones, or
 * real-valued ones for an instance that only gets those (a dwell head). */
static inline bool model_metrics_window_full(const model_metrics *m) {
    return m->win.n >= (uint64_t)m->window_events || m->win.n_real >= (uint64_t)m->window_events;
}
/* Starts a new tumbling window (the since-start totals and the AUC ring
 * are kept). */
void model_metrics_reset_window(model_metrics *m);

/*
 * Appends one JSON object for the window (window = true) or since start to
 * out: {"range","n","weight","logloss","ne","auc","auc_n","calibration",
 * "ctr","mean_p","conv_n","conv_rate","real_n","mae","rmse","huber",
 * "invalid","windows"}; undefined values are null. Uses the sort scratch, so
 * it is not const. SL_ERR_LIMIT when out is full (out may hold a partial
 * object then; the caller truncates).
 */
sl_status model_metrics_report_json(model_metrics *m, sl_buf *out, bool window);

/* The metric values, for callers that want numbers rather than JSON. NaN
 * where undefined. */
double model_metrics_logloss(const model_metrics *m, bool window);
double model_metrics_ne(const model_metrics *m, bool window);
double model_metrics_calibration(const model_metrics *m, bool window);
double model_metrics_auc(model_metrics *m, bool window);

/*
 * Appends m's whole state (both ranges, the window counter and the AUC ring,
 * oldest first) to out, little-endian and versioned, so metrics survive a
 * checkpoint. SL_ERR_LIMIT when out cannot hold it.
 */
sl_status model_metrics_encode(const model_metrics *m, sl_buf *out);
/*
 * Restores what model_metrics_encode wrote into an initialized m (its own
 * window_events, auc_window and huber_delta are kept; when its ring is
 * smaller, only the most recent examples are restored). SL_ERR_CORRUPT on a
 * wrong version, truncation or counts out of range; m is unchanged then.
 */
sl_status model_metrics_decode(model_metrics *m, const void *in, size_t len, sl_err *err);

#endif
