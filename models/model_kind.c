/*
 * model_kind.c — the click models behind the common interface
 * (model_kind.h), and the snapshot save / load every family shares.
 *
 * Legend: D = 2^bits linear coordinates, R = 2^factor_bits FM factor rows,
 * k = factors per row, n = the example's sparse features.
 *
 * The adapters own the dirty trackers: after an update the model accepted,
 * the rows of the example's coordinates are marked (the model wrote exactly
 * those: idx & (D − 1) for z, n; model_fm_example_rows for the factors;
 * the FM bias every time). A refused update wrote nothing and marks nothing.
 */
#include "model_kind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_fm.h"
#include "model_ftrl.h"
#include "model_mtl.h"
#include "model_internal.h"

/* Rows listed exactly before a tracker falls back to "the whole array":
 * an eighth of the rows, so an interval touching more is written whole,
 * which is then no dearer than the list. */
#define KIND_LIST_SHARE 8

model_label model_kind_target(sl_surface surface) {
    return surface == SL_SURFACE_EVENTS ? MODEL_LABEL_REGISTER : MODEL_LABEL_CLICK;
}

/* ---- FTRL-LR ------------------------------------------------------------ */

typedef struct kind_ftrl {
    model_ftrl *m;     /* the model */
    model_dirty zn;    /* rows of (D, 2) z, n */
    uint32_t mask;     /* D − 1 */
    model_label target; /* the label it learns (model_kind_target of its surface) */
} kind_ftrl;

static void ftrl_destroy(void *ctx) {
    kind_ftrl *k = ctx;
    if (!k)
        return;
    model_ftrl_destroy(k->m);
    model_dirty_deinit(&k->zn);
    free(k);
}

static sl_status ftrl_create(const sl_config_model *cm, uint32_t bits, void **ctx, sl_err *err) {
    kind_ftrl *k = calloc(1, sizeof *k);
    if (!k)
        return sl_err_set(err, SL_ERR_NOMEM, "ftrl: out of memory");
    model_ftrl_params p;
    model_ftrl_params_from_config(cm, &p);
    sl_status st = model_ftrl_create(&p, bits, &k->m, err);
    if (!st && model_dirty_init(&k->zn, (uint64_t)1 << bits, (uint32_t)(((uint64_t)1 << bits) /
                                                                        KIND_LIST_SHARE)))
        st = sl_err_set(err, SL_ERR_NOMEM, "ftrl: out of memory for the dirty rows");
    if (st) {
        ftrl_destroy(k);
        return st;
    }
    k->mask = (uint32_t)(((uint64_t)1 << bits) - 1);
    k->target = model_kind_target(cm->surface);
    *ctx = k;
    return SL_OK;
}

static void ftrl_predict(void *ctx, const model_example *ex, float *raw) {
    const kind_ftrl *k = ctx;
    raw[0] = model_ftrl_predict(k->m, ex);
}

static float ftrl_serve(const void *ctx, uint32_t h, float raw) {
    const kind_ftrl *k = ctx;
    (void)h;
    double w = model_ftrl_params_get(k->m)->neg_weight;
    return w > 1.0 ? model_ftrl_calibrate(raw, w) : raw;
}

/* A family's batch learn (model_*_learn_batch on its model m) and the
 * marks of the rows one learned example changed (on its kind k). */
typedef uint32_t (*kind_batch_fn)(void *m, const model_example *const *exs, const float *y,
                                  uint32_t n, float *p, sl_status *st);
typedef void (*kind_mark_fn)(void *k, const model_example *ex);

/* Learns exs[0..n) with `target`'s labels in chunks of KIND_BATCH, one
 * batch call each, and marks the rows of every example learned (not those
 * the guard refused). Returns how many were refused. */
