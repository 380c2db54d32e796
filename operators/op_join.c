/*
 * op_join.c — the stateful heart of the graph: featurize, score and the
 * delayed-feedback label join, record by record.
 *
 * Why one operator: a view's features must be read as of the view, a
 * reaction changes the features later views read, and closing a window
 * teaches the models that score the next view. If these were separate graph
 * nodes, each running over the whole batch, a view would see more or fewer
 * of the reactions in its own batch depending on where the batch happened
 * to be cut. Processing each record completely, in order, makes every
 * output depend only on the input order, never on batching.
 *
 * Per record:
 *  - view: a repeated view_id (still pending) is dropped and counted, so
 *    neither labels nor aggregates count it twice. Otherwise the example is
 *    built from state as of the view (op_features_build), the view's effect
 *    is applied (op_features_update), every scorer of the surface predicts
 *    and a score record is emitted, and the view waits in the pending column
 *    family with its frozen example and predictions until its attribution
 *    window closes. Reactions that arrived before it (within the lateness)
 *    are applied now.
 *  - click / like / share / dwell / conversion / register with a view_id:
 *    sets the label on its pending view if it falls inside the window; a
 *    repeated (view_id, type) is dropped and counted; the reaction's effect
 *    on the features is applied (op_features_on_reaction) with the view's
 *    identity. A reaction for a view not seen yet waits as an orphan for
 *    `lateness_ms`; one for an unknown or closed view is counted.
 *  - profile / friend / register: op_features_update.
 *  - after each record, event time may have advanced: every pending view
 *    whose deadline (view ts + window + lateness of its surface) is ≤ the
 *    max event time seen is closed: its example, with labels, goes to the
 *    `examples` sink and to the learners, and it leaves state.
 *
 * Pending views and orphans live in the state store (pending CF), so they
 * survive checkpoints; the deadlines are indexed by an in-memory min-heap
 * rebuilt from the pending CF when the operator starts.
 *
 * Scorers: the built-in `prior` per surface — the observed rate of closed
 * examples, (positives + 2·base_rate) / (examples + 2), also the baseline of
 * normalized cross-entropy — and every configured model of the surface
 * (op_learners). A model's raw heads are kept with the pending view; at
 * close each head's served prediction is scored (progressive validation)
 * and the model learns the example. A surface with no model is scored by
 * the prior.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_bytes.h"
#include "model_example.h"
#include "model_metrics.h"
#include "op.h"
#include "op_features.h"
#include "op_learners.h"
#include "sl_log.h"
#include "state_store.h"

#define JOIN_VERSION     1
/* Predictions kept per view: the prior, then each model's raw heads. */
#define JOIN_MAX_SCORERS (1 + SL_CONFIG_MAX_MODELS * MODEL_MAX_HEADS)
#define JOIN_KEY_MAX     (1 + SL_EVENT_MAX_ID)
#define JOIN_VALUE_MAX   (64 + 2 * SL_EVENT_MAX_ID + 4 * JOIN_MAX_SCORERS + MODEL_EXAMPLE_MAX_BYTES)

/* Reaction kinds a view can receive, as bits of pending.seen. */
enum { R_CLICK, R_LIKE, R_SHARE, R_DWELL, R_REGISTER, R_CONVERSION, R_COUNT };

/* The state of the next JOIN_PF_RECORDS records is read ahead in one
 * batched read (state_store_prefetch): at most JOIN_PF_KEYS keys a record,
 * JOIN_PF_BYTES of keys in all (more just goes unprefetched). */
#define JOIN_PF_RECORDS 256
#define JOIN_PF_KEYS    7
#define JOIN_PF_BYTES   (64 * 1024)

/* Pending-CF keys: 'v' + view_id (a view), 'o' + view_id (orphan reactions). */
enum { KEY_VIEW = 'v', KEY_ORPHAN = 'o' };
/* An orphan record: kinds seen u8, dwell f32, deadline i64, seq u64, then
 * the event time of each kind (i64 × R_COUNT), so the reaction's effect on
 * the features lands at its own time once the view arrives. */
#define ORPHAN_TS    21
#define ORPHAN_BYTES (ORPHAN_TS + 8 * 6)

/* The decoded pending record of one view. */
typedef struct join_view {
    uint64_t seq;                 /* arrival order (the heap's tie-break) */
    sl_surface surface;           /* the view's surface */
    int64_t ts;                   /* view time */
    uint8_t seen;                 /* bit per reaction kind already applied */
    float dwell_ms;               /* the view's dwell (the first dwell event; later ones
                                     are duplicates) */
    sl_str user, item;            /* borrowed from the record buffer */
    uint8_t n_pred;               /* predictions stored */
    float pred[JOIN_MAX_SCORERS]; /* made at view time */
    const unsigned char *ex;      /* the frozen example's bytes */
    size_t ex_len;                /* their length */
} join_view;

/* A deadline in the min-heap: when it passes, `kind`+id leaves pending. */
typedef struct join_due {
    int64_t at;   /* deadline, event time */
    uint64_t seq; /* arrival order: breaks ties the same way after a restart */
    uint32_t off; /* id bytes in the pool */
    uint16_t len; /* id length */
    uint8_t kind; /* KEY_VIEW or KEY_ORPHAN */
} join_due;

typedef struct join_prior {
    uint64_t examples; /* closed examples */
    uint64_t clicks;   /* of which clicked */
} join_prior;

typedef struct op_join {
    const sl_config *cfg;               /* windows, lateness */
    op_stats *stats;                    /* shared counters */
    state_store *store;                 /* pending views, feature state */
    op_features *feat;                  /* the featurizer */
    join_due *heap;                     /* deadlines, a binary min-heap */
    uint32_t n_heap, cap_heap;          /* used / allocated */
    char *pool;                         /* id bytes of heap entries */
    uint32_t pool_len, pool_cap;        /* used / allocated */
    uint32_t pool_live;                 /* bytes still referenced by the heap */
    int64_t max_ts;                     /* highest event time seen */
    uint64_t seq;                       /* next arrival number for the heap */
    join_prior prior[SL_SURFACE_COUNT]; /* the built-in scorer */
    model_example ex;                   /* scratch example */
    model_example closing[OP_LEARNERS_QUEUE]; /* examples closed and queued to learn, until
                                                 the flush (op_learners_queue borrows them) */
    uint32_t n_closing;                       /* used */
    unsigned char buf[JOIN_VALUE_MAX];  /* scratch record */
    unsigned char buf2[JOIN_VALUE_MAX]; /* second scratch record */
    /* counters for the report */
    uint64_t views, dup_views, reactions, dup_reactions, unknown_reactions, late_reactions;
    uint64_t orphans_applied, orphans_expired, closed, labeled[R_COUNT];
    uint64_t records;                        /* records processed: paces the sweep */
    uint64_t pending_views;                  /* views waiting for their window to close */
    uint64_t swept;                          /* dead feature records removed */
    int64_t max_lateness;                    /* the largest surfaces.*.lateness_ms */
    model_metrics metrics[SL_SURFACE_COUNT]; /* progressive validation of the prior */
    sl_buf scratch;                          /* metrics state encoding */
    op_learners *learn;                      /* the configured models */
    model_metrics *mmetrics;                 /* (Σ heads) progressive validation of each head */
    uint32_t mbase[SL_CONFIG_MAX_MODELS];    /* first mmetrics entry of each model */
    uint32_t n_mm;                           /* mmetrics entries */
    int64_t snap_bucket[SL_CONFIG_MAX_MODELS]; /* max_ts / interval at the last snapshot */
    int64_t snap_due_at; /* the earliest max_ts at which a snapshot may come due (derived
                            from snap_bucket; INT64_MIN: work it out at the next record) */
    uint64_t stale_preds;                    /* views closed with another model set's predictions */
    state_key pf_v[JOIN_PF_RECORDS * JOIN_PF_KEYS]; /* prefetch: the next records' keys */
    unsigned char pf_buf[JOIN_PF_BYTES];            /* and their bytes */
} op_join;

