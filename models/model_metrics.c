/*
 * model_metrics.c — progressive-validation metrics (see model_metrics.h for
 * the definitions). Legend: N = auc_cap (ring slots), k = slots used by one
 * AUC report (≤ N).
 */
#include "sl_bytes.h"
#include "model_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAGIC        0x544d4c53u /* "SLMT" little-endian */
#define METRICS_VERSION      1u
#define METRICS_ACC_FIELDS   14
#define METRICS_HEADER_BYTES (8 + 2 * METRICS_ACC_FIELDS * 8 + 8 + 4)
#define METRICS_SLOT_BYTES   12

sl_status model_metrics_init(model_metrics *m, const sl_config_metrics *cfg, double huber_delta,
                             sl_err *err) {
    memset(m, 0, sizeof *m);
    if (cfg->window_events < 1)
        return sl_err_set(err, SL_ERR_INVALID, "metrics.window_events: must be >= 1, got %d",
                          cfg->window_events);
    if (cfg->auc_window < 1 || cfg->auc_window > MODEL_METRICS_MAX_AUC_WINDOW)
        return sl_err_set(err, SL_ERR_INVALID, "metrics.auc_window: must be in [1, %d], got %d",
                          MODEL_METRICS_MAX_AUC_WINDOW, cfg->auc_window);
    if (!(huber_delta > 0) || !isfinite(huber_delta))
        return sl_err_set(err, SL_ERR_INVALID, "metrics: huber delta must be > 0, got %g",
                          huber_delta);
    m->window_events = cfg->window_events;
    m->auc_cap = (uint32_t)cfg->auc_window;
    m->huber_delta = huber_delta;
    m->ring = malloc((size_t)m->auc_cap * sizeof *m->ring);
    m->sort = malloc((size_t)m->auc_cap * sizeof *m->sort);
    if (!m->ring || !m->sort) {
        model_metrics_deinit(m);
        return sl_err_set(err, SL_ERR_NOMEM, "metrics: cannot allocate an AUC window of %d",
                          cfg->auc_window);
    }
    return SL_OK;
}

void model_metrics_deinit(model_metrics *m) {
    if (!m)
        return;
    free(m->ring);
    free(m->sort);
    m->ring = m->sort = NULL;
    m->auc_cap = m->ring_len = m->ring_head = 0;
}

static double clip_p(double p) {
    if (p < MODEL_METRICS_P_EPS)
        return MODEL_METRICS_P_EPS;
    if (p > 1.0 - MODEL_METRICS_P_EPS)
        return 1.0 - MODEL_METRICS_P_EPS;
    return p;
}

static double clip01(double y) { return y < 0 ? 0 : y > 1 ? 1 : y; }

/* ℓ(p, y) for an already clipped p. */
static double logloss1(double p, double y) { return -(y * log(p) + (1.0 - y) * log(1.0 - p)); }

static bool bad_input(float a, float b, float w) {
    return !isfinite(a) || !isfinite(b) || !isfinite(w) || w < 0;
}

void model_metrics_add(model_metrics *m, float p, float y, float w) {
    if (bad_input(p, y, w)) {
        m->win.invalid++;
        m->all.invalid++;
        return;
    }
    double pc = clip_p(p), yc = clip01(y), l = w * logloss1(pc, yc);
    model_metrics_acc *acc[2] = {&m->win, &m->all};
    for (int i = 0; i < 2; i++) {
        acc[i]->n++;
        acc[i]->w += w;
        acc[i]->wy += w * yc;
        acc[i]->wp += w * pc;
        acc[i]->loss += l;
    }
    model_metrics_auc_slot *s = &m->ring[m->ring_head];
    s->p = (float)pc;
    s->pos = (float)(w * yc);
    s->neg = (float)(w * (1.0 - yc));
    m->ring_head = m->ring_head + 1 == m->auc_cap ? 0 : m->ring_head + 1;
    if (m->ring_len < m->auc_cap)
        m->ring_len++;
}

void model_metrics_add_conversion(model_metrics *m, float c, float w) {
    if (bad_input(c, 0, w)) {
        m->win.invalid++;
        m->all.invalid++;
        return;
    }
    double cc = clip01(c);
    model_metrics_acc *acc[2] = {&m->win, &m->all};
    for (int i = 0; i < 2; i++) {
        acc[i]->n_conv++;
        acc[i]->w_conv += w;
        acc[i]->wy_conv += w * cc;
    }
}

