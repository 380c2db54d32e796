/*
 * op_features.h — the featurizer: event -> example from feature state, and
 * each event's effect on that state. A library the label-join operator
 * calls record by record, in order (docs/FEATURES.md lists every feature).
 *
 * For a view: op_features_build() reads state AS OF the view (ev->ts) and
 * writes nothing, then op_features_update() applies the view's effect. A
 * reaction (click, like, share, dwell, conversion) reaches state through
 * op_features_on_reaction() with its view's identity, at the reaction's
 * time; profile, friend and register events through op_features_update().
 * Calling them in record order makes the examples independent of how the
 * records were batched. Deterministic: event time only, no clock, no
 * randomness; the same records give byte-identical examples.
 *
 * Budget: an example holds MODEL_MAX_SPARSE sparse and MODEL_MAX_DENSE dense
 * values. Configured fields and crosses go first, then the bias, profile
 * and derived features, recency, ratios, and the decayed-count indicators
 * last; what does not fit is dropped and counted (stats.sparse_dropped),
 * never overflowed. With 2 half-lives a view uses ~60 + configured slots.
 *
 * Hot path: no allocation per event (the object owns its scratch profiles
 * and buffers); state reads go through the store's write-back cache.
 * Ownership: create borrows cfg and st, which must outlive the object. Not
 * thread-safe: one featurizer per operator instance.
 */
#ifndef OP_FEATURES_H
#define OP_FEATURES_H

#include <stdint.h>

#include "model_example.h"
#include "sl_arena.h"
#include "sl_config.h"
#include "sl_event.h"
#include "sl_status.h"
#include "state_store.h"

/* The seed of every feature hash (docs/FEATURES.md shows how an index is
 * computed); changing it changes every index, so models must restart. */
#define OP_FEATURES_HASH_SEED UINT64_C(0x5f3759df2c1b3c6d)

/* The identity of the view a reaction belongs to (kept in pending state). */
typedef struct op_view_ref {
    sl_str user;        /* who saw it */
    sl_str item;        /* what was shown */
    sl_surface surface; /* where */
    int64_t view_ts;    /* when (event time, ms) */
} op_view_ref;

typedef struct op_features_stats {
    uint64_t built;          /* examples built */
    uint64_t updates;        /* events applied by op_features_update */
    uint64_t reactions;      /* reactions applied */
    uint64_t sparse_dropped; /* sparse features that did not fit an example */
} op_features_stats;

typedef struct op_features op_features;

/*
 * Creates a featurizer over st for cfg's features section. *out (OUT:) is
 * owned by the caller. SL_ERR_CONFIG (an unknown field name in
 * features.categorical / crosses: the message names it), SL_ERR_NOMEM.
 */
sl_status op_features_create(const sl_config *cfg, state_store *st, op_features **out, sl_err *err);
/* Accepts NULL. */
void op_features_destroy(op_features *f);

/*
 * Resets *ex (OUT:) and fills it with the features of showing `item` to
 * ev->user on ev->surface at ev->ts (a view: item = ev->item; a
 * rank_request: once per candidate), reading state at ev->ts only. Labels
 * are left unset. SL_OK, or the store's errors (SL_ERR_STATE, SL_ERR_CORRUPT).
 */
sl_status op_features_build(op_features *f, const sl_event *ev, sl_str item, model_example *ex,
                            sl_err *err);

/*
 * Adds to ks the store keys that op_features_build and _update of the view
 * ev will read first: the user's and the item's profiles and the user,
 * item and user x item counters (the category and advertiser ones depend
 * on the item's profile and are left out). For state_store_prefetch
 * before a batch. false when ks is full (the keys that fitted stay).
 */
bool op_features_prefetch_keys(const op_features *f, const sl_event *ev, state_keys *ks);

/*
 * Applies ev's effect on state: view -> views counters of the user, item,
 * user x item, user x category, advertiser; profile -> upsert; friend ->
 * both edges; register -> attendee set, and (the first time only) registers
 * counters and price paid. Other types: nothing. Returns SL_OK,
 * SL_ERR_INVALID (a profile over its bound: refuse the event, state
 * unchanged), SL_ERR_LIMIT (the store's cache is full: checkpoint between
 * batches when state_store_want_checkpoint() says so to avoid it).
 */
sl_status op_features_update(op_features *f, const sl_event *ev, sl_err *err);

/*
 * Applies a reaction to its view's counters at the reaction's time ts:
 * click, like, share, conversion add 1; dwell adds value (ms). REGISTER and
 * other types do nothing (a registration reaches state through
 * op_features_update of the register event). Same returns as update.
 */
sl_status op_features_on_reaction(op_features *f, const op_view_ref *view, sl_event_type type,
                                  int64_t ts, double value, sl_err *err);

/*
 * Appends to out the entity's features as one JSON object read at at_ts:
 * profile, every counter of its families at every half-life, t_last, and
 * friends (users) or attendees (items). entity is "user" or "item".
 * SL_ERR_INVALID (unknown entity kind), SL_ERR_NOT_FOUND (nothing known
 * about the id), SL_ERR_LIMIT (out's limit), the store's errors. Scans the
 * store for a user's pairs (at most 100 of each): a tool's read path.
 */
sl_status op_features_describe(op_features *f, const char *entity, const char *id, int64_t at_ts,
                               sl_buf *out, sl_err *err);

void op_features_stats_get(const op_features *f, op_features_stats *out);

/*
 * One bounded step of the sweep of dead feature records (decayed to nothing
 * and past the horizon as of event time t: state_features_dead). Deleting
 * them changes no feature, so when sweeps run does not matter to outputs.
 * OUT: *deleted (may be NULL). Returns as state_store_sweep.
 */
sl_status op_features_sweep(op_features *f, int64_t t, size_t max_keys, size_t *deleted,
                            sl_err *err);
/* Counts the live feature records (a full scan: for reports and tests). */
sl_status op_features_count(op_features *f, uint64_t *n, sl_err *err);

#endif