/* Every JOIN_SWEEP_EVERY records, one step of the sweep of dead feature
 * records, at most JOIN_SWEEP_KEYS keys: the pace follows the input, so the
 * state stays bounded without a clock. */
#define JOIN_SWEEP_EVERY 1024
#define JOIN_SWEEP_KEYS  2048

static int reaction_kind(sl_event_type t) {
    switch (t) {
    case SL_EVENT_CLICK: return R_CLICK;
    case SL_EVENT_LIKE: return R_LIKE;
    case SL_EVENT_SHARE: return R_SHARE;
    case SL_EVENT_DWELL: return R_DWELL;
    case SL_EVENT_REGISTER: return R_REGISTER;
    case SL_EVENT_CONVERSION: return R_CONVERSION;
    default: return -1;
    }
}

static const sl_event_type kind_type[R_COUNT] = {SL_EVENT_CLICK,    SL_EVENT_LIKE,
                                                 SL_EVENT_SHARE,    SL_EVENT_DWELL,
                                                 SL_EVENT_REGISTER, SL_EVENT_CONVERSION};

static const model_label kind_label[R_COUNT] = {MODEL_LABEL_CLICK,    MODEL_LABEL_LIKE,
                                                MODEL_LABEL_SHARE,    MODEL_LABEL_DWELL,
                                                MODEL_LABEL_REGISTER, MODEL_LABEL_CONVERSION};

/* ---- the deadline heap -------------------------------------------------- */

static bool due_less(const join_due *a, const join_due *b) {
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static sl_status heap_push(op_join *j, int64_t at, uint64_t seq, uint8_t kind, const char *id,
                           uint32_t len) {
    if (j->pool_len + len > j->pool_cap) {
        /* Compact first when most of the pool is garbage; grow otherwise. */
        if (j->pool_live * 2 < j->pool_len) {
            char *np = malloc(j->pool_cap);
            if (!np)
                return SL_ERR_NOMEM;
            uint32_t o = 0;
            for (uint32_t i = 0; i < j->n_heap; i++) {
                memcpy(np + o, j->pool + j->heap[i].off, j->heap[i].len);
                j->heap[i].off = o;
                o += j->heap[i].len;
            }
            free(j->pool);
            j->pool = np;
            j->pool_len = o;
        }
        while (j->pool_len + len > j->pool_cap) {
            uint32_t cap = j->pool_cap ? j->pool_cap * 2 : 1u << 16;
            char *np = realloc(j->pool, cap);
            if (!np)
                return SL_ERR_NOMEM;
            j->pool = np;
            j->pool_cap = cap;
        }
    }
    if (j->n_heap == j->cap_heap) {
        uint32_t cap = j->cap_heap ? j->cap_heap * 2 : 4096;
        join_due *nh = realloc(j->heap, cap * sizeof *nh);
        if (!nh)
            return SL_ERR_NOMEM;
        j->heap = nh;
        j->cap_heap = cap;
    }
    memcpy(j->pool + j->pool_len, id, len);
    join_due d = {at, seq, j->pool_len, (uint16_t)len, kind};
    j->pool_len += len;
    j->pool_live += len;
    uint32_t i = j->n_heap++;
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!due_less(&d, &j->heap[parent]))
            break;
        j->heap[i] = j->heap[parent];
        i = parent;
    }
    j->heap[i] = d;
    return SL_OK;
}

static void heap_pop(op_join *j) {
    j->pool_live -= j->heap[0].len;
    join_due last = j->heap[--j->n_heap];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= j->n_heap)
            break;
        if (c + 1 < j->n_heap && due_less(&j->heap[c + 1], &j->heap[c]))
            c++;
        if (!due_less(&j->heap[c], &last))
            break;
        j->heap[i] = j->heap[c];
        i = c;
    }
    if (j->n_heap)
        j->heap[i] = last;
}

/* ---- pending records ---------------------------------------------------- */

static size_t make_key(unsigned char *k, char kind, sl_str id) {
    k[0] = (unsigned char)kind;
    memcpy(k + 1, id.p, id.n);
    return 1 + id.n;
}

/* Layout: version u8, surface u8, seen u8, n_pred u8, ts i64, dwell f32,
 * user_len u16, item_len u16, seq u64, user, item, pred f32[n_pred], example. */
#define VIEW_HEAD 28
static size_t encode_view(const join_view *v, const model_example *ex, unsigned char *out) {
    unsigned char *p = out;
    p[0] = JOIN_VERSION;
    p[1] = (unsigned char)v->surface;
    p[2] = v->seen;
    p[3] = v->n_pred;
    sl_put_i64(p + 4, v->ts);
    memcpy(p + 12, &v->dwell_ms, 4);
    p[16] = (unsigned char)v->user.n;
    p[17] = (unsigned char)(v->user.n >> 8);
    p[18] = (unsigned char)v->item.n;
    p[19] = (unsigned char)(v->item.n >> 8);
    sl_put_i64(p + 20, (int64_t)v->seq);
    p += VIEW_HEAD;
    memcpy(p, v->user.p, v->user.n);
    p += v->user.n;
    memcpy(p, v->item.p, v->item.n);
    p += v->item.n;
    memcpy(p, v->pred, 4u * v->n_pred);
    p += 4u * v->n_pred;
    size_t exlen = 0;
    if (ex) { /* cannot fail: JOIN_VALUE_MAX has room for the largest head, ids,
               * predictions and MODEL_EXAMPLE_MAX_BYTES */
        sl_status st = model_example_encode(ex, p, JOIN_VALUE_MAX - (size_t)(p - out), &exlen);
        assert(st == SL_OK);
        (void)st;
    } else {
        memcpy(p, v->ex, v->ex_len);
        exlen = v->ex_len;
    }
    return (size_t)(p - out) + exlen;
}

static bool decode_view(const unsigned char *p, size_t len, join_view *v) {
    if (len < VIEW_HEAD || p[0] != JOIN_VERSION || p[1] >= SL_SURFACE_COUNT ||
        p[3] > JOIN_MAX_SCORERS)
        return false;
    v->surface = (sl_surface)p[1];
    v->seen = p[2];
    v->n_pred = p[3];
    v->ts = sl_get_i64(p + 4);
    memcpy(&v->dwell_ms, p + 12, 4);
    uint32_t ul = p[16] | (uint32_t)p[17] << 8, il = p[18] | (uint32_t)p[19] << 8;
    v->seq = (uint64_t)sl_get_i64(p + 20);
    size_t need = VIEW_HEAD + ul + il + 4u * v->n_pred;
    if (need > len)
        return false;
    v->user = (sl_str){(const char *)p + VIEW_HEAD, ul};
    v->item = (sl_str){(const char *)p + VIEW_HEAD + ul, il};
    memcpy(v->pred, p + VIEW_HEAD + ul + il, 4u * v->n_pred);
    v->ex = p + need;
    v->ex_len = len - need;
    return true;
}

static const sl_config_surface *surface_cfg(const op_join *j, sl_surface s) {
    return &j->cfg->surfaces[s];
}

/* ---- emitting ----------------------------------------------------------- */

