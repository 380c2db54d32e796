/*
 * op_learners.c — the models and their parameters in the state store
 * (op_learners.h has the scheme).
 *
 * Legend: B = rows per block, G = checkpoint generation, ROT = generations
 * per rotation of the rolling base.
 *
 * Keys in STATE_CF_MODELS, all starting with the model's name and a NUL:
 *   name \0 'M'                          meta: generation, counters, shapes
 *   name \0 'B' arr u8, block u32 BE     a block: G u64 LE, then B rows of floats
 *   name \0 'D' G u64 BE, arr u8, chunk u32 BE
 *                                        a delta chunk: (row u32 LE, floats)…
 * Big-endian generations and block numbers make a prefix scan return them in
 * order. Floats are stored as the host's (little-endian, as snapshots).
 */
#include "op_learners.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_bytes.h"
#include "sl_hash.h"
#include "sl_log.h"

#define L_ROT         16u    /* generations per rotation of the base */
#define L_BLOCK_BYTES 49152u /* payload of a block or delta chunk */
#define L_META_VER    2u
#define L_NAME_MAX    200    /* model name bytes */
#define L_KEY_MAX     (L_NAME_MAX + 16)
#define L_WARM_MAX    64     /* warm-start snapshots */

typedef struct learner_array {
    model_array a;    /* name, data, rows, width, dirty */
    uint32_t rpb;     /* B: rows per block */
    uint32_t blocks;  /* ⌈rows / B⌉ */
    uint32_t cursor;  /* next block of the rolling base */
} learner_array;

typedef struct learner {
    const sl_config_model *cm;          /* its config */
    const model_kind_vtable *vt;        /* its family */
    void *ctx;                          /* the model */
    learner_array arr[MODEL_MAX_ARRAYS]; /* its parameter arrays */
    uint32_t n_arr;                     /* arrays used */
    uint64_t gen;                       /* last generation written */
    uint64_t learned;                   /* examples learned */
    uint64_t sampled_out;               /* negatives skipped by down-sampling */
    uint64_t refused;                   /* updates the model's guard refused */
    uint64_t keep_below;                /* keep a negative when hash < this */
    const model_example *queue[OP_LEARNERS_QUEUE]; /* queued to learn (borrowed) */
    uint32_t nq;                        /* queued */
    /* chunks of the deltas of the last ROT generations, for their deletion */
    uint64_t ring_gen[L_ROT];                 /* generation (0 = empty slot) */
    uint32_t ring_chunks[L_ROT][MODEL_MAX_ARRAYS]; /* delta chunks per array */
} learner;

struct op_learners {
    state_store *store;                          /* where parameters live */
    learner m[SL_CONFIG_MAX_MODELS];             /* the models */
    uint32_t n;                                  /* models used */
    uint32_t by_surface[SL_SURFACE_COUNT][SL_CONFIG_MAX_MODELS]; /* ids per surface */
    uint32_t n_surface[SL_SURFACE_COUNT];        /* ids used per surface */
    unsigned char *buf;                          /* (L_BLOCK_BYTES + 64) value scratch */
};

/* ---- keys ------------------------------------------------------------------ */

static size_t key_base(unsigned char *k, const learner *l, char type) {
    size_t n = strlen(l->cm->name);
    memcpy(k, l->cm->name, n);
    k[n] = 0;
    k[n + 1] = (unsigned char)type;
    return n + 2;
}

static size_t key_block(unsigned char *k, const learner *l, uint32_t arr, uint32_t block) {
    size_t n = key_base(k, l, 'B');
    k[n] = (unsigned char)arr;
    sl_put_be32(k + n + 1, block);
    return n + 5;
}

static size_t key_delta(unsigned char *k, const learner *l, uint64_t gen, uint32_t arr,
                        uint32_t chunk) {
    size_t n = key_base(k, l, 'D');
    sl_put_be64(k + n, gen);
    k[n + 8] = (unsigned char)arr;
    sl_put_be32(k + n + 9, chunk);
    return n + 13;
}

/* ---- meta ------------------------------------------------------------------ */

/* ver u8 pad[7], gen u64, learned u64, sampled_out u64, n_arr u64, refused
 * u64, the model's own counters u64[MODEL_AUX_COUNTERS], then per array rows
 * u64, width u64, cursor u64. */
#define META_HEAD (48 + 8 * MODEL_AUX_COUNTERS)
#define META_ARR  24

