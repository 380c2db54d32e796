/*
 * stream_sink.h — where a batch's outboxes go: files (replay) or Kafka topics
 * (the live engine). A sink is {vtable, ctx}; the graph runner calls write()
 * once per batch after the graph ran, and flush() before anything that must
 * know the outputs are safe (a checkpoint, an offset commit, the end).
 */
#ifndef STREAM_SINK_H
#define STREAM_SINK_H

#include "op.h"

typedef struct stream_sink_vtable {
    const char *name; /* "files", "kafka" */
    /* Takes every outbox record of the batch (the batch stays the caller's). */
    sl_status (*write)(void *ctx, const op_batch *b, sl_err *err);
    /* Makes everything written so far durable / delivered. */
    sl_status (*flush)(void *ctx, sl_err *err);
    void (*destroy)(void *ctx);
} stream_sink_vtable;

typedef struct stream_sink {
    const stream_sink_vtable *vt; /* what it is */
    void *ctx;                    /* its state */
} stream_sink;

/*
 * File sinks: DIR/scores.jsonl, DIR/examples.jsonl, DIR/metrics.jsonl,
 * DIR/deadletter.jsonl (one value per line) and DIR/snapshots/ (one file per
 * snapshot record, named by its key). DIR is created if missing. With
 * resume_sizes NULL existing files are truncated; otherwise each file is cut
 * back to resume_sizes[channel] bytes (what a checkpoint recorded) and
 * appended to, so a resumed run writes exactly what an uninterrupted one
 * would. flush() also fdatasync()s, so recorded sizes are on disk. OUT: *out.
 */
sl_status stream_sink_files_create(const char *dir, const uint64_t *resume_sizes, stream_sink *out,
                                   sl_err *err);
/* The byte size of each channel's file so far (snapshots: 0). Call after
 * flush(). OUT: sizes. */
void stream_sink_files_sizes(const stream_sink *s, uint64_t sizes[OP_CHANNEL_COUNT]);

/* Creates dir and its parents (mkdir -p). */
sl_status stream_mkdirs(const char *dir, sl_err *err);

#endif
