/* stream_replay.c — file → graph → files (see stream_replay.h). */
#include "stream_replay.h"
#include "stream_snapfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "op_graph.h"
#include "sl_log.h"
#include "state_store.h"
#include "stream_lines.h"
#include "stream_sink.h"

/* What a replay checkpoint records besides the state: how far the input was
 * read and how long each output file was, so a resumed run skips exactly
 * those lines and cuts the files back to exactly those sizes. */
#define REPLAY_CKPT_MAGIC UINT64_C(0x31594c5045524c53) /* "SLRPLAY1" */
typedef struct replay_ckpt {
    uint64_t magic;                   /* REPLAY_CKPT_MAGIC */
    uint64_t lines;                   /* input lines consumed */
    uint64_t sizes[OP_CHANNEL_COUNT]; /* output file sizes */
    uint64_t complete;                /* 1 once the input was read to the end */
} replay_ckpt;

static sl_status checkpoint(state_store *store, op_graph *g, stream_sink *sink, uint64_t lines,
                            bool complete, sl_err *err) {
    replay_ckpt c = {REPLAY_CKPT_MAGIC, lines, {0}, complete};
    sl_status st = sink->vt->flush(sink->ctx, err);
    if (st)
        return st;
    stream_sink_files_sizes(sink, c.sizes);
    if ((st = op_graph_checkpoint(g, err)))
        return st;
    return state_store_checkpoint(store, &c, sizeof c, NULL, err);
}