void model_metrics_add_real(model_metrics *m, float pred, float y, float w) {
    if (bad_input(pred, y, w)) {
        m->win.invalid++;
        m->all.invalid++;
        return;
    }
    double e = (double)pred - (double)y, a = fabs(e), d = m->huber_delta;
    double h = a <= d ? 0.5 * e * e : d * (a - 0.5 * d);
    model_metrics_acc *acc[2] = {&m->win, &m->all};
    for (int i = 0; i < 2; i++) {
        acc[i]->n_real++;
        acc[i]->w_real += w;
        acc[i]->abs_err += w * a;
        acc[i]->sq_err += w * e * e;
        acc[i]->huber += w * h;
    }
}

void model_metrics_reset_window(model_metrics *m) {
    memset(&m->win, 0, sizeof m->win);
    m->windows++;
}

static const model_metrics_acc *range(const model_metrics *m, bool window) {
    return window ? &m->win : &m->all;
}

double model_metrics_logloss(const model_metrics *m, bool window) {
    const model_metrics_acc *a = range(m, window);
    return a->w > 0 ? a->loss / a->w : NAN;
}

double model_metrics_ne(const model_metrics *m, bool window) {
    const model_metrics_acc *a = range(m, window);
    if (!(a->w > 0))
        return NAN;
    double r = a->wy / a->w;
    if (r <= 0 || r >= 1)
        return NAN; /* a constant label has no entropy to normalize by */
    double rc = clip_p(r);
    return (a->loss / a->w) / logloss1(rc, r);
}

double model_metrics_calibration(const model_metrics *m, bool window) {
    const model_metrics_acc *a = range(m, window);
    return a->wy > 0 ? a->wp / a->wy : NAN;
}

static int slot_cmp(const void *a, const void *b) {
    float x = ((const model_metrics_auc_slot *)a)->p, y = ((const model_metrics_auc_slot *)b)->p;
    return (x > y) - (x < y);
}

/* Exact weighted AUC of the last k ring slots: sort by score, then sweep
 * tie groups, crediting each positive with the negative weight below its
 * group plus half the negative weight inside it. O(k log k). */
static double auc_last(model_metrics *m, uint32_t k) {
    if (k == 0)
        return NAN;
    uint32_t start = (m->ring_head + m->auc_cap - k) % m->auc_cap;
    uint32_t first = k < m->auc_cap - start ? k : m->auc_cap - start;
    memcpy(m->sort, m->ring + start, (size_t)first * sizeof *m->sort);
    memcpy(m->sort + first, m->ring, (size_t)(k - first) * sizeof *m->sort);
    qsort(m->sort, k, sizeof *m->sort, slot_cmp);
    double num = 0, neg_below = 0, pos_all = 0;
    for (uint32_t i = 0; i < k;) {
        double gp = 0, gn = 0;
        uint32_t j = i;
        for (; j < k && m->sort[j].p == m->sort[i].p; j++) {
            gp += m->sort[j].pos;
            gn += m->sort[j].neg;
        }
        num += gp * (neg_below + 0.5 * gn);
        neg_below += gn;
        pos_all += gp;
        i = j;
    }
    if (!(pos_all > 0) || !(neg_below > 0))
        return NAN;
    return num / (pos_all * neg_below);
}

static uint32_t auc_count(const model_metrics *m, bool window) {
    uint64_t n = range(m, window)->n;
    return n < m->ring_len ? (uint32_t)n : m->ring_len;
}

double model_metrics_auc(model_metrics *m, bool window) {
    return auc_last(m, auc_count(m, window));
}

static double ratio(double a, double b) { return b > 0 ? a / b : NAN; }

