/*
 * stream_replay.h — replay: the operator graph of the live engine, file in,
 * files out.
 *
 * Reads JSON Lines (a file, a .gz file or stdin), cuts them into batches of
 * engine.batch_size, runs the graph over each batch and writes the outboxes
 * to DIR/{scores,examples,metrics,deadletter}.jsonl, then DIR/summary.json.
 * Every line is accounted for: lines read = events parsed + dead letters.
 *
 * With a state directory (state.dir or opts.state_dir) the replay
 * checkpoints as it goes (state + lines read + output sizes, one synced
 * RocksDB batch) and a rerun resumes from the last checkpoint: it skips the
 * lines already processed and cuts the output files back to their recorded
 * sizes, so a replay killed at any point and rerun writes exactly the files
 * an uninterrupted one writes. To start over, remove the state directory.
 */
#ifndef STREAM_REPLAY_H
#define STREAM_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "sl_config.h"

typedef struct stream_replay_opts {
    const char *input;     /* path, or "-" for stdin */
    const char *out_dir;   /* output directory (created) */
    bool progress;         /* progress line on stderr */
    bool quiet;            /* no closing summary line on stderr */
    const char *state_dir; /* overrides state.dir (NULL: the config's) */
    const char *const *warm_start; /* (n_warm) snapshot files to start models from */
    uint32_t n_warm;               /* 0: models start from their seeded init */
} stream_replay_opts;

typedef struct stream_replay_result {
    uint64_t lines;        /* lines read */
    uint64_t events;       /* valid events */
    uint64_t dead_letters; /* refused lines */
    double seconds;        /* wall time of the run */
} stream_replay_result;

/*
 * Runs the replay. Returns SL_OK when the input was processed (even with bad
 * lines), SL_ERR_IO when a file is unusable, other codes for internal
 * failures; err says what and where. OUT: *res (may be NULL).
 */
sl_status stream_replay_run(const sl_config *cfg, const stream_replay_opts *o,
                            stream_replay_result *res, sl_err *err);

#endif