static float prior_predict(const op_join *j, sl_surface s) {
    const join_prior *p = &j->prior[s];
    double r = j->cfg->surfaces[s].base_rate; /* two pseudo-examples at the base rate */
    return (float)(((double)p->clicks + 2.0 * r) / ((double)p->examples + 2.0));
}

/* One score record: a model's served heads for the view ev (record i). */
static sl_status emit_score(op_batch *b, uint32_t i, const sl_event *ev, const char *model,
                            uint64_t version, uint32_t heads, const char *const *names,
                            const float *p, const float *blend) {
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
    st = st ? st : sl_buf_append(o, "\",\"model\":\"", 11);
    st = st ? st : sl_buf_append(o, model, strlen(model));
    st = st ? st : sl_buf_append(o, "\",\"model_version\":", 18);
    st = st ? st : sl_buf_json_i64(o, (int64_t)version);
    st = st ? st : sl_buf_append(o, ",\"scores\":{", 11);
    for (uint32_t h = 0; !st && h < heads; h++) {
        st = sl_buf_printf(o, "%s\"%s\":", h ? "," : "", names[h]);
        st = st ? st : sl_buf_json_fixed(o, p[h], 6);
    }
    if (!st && blend) { /* the feed's ranking score: a weighted sum of its heads */
        st = sl_buf_append(o, ",\"score\":", 9);
        st = st ? st : sl_buf_json_fixed(o, *blend, 6);
    }
    st = st ? st : sl_buf_append(o, "},\"ts\":", 7);
    st = st ? st : sl_buf_json_i64(o, ev->ts);
    st = st ? st : sl_buf_putc(o, '}');
    return st ? st : op_batch_emit_end(b, OP_CHANNEL_SCORES);
}

/* Feature values and labels are floats: integers print as such, the rest
 * with 6 decimals (float carries ~7 digits), without printf. */
static sl_status num(sl_buf *o, float v) {
    if (v == (float)(int32_t)v && v > -1e9f && v < 1e9f)
        return sl_buf_json_i64(o, (int64_t)v);
    return sl_buf_json_fixed(o, v, 6);
}

enum { LIST_U32, LIST_U8, LIST_F32 };

/* Appends `open` then n comma-separated values of one of the example's
 * arrays (uint32_t, uint8_t or float). */
static sl_status json_list(sl_buf *o, const char *open, int kind, const void *arr, uint32_t n) {
    sl_status st = sl_buf_append(o, open, strlen(open));
    for (uint32_t k = 0; !st && k < n; k++) {
        if (k)
            st = sl_buf_putc(o, ',');
        if (st)
            break;
        if (kind == LIST_U32)
            st = sl_buf_json_i64(o, ((const uint32_t *)arr)[k]);
        else if (kind == LIST_U8)
            st = sl_buf_json_i64(o, ((const uint8_t *)arr)[k]);
        else
            st = num(o, ((const float *)arr)[k]);
    }
    return st;
}

/* The finished example; served[m] holds the served heads of model ids[m]
 * (n_served of them, 0 when the view's predictions are stale): a number for
 * a one-head model, an object of its heads otherwise. */
static sl_status emit_example(op_batch *b, uint32_t src, sl_str view_id, const join_view *v,
                              const model_example *ex, const op_learners *learn,
                              const uint32_t *ids, float (*served)[MODEL_MAX_HEADS],
                              uint32_t n_served) {
    sl_buf *o = op_batch_emit_begin(b, OP_CHANNEL_EXAMPLES, view_id.p, view_id.n, src);
    if (!o)
        return SL_ERR_NOMEM;
    sl_status st = sl_buf_append(o, "{\"view_id\":", 11);
    st = st ? st : sl_buf_json_str(o, view_id.p, view_id.n, NULL);
    st = st ? st : sl_buf_append(o, ",\"user\":", 8);
    st = st ? st : sl_buf_json_str(o, v->user.p, v->user.n, NULL);
    st = st ? st : sl_buf_append(o, ",\"item\":", 8);
    st = st ? st : sl_buf_json_str(o, v->item.p, v->item.n, NULL);
    st = st ? st : sl_buf_printf(o, ",\"surface\":\"%s\",\"ts\":", sl_surface_str(v->surface));
    st = st ? st : sl_buf_json_i64(o, v->ts);
    st = st ? st : sl_buf_append(o, ",\"labels\":{", 11);
    for (int l = 0; !st && l < MODEL_LABEL_COUNT; l++) {
        st = sl_buf_printf(o, "%s\"%s\":", l ? "," : "", model_label_str((model_label)l));
        st = st ? st : num(o, ex->label[l]);
    }
    st = st ? st : sl_buf_append(o, "},\"predictions\":{\"prior\":", 25);
    st = st ? st : sl_buf_json_fixed(o, v->n_pred ? v->pred[0] : 0.0, 6);
    for (uint32_t m = 0; !st && m < n_served; m++) {
        const model_kind_vtable *vt = op_learners_vt(learn, ids[m]);
        st = sl_buf_printf(o, ",\"%s\":", op_learners_name(learn, ids[m]));
        if (vt->heads == 1) {
            st = st ? st : sl_buf_json_fixed(o, served[m][0], 6);
            continue;
        }
        for (uint32_t h = 0; !st && h < vt->heads; h++) {
            st = sl_buf_printf(o, "%s\"%s\":", h ? "," : "{", vt->head_names[h]);
            st = st ? st : sl_buf_json_fixed(o, served[m][h], 6);
        }
        st = st ? st : sl_buf_putc(o, '}');
    }
    st = st ? st : sl_buf_printf(o, "},\"weight\":");
    st = st ? st : sl_buf_json_num(o, ex->weight);
    st = st ? st : json_list(o, ",\"idx\":[", LIST_U32, ex->idx, ex->n);
    st = st ? st : json_list(o, "],\"val\":[", LIST_F32, ex->val, ex->n);
    st = st ? st : json_list(o, "],\"field\":[", LIST_U8, ex->field, ex->n);
    st = st ? st : json_list(o, "],\"dense\":[", LIST_F32, ex->dense, ex->n_dense);
    st = st ? st : sl_buf_append(o, "]}", 2);
    return st ? st : op_batch_emit_end(b, OP_CHANNEL_EXAMPLES);
}

/* One tumbling window of a surface's metrics to the `metrics` sink (key:
 * surface), then a new window. ts is the event time that closed it. */
static sl_status emit_metrics(op_join *j, op_batch *b, uint32_t src, sl_surface s,
                              const char *model, model_metrics *mm, int64_t ts) {
    const char *name = sl_surface_str(s);
    sl_buf *o = op_batch_emit_begin(b, OP_CHANNEL_METRICS, name, (uint32_t)strlen(name), src);
    if (!o)
        return SL_ERR_NOMEM;
    sl_status st = sl_buf_printf(o, "{\"surface\":\"%s\",\"model\":", name);
    st = st ? st : sl_buf_json_str(o, model, strlen(model), NULL);
    st = st ? st : sl_buf_append(o, ",\"ts\":", 6);
    st = st ? st : sl_buf_json_i64(o, ts == INT64_MAX ? j->max_ts : ts);
    st = st ? st : sl_buf_append(o, ",\"window\":", 10);
    st = st ? st : model_metrics_report_json(mm, o, true);
    st = st ? st : sl_buf_putc(o, '}');
    if (st)
        return st;
    model_metrics_reset_window(mm);
    return op_batch_emit_end(b, OP_CHANNEL_METRICS);
}

/* Predictions a view of surface s stores: the prior and every head of its
 * models. */