sl_status model_metrics_report_json(model_metrics *m, sl_buf *out, bool window) {
    const model_metrics_acc *a = range(m, window);
    uint32_t k = auc_count(m, window);
    sl_status st;
#define PUT_(call)                                                                                 \
    do {                                                                                           \
        if ((st = (call)) != SL_OK)                                                                \
            return st;                                                                             \
    } while (0)
#define NUM_(key, v)                                                                               \
    do {                                                                                           \
        PUT_(sl_buf_printf(out, ",\"%s\":", key));                                                 \
        PUT_(sl_buf_json_num(out, v));                                                             \
    } while (0)
#define INT_(key, v)                                                                               \
    do {                                                                                           \
        PUT_(sl_buf_printf(out, ",\"%s\":", key));                                                 \
        PUT_(sl_buf_json_i64(out, (int64_t)(v)));                                                  \
    } while (0)
    PUT_(sl_buf_printf(out, "{\"range\":\"%s\"", window ? "window" : "total"));
    INT_("n", a->n);
    NUM_("weight", a->w);
    NUM_("logloss", model_metrics_logloss(m, window));
    NUM_("ne", model_metrics_ne(m, window));
    NUM_("auc", auc_last(m, k));
    INT_("auc_n", k);
    NUM_("calibration", model_metrics_calibration(m, window));
    NUM_("ctr", ratio(a->wy, a->w));
    NUM_("mean_p", ratio(a->wp, a->w));
    INT_("conv_n", a->n_conv);
    NUM_("conv_rate", ratio(a->wy_conv, a->w_conv));
    INT_("real_n", a->n_real);
    NUM_("mae", ratio(a->abs_err, a->w_real));
    NUM_("rmse", sqrt(ratio(a->sq_err, a->w_real)));
    NUM_("huber", ratio(a->huber, a->w_real));
    INT_("invalid", a->invalid);
    INT_("windows", m->windows);
    PUT_(sl_buf_putc(out, '}'));
#undef INT_
#undef NUM_
#undef PUT_
    return SL_OK;
}

/* ---- state encoding: little-endian, independent of the host ---- */

/* Writers that advance the cursor, on top of sl_bytes.h. */
static unsigned char *put_u32(unsigned char *p, uint32_t v) {
    sl_put_u32(p, v);
    return p + 4;
}
static unsigned char *put_u64(unsigned char *p, uint64_t v) {
    sl_put_u64(p, v);
    return p + 8;
}
static unsigned char *put_f64(unsigned char *p, double d) {
    sl_put_f64(p, d);
    return p + 8;
}
static unsigned char *put_f32(unsigned char *p, float f) {
    sl_put_f32(p, f);
    return p + 4;
}

static unsigned char *put_acc(unsigned char *p, const model_metrics_acc *a) {
    p = put_u64(p, a->n);
    p = put_f64(p, a->w);
    p = put_f64(p, a->wy);
    p = put_f64(p, a->wp);
    p = put_f64(p, a->loss);
    p = put_u64(p, a->n_conv);
    p = put_f64(p, a->w_conv);
    p = put_f64(p, a->wy_conv);
    p = put_u64(p, a->n_real);
    p = put_f64(p, a->w_real);
    p = put_f64(p, a->abs_err);
    p = put_f64(p, a->sq_err);
    p = put_f64(p, a->huber);
    return put_u64(p, a->invalid);
}

/* Reads one range; false when a sum is negative or not finite. */
static bool get_acc(const unsigned char *p, model_metrics_acc *a) {
    a->n = sl_get_u64(p);
    a->w = sl_get_f64(p + 8);
    a->wy = sl_get_f64(p + 16);
    a->wp = sl_get_f64(p + 24);
    a->loss = sl_get_f64(p + 32);
    a->n_conv = sl_get_u64(p + 40);
    a->w_conv = sl_get_f64(p + 48);
    a->wy_conv = sl_get_f64(p + 56);
    a->n_real = sl_get_u64(p + 64);
    a->w_real = sl_get_f64(p + 72);
    a->abs_err = sl_get_f64(p + 80);
    a->sq_err = sl_get_f64(p + 88);
    a->huber = sl_get_f64(p + 96);
    a->invalid = sl_get_u64(p + 104);
    double sums[] = {a->w,       a->wy,     a->wp,      a->loss,   a->w_conv,
                     a->wy_conv, a->w_real, a->abs_err, a->sq_err, a->huber};
    for (size_t i = 0; i < sizeof sums / sizeof sums[0]; i++)
        if (!isfinite(sums[i]) || sums[i] < 0)
            return false;
    return true;
}

