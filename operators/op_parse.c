/*
 * op_parse.c — the first operator: raw bytes → validated sl_event, or a dead
 * letter with the reason and the field. Strings of the event borrow the raw
 * bytes or the batch arena, so nothing is allocated per event.
 */
#include <stdio.h>
#include <stdlib.h>

#include "op.h"

typedef struct op_parse {
    sl_event_parse_opts opts; /* limits from the config */
    op_stats *stats;          /* shared counters */
} op_parse;

static sl_status parse_create(const op_env *env, void **ctx, sl_err *err) {
    op_parse *p = calloc(1, sizeof *p);
    if (!p)
        return sl_err_set(err, SL_ERR_NOMEM, "parse: out of memory");
    p->opts.max_event_bytes = (uint32_t)env->cfg->engine.max_event_bytes;
    p->stats = env->stats;
    *ctx = p;
    return SL_OK;
}

static sl_status parse_process(void *ctx, op_batch *b, sl_err *err) {
    op_parse *p = ctx;
    op_stats *s = p->stats;
    for (uint32_t i = 0; i < b->n; i++) {
        op_record *r = &b->recs[i];
        s->records++;
        sl_event_error e;
        sl_status st = SL_OK;
        if (r->cut) {
            char d[96];
            snprintf(d, sizeof d, "line is %llu bytes, longer than engine.max_line_bytes",
                     (unsigned long long)r->full_len);
            st = op_batch_reject(b, i, SL_REASON_TOO_LARGE, d, s);
        } else if (!sl_event_parse(r->raw, r->len, &b->arena, &p->opts, &r->ev, &e)) {
            st = op_batch_reject(b, i, e.reason, e.detail, s);
        } else {
            s->events++;
            if (r->ev.ts > s->max_ts)
                s->max_ts = r->ev.ts;
            if (s->min_ts == 0 || r->ev.ts < s->min_ts)
                s->min_ts = r->ev.ts;
        }
        if (st)
            return sl_err_set(err, st, "parse: cannot write a dead letter: %s", sl_status_str(st));
    }
    return SL_OK;
}

static void parse_destroy(void *ctx) { free(ctx); }

const op_vtable op_parse_vtable = {
    .name = "parse",
    .create = parse_create,
    .process = parse_process,
    .destroy = parse_destroy,
};