static sl_status meta_save(op_learners *L, learner *l, sl_err *err) {
    unsigned char v[META_HEAD + META_ARR * MODEL_MAX_ARRAYS] = {0};
    v[0] = L_META_VER;
    sl_put_u64(v + 8, l->gen);
    sl_put_u64(v + 16, l->learned);
    sl_put_u64(v + 24, l->sampled_out);
    sl_put_u64(v + 32, l->n_arr);
    sl_put_u64(v + 40, l->refused);
    uint64_t aux[MODEL_AUX_COUNTERS] = {0};
    if (l->vt->aux_get)
        l->vt->aux_get(l->ctx, aux);
    for (int i = 0; i < MODEL_AUX_COUNTERS; i++)
        sl_put_u64(v + 48 + 8 * i, aux[i]);
    for (uint32_t i = 0; i < l->n_arr; i++) {
        unsigned char *p = v + META_HEAD + META_ARR * i;
        sl_put_u64(p, l->arr[i].a.rows);
        sl_put_u64(p + 8, l->arr[i].a.width);
        sl_put_u64(p + 16, l->arr[i].cursor);
    }
    unsigned char k[L_KEY_MAX];
    size_t kl = key_base(k, l, 'M');
    return state_store_put(L->store, STATE_CF_MODELS, k, kl, v, META_HEAD + META_ARR * l->n_arr,
                           err);
}

/* ---- restore ----------------------------------------------------------------- */

typedef struct restore_ctx {
    learner *l;           /* the model being restored */
    uint64_t *block_gen[MODEL_MAX_ARRAYS]; /* (blocks) generation of each block read */
    size_t klen;          /* bytes of the key prefix */
    sl_status st;         /* first failure */
    char why[160];        /* its reason */
} restore_ctx;

static bool restore_fail(restore_ctx *rc, const char *why) {
    rc->st = SL_ERR_CORRUPT;
    snprintf(rc->why, sizeof rc->why, "%s", why);
    return false;
}

static bool restore_block(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    restore_ctx *rc = ctx;
    learner *l = rc->l;
    const unsigned char *k = (const unsigned char *)key + rc->klen;
    if (klen != rc->klen + 5)
        return restore_fail(rc, "a block key has the wrong length");
    uint32_t a = k[0], b = sl_get_be32(k + 1);
    if (a >= l->n_arr || b >= l->arr[a].blocks)
        return restore_fail(rc, "a block is outside its array");
    learner_array *la = &l->arr[a];
    uint64_t first = (uint64_t)b * la->rpb;
    uint64_t rows = la->a.rows - first < la->rpb ? la->a.rows - first : la->rpb;
    size_t bytes = (size_t)rows * la->a.width * sizeof(float);
    if (vlen != 8 + bytes)
        return restore_fail(rc, "a block has the wrong size");
    rc->block_gen[a][b] = sl_get_u64(val);
    memcpy(la->a.data + first * la->a.width, (const unsigned char *)val + 8, bytes);
    return true;
}

static bool restore_delta(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    restore_ctx *rc = ctx;
    learner *l = rc->l;
    const unsigned char *k = (const unsigned char *)key + rc->klen;
    if (klen != rc->klen + 13)
        return restore_fail(rc, "a delta key has the wrong length");
    uint64_t gen = sl_get_be64(k);
    uint32_t a = k[8], chunk = sl_get_be32(k + 9);
    if (a >= l->n_arr)
        return restore_fail(rc, "a delta names an unknown array");
    learner_array *la = &l->arr[a];
    size_t row_bytes = 4 + (size_t)la->a.width * sizeof(float);
    if (vlen % row_bytes)
        return restore_fail(rc, "a delta chunk has the wrong size");
    const unsigned char *p = val;
    for (size_t off = 0; off < vlen; off += row_bytes) {
        uint32_t r = sl_get_u32(p + off);
        if (r >= la->a.rows)
            return restore_fail(rc, "a delta row is outside its array");
        if (gen > rc->block_gen[a][r / la->rpb])
            memcpy(la->a.data + (size_t)r * la->a.width, p + off + 4,
                   (size_t)la->a.width * sizeof(float));
    }
    /* Remember the chunk so the delta can be deleted when it is obsolete. */
    uint32_t slot = (uint32_t)(gen % L_ROT);
    if (l->ring_gen[slot] != gen) {
        l->ring_gen[slot] = gen;
        memset(l->ring_chunks[slot], 0, sizeof l->ring_chunks[slot]);
    }
    if (chunk + 1 > l->ring_chunks[slot][a])
        l->ring_chunks[slot][a] = chunk + 1;
    return true;
}