static uint32_t surface_preds(const op_join *j, sl_surface s) {
    const uint32_t *ids;
    uint32_t n = op_learners_of(j->learn, s, &ids), total = 1;
    for (uint32_t m = 0; m < n; m++)
        total += op_learners_vt(j->learn, ids[m])->heads;
    return total;
}

/* The metrics name of head h of model id: the model's name for its first
 * head, NAME.like / NAME.share / NAME.dwell for the others. */
static const char *head_name(const op_join *j, uint32_t id, uint32_t h, char *buf, size_t cap) {
    const model_kind_vtable *vt = op_learners_vt(j->learn, id);
    if (h == 0)
        snprintf(buf, cap, "%s", op_learners_name(j->learn, id));
    else
        snprintf(buf, cap, "%s.%s", op_learners_name(j->learn, id),
                 model_label_str(vt->head_labels[h]));
    return buf;
}

/* A snapshot of model id to the `snapshots` sink (key: its name). */
static sl_status emit_snapshot(op_join *j, op_batch *b, uint32_t src, uint32_t id, sl_err *err) {
    const char *name = op_learners_name(j->learn, id);
    sl_buf *o = op_batch_emit_begin(b, OP_CHANNEL_SNAPSHOTS, name, (uint32_t)strlen(name), src);
    if (!o)
        return sl_err_set(err, SL_ERR_NOMEM, "join: no room for a snapshot of %s", name);
    size_t len;
    sl_status st = op_learners_snapshot(j->learn, id, j->max_ts, o, &len, err);
    return st ? st : op_batch_emit_end(b, OP_CHANNEL_SNAPSHOTS);
}

/* Snapshots every models.*.snapshot_interval_ms of event time: when max_ts
 * enters a new interval (the first interval seen only starts the count). */
static sl_status snapshots_due(op_join *j, op_batch *b, uint32_t src, sl_err *err) {
    if (j->max_ts < j->snap_due_at)
        return SL_OK; /* the common case: no boundary crossed, no division */
    int64_t next = INT64_MAX;
    for (uint32_t id = 0; id < op_learners_count(j->learn); id++) {
        int64_t every = op_learners_cfg(j->learn, id)->snapshot_interval_ms;
        if (every <= 0)
            continue;
        int64_t bucket = j->max_ts / every - (j->max_ts % every < 0);
        if (j->snap_bucket[id] == INT64_MIN)
            j->snap_bucket[id] = bucket;
        else if (bucket > j->snap_bucket[id]) {
            j->snap_bucket[id] = bucket;
            sl_status st = emit_snapshot(j, b, src, id, err);
            if (st)
                return st;
        }
        int64_t at = bucket < INT64_MAX / every - 1 ? (bucket + 1) * every : INT64_MAX;
        if (at < next)
            next = at;
    }
    j->snap_due_at = next;
    return SL_OK;
}

/* ---- closing windows ---------------------------------------------------- */

/* Progressive validation of head h of model id on a closed view: its
 * served prediction from view time against the label the window ended
 * with. Binary heads score log loss, AUC, calibration; the dwell head a
 * regression on log1p(ms), on clicked views only. */
static sl_status score_head(op_join *j, op_batch *b, uint32_t src, const join_view *v,
                            const model_example *ex, uint32_t id, uint32_t h, float p, int64_t now,
                            sl_err *err) {
    const model_kind_vtable *vt = op_learners_vt(j->learn, id);
    model_label lab = vt->heads == 1 ? model_kind_target(v->surface) : vt->head_labels[h];
    model_metrics *me = &j->mmetrics[j->mbase[id] + h];
    if (lab == MODEL_LABEL_DWELL) {
        if (ex->label[MODEL_LABEL_CLICK] > 0.5f)
            model_metrics_add_real(me, log1pf(p > 0 ? p : 0), log1pf(ex->label[lab]), 1.0f);
    } else {
        model_metrics_add(me, p, ex->label[lab], 1.0f);
        if (h == 0 && v->surface == SL_SURFACE_ADS)
            model_metrics_add_conversion(me, ex->label[MODEL_LABEL_CONVERSION], 1.0f);
    }
    if (!model_metrics_window_full(me))
        return SL_OK;
    char name[300];
    sl_status st = emit_metrics(j, b, src, v->surface, head_name(j, id, h, name, sizeof name), me,
                                now);
    return st ? sl_err_set(err, st, "join: cannot write metrics: %s", sl_status_str(st)) : SL_OK;
}

/* Closes whatever is due at or before the max event time seen (see
 * close_due). */
static sl_status close_due_(op_join *j, op_batch *b, uint32_t src, int64_t now, sl_err *err) {
    unsigned char key[JOIN_KEY_MAX];
    while (j->n_heap && j->heap[0].at <= now) {
        join_due d = j->heap[0];
        sl_str id = {j->pool + d.off, d.len};
        size_t klen = make_key(key, (char)d.kind, id);
        size_t vlen;
        sl_status st = state_store_get(j->store, STATE_CF_PENDING, key, klen, j->buf, sizeof j->buf,
                                       &vlen, err);
        if (st == SL_ERR_NOT_FOUND) { /* already handled */
            heap_pop(j);
            continue;
        }
        if (st)
            return st;
        if (d.kind == KEY_ORPHAN) {
            j->orphans_expired++;
            j->unknown_reactions += __builtin_popcount(j->buf[0]);
        } else {
            join_view v;
            if (j->n_closing == OP_LEARNERS_QUEUE) { /* the ring is full: learn it */
                op_learners_flush(j->learn);
                j->n_closing = 0;
            }
            model_example *ex = &j->closing[j->n_closing];
            if (!decode_view(j->buf, vlen, &v) || model_example_decode(v.ex, v.ex_len, ex))
                return sl_err_set(err, SL_ERR_CORRUPT, "join: pending view %.*s is corrupt",
                                  (int)id.n, id.p);
            /* Labels: a reaction seen is 1, none is 0; dwell in ms. */
            for (int r = 0; r < R_COUNT; r++)
                model_example_set_label(ex, kind_label[r],
                                        r == R_DWELL ? v.dwell_ms : (float)((v.seen >> r) & 1));
            j->pending_views--;
            /* Progressive validation: the prediction made at view time
             * against the label the window ended with — the prior's, then
             * each model's, which then learns the example. */
            float y = ex->label[model_kind_target(v.surface)];
            float conv = (float)((v.seen >> R_CONVERSION) & 1);
            model_metrics *mm = &j->metrics[v.surface];
            model_metrics_add(mm, v.n_pred ? v.pred[0] : 0.5f, y, 1.0f);
            if (v.surface == SL_SURFACE_ADS)
                model_metrics_add_conversion(mm, conv, 1.0f);
            j->prior[v.surface].examples++;
            j->prior[v.surface].clicks += y > 0.5f;
            if (model_metrics_window_full(mm) &&
                (st = emit_metrics(j, b, src, v.surface, "prior", mm, now)))
                return sl_err_set(err, st, "join: cannot write metrics: %s", sl_status_str(st));
            const uint32_t *ids;
            uint32_t nm = op_learners_of(j->learn, v.surface, &ids);
            float served[SL_CONFIG_MAX_MODELS][MODEL_MAX_HEADS];
            if (nm && v.n_pred != surface_preds(j, v.surface)) {
                j->stale_preds++; /* predicted by another set of models: not learned */
                nm = 0;
            }
            for (uint32_t m = 0, off = 1; m < nm; m++) {
                uint32_t mid = ids[m];
                const model_kind_vtable *vt = op_learners_vt(j->learn, mid);
                for (uint32_t h = 0; h < vt->heads; h++) {
                    served[m][h] = op_learners_serve(j->learn, mid, h, v.pred[off + h]);
                    if ((st = score_head(j, b, src, &v, ex, mid, h, served[m][h], now, err)))
                        return st;
                }
                if ((st = op_learners_queue(j->learn, mid, id, ex)))
                    return sl_err_set(err, st, "join: model %s cannot learn",
                                      op_learners_name(j->learn, mid));
                off += vt->heads;
            }
            j->closed++;
            j->n_closing++;
            if ((st = emit_example(b, src, id, &v, ex, j->learn, ids, served, nm)))
                return sl_err_set(err, st, "join: cannot write an example: %s", sl_status_str(st));
        }
        /* The id lives in the pool until the pop, so delete first. */
        if ((st = state_store_delete(j->store, STATE_CF_PENDING, key, klen, err)))
            return st;
        heap_pop(j);
    }
    return SL_OK;
}

