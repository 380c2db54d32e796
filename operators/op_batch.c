/* op_batch.c — batches, outboxes and dead letters (see op.h). */
#include <stdlib.h>
#include <string.h>

#include "op.h"

static const char *const op_channel_names[] = {
#define OP_CHANNEL_NAME_(name, text) text,
    OP_CHANNEL_LIST(OP_CHANNEL_NAME_)
#undef OP_CHANNEL_NAME_
};

const char *op_channel_str(op_channel ch) {
    return (unsigned)ch < OP_CHANNEL_COUNT ? op_channel_names[ch] : "?";
}

/* An outbox may hold at most this much per batch: a hard limit on what input
 * can make us buffer. */
#define OP_OUTBOX_LIMIT ((size_t)1 << 31)

sl_status op_batch_init(op_batch *b, uint32_t cap, size_t arena_limit) {
    memset(b, 0, sizeof *b);
    b->recs = calloc(cap, sizeof *b->recs);
    if (!b->recs)
        return SL_ERR_NOMEM;
    b->cap = cap;
    sl_arena_init(&b->arena, 1 << 20, arena_limit);
    for (int c = 0; c < OP_CHANNEL_COUNT; c++)
        sl_buf_init(&b->out[c].data, OP_OUTBOX_LIMIT);
    return SL_OK;
}

void op_batch_deinit(op_batch *b) {
    if (!b)
        return;
    free(b->recs);
    sl_arena_deinit(&b->arena);
    for (int c = 0; c < OP_CHANNEL_COUNT; c++) {
        sl_buf_deinit(&b->out[c].data);
        free(b->out[c].recs);
    }
    memset(b, 0, sizeof *b);
}

void op_batch_clear(op_batch *b) {
    b->n = 0;
    sl_arena_reset(&b->arena);
    for (int c = 0; c < OP_CHANNEL_COUNT; c++) {
        sl_buf_clear(&b->out[c].data);
        b->out[c].n = 0;
    }
}

op_record *op_batch_add(op_batch *b, const char *raw, uint32_t len, op_source_pos pos) {
    if (b->n == b->cap)
        return NULL;
    op_record *r = &b->recs[b->n++];
    r->raw = raw;
    r->len = len;
    r->cut = false;
    r->full_len = len;
    r->pos = pos;
    r->reason = SL_REASON_OK;
    r->detail = NULL;
    return r;
}

sl_buf *op_batch_emit_begin(op_batch *b, op_channel ch, const char *key, uint32_t key_len,
                            uint32_t src) {
    op_outbox *o = &b->out[ch];
    if (o->n == o->cap) {
        uint32_t cap = o->cap ? o->cap * 2 : 1024;
        op_out *recs = realloc(o->recs, cap * sizeof *recs);
        if (!recs)
            return NULL;
        o->recs = recs;
        o->cap = cap;
    }
    op_out *r = &o->recs[o->n];
    r->src = src;
    r->key_off = (uint32_t)o->data.len;
    r->key_len = key_len;
    if (key_len && sl_buf_append(&o->data, key, key_len))
        return NULL;
    r->val_off = (uint32_t)o->data.len;
    return &o->data;
}

sl_status op_batch_emit_end(op_batch *b, op_channel ch) {
    op_outbox *o = &b->out[ch];
    op_out *r = &o->recs[o->n];
    r->val_len = (uint32_t)(o->data.len - r->val_off);
    o->n++;
    return SL_OK;
}

sl_status op_batch_reject(op_batch *b, uint32_t i, sl_reason reason, const char *detail,
                          op_stats *stats) {
    op_record *r = &b->recs[i];
    r->reason = reason;
    r->detail = sl_arena_memdup(&b->arena, detail, strlen(detail));
    stats->dead[reason]++;
    stats->dead_total++;
    sl_buf *o = op_batch_emit_begin(b, OP_CHANNEL_DEADLETTER, NULL, 0, i);
    if (!o)
        return SL_ERR_NOMEM;
    sl_status st;
    if (r->pos.partition < 0) {
        st = sl_buf_append(o, "{\"line\":", 8);
        st = st ? st : sl_buf_json_i64(o, r->pos.offset);
        st = st ? st : sl_buf_append(o, ",\"file\":", 8);
        st = st ? st : sl_buf_json_str(o, r->pos.topic, strlen(r->pos.topic), NULL);
    } else {
        st = sl_buf_append(o, "{\"topic\":", 9);
        st = st ? st : sl_buf_json_str(o, r->pos.topic, strlen(r->pos.topic), NULL);
        st = st ? st : sl_buf_append(o, ",\"partition\":", 13);
        st = st ? st : sl_buf_json_i64(o, r->pos.partition);
        st = st ? st : sl_buf_append(o, ",\"offset\":", 10);
        st = st ? st : sl_buf_json_i64(o, r->pos.offset);
    }
    st = st ? st : sl_buf_append(o, ",\"reason\":\"", 11);
    st = st ? st : sl_buf_append(o, sl_reason_str(reason), strlen(sl_reason_str(reason)));
    st = st ? st : sl_buf_append(o, "\",\"detail\":", 11);
    st = st ? st : sl_buf_json_str(o, detail, strlen(detail), NULL);
    st = st ? st : sl_buf_append(o, ",\"bytes\":", 9);
    st = st ? st : sl_buf_json_i64(o, (int64_t)r->full_len);
    if (r->cut)
        st = st ? st : sl_buf_append(o, ",\"cut\":true", 11);
    /* Nothing is lost: raw is the message as text, and when the bytes are not
     * valid UTF-8 raw_base64 carries them exactly. */
    bool lossy = false;
    st = st ? st : sl_buf_append(o, ",\"raw\":", 7);
    st = st ? st : sl_buf_json_str(o, r->raw, r->len, &lossy);
    if (!st && lossy) {
        static const char tbl[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        st = sl_buf_append(o, ",\"raw_base64\":\"", 15);
        st = st ? st : sl_buf_reserve(o, ((size_t)r->len + 2) / 3 * 4);
        const unsigned char *p = (const unsigned char *)r->raw;
        for (uint32_t k = 0; !st && k < r->len; k += 3) {
            uint32_t v = (uint32_t)p[k] << 16;
            if (k + 1 < r->len)
                v |= (uint32_t)p[k + 1] << 8;
            if (k + 2 < r->len)
                v |= p[k + 2];
            char q[4] = {tbl[v >> 18 & 63], tbl[v >> 12 & 63],
                         k + 1 < r->len ? tbl[v >> 6 & 63] : '=',
                         k + 2 < r->len ? tbl[v & 63] : '='};
            st = sl_buf_append(o, q, 4);
        }
        st = st ? st : sl_buf_putc(o, '"');
    }
    st = st ? st : sl_buf_putc(o, '}');
    if (st)
        return st;
    return op_batch_emit_end(b, OP_CHANNEL_DEADLETTER);
}