/* Reads model l back from the store; *found (OUT:) false when it has no
 * state there yet. */
static sl_status learner_restore(op_learners *L, learner *l, bool *found, sl_err *err) {
    unsigned char k[L_KEY_MAX], v[META_HEAD + META_ARR * MODEL_MAX_ARRAYS];
    size_t kl = key_base(k, l, 'M'), vl;
    *found = false;
    sl_status st = state_store_get(L->store, STATE_CF_MODELS, k, kl, v, sizeof v, &vl, err);
    if (st == SL_ERR_NOT_FOUND)
        return SL_OK;
    if (st)
        return st;
    if (vl < META_HEAD || v[0] != L_META_VER || sl_get_u64(v + 32) != l->n_arr ||
        vl != META_HEAD + META_ARR * l->n_arr)
        return sl_err_set(err, SL_ERR_INVALID,
                          "model \"%s\": the state holds another kind or version of it; remove "
                          "the state directory or rename the model",
                          l->cm->name);
    for (uint32_t i = 0; i < l->n_arr; i++) {
        const unsigned char *p = v + META_HEAD + META_ARR * i;
        if (sl_get_u64(p) != l->arr[i].a.rows || sl_get_u64(p + 8) != l->arr[i].a.width)
            return sl_err_set(err, SL_ERR_INVALID,
                              "model \"%s\": array \"%s\" is %llu x %llu in the state but %llu x "
                              "%u with this config (hash_bits or factors changed?); remove the "
                              "state directory or rename the model",
                              l->cm->name, l->arr[i].a.name, (unsigned long long)sl_get_u64(p),
                              (unsigned long long)sl_get_u64(p + 8),
                              (unsigned long long)l->arr[i].a.rows, l->arr[i].a.width);
        l->arr[i].cursor = (uint32_t)(sl_get_u64(p + 16) % l->arr[i].blocks);
    }
    l->gen = sl_get_u64(v + 8);
    l->learned = sl_get_u64(v + 16);
    l->sampled_out = sl_get_u64(v + 24);
    l->refused = sl_get_u64(v + 40);
    restore_ctx rc = {.l = l};
    for (uint32_t i = 0; i < l->n_arr; i++)
        if (!(rc.block_gen[i] = calloc(l->arr[i].blocks, sizeof(uint64_t)))) {
            st = sl_err_set(err, SL_ERR_NOMEM, "model \"%s\": out of memory", l->cm->name);
            goto out;
        }
    rc.klen = key_base(k, l, 'B');
    if ((st = state_store_scan(L->store, STATE_CF_MODELS, k, rc.klen, restore_block, &rc, err)))
        goto out;
    if (!rc.st) {
        rc.klen = key_base(k, l, 'D');
        st = state_store_scan(L->store, STATE_CF_MODELS, k, rc.klen, restore_delta, &rc, err);
    }
    if (!st && rc.st)
        st = sl_err_set(err, rc.st, "model \"%s\": %s", l->cm->name, rc.why);
    if (!st && l->vt->restored && (st = l->vt->restored(l->ctx, err)))
        sl_err_prefix(err, "model \"%s\"", l->cm->name);
    if (!st && l->vt->aux_set) {
        uint64_t aux[MODEL_AUX_COUNTERS];
        for (int i = 0; i < MODEL_AUX_COUNTERS; i++)
            aux[i] = sl_get_u64(v + 48 + 8 * i);
        l->vt->aux_set(l->ctx, aux);
    }
    *found = st == SL_OK;
out:
    for (uint32_t i = 0; i < l->n_arr; i++)
        free(rc.block_gen[i]);
    return st;
}

/* ---- create / destroy ------------------------------------------------------ */

void op_learners_destroy(op_learners *L) {
    if (!L)
        return;
    for (uint32_t i = 0; i < L->n; i++)
        L->m[i].vt->destroy(L->m[i].ctx);
    free(L->buf);
    free(L);
}