/* Closes whatever is due at or before the max event time seen. The closed
 * examples are learned in batches (op_learners_queue: one model's
 * parameters prefetched for the next examples while one is learned), all
 * of them before this returns, so every prediction after it sees the same
 * model as if each had been learned as it closed. */
static sl_status close_due(op_join *j, op_batch *b, uint32_t src, int64_t now, sl_err *err) {
    sl_status st = close_due_(j, b, src, now, err);
    op_learners_flush(j->learn);
    j->n_closing = 0;
    return st;
}

/* ---- records ------------------------------------------------------------ */

/* Applies one reaction kind to a decoded pending view (in j->buf), which
 * is then written back. Returns false when it was a duplicate. */
static bool apply_reaction(join_view *v, int kind, double dwell) {
    if (v->seen & (1u << kind))
        return false;
    v->seen |= (uint8_t)(1u << kind);
    if (kind == R_DWELL)
        v->dwell_ms += (float)dwell;
    return true;
}

static sl_status on_view(op_join *j, op_batch *b, uint32_t i, sl_err *err) {
    const sl_event *ev = &b->recs[i].ev;
    unsigned char key[JOIN_KEY_MAX];
    size_t klen = make_key(key, KEY_VIEW, ev->view_id);
    size_t vlen;
    sl_status st =
        state_store_get(j->store, STATE_CF_PENDING, key, klen, j->buf, sizeof j->buf, &vlen, err);
    if (st == SL_OK) {
        j->dup_views++;
        return SL_OK;
    }
    if (st != SL_ERR_NOT_FOUND)
        return st;
    j->views++;
    model_example *ex = &j->ex;
    model_example_reset(ex);
    if ((st = op_features_build(j->feat, ev, ev->item, ex, err)) ||
        (st = op_features_update(j->feat, ev, err)))
        return st;
    join_view v = {
        .seq = j->seq++, .surface = ev->surface, .ts = ev->ts, .user = ev->user, .item = ev->item};
    v.pred[v.n_pred++] = prior_predict(j, ev->surface);
    const uint32_t *ids;
    uint32_t nm = op_learners_of(j->learn, ev->surface, &ids);
    static const char *const prior_heads[] = {"p_click"};
    if (nm == 0 && (st = emit_score(b, i, ev, "prior", 0, 1, prior_heads, v.pred, NULL)))
        return sl_err_set(err, st, "join: cannot write a score: %s", sl_status_str(st));
    for (uint32_t m = 0; m < nm; m++) {
        /* The raw heads are kept for the update; users see the served ones. */
        const model_kind_vtable *vt = op_learners_vt(j->learn, ids[m]);
        float *raw = v.pred + v.n_pred, out[MODEL_MAX_HEADS];
        op_learners_predict(j->learn, ids[m], ex, raw);
        for (uint32_t h = 0; h < vt->heads; h++)
            out[h] = op_learners_serve(j->learn, ids[m], h, raw[h]);
        v.n_pred = (uint8_t)(v.n_pred + vt->heads);
        float blend = vt->blend ? op_learners_blend(j->learn, ids[m], out) : 0.0f;
        if ((st = emit_score(b, i, ev, op_learners_name(j->learn, ids[m]),
                             op_learners_version(j->learn, ids[m]), vt->heads, vt->head_names,
                             out, vt->blend ? &blend : NULL)))
            return sl_err_set(err, st, "join: cannot write a score: %s", sl_status_str(st));
    }
    /* Reactions that came first (within the lateness) apply now. */
    unsigned char okey[JOIN_KEY_MAX];
    size_t oklen = make_key(okey, KEY_ORPHAN, ev->view_id);
    size_t olen;
    st = state_store_get(j->store, STATE_CF_PENDING, okey, oklen, j->buf2, sizeof j->buf2, &olen,
                         err);
    if (st == SL_OK && olen == ORPHAN_BYTES) {
        uint8_t mask = j->buf2[0];
        float dwell;
        memcpy(&dwell, j->buf2 + 1, 4);
        op_view_ref ref = {ev->user, ev->item, ev->surface, ev->ts};
        for (int r = 0; r < R_COUNT; r++)
            if (mask & (1u << r)) {
                apply_reaction(&v, r, dwell);
                j->labeled[r]++;
                j->orphans_applied++;
                /* Its effect on the features, at its own event time. */
                int64_t rts = sl_get_i64(j->buf2 + ORPHAN_TS + 8 * r);
                if ((st = op_features_on_reaction(j->feat, &ref, kind_type[r], rts,
                                                  r == R_DWELL ? dwell : 0.0, err)))
                    return st;
            }
        if ((st = state_store_delete(j->store, STATE_CF_PENDING, okey, oklen, err)))
            return st;
    } else if (st != SL_ERR_NOT_FOUND && st != SL_OK) {
        return st;
    }
    size_t n = encode_view(&v, ex, j->buf);
    if ((st = state_store_put(j->store, STATE_CF_PENDING, key, klen, j->buf, n, err)))
        return st;
    j->pending_views++;
    const sl_config_surface *sc = surface_cfg(j, ev->surface);
    return heap_push(j, ev->ts + sc->window_ms + sc->lateness_ms, v.seq, KEY_VIEW, ev->view_id.p,
                     ev->view_id.n);
}