sl_status model_metrics_encode(const model_metrics *m, sl_buf *out) {
    size_t need = METRICS_HEADER_BYTES + (size_t)m->ring_len * METRICS_SLOT_BYTES;
    sl_status st = sl_buf_reserve(out, need);
    if (st != SL_OK)
        return st;
    unsigned char *p = (unsigned char *)out->p + out->len, *p0 = p;
    p = put_u32(p, METRICS_MAGIC);
    p = put_u32(p, METRICS_VERSION);
    p = put_acc(p, &m->win);
    p = put_acc(p, &m->all);
    p = put_u64(p, m->windows);
    p = put_u32(p, m->ring_len);
    uint32_t start = (m->ring_head + m->auc_cap - m->ring_len) % (m->auc_cap ? m->auc_cap : 1);
    for (uint32_t i = 0; i < m->ring_len; i++) {
        const model_metrics_auc_slot *s = &m->ring[(start + i) % m->auc_cap];
        p = put_f32(p, s->p);
        p = put_f32(p, s->pos);
        p = put_f32(p, s->neg);
    }
    out->len += (size_t)(p - p0);
    if (out->len < out->cap)
        out->p[out->len] = '\0';
    return SL_OK;
}

sl_status model_metrics_decode(model_metrics *m, const void *in, size_t len, sl_err *err) {
    const unsigned char *p = in;
    if (len < METRICS_HEADER_BYTES)
        return sl_err_set(err, SL_ERR_CORRUPT, "metrics state: truncated: %zu bytes, need %d", len,
                          METRICS_HEADER_BYTES);
    if (sl_get_u32(p) != METRICS_MAGIC)
        return sl_err_set(err, SL_ERR_CORRUPT, "metrics state: wrong magic");
    if (sl_get_u32(p + 4) != METRICS_VERSION)
        return sl_err_set(err, SL_ERR_CORRUPT, "metrics state: unknown version %u",
                          (unsigned)sl_get_u32(p + 4));
    model_metrics_acc win, all;
    if (!get_acc(p + 8, &win) || !get_acc(p + 8 + METRICS_ACC_FIELDS * 8, &all))
        return sl_err_set(err, SL_ERR_CORRUPT, "metrics state: a sum is negative or not finite");
    const unsigned char *q = p + 8 + 2 * METRICS_ACC_FIELDS * 8;
    uint64_t windows = sl_get_u64(q);
    uint32_t count = sl_get_u32(q + 8);
    q += 12;
    if (count > MODEL_METRICS_MAX_AUC_WINDOW ||
        (len - METRICS_HEADER_BYTES) / METRICS_SLOT_BYTES != count ||
        (len - METRICS_HEADER_BYTES) % METRICS_SLOT_BYTES != 0)
        return sl_err_set(err, SL_ERR_CORRUPT, "metrics state: %u AUC slots do not fit %zu bytes",
                          (unsigned)count, len);
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *s = q + (size_t)i * METRICS_SLOT_BYTES;
        float sp = sl_get_f32(s), pos = sl_get_f32(s + 4), neg = sl_get_f32(s + 8);
        if (!(sp >= 0 && sp <= 1) || !(pos >= 0) || !(neg >= 0) || !isfinite(pos) || !isfinite(neg))
            return sl_err_set(err, SL_ERR_CORRUPT, "metrics state: AUC slot %u out of range",
                              (unsigned)i);
    }
    /* Validated: commit. Keep the most recent slots that fit our ring. */
    m->win = win;
    m->all = all;
    m->windows = windows;
    uint32_t keep = count < m->auc_cap ? count : m->auc_cap;
    const unsigned char *s = q + (size_t)(count - keep) * METRICS_SLOT_BYTES;
    for (uint32_t i = 0; i < keep; i++, s += METRICS_SLOT_BYTES) {
        m->ring[i].p = sl_get_f32(s);
        m->ring[i].pos = sl_get_f32(s + 4);
        m->ring[i].neg = sl_get_f32(s + 8);
    }
    m->ring_len = keep;
    m->ring_head = keep == m->auc_cap ? 0 : keep;
    return SL_OK;
}