static sl_status learner_init(learner *l, const sl_config_model *cm, const model_kind_vtable *vt,
                              uint32_t bits, sl_err *err) {
    l->cm = cm;
    l->vt = vt;
    if (strlen(cm->name) > L_NAME_MAX)
        return sl_err_set(err, SL_ERR_INVALID, "model name \"%.40s...\" is longer than %d bytes",
                          cm->name, L_NAME_MAX);
    sl_status st = vt->create(cm, bits, &l->ctx, err);
    if (st) {
        sl_err_prefix(err, "model \"%s\"", cm->name);
        return st;
    }
    model_array a[MODEL_MAX_ARRAYS];
    l->n_arr = vt->arrays(l->ctx, a);
    for (uint32_t i = 0; i < l->n_arr; i++) {
        learner_array *la = &l->arr[i];
        la->a = a[i];
        size_t row_bytes = (size_t)a[i].width * sizeof(float);
        if (row_bytes + 4 > L_BLOCK_BYTES)
            return sl_err_set(err, SL_ERR_INVALID, "model \"%s\": rows of \"%s\" are %zu bytes, "
                              "more than a block (%u)", cm->name, a[i].name, row_bytes,
                              L_BLOCK_BYTES);
        la->rpb = (uint32_t)(L_BLOCK_BYTES / row_bytes);
        uint64_t blocks = (a[i].rows + la->rpb - 1) / la->rpb;
        if (blocks > UINT32_MAX)
            return sl_err_set(err, SL_ERR_INVALID, "model \"%s\": too many rows", cm->name);
        la->blocks = (uint32_t)blocks;
    }
    /* keep a negative with probability 1/w: hash < 2^64 / w */
    double keep = 1.0 / cm->neg_weight;
    l->keep_below = keep >= 1.0 ? UINT64_MAX : (uint64_t)(keep * 18446744073709551615.0);
    return SL_OK;
}

sl_status op_learners_create(const sl_config *cfg, state_store *store, const op_warm_start *warm,
                             uint32_t n_warm, op_learners **out, sl_err *err) {
    *out = NULL;
    op_learners *L = calloc(1, sizeof *L);
    if (!L || !(L->buf = malloc(L_BLOCK_BYTES + 64))) {
        free(L);
        return sl_err_set(err, SL_ERR_NOMEM, "learners: out of memory");
    }
    L->store = store;
    sl_status st = SL_OK;
    bool used[L_WARM_MAX] = {0};
    if (n_warm > L_WARM_MAX) {
        st = sl_err_set(err, SL_ERR_INVALID, "at most %d warm-start snapshots", L_WARM_MAX);
        goto fail;
    }
    for (int i = 0; i < cfg->n_models; i++) {
        const sl_config_model *cm = &cfg->models[i];
        const model_kind_vtable *vt = model_kind_get(cm->kind);
        if (!vt) {
            sl_log(SL_LOG_WARN, "model \"%s\": the %s family is not implemented yet; skipped",
                   cm->name, sl_model_kind_str(cm->kind));
            continue;
        }
        learner *l = &L->m[L->n];
        if ((st = learner_init(l, cm, vt, (uint32_t)cfg->features.hash_bits, err))) {
            if (l->ctx)
                vt->destroy(l->ctx);
            goto fail;
        }
        L->n++;
        bool found;
        if ((st = learner_restore(L, l, &found, err)))
            goto fail;
        for (uint32_t w = 0; w < n_warm; w++) {
            model_snapshot snap;
            if ((st = model_snapshot_open(warm[w].blob, warm[w].len, &snap, err))) {
                sl_err_prefix(err, "%s", warm[w].path);
                goto fail;
            }
            if (strcmp(snap.name, cm->name) != 0)
                continue;
            used[w] = true;
            if (found) {
                sl_log(SL_LOG_INFO,
                       "model \"%s\": restored from the state; the warm start %s is older and "
                       "not used",
                       cm->name, warm[w].path);
                continue;
            }
            if ((st = model_kind_load(vt, l->ctx, &snap, err))) {
                sl_err_prefix(err, "%s", warm[w].path);
                goto fail;
            }
            uint64_t learned = 0;
            if (model_snapshot_dim(&snap, "examples", &learned))
                l->learned = learned;
            sl_log(SL_LOG_INFO, "model \"%s\": warm start from %s", cm->name, warm[w].path);
        }
        L->by_surface[cm->surface][L->n_surface[cm->surface]++] = L->n - 1;
    }
    for (uint32_t w = 0; w < n_warm; w++)
        if (!used[w]) {
            model_snapshot snap;
            bool ok = model_snapshot_open(warm[w].blob, warm[w].len, &snap, err) == SL_OK;
            st = sl_err_set(err, SL_ERR_INVALID,
                            "%s: the snapshot is of model \"%s\", which the config does not have",
                            warm[w].path, ok ? snap.name : "?");
            goto fail;
        }
    *out = L;
    return SL_OK;
fail:
    op_learners_destroy(L);
    return st;
}