static sl_status on_reaction(op_join *j, const sl_event *ev, int kind, sl_err *err) {
    j->reactions++;
    unsigned char key[JOIN_KEY_MAX];
    size_t klen = make_key(key, KEY_VIEW, ev->view_id);
    size_t vlen;
    sl_status st =
        state_store_get(j->store, STATE_CF_PENDING, key, klen, j->buf, sizeof j->buf, &vlen, err);
    if (st == SL_ERR_NOT_FOUND) {
        /* Not seen yet: keep it as an orphan until the lateness runs out. The
         * orphan record is a bit mask of kinds and the dwell, as in a view. */
        unsigned char okey[JOIN_KEY_MAX];
        size_t oklen = make_key(okey, KEY_ORPHAN, ev->view_id);
        size_t olen;
        unsigned char rec[ORPHAN_BYTES] = {0};
        st = state_store_get(j->store, STATE_CF_PENDING, okey, oklen, rec, sizeof rec, &olen, err);
        bool fresh = st == SL_ERR_NOT_FOUND;
        if (st && !fresh)
            return st;
        if (rec[0] & (1u << kind)) {
            j->dup_reactions++;
            return SL_OK;
        }
        rec[0] |= (uint8_t)(1u << kind);
        sl_put_i64(rec + ORPHAN_TS + 8 * kind, ev->ts);
        if (kind == R_DWELL) {
            float d;
            memcpy(&d, rec + 1, 4);
            d += (float)ev->dwell_ms;
            memcpy(rec + 1, &d, 4);
        }
        int64_t at = 0;
        uint64_t seq = 0;
        if (fresh) {
            int64_t lateness = 0;
            for (int s = 0; s < SL_SURFACE_COUNT; s++)
                if (j->cfg->surfaces[s].lateness_ms > lateness)
                    lateness = j->cfg->surfaces[s].lateness_ms;
            at = ev->ts + lateness;
            seq = j->seq++;
            sl_put_i64(rec + 5, at);
            sl_put_i64(rec + 13, (int64_t)seq);
        }
        if ((st = state_store_put(j->store, STATE_CF_PENDING, okey, oklen, rec, sizeof rec, err)))
            return st;
        return fresh ? heap_push(j, at, seq, KEY_ORPHAN, ev->view_id.p, ev->view_id.n) : SL_OK;
    }
    if (st)
        return st;
    join_view v;
    if (!decode_view(j->buf, vlen, &v))
        return sl_err_set(err, SL_ERR_CORRUPT, "join: pending view is corrupt");
    if (ev->ts > v.ts + surface_cfg(j, v.surface)->window_ms) {
        j->late_reactions++;
        return SL_OK;
    }
    if (!apply_reaction(&v, kind, ev->dwell_ms)) {
        j->dup_reactions++;
        return SL_OK;
    }
    j->labeled[kind]++;
    op_view_ref ref = {v.user, v.item, v.surface, v.ts};
    if ((st = op_features_on_reaction(j->feat, &ref, ev->type, ev->ts, ev->dwell_ms, err)))
        return st;
    /* The record is rewritten whole: user/item/example bytes are in j->buf,
     * which encode_view reads while writing j->buf2. */
    size_t n = encode_view(&v, NULL, j->buf2);
    return state_store_put(j->store, STATE_CF_PENDING, key, klen, j->buf2, n, err);
}

/* Reads ahead the state records [from, to) will read first: a view's
 * pending and orphan keys and its features' (op_features_prefetch_keys), a
 * reaction's view. Keys the cache holds cost a table probe; the others
 * come from RocksDB in one batched read instead of a get each. */
static void prefetch(op_join *j, const op_batch *b, uint32_t from, uint32_t to) {
    state_keys ks = {j->pf_v, 0, sizeof j->pf_v / sizeof j->pf_v[0], j->pf_buf, 0,
                     sizeof j->pf_buf};
    for (uint32_t i = from; i < to; i++) {
        const op_record *r = &b->recs[i];
        const sl_event *ev = &r->ev;
        if (r->reason != SL_REASON_OK || !ev->view_id.n)
            continue;
        bool view = ev->type == SL_EVENT_VIEW;
        if (!view && reaction_kind(ev->type) < 0)
            continue;
        unsigned char *k;
        for (int o = 0; o < (view ? 2 : 1); o++) {
            if (!(k = state_keys_room(&ks, 1 + ev->view_id.n)))
                goto full;
            state_keys_push(&ks, STATE_CF_PENDING, make_key(k, o ? KEY_ORPHAN : KEY_VIEW,
                                                           ev->view_id));
        }
        if (view && !op_features_prefetch_keys(j->feat, ev, &ks))
            goto full;
    }
full:
    state_store_prefetch(j->store, ks.v, ks.n);
}

static sl_status join_process(void *ctx, op_batch *b, sl_err *err) {
    op_join *j = ctx;
    for (uint32_t i = 0; i < b->n; i++) {
        if (i % JOIN_PF_RECORDS == 0)
            prefetch(j, b, i, i + JOIN_PF_RECORDS < b->n ? i + JOIN_PF_RECORDS : b->n);
        const op_record *r = &b->recs[i];
        if (r->reason != SL_REASON_OK)
            continue;
        const sl_event *ev = &r->ev;
        sl_status st = SL_OK;
        int kind = reaction_kind(ev->type);
        if (ev->type == SL_EVENT_VIEW)
            st = on_view(j, b, i, err);
        else if (kind >= 0 && ev->view_id.n)
            st = on_reaction(j, ev, kind, err);
        if (!st && ev->type != SL_EVENT_VIEW &&
            (ev->type == SL_EVENT_PROFILE || ev->type == SL_EVENT_FRIEND ||
             ev->type == SL_EVENT_REGISTER))
            st = op_features_update(j->feat, ev, err);
        if (st == SL_ERR_INVALID) {
            /* The state refused this event (a profile past its attribute
             * limit, a sum that would overflow): the event is dead-lettered
             * with the reason and the stream goes on. It was counted as a
             * valid event by parse and route; it is a dead letter now. */
            j->stats->events--;
            j->stats->by_type[ev->type]--;
            if (ev->type == SL_EVENT_VIEW)
                j->stats->views_by_surface[ev->surface]--;
            st = op_batch_reject(b, i, SL_REASON_BAD_VALUE, err->msg, j->stats);
        }
        if (!st && ev->ts > j->max_ts) {
            j->max_ts = ev->ts;
            st = close_due(j, b, i, j->max_ts, err);
            if (!st)
                st = snapshots_due(j, b, i, err);
        }
        if (!st && ++j->records % JOIN_SWEEP_EVERY == 0) {
            /* Judged as of the oldest time a view may still be read at. */
            size_t deleted = 0;
            st = op_features_sweep(j->feat, j->max_ts - j->max_lateness, JOIN_SWEEP_KEYS, &deleted,
                                   err);
            j->swept += deleted;
            if (st == SL_ERR_LIMIT)
                st = SL_OK; /* cache full of dirty data: the next checkpoint frees it */
        }
        if (st)
            return st;
    }
    return SL_OK;
}

static sl_status join_watermark(void *ctx, int64_t wm, op_batch *b, sl_err *err) {
    op_join *j = ctx;
    return close_due(j, b, b->n ? b->n - 1 : 0, wm, err);
}

/* The run ends: a last snapshot of every model. */
static sl_status join_finish(void *ctx, op_batch *b, sl_err *err) {
    op_join *j = ctx;
    sl_status st = SL_OK;
    for (uint32_t id = 0; !st && id < op_learners_count(j->learn); id++)
        st = emit_snapshot(j, b, b->n ? b->n - 1 : 0, id, err);
    return st;
}

/* ---- lifecycle ---------------------------------------------------------- */

/* The operator's own numbers that must survive a restart live in the meta CF:
 * max_ts, the prior per surface, seq, then the report's counters. */
#define JOIN_META_KEY   "join"
#define JOIN_COUNTERS   (11 + R_COUNT)
#define JOIN_META_BYTES (16 + 16 * SL_SURFACE_COUNT + 8 * JOIN_COUNTERS)

/* The report's counters, in the order they are stored. */
static uint64_t *counter(op_join *j, int i) {
    uint64_t *c[JOIN_COUNTERS] = {&j->views,
                                  &j->dup_views,
                                  &j->reactions,
                                  &j->dup_reactions,
                                  &j->unknown_reactions,
                                  &j->late_reactions,
                                  &j->orphans_applied,
                                  &j->orphans_expired,
                                  &j->closed,
                                  &j->records,
                                  &j->swept};
    for (int r = 0; r < R_COUNT; r++)
        c[11 + r] = &j->labeled[r];
    return c[i];
}

/* A surface's metrics state (the AUC ring makes it up to a few MiB) lives in
 * meta as a header {length u64, chunks u64} under "join.metrics.S" and the
 * bytes in chunks "join.metrics.S.N" under the store's value limit. */
#define METRICS_CHUNK 60000