#define KIND_BATCH 64
static uint32_t learn_chunks(void *k, void *m, model_label target, const model_example *const *exs,
                             uint32_t n, kind_batch_fn learn, kind_mark_fn mark) {
    float y[KIND_BATCH], p[KIND_BATCH];
    sl_status st[KIND_BATCH];
    uint32_t refused = 0;
    for (uint32_t at = 0; at < n; at += KIND_BATCH) {
        uint32_t c = n - at < KIND_BATCH ? n - at : KIND_BATCH;
        for (uint32_t i = 0; i < c; i++)
            y[i] = exs[at + i]->label[target];
        refused += learn(m, exs + at, y, c, p, st);
        for (uint32_t i = 0; i < c; i++)
            if (st[i] == SL_OK)
                mark(k, exs[at + i]);
    }
    return refused;
}

static uint32_t ftrl_batch(void *m, const model_example *const *exs, const float *y, uint32_t n,
                           float *p, sl_status *st) {
    return model_ftrl_learn_batch(m, exs, y, n, p, st);
}

static void ftrl_mark(void *ctx, const model_example *ex) {
    kind_ftrl *k = ctx;
    uint32_t n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
    for (uint32_t j = 0; j < n; j++)
        model_dirty_mark(&k->zn, ex->idx[j] & k->mask);
}

static uint32_t ftrl_learn_batch(void *ctx, const model_example *const *exs, uint32_t n) {
    kind_ftrl *k = ctx;
    return learn_chunks(k, k->m, k->target, exs, n, ftrl_batch, ftrl_mark);
}

static sl_status ftrl_learn(void *ctx, const model_example *ex) {
    return ftrl_learn_batch(ctx, &ex, 1) ? SL_ERR_INVALID : SL_OK;
}

static uint32_t ftrl_arrays(void *ctx, model_array *out) {
    kind_ftrl *k = ctx;
    out[0] = (model_array){"zn", model_ftrl_zn(k->m), (uint64_t)k->mask + 1, 2, &k->zn};
    return 1;
}

static void put_ftrl_hyper(model_snapshot_writer *w, const model_ftrl_params *p,
                           const char *prefix) {
    char key[MODEL_SNAPSHOT_KEY_MAX];
    const char *names[] = {"alpha", "beta", "l1", "l2", "neg_weight", "max_dz"};
    double vals[] = {p->alpha, p->beta, p->l1, p->l2, p->neg_weight, p->max_dz};
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "%s%s", prefix, names[i]);
        model_snapshot_put_hyper(w, key, vals[i]);
    }
    /* The fast fields only when there are some (so other snapshots keep their
     * bytes): the field set as 32-bit words (exact in a double), the set ones. */
    bool any = false;
    for (int i = 0; i < 8; i++) {
        uint32_t word = (uint32_t)(p->fast_fields[i / 2] >> (32 * (i % 2)));
        if (!word)
            continue;
        snprintf(key, sizeof key, "%sfast_fields_w%d", prefix, i);
        model_snapshot_put_hyper(w, key, word);
        any = true;
    }
    if (any) {
        snprintf(key, sizeof key, "%sfast_alpha", prefix);
        model_snapshot_put_hyper(w, key, p->fast_alpha);
    }
    if (p->base_margin != 0) { /* likewise: only when a base_rate set one */
        snprintf(key, sizeof key, "%sbase_margin", prefix);
        model_snapshot_put_hyper(w, key, p->base_margin);
    }
}

/* The arrays of a model, into an open snapshot. */
static void put_arrays(model_snapshot_writer *w, const model_array *a, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        model_snapshot_put_array(w, a[i].name, a[i].data, (size_t)(a[i].rows * a[i].width));
}

static void ftrl_write(void *ctx, model_snapshot_writer *w) {
    kind_ftrl *k = ctx;
    put_ftrl_hyper(w, model_ftrl_params_get(k->m), "");
    model_snapshot_put_dim(w, "hash_bits", model_ftrl_bits(k->m));
    model_array a[MODEL_MAX_ARRAYS];
    put_arrays(w, a, ftrl_arrays(ctx, a));
}

static const model_kind_vtable ftrl_vtable = {
    .kind = SL_MODEL_FTRL_LR,
    .heads = 1,
    .head_names = {"p_click"},
    .create = ftrl_create,
    .destroy = ftrl_destroy,
    .predict = ftrl_predict,
    .serve = ftrl_serve,
    .learn = ftrl_learn,
    .learn_batch = ftrl_learn_batch,
    .arrays = ftrl_arrays,
    .write = ftrl_write,
};