/* Wall clock for throughput and progress only: processing never reads it. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void human(char *out, size_t cap, double v) {
    if (v >= 1e9)
        snprintf(out, cap, "%.2fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(out, cap, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(out, cap, "%.1fk", v / 1e3);
    else
        snprintf(out, cap, "%.0f", v);
}

static void show_progress(const stream_lines *in, const op_stats *s, double t0, bool final) {
    uint64_t done, total;
    stream_lines_progress(in, &done, &total);
    double dt = now_s() - t0;
    char n[32], rate[32];
    human(n, sizeof n, (double)s->records);
    human(rate, sizeof rate, dt > 0 ? (double)s->records / dt : 0);
    char pct[32] = "";
    if (total)
        snprintf(pct, sizeof pct, "  %5.1f%%", 100.0 * (double)done / (double)total);
    fprintf(stderr, "\r  %s events  %s ev/s%s  dead letters %llu   %s", n, rate, pct,
            (unsigned long long)s->dead_total, final ? "\n" : "");
    fflush(stderr);
}

static sl_status write_counts(sl_buf *b, const char *const *names, const uint64_t *v, int n,
                              bool skip_zero) {
    sl_status st = sl_buf_putc(b, '{');
    bool first = true;
    for (int i = 0; i < n && !st; i++) {
        if (skip_zero && !v[i])
            continue;
        st =
            sl_buf_printf(b, "%s\"%s\":%llu", first ? "" : ",", names[i], (unsigned long long)v[i]);
        first = false;
    }
    return st ? st : sl_buf_putc(b, '}');
}

static sl_status write_summary(const char *dir, const stream_replay_opts *o, const sl_config *cfg,
                               op_graph *g, double seconds, sl_err *err) {
    const op_stats *s = op_graph_stats(g);
    const char *types[SL_EVENT_TYPE_COUNT], *surfaces[SL_SURFACE_COUNT], *reasons[SL_REASON_COUNT];
    for (int i = 0; i < SL_EVENT_TYPE_COUNT; i++)
        types[i] = sl_event_type_str((sl_event_type)i);
    for (int i = 0; i < SL_SURFACE_COUNT; i++)
        surfaces[i] = sl_surface_str((sl_surface)i);
    for (int i = 0; i < SL_REASON_COUNT; i++)
        reasons[i] = sl_reason_str((sl_reason)i);
    sl_buf b;
    sl_buf_init(&b, 1 << 26);
    sl_status st = sl_buf_append(&b, "{\n  \"input\": ", 13);
    st = st ? st : sl_buf_json_str(&b, o->input, strlen(o->input), NULL);
    st = st ? st : sl_buf_append(&b, ",\n  \"config\": ", 14);
    st = st ? st : sl_buf_json_str(&b, cfg->path, strlen(cfg->path), NULL);
    st = st ? st : sl_buf_printf(&b, ",\n  \"graph\": \"%s\"", op_graph_describe(g));
    st = st ? st
            : sl_buf_printf(&b,
                            ",\n  \"lines\": %llu,\n  \"events\": %llu,\n"
                            "  \"dead_letters\": %llu",
                            (unsigned long long)s->records, (unsigned long long)s->events,
                            (unsigned long long)s->dead_total);
    st = st ? st : sl_buf_append(&b, ",\n  \"events_by_type\": ", 21);
    st = st ? st : write_counts(&b, types, s->by_type, SL_EVENT_TYPE_COUNT, false);
    st = st ? st : sl_buf_append(&b, ",\n  \"views_by_surface\": ", 23);
    st = st ? st : write_counts(&b, surfaces, s->views_by_surface, SL_SURFACE_COUNT, false);
    st = st ? st : sl_buf_append(&b, ",\n  \"dead_letters_by_reason\": ", 29);
    st = st ? st : write_counts(&b, reasons + 1, s->dead + 1, SL_REASON_COUNT - 1, true);
    st = st ? st
            : sl_buf_printf(&b, ",\n  \"event_time\": {\"min\": %lld, \"max\": %lld}",
                            (long long)s->min_ts, (long long)s->max_ts);
    st = st ? st : sl_buf_append(&b, ",\n  \"operators\": ", 17);
    st = st ? st : op_graph_report(g, &b);
    st = st ? st
            : sl_buf_printf(&b, ",\n  \"seconds\": %.3f,\n  \"events_per_s\": %.0f\n}\n", seconds,
                            seconds > 0 ? (double)s->records / seconds : 0.0);
    if (st) {
        sl_buf_deinit(&b);
        return sl_err_set(err, st, "summary: %s", sl_status_str(st));
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    FILE *f = fopen(path, "w");
    if (!f || fwrite(b.p, 1, b.len, f) != b.len || fclose(f) != 0) {
        sl_buf_deinit(&b);
        return sl_err_set(err, SL_ERR_IO, "%s: cannot write", path);
    }
    sl_buf_deinit(&b);
    return SL_OK;
}

sl_status stream_replay_run(const sl_config *cfg, const stream_replay_opts *o,
                            stream_replay_result *res, sl_err *err) {
    stream_lines *in = NULL;
    op_graph *g = NULL;
    state_store *store = NULL;
    stream_sink sink = {0};
    op_batch batch;
    bool have_batch = false;
    double t0 = now_s(), last_progress = t0, last_ckpt = t0;
    const char *name = strcmp(o->input, "-") == 0 ? "(stdin)" : o->input;
    replay_ckpt resume = {0};
    uint64_t lines = 0, ckpt_lines = 0;

    sl_status st = stream_lines_open(o->input, (uint32_t)cfg->engine.max_line_bytes, &in, err);
    if (st)
        goto out;
    state_store_opts so;
    state_store_opts_from_config(&so, &cfg->state);
    if (o->state_dir)
        so.dir = o->state_dir;
    if ((st = state_store_open(&so, &store, err)))
        goto out;
    /* Without a state directory nothing can be resumed, but checkpoints
     * still move dirty entries out of the cache and let the sweep see them:
     * every state.checkpoint_events lines, not on the clock. */
    bool durable = so.dir && so.dir[0];
    const void *blob;
    size_t blob_len;
    uint64_t ckpt_id;
    state_store_last_checkpoint(store, &ckpt_id, &blob, &blob_len);
    bool resuming = ckpt_id && blob_len == sizeof resume;
    if (resuming) {
        memcpy(&resume, blob, sizeof resume);
        if (resume.magic != REPLAY_CKPT_MAGIC) {
            st = sl_err_set(err, SL_ERR_STATE,
                            "%s: the state directory holds no replay checkpoint (a live engine's?)",
                            so.dir);
            goto out;
        }
        sl_log(SL_LOG_INFO, "replay: resuming from checkpoint %llu at line %llu%s",
               (unsigned long long)ckpt_id, (unsigned long long)resume.lines,
               resume.complete ? " (that run had finished)" : "");
    }
    if ((st = stream_sink_files_create(o->out_dir, resuming ? resume.sizes : NULL, &sink, err)))
        goto out;
    /* An unusable warm start is a bad input: SL_ERR_IO, exit 2. */
    if ((st = stream_snapfile_graph_create(cfg, store, o->warm_start, o->n_warm, SL_ERR_IO, &g,
                                           err)))
        goto out;
    if ((st = op_batch_init(&batch, (uint32_t)cfg->engine.batch_size,
                            (size_t)cfg->engine.arena_limit_mb << 20))) {
        sl_err_set(err, st, "cannot allocate a batch of %d", cfg->engine.batch_size);
        goto out;
    }
    have_batch = true;

    for (;;) {
        op_batch_clear(&batch);
        if ((st = stream_lines_refill(in, err)))
            goto out;
        stream_line ln;
        int rc;
        while (batch.n < batch.cap && (rc = stream_lines_next(in, &ln)) == 1) {
            if (ln.number <= resume.lines)
                continue; /* processed before the checkpoint we resume from */
            lines = ln.number;
            op_source_pos pos = {name, -1, (int64_t)ln.number};
            op_record *r = op_batch_add(&batch, ln.p, ln.len, pos);
            r->cut = ln.cut;
            r->full_len = ln.full_len;
        }
        if (batch.n == 0) {
            if (rc == -1)
                break;
            continue; /* a line in progress: refill */
        }
        if ((st = op_graph_process(g, &batch, err)) || (st = sink.vt->write(sink.ctx, &batch, err)))
            goto out;
        /* Checkpoint between batches: every state.checkpoint_events lines,
         * every state.checkpoint_interval_ms, or when the cache asks. Where
         * the checkpoints fall changes nothing in the outputs. */
        double t = now_s();
        if (lines - ckpt_lines >= (uint64_t)cfg->state.checkpoint_events ||
            (durable && (t - last_ckpt) * 1000.0 >= cfg->state.checkpoint_interval_ms) ||
            state_store_want_checkpoint(store)) {
            if ((st = checkpoint(store, g, &sink, lines, false, err)))
                goto out;
            ckpt_lines = lines;
            last_ckpt = t;
        }
        if (o->progress) {
            if (t - last_progress > 0.25) {
                show_progress(in, op_graph_stats(g), t0, false);
                last_progress = t;
            }
        }
    }
    /* End of input: the final watermark closes every open window. */
    op_batch_clear(&batch);
    if (lines < resume.lines)
        lines = resume.lines;
    if (!resume.complete && ((st = op_graph_watermark(g, INT64_MAX, &batch, err)) ||
                             (st = op_graph_finish(g, &batch, err)) ||
                             (st = sink.vt->write(sink.ctx, &batch, err))))
        goto out;
    if ((st = durable ? checkpoint(store, g, &sink, lines, true, err)
                      : sink.vt->flush(sink.ctx, err)))
        goto out;
    double secs = now_s() - t0;
    if (o->progress)
        show_progress(in, op_graph_stats(g), t0, true);
    if ((st = write_summary(o->out_dir, o, cfg, g, secs, err)))
        goto out;
    const op_stats *s = op_graph_stats(g);
    if (res)
        *res = (stream_replay_result){s->records, s->events, s->dead_total, secs};
    if (!o->quiet)
        fprintf(stderr,
                "replay: %llu lines, %llu events, %llu dead letters in %.2f s (%.0f events/s); "
                "outputs in %s\n",
                (unsigned long long)s->records, (unsigned long long)s->events,
                (unsigned long long)s->dead_total, secs, secs > 0 ? (double)s->records / secs : 0.0,
                o->out_dir);
out:
    if (have_batch)
        op_batch_deinit(&batch);
    op_graph_destroy(g);
    if (sink.vt)
        sink.vt->destroy(sink.ctx);
    state_store_close(store);
    stream_lines_close(in);
    return st;
}