static sl_status metrics_save(op_join *j, model_metrics *mm, const char *base, sl_err *err) {
    sl_buf_clear(&j->scratch);
    sl_status st = model_metrics_encode(mm, &j->scratch);
    if (st)
        return sl_err_set(err, st, "join: metrics %s: %s", base, sl_status_str(st));
    uint64_t hdr[2] = {j->scratch.len, (j->scratch.len + METRICS_CHUNK - 1) / METRICS_CHUNK};
    char key[300];
    for (uint64_t c = 0; !st && c < hdr[1]; c++) {
        size_t off = (size_t)c * METRICS_CHUNK;
        size_t n = j->scratch.len - off < METRICS_CHUNK ? j->scratch.len - off : METRICS_CHUNK;
        int kl = snprintf(key, sizeof key, "%s.%llu", base, (unsigned long long)c);
        st = state_store_put(j->store, STATE_CF_META, key, (size_t)kl, j->scratch.p + off, n, err);
    }
    return st ? st
              : state_store_put(j->store, STATE_CF_META, base, strlen(base), hdr, sizeof hdr, err);
}

static sl_status metrics_load(op_join *j, model_metrics *mm, const char *base, sl_err *err) {
    char key[300];
    uint64_t hdr[2];
    size_t len;
    sl_status st =
        state_store_get(j->store, STATE_CF_META, base, strlen(base), hdr, sizeof hdr, &len, err);
    if (st == SL_ERR_NOT_FOUND)
        return SL_OK;
    if (st || len != sizeof hdr || hdr[0] > (uint64_t)1 << 30)
        return st ? st : sl_err_set(err, SL_ERR_CORRUPT, "join: metrics header of %s", base);
    sl_buf_clear(&j->scratch);
    if ((st = sl_buf_reserve(&j->scratch, (size_t)hdr[0])))
        return sl_err_set(err, st, "join: metrics of %s: too large", base);
    for (uint64_t c = 0; c < hdr[1]; c++) {
        int kl = snprintf(key, sizeof key, "%s.%llu", base, (unsigned long long)c);
        st =
            state_store_get(j->store, STATE_CF_META, key, (size_t)kl, j->scratch.p + j->scratch.len,
                            j->scratch.cap - j->scratch.len, &len, err);
        if (st)
            return st;
        j->scratch.len += len;
    }
    if (j->scratch.len != hdr[0])
        return sl_err_set(err, SL_ERR_CORRUPT, "join: metrics of %s are incomplete", base);
    return model_metrics_decode(mm, j->scratch.p, j->scratch.len, err);
}

/* Meta keys of the metrics of the prior of a surface (model < 0), and of
 * head h of a model. */
static const char *metrics_key(char *key, size_t cap, const op_join *j, int surface, int model,
                               uint32_t h) {
    char name[300];
    if (model < 0)
        snprintf(key, cap, "join.metrics.%s", sl_surface_str((sl_surface)surface));
    else
        snprintf(key, cap, "join.model.%s.metrics",
                 head_name(j, (uint32_t)model, h, name, sizeof name));
    return key;
}

/* Frees every (model, head) metrics entry. */
static void mm_deinit(op_join *j) {
    for (uint32_t i = 0; j->mmetrics && i < j->n_mm; i++)
        model_metrics_deinit(&j->mmetrics[i]);
    free(j->mmetrics);
    j->mmetrics = NULL;
}

static sl_status join_checkpoint(void *ctx, sl_err *err) {
    op_join *j = ctx;
    unsigned char rec[JOIN_META_BYTES];
    sl_put_i64(rec, j->max_ts);
    sl_put_i64(rec + 8 + 16 * SL_SURFACE_COUNT, (int64_t)j->seq);
    for (int i = 0; i < JOIN_COUNTERS; i++)
        sl_put_i64(rec + 16 + 16 * SL_SURFACE_COUNT + 8 * i, (int64_t)*counter(j, i));
    for (int s = 0; s < SL_SURFACE_COUNT; s++) {
        sl_put_i64(rec + 8 + 16 * s, (int64_t)j->prior[s].examples);
        sl_put_i64(rec + 16 + 16 * s, (int64_t)j->prior[s].clicks);
    }
    sl_status st = state_store_put(j->store, STATE_CF_META, JOIN_META_KEY, strlen(JOIN_META_KEY),
                                   rec, sizeof rec, err);
    char key[300];
    for (int sf = 0; !st && sf < SL_SURFACE_COUNT; sf++)
        st = metrics_save(j, &j->metrics[sf], metrics_key(key, sizeof key, j, sf, -1, 0), err);
    uint32_t nm = op_learners_count(j->learn);
    for (uint32_t m = 0; !st && m < nm; m++) {
        for (uint32_t h = 0; !st && h < op_learners_vt(j->learn, m)->heads; h++)
            st = metrics_save(j, &j->mmetrics[j->mbase[m] + h],
                              metrics_key(key, sizeof key, j, 0, (int)m, h), err);
        unsigned char b8[8];
        sl_put_i64(b8, j->snap_bucket[m]);
        int kl = snprintf(key, sizeof key, "join.model.%s.snapshot", op_learners_name(j->learn, m));
        st = st ? st : state_store_put(j->store, STATE_CF_META, key, (size_t)kl, b8, 8, err);
    }
    return st ? st : op_learners_checkpoint(j->learn, err);
}

typedef struct rebuild_ctx {
    op_join *j;   /* the operator */
    sl_status st; /* first failure */
} rebuild_ctx;

static bool rebuild_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    rebuild_ctx *rc = ctx;
    op_join *j = rc->j;
    const unsigned char *k = key;
    if (klen < 2)
        return true;
    int64_t at;
    uint64_t seq;
    if (k[0] == KEY_VIEW) {
        join_view v;
        if (!decode_view(val, vlen, &v))
            return true;
        const sl_config_surface *sc = surface_cfg(j, v.surface);
        at = v.ts + sc->window_ms + sc->lateness_ms;
        seq = v.seq;
        j->pending_views++;
    } else if (vlen == ORPHAN_BYTES) {
        at = sl_get_i64((const unsigned char *)val + 5);
        seq = (uint64_t)sl_get_i64((const unsigned char *)val + 13);
    } else {
        return true;
    }
    rc->st = heap_push(j, at, seq, k[0], (const char *)k + 1, (uint32_t)(klen - 1));
    return rc->st == SL_OK;
}

