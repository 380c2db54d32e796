/*
 * op_graph.h — the operator graph built from the config.
 *
 * The graph is a fixed sequence of operators taken from the registry in
 * op_graph.c; every batch goes through all of them in order. It owns the
 * shared op_stats. Single-threaded: one graph, one thread.
 */
#ifndef OP_GRAPH_H
#define OP_GRAPH_H

#include "op.h"

typedef struct op_graph op_graph;

/* Builds the graph for cfg and store (both borrowed; they must outlive the
 * graph). Operators restore what they keep from the store's last checkpoint,
 * and so do the shared counters. OUT: *out. */
sl_status op_graph_create(const sl_config *cfg, state_store *store, op_graph **out, sl_err *err);
/* The same, with snapshots to start models from (`--warm-start`; borrowed
 * for the call): a model the store has no state of starts from the snapshot
 * carrying its name. */
sl_status op_graph_create_warm(const sl_config *cfg, state_store *store,
                               const struct op_warm_start *warm, uint32_t n_warm, op_graph **out,
                               sl_err *err);
/* Makes every operator write its in-memory state, and the shared counters,
 * into the store; the caller then checkpoints the store. */
sl_status op_graph_checkpoint(op_graph *g, sl_err *err);
/* Runs every operator over the batch, in order. */
sl_status op_graph_process(op_graph *g, op_batch *b, sl_err *err);
/* Tells every operator that event time reached wm. */
sl_status op_graph_watermark(op_graph *g, int64_t wm, op_batch *b, sl_err *err);
/* The run ends: every operator adds its final outputs (the models' last
 * snapshots) to b. */
sl_status op_graph_finish(op_graph *g, op_batch *b, sl_err *err);
/* The shared counters. */
const op_stats *op_graph_stats(const op_graph *g);
/* Appends {"op name": report, ...} for operators that report. */
sl_status op_graph_report(op_graph *g, sl_buf *out);
/* Names of the operators in order, e.g. "parse -> route". */
const char *op_graph_describe(const op_graph *g);
void op_graph_destroy(op_graph *g);

#endif