/* ---- the hot path ----------------------------------------------------------- */

uint32_t op_learners_of(const op_learners *L, sl_surface s, const uint32_t **ids) {
    *ids = L->by_surface[s];
    return L->n_surface[s];
}
uint32_t op_learners_count(const op_learners *L) { return L->n; }
const char *op_learners_name(const op_learners *L, uint32_t id) { return L->m[id].cm->name; }
const sl_config_model *op_learners_cfg(const op_learners *L, uint32_t id) { return L->m[id].cm; }
const model_kind_vtable *op_learners_vt(const op_learners *L, uint32_t id) { return L->m[id].vt; }
uint64_t op_learners_version(const op_learners *L, uint32_t id) { return L->m[id].learned; }

void op_learners_predict(op_learners *L, uint32_t id, const model_example *ex, float *raw) {
    L->m[id].vt->predict(L->m[id].ctx, ex, raw);
}

float op_learners_serve(const op_learners *L, uint32_t id, uint32_t h, float raw) {
    return L->m[id].vt->serve(L->m[id].ctx, h, raw);
}

float op_learners_blend(const op_learners *L, uint32_t id, const float *served) {
    return L->m[id].vt->blend(L->m[id].ctx, served);
}

/* Learns what l has queued, in order: in one batch call when the family
 * has one (it prefetches one example's parameters while learning another). */
static void flush_one(learner *l) {
    uint32_t n = l->nq, refused = 0;
    if (!n)
        return;
    if (l->vt->learn_batch) {
        refused = l->vt->learn_batch(l->ctx, l->queue, n);
    } else {
        for (uint32_t i = 0; i < n; i++)
            refused += l->vt->learn(l->ctx, l->queue[i]) != SL_OK;
    }
    l->learned += n - refused;
    l->refused += refused;
    l->nq = 0;
}

sl_status op_learners_queue(op_learners *L, uint32_t id, sl_str view_id, const model_example *ex) {
    learner *l = &L->m[id];
    if (l->keep_below != UINT64_MAX && ex->label[model_kind_target(l->cm->surface)] == 0.0f &&
        sl_hash64(view_id.p, view_id.n, l->cm->seed ^ UINT64_C(0x6e65675f73616d70)) >=
            l->keep_below) {
        l->sampled_out++;
        return SL_OK;
    }
    if (l->nq == OP_LEARNERS_QUEUE)
        flush_one(l);
    l->queue[l->nq++] = ex;
    return SL_OK;
}

void op_learners_flush(op_learners *L) {
    for (uint32_t i = 0; i < L->n; i++)
        flush_one(&L->m[i]);
}

sl_status op_learners_learn(op_learners *L, uint32_t id, sl_str view_id, const model_example *ex) {
    sl_status st = op_learners_queue(L, id, view_id, ex);
    flush_one(&L->m[id]);
    return st;
}

/* ---- checkpoint ----------------------------------------------------------- */

static sl_status write_block(op_learners *L, learner *l, uint32_t a, uint32_t b, sl_err *err) {
    learner_array *la = &l->arr[a];
    uint64_t first = (uint64_t)b * la->rpb;
    uint64_t rows = la->a.rows - first < la->rpb ? la->a.rows - first : la->rpb;
    size_t bytes = (size_t)rows * la->a.width * sizeof(float);
    sl_put_u64(L->buf, l->gen);
    memcpy(L->buf + 8, la->a.data + first * la->a.width, bytes);
    unsigned char k[L_KEY_MAX];
    size_t kl = key_block(k, l, a, b);
    return state_store_put(L->store, STATE_CF_MODELS, k, kl, L->buf, 8 + bytes, err);
}

