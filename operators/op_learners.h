/*
 * op_learners.h — the configured models of every surface, and their
 * parameters in the state store. A library the label-join operator calls:
 * predict at a view, learn when its window closes, persist at checkpoints,
 * snapshot on request.
 *
 * Legend: B = rows per block of an array (⌊48 KiB / row bytes⌋), G = the
 * checkpoint generation (one per op_learners_checkpoint), ROT = 16.
 *
 * Persistence (docs/MODELS.md, "Models in the state"): a model's tables are
 * tens of MiB, far too much to write at every checkpoint, while one
 * interval changes a few hundred thousand rows. Each checkpoint therefore
 * writes, per array, (1) the rows changed since the last one (a row delta
 * under generation G) and (2) the next ⌈blocks/ROT⌉ whole blocks of B rows in
 * round-robin (the rolling base, each block tagged with G). After ROT
 * generations every block was rewritten, so deltas older than G − ROT are
 * deleted: the state holds at most one table plus ROT deltas. A restart
 * builds each model from its config (the same seeded init), loads every
 * block, then applies, in generation order, each delta row newer than its
 * block. All of it goes through the store's write-back cache, so it commits
 * in the same WriteBatch as the features and pending views: the models
 * restored are exactly those that produced the checkpoint's outputs, and a
 * run killed and restarted learns bitwise like one that never stopped.
 *
 * Negative down-sampling (models.*.neg_weight = w > 1): a negative example
 * is learned with probability 1/w, decided by a hash of its view id and the
 * model's seed (deterministic); predictions are recalibrated by serve().
 *
 * Ownership: create borrows cfg and store (they outlive the object) and
 * copies what it needs of the warm-start snapshots. Not thread-safe.
 */
#ifndef OP_LEARNERS_H
#define OP_LEARNERS_H

#include <stdint.h>

#include "model_example.h"
#include "model_kind.h"
#include "sl_arena.h"
#include "sl_config.h"
#include "sl_event.h"
#include "sl_status.h"
#include "state_store.h"

/* A snapshot to start a model from (`--warm-start FILE`): matched to a
 * configured model by the name inside it. */
typedef struct op_warm_start {
    const void *blob; /* the snapshot bytes, borrowed for create */
    size_t len;       /* their length */
    const char *path; /* where they came from, for messages */
} op_warm_start;

typedef struct op_learners op_learners;

/*
 * Creates every model of cfg whose family is implemented (others are
 * skipped with a warning), restores each from store if it was checkpointed
 * there, else from the warm-start snapshot of the same name, else from its
 * seeded init. OUT: *out. Returns SL_OK, SL_ERR_INVALID (a warm start that
 * matches no model or does not fit its config; state written by another
 * config: err names the model and the difference), SL_ERR_CORRUPT,
 * SL_ERR_STATE, SL_ERR_NOMEM.
 */
sl_status op_learners_create(const sl_config *cfg, state_store *store, const op_warm_start *warm,
                             uint32_t n_warm, op_learners **out, sl_err *err);
void op_learners_destroy(op_learners *L); /* NULL is fine */

/* Models scoring surface s: *ids (OUT:) points at their ids. */
uint32_t op_learners_of(const op_learners *L, sl_surface s, const uint32_t **ids);
uint32_t op_learners_count(const op_learners *L); /* all models */

const char *op_learners_name(const op_learners *L, uint32_t id);
const sl_config_model *op_learners_cfg(const op_learners *L, uint32_t id);
const model_kind_vtable *op_learners_vt(const op_learners *L, uint32_t id);
/* Examples learned so far: the model's version in score records. */
uint64_t op_learners_version(const op_learners *L, uint32_t id);

/* The raw heads of model id for ex. OUT: raw[heads]. */
void op_learners_predict(op_learners *L, uint32_t id, const model_example *ex, float *raw);
/* What users see of raw head h. */
float op_learners_serve(const op_learners *L, uint32_t id, uint32_t h, float raw);
/* The ranking score from the served heads (vt->blend must exist). */
float op_learners_blend(const op_learners *L, uint32_t id, const float *served);

/* Examples a model queues before it learns them (op_learners_queue). */
#define OP_LEARNERS_QUEUE 64

/*
 * Queues ex (labels set) for model id to learn, unless down-sampling skips
 * it; view_id seeds the sampling decision. ex is borrowed until the model
 * learns it: at op_learners_flush, when its queue is full (the next queued
 * example first learns the ones before it), or at the model's checkpoint
 * or snapshot. Queued examples are learned in order, in one batch call when
 * the family has one (vt->learn_batch: bitwise the same as learning them one
 * by one), so a caller that predicts only after flushing sees exactly the
 * model it would have seen learning each at once. A refusal of the guard is
 * counted, not an error. Returns SL_OK.
 */
sl_status op_learners_queue(op_learners *L, uint32_t id, sl_str view_id, const model_example *ex);

/* Learns everything queued, model by model. */
void op_learners_flush(op_learners *L);

/* op_learners_queue, then learns model id's queue at once. */
sl_status op_learners_learn(op_learners *L, uint32_t id, sl_str view_id, const model_example *ex);

/* Writes every model's changed rows, its next base blocks and its counters
 * into the store (before the store checkpoints). Returns the store's
 * statuses. */
sl_status op_learners_checkpoint(op_learners *L, sl_err *err);

/* Appends a whole snapshot of model id to out (model_snapshot format) with
 * the event time it reflects as the dimension "event_time_ms". OUT: *len. */
sl_status op_learners_snapshot(op_learners *L, uint32_t id, int64_t event_time, sl_buf *out,
                               size_t *len, sl_err *err);

/* Appends {"name":{"kind":..,"surface":..,"learned":..,"sampled_out":..,
 * "refused":..},...} to out. */
sl_status op_learners_report(const op_learners *L, sl_buf *out);

#endif