/* ---- FM ----------------------------------------------------------------- */

typedef struct kind_fm {
    model_fm *m;       /* the model */
    model_dirty lin;   /* rows of (D, 2) linear z, n */
    model_dirty bias;  /* the one row of the bias's z, n */
    model_dirty vg;    /* rows of (R, 2k) factors and their AdaGrad sums */
    uint32_t *rows;    /* the factor rows one update stepped: MODEL_MAX_SPARSE, the FFM's
                        * MODEL_FFM_MAX_ROWS (model_fm_example_rows) */
    uint32_t mask;     /* D − 1 */
    model_label target; /* the label it learns (model_kind_target of its surface) */
} kind_fm;

static void fm_destroy(void *ctx) {
    kind_fm *k = ctx;
    if (!k)
        return;
    model_fm_destroy(k->m);
    model_dirty_deinit(&k->lin);
    model_dirty_deinit(&k->bias);
    model_dirty_deinit(&k->vg);
    free(k->rows);
    free(k);
}

static sl_status fm_create(const sl_config_model *cm, uint32_t bits, void **ctx, sl_err *err) {
    kind_fm *k = calloc(1, sizeof *k);
    if (!k)
        return sl_err_set(err, SL_ERR_NOMEM, "fm: out of memory");
    model_fm_params p;
    model_fm_params_from_config(cm, &p);
    sl_status st = model_fm_create(&p, bits, &k->m, err);
    if (!st) {
        uint64_t d = (uint64_t)1 << bits, r = (uint64_t)1 << model_fm_factor_bits(k->m);
        size_t nrows = p.field_aware ? MODEL_FFM_MAX_ROWS : MODEL_MAX_SPARSE; /* one update's */
        if (model_dirty_init(&k->lin, d, (uint32_t)(d / KIND_LIST_SHARE)) ||
            model_dirty_init(&k->bias, 1, 1) ||
            model_dirty_init(&k->vg, r, (uint32_t)(r / KIND_LIST_SHARE)) ||
            !(k->rows = malloc(nrows * sizeof *k->rows)))
            st = sl_err_set(err, SL_ERR_NOMEM, "fm: out of memory for the dirty rows");
    }
    if (st) {
        fm_destroy(k);
        return st;
    }
    k->mask = (uint32_t)(((uint64_t)1 << bits) - 1);
    k->target = model_kind_target(cm->surface);
    *ctx = k;
    return SL_OK;
}

static void fm_predict(void *ctx, const model_example *ex, float *raw) {
    const kind_fm *k = ctx;
    raw[0] = model_fm_predict(k->m, ex);
}

static float fm_serve(const void *ctx, uint32_t h, float raw) {
    const kind_fm *k = ctx;
    (void)h;
    double w = model_fm_params_get(k->m)->lin.neg_weight;
    return w > 1.0 ? model_ftrl_calibrate(raw, w) : raw;
}

static uint32_t fm_batch(void *m, const model_example *const *exs, const float *y, uint32_t n,
                         float *p, sl_status *st) {
    return model_fm_learn_batch(m, exs, y, n, p, st);
}

static void fm_mark(void *ctx, const model_example *ex) {
    kind_fm *k = ctx;
    uint32_t n = ex->n <= MODEL_MAX_SPARSE ? ex->n : MODEL_MAX_SPARSE;
    for (uint32_t j = 0; j < n; j++)
        model_dirty_mark(&k->lin, ex->idx[j] & k->mask);
    uint32_t nr = model_fm_example_rows(k->m, ex, k->rows);
    for (uint32_t u = 0; u < nr; u++)
        model_dirty_mark(&k->vg, k->rows[u]);
    model_dirty_mark(&k->bias, 0);
}

static uint32_t fm_learn_batch(void *ctx, const model_example *const *exs, uint32_t n) {
    kind_fm *k = ctx;
    return learn_chunks(k, k->m, k->target, exs, n, fm_batch, fm_mark);
}

static sl_status fm_learn(void *ctx, const model_example *ex) {
    return fm_learn_batch(ctx, &ex, 1) ? SL_ERR_INVALID : SL_OK;
}

