/*
 * stream_engine.h — the live engine: Kafka in, the operator graph, Kafka out,
 * all driven by one libuv loop.
 *
 * The consumer's queue and the producer's queue each signal a pipe
 * (rd_kafka_queue_io_event_enable) watched by uv_poll; a readable consumer
 * pipe drains messages in batches (rd_kafka_consume_batch_queue) through the
 * graph, and a readable producer pipe serves delivery reports. Offsets are
 * stored (and auto-committed in the background) only for batches whose every
 * output was delivered: at-least-once. A batch ring bounds the work in
 * flight: when it is full the engine stops draining and librdkafka's queue
 * bounds (queued.max.messages.kbytes) hold memory, until deliveries catch up.
 * SIGINT/SIGTERM stop gracefully: finish the batch, flush the producer,
 * commit, close, exit 0.
 *
 * With no brokers configured, the engine starts librdkafka's mock cluster
 * in-process, creates the topics and prints its bootstrap address.
 */
#ifndef STREAM_ENGINE_H
#define STREAM_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "sl_config.h"

/* Lines to produce into the first input topic while the engine runs (the
 * demo's generator, or a file): next() returns 1 and a line, or 0 when done.
 * The line is copied before the next call. */
typedef struct stream_feed {
    int (*next)(void *ctx, const char **line, size_t *len);
    void *ctx;      /* passed to next */
    uint64_t total; /* lines it will give (0 if unknown): for progress */
} stream_feed;

typedef struct stream_engine_opts {
    const char *brokers;      /* overrides kafka.brokers when not NULL */
    double until_idle_s;      /* stop after this long without input (0 = never) */
    bool progress;            /* live progress line on stderr */
    const char *summary_path; /* write the final summary JSON here (may be NULL) */
    stream_feed *feed;        /* produce these lines into the input topic (may be NULL) */
    int tick_ms;              /* housekeeping period (0 = 100 ms) */
    const char *const *warm_start; /* (n_warm) snapshot files to start models from */
    uint32_t n_warm;               /* 0: models start from the state or their init */
} stream_engine_opts;

typedef struct stream_engine_result {
    uint64_t records;      /* messages consumed */
    uint64_t events;       /* valid events */
    uint64_t dead_letters; /* refused messages */
    uint64_t outputs;      /* output messages delivered */
    uint64_t fed;          /* lines produced by the feed */
} stream_engine_result;

/*
 * Runs until a signal, --until-idle, or a fatal error. SL_OK after a graceful
 * stop; SL_ERR_KAFKA / SL_ERR_CONFIG (a bad warm-start snapshot too) with
 * err filled otherwise. OUT: *res.
 */
sl_status stream_engine_run(const sl_config *cfg, const stream_engine_opts *o,
                            stream_engine_result *res, sl_err *err);

#endif
