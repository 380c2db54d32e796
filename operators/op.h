/*
 * op.h — operators: the nodes of the graph every event batch flows through.
 *
 * A batch is a run of raw messages (from a file or from Kafka) with their
 * source coordinates; the graph runs its operators in order over the whole
 * batch (parse → route → join: featurize, score, label join), and each operator appends what it
 * produces to the batch's outboxes (one per sink channel). The stream layer then hands the outboxes
 * to the sinks. Operators never touch files or sockets, never read the wall clock, and never malloc
 * per event: scratch memory comes from the batch arena, which is reset after the batch.
 *
 * An operator is a plain struct {vtable, ctx}, like a libuv handle; the
 * registry (op_graph.c) is one table, so a new operator is one file and one
 * line. All calls happen on the thread that runs the graph.
 */
#ifndef OP_H
#define OP_H

#include <stdbool.h>
#include <stdint.h>

#include "sl_arena.h"
#include "sl_config.h"
#include "sl_event.h"
#include "sl_status.h"

/* Where a message came from. */
typedef struct op_source_pos {
    const char *topic; /* Kafka topic, or the input file name (borrowed) */
    int32_t partition; /* Kafka partition; -1 for a file */
    int64_t offset;    /* Kafka offset, or the 1-based line number */
} op_source_pos;

typedef struct op_record {
    const char *raw;    /* message bytes, borrowed for the batch */
    uint32_t len;       /* bytes in raw */
    bool cut;           /* raw was cut at max_line_bytes (the line was longer) */
    uint64_t full_len;  /* the original length when cut */
    op_source_pos pos;  /* source coordinates */
    sl_reason reason;   /* SL_REASON_OK once parsed; else why it was refused */
    const char *detail; /* refusal detail (arena), NULL when accepted */
    sl_event ev;        /* the event, valid when reason == SL_REASON_OK */
} op_record;

#define OP_CHANNEL_LIST(X)                                                                         \
    X(OP_CHANNEL_SCORES, "scores")         /* key: user */                                         \
    X(OP_CHANNEL_EXAMPLES, "examples")     /* key: view_id */                                      \
    X(OP_CHANNEL_SNAPSHOTS, "snapshots")   /* key: model */                                        \
    X(OP_CHANNEL_METRICS, "metrics")       /* key: surface */                                      \
    X(OP_CHANNEL_DEADLETTER, "deadletter") /* key: none */

typedef enum op_channel {
#define OP_CHANNEL_ENUM_(name, text) name,
    OP_CHANNEL_LIST(OP_CHANNEL_ENUM_)
#undef OP_CHANNEL_ENUM_
        OP_CHANNEL_COUNT
} op_channel;

const char *op_channel_str(op_channel ch);

/* One output record: key and value are byte ranges of the outbox's data. */
typedef struct op_out {
    uint32_t key_off, key_len; /* key_len 0 = no key */
    uint32_t val_off, val_len; /* the value (JSON or a binary blob) */
    uint32_t src;              /* index of the input record that caused it */
} op_out;

/* What one batch produced for one sink. Kept across batches (cleared, not
 * freed) so a steady stream allocates nothing. */
typedef struct op_outbox {
    sl_buf data;  /* keys and values, back to back */
    op_out *recs; /* records */
    uint32_t n;   /* records used */
    uint32_t cap; /* records allocated */
} op_outbox;

/* Per-run counters every operator may move; the summary reads them. */
typedef struct op_stats {
    uint64_t records;                            /* messages seen */
    uint64_t events;                             /* parsed and valid */
    uint64_t by_type[SL_EVENT_TYPE_COUNT];       /* valid events per type */
    uint64_t views_by_surface[SL_SURFACE_COUNT]; /* views per surface */
    uint64_t dead[SL_REASON_COUNT];              /* dead letters per reason */
    uint64_t dead_total;                         /* all dead letters */
    int64_t max_ts;                              /* highest event time seen */
    int64_t min_ts;                              /* lowest event time seen */
} op_stats;

typedef struct op_batch {
    op_record *recs;                 /* records of this batch */
    uint32_t n;                      /* records used */
    uint32_t cap;                    /* records allocated (engine.batch_size) */
    sl_arena arena;                  /* scratch for this batch; reset after it */
    op_outbox out[OP_CHANNEL_COUNT]; /* what the batch produced, per sink */
} op_batch;

/* Allocates room for cap records; arena capped at arena_limit bytes. */
sl_status op_batch_init(op_batch *b, uint32_t cap, size_t arena_limit);
void op_batch_deinit(op_batch *b);
/* Empties the batch (records, arena, outboxes) for reuse. */
void op_batch_clear(op_batch *b);
/* Appends a record for raw bytes; the bytes must outlive the batch. Returns
 * NULL when the batch is full. */
op_record *op_batch_add(op_batch *b, const char *raw, uint32_t len, op_source_pos pos);

/*
 * Starts an output record on a channel: writes the key (may be NULL) and
 * returns the buffer the caller appends the value to; op_batch_emit_end()
 * closes it. Between the two calls only the value may be appended.
 */
sl_buf *op_batch_emit_begin(op_batch *b, op_channel ch, const char *key, uint32_t key_len,
                            uint32_t src);
sl_status op_batch_emit_end(op_batch *b, op_channel ch);

/* Marks record i refused: counts it and writes its dead letter. */
sl_status op_batch_reject(op_batch *b, uint32_t i, sl_reason reason, const char *detail,
                          op_stats *stats);

typedef struct state_store state_store;

/* The environment operators are created with. */
typedef struct op_env {
    const sl_config *cfg; /* immutable configuration */
    op_stats *stats;      /* shared counters */
    state_store *store;   /* the state store (restored from its last checkpoint) */
    const struct op_warm_start *warm; /* (n_warm) snapshots to start models from */
    uint32_t n_warm;                  /* 0: models start from their seeded init */
} op_env;

typedef struct op_vtable {
    const char *name; /* as in logs and the graph description */
    /* Creates the operator. OUT: *ctx. */
    sl_status (*create)(const op_env *env, void **ctx, sl_err *err);
    /* Processes a whole batch. */
    sl_status (*process)(void *ctx, op_batch *b, sl_err *err);
    /* Event time advanced to wm (windows may close); output goes to b. */
    sl_status (*on_watermark)(void *ctx, int64_t wm, op_batch *b, sl_err *err);
    /* Writes the operator's in-memory state into the store just before the
     * store checkpoints (NULL: nothing to write). create() reads it back. */
    sl_status (*checkpoint)(void *ctx, sl_err *err);
    /* The run ends (the end of a replay's input, a graceful stop of the
     * engine): final outputs, such as the models' last snapshots, go to b
     * (NULL: nothing to add). Pending state stays as it is. */
    sl_status (*finish)(void *ctx, op_batch *b, sl_err *err);
    /* Appends a JSON object with the operator's final figures to out, or
     * nothing (NULL: no report). */
    sl_status (*report)(void *ctx, sl_buf *out);
    void (*destroy)(void *ctx);
} op_vtable;

typedef struct op {
    const op_vtable *vt; /* what it is */
    void *ctx;           /* its state */
} op;

extern const op_vtable op_parse_vtable;
extern const op_vtable op_route_vtable;
extern const op_vtable op_join_vtable;

#endif