static uint32_t fm_arrays(void *ctx, model_array *out) {
    kind_fm *k = ctx;
    uint32_t kk = model_fm_k(k->m);
    out[0] = (model_array){"bias_zn", model_fm_bias_zn(k->m), 1, 2, &k->bias};
    out[1] = (model_array){"linear_zn", model_fm_linear_zn(k->m), (uint64_t)k->mask + 1, 2,
                           &k->lin};
    out[2] = (model_array){"factors", model_fm_factors(k->m),
                           (uint64_t)1 << model_fm_factor_bits(k->m), 2 * kk, &k->vg};
    return 3;
}

static void fm_write(void *ctx, model_snapshot_writer *w) {
    kind_fm *k = ctx;
    const model_fm_params *p = model_fm_params_get(k->m);
    put_ftrl_hyper(w, &p->lin, "");
    model_snapshot_put_hyper(w, "factor_lr", p->factor_lr);
    model_snapshot_put_hyper(w, "factor_l2", p->factor_l2);
    model_snapshot_put_hyper(w, "init_std", p->init_std);
    model_snapshot_put_dim(w, "hash_bits", model_fm_bits(k->m));
    model_snapshot_put_dim(w, "factor_bits", model_fm_factor_bits(k->m));
    model_snapshot_put_dim(w, "factors", model_fm_k(k->m));
    model_snapshot_put_dim(w, "seed", p->seed);
    model_array a[MODEL_MAX_ARRAYS];
    put_arrays(w, a, fm_arrays(ctx, a));
}

/* The FM and the field-aware FM: one adapter over model_fm, whose
 * field_aware model_fm_params_from_config reads from the kind. */
#define FM_FAMILY_VTABLE(kind_)                                                                    \
    {                                                                                              \
        .kind = (kind_), .heads = 1, .head_names = {"p_click"}, .create = fm_create,               \
        .destroy = fm_destroy, .predict = fm_predict, .serve = fm_serve, .learn = fm_learn,        \
        .learn_batch = fm_learn_batch, .arrays = fm_arrays, .write = fm_write,                     \
    }
static const model_kind_vtable fm_vtable = FM_FAMILY_VTABLE(SL_MODEL_FM);
static const model_kind_vtable ffm_vtable = FM_FAMILY_VTABLE(SL_MODEL_FFM);
#undef FM_FAMILY_VTABLE

/* ---- the multi-task feed model --------------------------------------------- */

/* model_mtl already tracks its own dirty rows and writes its own snapshot
 * part; the adapter only maps the interface. F and Dn are the featurizer's
 * widths: the example's field ids fold into F (model_mtl.h). */
static void mtl_destroy(void *ctx) { model_mtl_destroy(ctx); }

static sl_status mtl_create(const sl_config_model *cm, uint32_t bits, void **ctx, sl_err *err) {
    (void)bits; /* the embedding table is hashed to its own emb_bits */
    model_mtl_params p;
    model_mtl_params_from_config(cm, &p);
    model_mtl *m;
    sl_status st = model_mtl_create(&p, &m, err);
    if (!st)
        *ctx = m;
    return st;
}

static void mtl_predict(void *ctx, const model_example *ex, float *raw) {
    model_mtl_predict(ctx, ex, raw);
}

static float mtl_serve(const void *ctx, uint32_t h, float raw) {
    (void)ctx;
    (void)h;
    return raw;
}

static sl_status mtl_learn(void *ctx, const model_example *ex) {
    sl_status st = model_mtl_learn(ctx, ex);
    return st == SL_ERR_LIMIT ? SL_ERR_INVALID : st;
}

static uint32_t mtl_arrays(void *ctx, model_array *out) {
    model_mtl_array a[MODEL_MTL_MAX_ARRAYS];
    uint32_t n = model_mtl_arrays(ctx, a, MODEL_MTL_MAX_ARRAYS);
    for (uint32_t i = 0; i < n && i < MODEL_MAX_ARRAYS; i++)
        out[i] = (model_array){a[i].name, a[i].data, a[i].rows, a[i].width, a[i].dirty};
    return n < MODEL_MAX_ARRAYS ? n : MODEL_MAX_ARRAYS;
}

