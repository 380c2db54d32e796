/*
 * model_kind.h — the one interface every model family implements (DESIGN.md
 * §6: predict / update / save / load), so the operators drive any of them
 * through a small vtable looked up once per model, not per event.
 *
 * Legend: H = heads a model predicts (1 for the click models; the feed
 * model's click, like, share, dwell), D = 2^hash_bits feature coordinates.
 *
 * A model instance is {vtable, ctx}. Its parameters are a list of named
 * float arrays (model_array), each (rows, width) with a dirty-row tracker
 * that learn() marks as it writes: the persistence layer (operators/
 * op_learners) writes only dirty rows at a checkpoint and reads the arrays
 * back on restart; snapshots (model_snapshot) carry the same arrays. The
 * arrays are the whole learned state, so a model rebuilt from its config and
 * then overwritten with its arrays predicts and learns bitwise like the
 * original.
 *
 * Raw and served predictions: predict() returns the raw heads; serve()
 * turns a raw head into what users see (the click models' recalibration for
 * negative down-sampling). Metrics score the served prediction made at view
 * time (progressive validation); learn() recomputes what it needs.
 *
 * Pure: no I/O, no clock; deterministic for a config, a seed and a stream.
 * One writer per instance; predict() may run concurrently only while no
 * learn() runs.
 */
#ifndef MODEL_KIND_H
#define MODEL_KIND_H

#include <stdint.h>

#include "model_dirty.h"
#include "model_example.h"
#include "model_snapshot.h"
#include "sl_config.h"
#include "sl_status.h"

#define MODEL_MAX_HEADS  4  /* outputs of one model */
#define MODEL_MAX_ARRAYS 32 /* parameter arrays of one model */
#define MODEL_AUX_COUNTERS 4 /* a model's own counters kept across restarts */

/* One parameter array: rows × width floats, row-major. */
typedef struct model_array {
    const char *name;   /* unique within the model, ≤ 23 bytes (snapshot array name) */
    float *data;        /* (rows, width) owned by the model */
    uint64_t rows;      /* rows */
    uint32_t width;     /* floats per row */
    model_dirty *dirty; /* rows written since the last clear */
} model_array;

typedef struct model_kind_vtable {
    sl_model_kind kind;         /* the family */
    uint32_t heads;             /* H */
    const char *head_names[MODEL_MAX_HEADS]; /* score keys: "p_click", ... */
    /* What each head predicts. A one-head model predicts its surface's
     * target (model_kind_target), whatever is here. The dwell head is
     * scored as a regression on log1p(ms), and only on clicked views. */
    model_label head_labels[MODEL_MAX_HEADS];
    /* Creates a model from its config over 2^hash_bits coordinates. OUT:
     * *ctx. Returns SL_OK, SL_ERR_INVALID (bad parameters: err says which),
     * SL_ERR_NOMEM. */
    sl_status (*create)(const sl_config_model *cm, uint32_t hash_bits, void **ctx, sl_err *err);
    void (*destroy)(void *ctx); /* NULL is fine */
    /* The raw heads for ex. OUT: raw[H]. ctx is not const: a model may use
     * scratch of its own (one caller at a time). */
    void (*predict)(void *ctx, const model_example *ex, float *raw);
    /* What users see for raw head h. */
    float (*serve)(const void *ctx, uint32_t h, float raw);
    /* Learns from ex (labels set). The gradient is taken at the CURRENT
     * parameters: with delayed labels the view-time prediction is minutes
     * old, and stepping by it would repeat corrections the model already
     * made (thousands of views scored before the first label would all
     * push the same way). A mini-batch model buffers ex and trains when
     * its batch is full. SL_OK, or SL_ERR_INVALID when the guard refused
     * the update (model unchanged; the caller counts it). */
    sl_status (*learn)(void *ctx, const model_example *ex);
    /* Optional (NULL: learn() one by one): learns exs[0..n) in order,
     * bitwise as n calls of learn() would, faster. Returns how many the
     * guard refused. */
    uint32_t (*learn_batch)(void *ctx, const model_example *const *exs, uint32_t n);
    /* The parameter arrays. OUT: out[≤ MODEL_MAX_ARRAYS]; returns the count. */
    uint32_t (*arrays)(void *ctx, model_array *out);
    /* Writes the model's part of a snapshot into an open writer:
     * hyperparameters, dimensions, then every array. */
    void (*write)(void *ctx, model_snapshot_writer *w);
    /* Optional (NULL: nothing to do): called after the arrays were
     * overwritten (a restore or a warm start) to check and re-derive what
     * the model keeps beside them. SL_OK or SL_ERR_CORRUPT. */
    sl_status (*restored)(void *ctx, sl_err *err);
    /* Optional: the model's own counters (reported in its snapshots), so a
     * restart carries them on. OUT: aux[MODEL_AUX_COUNTERS]. */
    void (*aux_get)(const void *ctx, uint64_t *aux);
    void (*aux_set)(void *ctx, const uint64_t *aux);
    /* Optional: one ranking score from the served heads (the feed's
     * weighted sum of reactions); NULL for single-head models. */
    float (*blend)(const void *ctx, const float *served);
} model_kind_vtable;

/* The vtable of a family, or NULL when it has none yet. */
const model_kind_vtable *model_kind_get(sl_model_kind kind);

/* The label a model of `surface` learns by default: click on ads and feed,
 * register on events. */
model_label model_kind_target(sl_surface surface);

/*
 * Overwrites a model's arrays with a snapshot's: the kind and every array's
 * name and size must match (a snapshot of another config is refused, with
 * the first difference in err); every row is then marked dirty and the
 * vtable's restored() runs. On a mismatch the model is unchanged. Returns
 * SL_OK, SL_ERR_INVALID or restored()'s SL_ERR_CORRUPT.
 */
sl_status model_kind_load(const model_kind_vtable *vt, void *ctx, const model_snapshot *snap,
                          sl_err *err);

#endif
