/*
 * op_score.c — scores each view when it arrives (predict at view time) and
 * emits it to the `scores` sink, keyed by user.
 *
 * Until the models land, the only scorer is `prior`: the click-through rate
 * observed so far in the stream, (clicks + 1) / (views + 2), counted in
 * the order events arrive. It is the base-rate predictor that normalized
 * cross-entropy is measured against, and it gives every view its output
 * record, which is what the at-least-once tests count. Model scorers join it
 * here, one entry per configured model.
 *
 * Score record: {"user","item","view_id","surface","model","model_version",
 * "scores":{"p_click":...},"ts"} — ts is the view's event time.
 */
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "state_store.h"

typedef struct op_score {
    uint64_t views;     /* views seen */
    uint64_t clicks;    /* clicks seen */
    state_store *store; /* where the counts survive restarts */
} op_score;

#define SCORE_META_KEY "score.prior"

static sl_status score_create(const op_env *env, void **ctx, sl_err *err) {
    op_score *s = calloc(1, sizeof *s);
    if (!s)
        return sl_err_set(err, SL_ERR_NOMEM, "score: out of memory");
    s->store = env->store;
    uint64_t rec[2];
    size_t len;
    sl_status st = state_store_get(s->store, STATE_CF_META, SCORE_META_KEY, strlen(SCORE_META_KEY),
                                   rec, sizeof rec, &len, err);
    if (st == SL_OK && len == sizeof rec) {
        s->views = rec[0];
        s->clicks = rec[1];
    } else if (st != SL_OK && st != SL_ERR_NOT_FOUND) {
        free(s);
        return st;
    }
    *ctx = s;
    return SL_OK;
}

static sl_status score_checkpoint(void *ctx, sl_err *err) {
    op_score *s = ctx;
    uint64_t rec[2] = {s->views, s->clicks};
    return state_store_put(s->store, STATE_CF_META, SCORE_META_KEY, strlen(SCORE_META_KEY), rec,
                           sizeof rec, err);
}

static sl_status emit(op_batch *b, uint32_t i, double p) {
    const sl_event *ev = &b->recs[i].ev;
    sl_buf *o = op_batch_emit_begin(b, OP_CHANNEL_SCORES, ev->user.p, ev->user.n, i);
    if (!o)
        return SL_ERR_NOMEM;
    sl_status st = sl_buf_append(o, "{\"user\":", 8);
    st = st ? st : sl_buf_json_str(o, ev->user.p, ev->user.n, NULL);
    st = st ? st : sl_buf_append(o, ",\"item\":", 8);
    st = st ? st : sl_buf_json_str(o, ev->item.p, ev->item.n, NULL);
    st = st ? st : sl_buf_append(o, ",\"view_id\":", 11);
    st = st ? st : sl_buf_json_str(o, ev->view_id.p, ev->view_id.n, NULL);
    const char *surface = sl_surface_str(ev->surface);
    st = st ? st : sl_buf_append(o, ",\"surface\":\"", 12);
    st = st ? st : sl_buf_append(o, surface, strlen(surface));
    static const char mid[] = "\",\"model\":\"prior\",\"model_version\":0,\"scores\":{\"p_click\":";
    st = st ? st : sl_buf_append(o, mid, sizeof mid - 1);
    st = st ? st : sl_buf_json_fixed(o, p, 6);
    st = st ? st : sl_buf_append(o, "},\"ts\":", 7);
    st = st ? st : sl_buf_json_i64(o, ev->ts);
    st = st ? st : sl_buf_putc(o, '}');
    return st ? st : op_batch_emit_end(b, OP_CHANNEL_SCORES);
}

static sl_status score_process(void *ctx, op_batch *b, sl_err *err) {
    op_score *s = ctx;
    for (uint32_t i = 0; i < b->n; i++) {
        const op_record *r = &b->recs[i];
        if (r->reason != SL_REASON_OK)
            continue;
        if (r->ev.type == SL_EVENT_CLICK) {
            s->clicks++;
        } else if (r->ev.type == SL_EVENT_VIEW) {
            s->views++;
            double p = ((double)s->clicks + 1.0) / ((double)s->views + 2.0);
            sl_status st = emit(b, i, p < 1.0 ? p : 1.0);
            if (st)
                return sl_err_set(err, st, "score: cannot write a score: %s", sl_status_str(st));
        }
    }
    return SL_OK;
}

static sl_status score_report(void *ctx, sl_buf *out) {
    op_score *s = ctx;
    return sl_buf_printf(out, "{\"prior\":{\"views_scored\":%llu,\"clicks\":%llu}}",
                         (unsigned long long)s->views, (unsigned long long)s->clicks);
}

static void score_destroy(void *ctx) { free(ctx); }

const op_vtable op_score_vtable = {
    .name = "score",
    .create = score_create,
    .process = score_process,
    .checkpoint = score_checkpoint,
    .report = score_report,
    .destroy = score_destroy,
};