static void mtl_write(void *ctx, model_snapshot_writer *w) { model_mtl_snapshot_write(ctx, w); }

static sl_status mtl_restored(void *ctx, sl_err *err) { return model_mtl_restored(ctx, err); }

static void mtl_aux_get(const void *ctx, uint64_t *aux) {
    model_mtl_counters c;
    model_mtl_counters_get(ctx, &c);
    aux[0] = c.updates;
    aux[1] = c.examples;
    aux[2] = c.refused;
    aux[3] = c.dropped;
}

static void mtl_aux_set(void *ctx, const uint64_t *aux) {
    model_mtl_counters c = {aux[0], aux[1], aux[2], aux[3]};
    model_mtl_counters_set(ctx, &c);
}

static float mtl_blend(const void *ctx, const float *served) { return model_mtl_blend(ctx, served); }

static const model_kind_vtable mtl_vtable = {
    .kind = SL_MODEL_MTL,
    .heads = MODEL_MTL_HEADS,
    .head_names = {"p_click", "p_like", "p_share", "dwell_ms"},
    .head_labels = {MODEL_LABEL_CLICK, MODEL_LABEL_LIKE, MODEL_LABEL_SHARE, MODEL_LABEL_DWELL},
    .create = mtl_create,
    .destroy = mtl_destroy,
    .predict = mtl_predict,
    .serve = mtl_serve,
    .learn = mtl_learn,
    .arrays = mtl_arrays,
    .write = mtl_write,
    .restored = mtl_restored,
    .aux_get = mtl_aux_get,
    .aux_set = mtl_aux_set,
    .blend = mtl_blend,
};

/* ---- the registry and the shared snapshot code --------------------------- */

const model_kind_vtable *model_kind_get(sl_model_kind kind) {
    switch (kind) {
    case SL_MODEL_FTRL_LR: return &ftrl_vtable;
    case SL_MODEL_FM: return &fm_vtable;
    case SL_MODEL_FFM: return &ffm_vtable;
    case SL_MODEL_MTL: return &mtl_vtable;
    default: return NULL;
    }
}

sl_status model_kind_load(const model_kind_vtable *vt, void *ctx, const model_snapshot *snap,
                          sl_err *err) {
    if (snap->kind != (uint32_t)vt->kind)
        return sl_err_set(err, SL_ERR_INVALID,
                          "snapshot of model \"%s\" is a %s model, the config says %s", snap->name,
                          snap->kind < SL_MODEL_KIND_COUNT ? sl_model_kind_str(snap->kind)
                                                           : "unknown",
                          sl_model_kind_str(vt->kind));
    model_array a[MODEL_MAX_ARRAYS];
    const model_snapshot_array *sa[MODEL_MAX_ARRAYS];
    uint32_t n = vt->arrays(ctx, a);
    for (uint32_t i = 0; i < n; i++) { /* check everything before writing anything */
        sa[i] = model_snapshot_find_array(snap, a[i].name);
        uint64_t want = a[i].rows * a[i].width;
        if (!sa[i])
            return sl_err_set(err, SL_ERR_INVALID, "snapshot of \"%s\" has no array \"%s\"",
                              snap->name, a[i].name);
        if (sa[i]->count != want)
            return sl_err_set(err, SL_ERR_INVALID,
                              "snapshot of \"%s\": array \"%s\" has %llu floats, the config "
                              "makes %llu (other hash_bits or factors?)",
                              snap->name, a[i].name, (unsigned long long)sa[i]->count,
                              (unsigned long long)want);
    }
    for (uint32_t i = 0; i < n; i++) {
        sl_status st = model_snapshot_array_copy(sa[i], a[i].data, (size_t)(a[i].rows * a[i].width));
        if (st)
            return sl_err_set(err, st, "snapshot of \"%s\": array \"%s\" unreadable", snap->name,
                              a[i].name);
        model_dirty_mark_all(a[i].dirty);
    }
    return vt->restored ? vt->restored(ctx, err) : SL_OK;
}