static sl_status learner_checkpoint(op_learners *L, learner *l, sl_err *err) {
    l->gen++;
    uint32_t slot = (uint32_t)(l->gen % L_ROT);
    sl_status st = SL_OK;
    unsigned char k[L_KEY_MAX];
    /* The deltas this generation's slot held are ROT generations old: every
     * block was rewritten since, so they are obsolete. */
    if (l->ring_gen[slot])
        for (uint32_t a = 0; !st && a < l->n_arr; a++)
            for (uint32_t c = 0; !st && c < l->ring_chunks[slot][a]; c++) {
                size_t kl = key_delta(k, l, l->ring_gen[slot], a, c);
                st = state_store_delete(L->store, STATE_CF_MODELS, k, kl, err);
            }
    if (st)
        return st;
    l->ring_gen[slot] = l->gen;
    memset(l->ring_chunks[slot], 0, sizeof l->ring_chunks[slot]);
    for (uint32_t a = 0; !st && a < l->n_arr; a++) {
        learner_array *la = &l->arr[a];
        model_dirty *d = la->a.dirty;
        if (model_dirty_whole(d)) { /* every block now, no delta */
            for (uint32_t b = 0; !st && b < la->blocks; b++)
                st = write_block(L, l, a, b, err);
            if (!st)
                model_dirty_clear(d);
            continue;
        }
        /* The rolling base: the next ⌈blocks / ROT⌉ blocks. */
        uint32_t per = (la->blocks + L_ROT - 1) / L_ROT, start = la->cursor;
        for (uint32_t i = 0; !st && i < per; i++)
            st = write_block(L, l, a, (start + i) % la->blocks, err);
        la->cursor = (start + per) % la->blocks;
        /* The delta: changed rows outside the blocks just written. */
        size_t row_bytes = 4 + (size_t)la->a.width * sizeof(float), used = 0;
        uint32_t chunk = 0;
        for (uint32_t i = 0; !st && i <= d->n; i++) {
            if (i < d->n) {
                uint32_t r = d->list[i];
                uint32_t since = (r / la->rpb + la->blocks - start) % la->blocks;
                if (since < per)
                    continue; /* its block is in the base of this generation */
                sl_put_u32(L->buf + used, r);
                memcpy(L->buf + used + 4, la->a.data + (size_t)r * la->a.width, row_bytes - 4);
                used += row_bytes;
            }
            if (used && (i == d->n || used + row_bytes > L_BLOCK_BYTES)) {
                size_t kl = key_delta(k, l, l->gen, a, chunk++);
                st = state_store_put(L->store, STATE_CF_MODELS, k, kl, L->buf, used, err);
                used = 0;
            }
        }
        l->ring_chunks[slot][a] = chunk;
        if (!st)
            model_dirty_clear(d);
    }
    return st ? st : meta_save(L, l, err);
}

sl_status op_learners_checkpoint(op_learners *L, sl_err *err) {
    op_learners_flush(L);
    for (uint32_t i = 0; i < L->n; i++) {
        sl_status st = learner_checkpoint(L, &L->m[i], err);
        if (st) {
            sl_err_prefix(err, "model \"%s\": checkpoint", L->m[i].cm->name);
            return st;
        }
    }
    return SL_OK;
}

/* ---- snapshots and the report ------------------------------------------------- */

sl_status op_learners_snapshot(op_learners *L, uint32_t id, int64_t event_time, sl_buf *out,
                               size_t *len, sl_err *err) {
    learner *l = &L->m[id];
    flush_one(l);
    model_snapshot_writer w;
    model_snapshot_begin(&w, out, l->vt->kind, l->cm->name);
    model_snapshot_put_dim(&w, "examples", l->learned);
    model_snapshot_put_dim(&w, "event_time_ms", (uint64_t)event_time);
    model_snapshot_put_dim(&w, "surface", (uint64_t)l->cm->surface);
    model_snapshot_put_dim(&w, "refused", l->refused);
    l->vt->write(l->ctx, &w);
    return model_snapshot_finish(&w, len, err);
}

sl_status op_learners_report(const op_learners *L, sl_buf *out) {
    sl_status st = sl_buf_putc(out, '{');
    for (uint32_t i = 0; !st && i < L->n; i++) {
        const learner *l = &L->m[i];
        st = sl_buf_printf(out,
                           "%s\"%s\":{\"kind\":\"%s\",\"surface\":\"%s\",\"learned\":%llu,"
                           "\"sampled_out\":%llu,\"refused\":%llu}",
                           i ? "," : "", l->cm->name, sl_model_kind_str(l->cm->kind),
                           sl_surface_str(l->cm->surface), (unsigned long long)l->learned,
                           (unsigned long long)l->sampled_out,
                           (unsigned long long)l->refused);
    }
    return st ? st : sl_buf_putc(out, '}');
}