static sl_status join_create(const op_env *env, void **ctx, sl_err *err) {
    op_join *j = calloc(1, sizeof *j);
    if (!j)
        return sl_err_set(err, SL_ERR_NOMEM, "join: out of memory");
    j->cfg = env->cfg;
    j->stats = env->stats;
    j->store = env->store;
    for (int s = 0; s < SL_SURFACE_COUNT; s++)
        if (env->cfg->surfaces[s].lateness_ms > j->max_lateness)
            j->max_lateness = env->cfg->surfaces[s].lateness_ms;
    sl_buf_init(&j->scratch, (size_t)1 << 30);
    sl_status st;
    for (int s = 0; s < SL_SURFACE_COUNT; s++)
        if ((st = model_metrics_init(&j->metrics[s], &env->cfg->metrics, 1.0, err)))
            goto fail;
    if ((st = op_features_create(env->cfg, env->store, &j->feat, err)))
        goto fail;
    if ((st = op_learners_create(env->cfg, env->store, env->warm, env->n_warm, &j->learn, err)))
        goto fail;
    uint32_t nm = op_learners_count(j->learn);
    for (uint32_t m = 0; m < nm; m++) {
        j->mbase[m] = j->n_mm;
        j->n_mm += op_learners_vt(j->learn, m)->heads;
    }
    if (j->n_mm && !(j->mmetrics = calloc(j->n_mm, sizeof *j->mmetrics))) {
        st = sl_err_set(err, SL_ERR_NOMEM, "join: out of memory");
        goto fail;
    }
    char key[300];
    for (uint32_t i = 0; i < j->n_mm; i++) /* init all first: deinit is then safe */
        if ((st = model_metrics_init(&j->mmetrics[i], &env->cfg->metrics, 1.0, err)))
            goto fail;
    for (uint32_t m = 0; m < nm; m++) {
        for (uint32_t h = 0; h < op_learners_vt(j->learn, m)->heads; h++)
            if ((st = metrics_load(j, &j->mmetrics[j->mbase[m] + h],
                                   metrics_key(key, sizeof key, j, 0, (int)m, h), err)))
                goto fail;
        unsigned char b8[8];
        size_t bl;
        int kl = snprintf(key, sizeof key, "join.model.%s.snapshot", op_learners_name(j->learn, m));
        st = state_store_get(j->store, STATE_CF_META, key, (size_t)kl, b8, 8, &bl, err);
        j->snap_bucket[m] = st == SL_OK && bl == 8 ? sl_get_i64(b8) : INT64_MIN;
        if (st != SL_OK && st != SL_ERR_NOT_FOUND)
            goto fail;
    }
    j->snap_due_at = INT64_MIN;
    for (int s = 0; s < SL_SURFACE_COUNT; s++)
        if ((st = metrics_load(j, &j->metrics[s], metrics_key(key, sizeof key, j, s, -1, 0), err)))
            goto fail;
    unsigned char rec[JOIN_META_BYTES];
    size_t len;
    st = state_store_get(j->store, STATE_CF_META, JOIN_META_KEY, strlen(JOIN_META_KEY), rec,
                         sizeof rec, &len, err);
    if (st == SL_OK && len == sizeof rec) {
        j->max_ts = sl_get_i64(rec);
        j->seq = (uint64_t)sl_get_i64(rec + 8 + 16 * SL_SURFACE_COUNT);
        for (int i = 0; i < JOIN_COUNTERS; i++)
            *counter(j, i) = (uint64_t)sl_get_i64(rec + 16 + 16 * SL_SURFACE_COUNT + 8 * i);
        for (int s = 0; s < SL_SURFACE_COUNT; s++) {
            j->prior[s].examples = (uint64_t)sl_get_i64(rec + 8 + 16 * s);
            j->prior[s].clicks = (uint64_t)sl_get_i64(rec + 16 + 16 * s);
        }
    } else if (st != SL_OK && st != SL_ERR_NOT_FOUND) {
        goto fail;
    }
    rebuild_ctx rc = {j, SL_OK};
    if ((st = state_store_scan(j->store, STATE_CF_PENDING, NULL, 0, rebuild_one, &rc, err)))
        goto fail;
    if ((st = rc.st)) {
        sl_err_set(err, st, "join: cannot index the pending views");
        goto fail;
    }
    if (j->n_heap)
        sl_log(SL_LOG_INFO, "join: %u pending views and orphans restored", j->n_heap);
    *ctx = j;
    return SL_OK;
fail:
    op_features_destroy(j->feat);
    mm_deinit(j);
    op_learners_destroy(j->learn);
    for (int s = 0; s < SL_SURFACE_COUNT; s++)
        model_metrics_deinit(&j->metrics[s]);
    sl_buf_deinit(&j->scratch);
    free(j->heap);
    free(j->pool);
    free(j);
    return st;
}

static sl_status join_report(void *ctx, sl_buf *out) {
    op_join *j = ctx;
    sl_status st =
        sl_buf_printf(out,
                      "{\"views\":%llu,\"duplicate_views\":%llu,\"reactions\":%llu,"
                      "\"duplicate_reactions\":%llu,\"unknown_view_reactions\":%llu,"
                      "\"late_reactions\":%llu,\"early_reactions_applied\":%llu,\"examples\":%llu,"
                      "\"pending\":%u,\"labels\":{",
                      (unsigned long long)j->views, (unsigned long long)j->dup_views,
                      (unsigned long long)j->reactions, (unsigned long long)j->dup_reactions,
                      (unsigned long long)j->unknown_reactions,
                      (unsigned long long)j->late_reactions, (unsigned long long)j->orphans_applied,
                      (unsigned long long)j->closed, (unsigned)j->pending_views);
    for (int r = 0; !st && r < R_COUNT; r++)
        st = sl_buf_printf(out, "%s\"%s\":%llu", r ? "," : "", model_label_str(kind_label[r]),
                           (unsigned long long)j->labeled[r]);
    uint64_t live = 0;
    sl_err err;
    if (!st && op_features_count(j->feat, &live, &err) == SL_OK)
        st = sl_buf_printf(out, "},\"feature_records\":%llu,\"feature_records_swept\":%llu",
                           (unsigned long long)live, (unsigned long long)j->swept);
    else
        st = st ? st : sl_buf_putc(out, '}');
    st = st ? st : sl_buf_append(out, ",\"prior\":{", 10);
    for (int s = 0; !st && s < SL_SURFACE_COUNT; s++)
        st = sl_buf_printf(out, "%s\"%s\":{\"examples\":%llu,\"clicks\":%llu}", s ? "," : "",
                           sl_surface_str((sl_surface)s), (unsigned long long)j->prior[s].examples,
                           (unsigned long long)j->prior[s].clicks);
    st = st ? st : sl_buf_append(out, "},\"models\":", 11);
    st = st ? st : op_learners_report(j->learn, out);
    st = st ? st : sl_buf_printf(out, ",\"stale_predictions\":%llu", (unsigned long long)j->stale_preds);
    st = st ? st : sl_buf_append(out, ",\"metrics\":{", 12);
    for (int sf = 0; !st && sf < SL_SURFACE_COUNT; sf++) {
        st = sl_buf_printf(out, "%s\"%s\":{\"prior\":", sf ? "," : "",
                           sl_surface_str((sl_surface)sf));
        st = st ? st : model_metrics_report_json(&j->metrics[sf], out, false);
        const uint32_t *ids;
        uint32_t nm = op_learners_of(j->learn, (sl_surface)sf, &ids);
        char name[300];
        for (uint32_t m = 0; !st && m < nm; m++)
            for (uint32_t h = 0; !st && h < op_learners_vt(j->learn, ids[m])->heads; h++) {
                st = sl_buf_printf(out, ",\"%s\":", head_name(j, ids[m], h, name, sizeof name));
                st = st ? st
                        : model_metrics_report_json(&j->mmetrics[j->mbase[ids[m]] + h], out,
                                                    false);
            }
        st = st ? st : sl_buf_putc(out, '}');
    }
    return st ? st : sl_buf_append(out, "}}", 2);
}

static void join_destroy(void *ctx) {
    op_join *j = ctx;
    if (!j)
        return;
    op_features_destroy(j->feat);
    mm_deinit(j);
    op_learners_destroy(j->learn);
    for (int s = 0; s < SL_SURFACE_COUNT; s++)
        model_metrics_deinit(&j->metrics[s]);
    sl_buf_deinit(&j->scratch);
    free(j->heap);
    free(j->pool);
    free(j);
}

const op_vtable op_join_vtable = {
    .name = "join",
    .create = join_create,
    .process = join_process,
    .on_watermark = join_watermark,
    .checkpoint = join_checkpoint,
    .finish = join_finish,
    .report = join_report,
    .destroy = join_destroy,
};
