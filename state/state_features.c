/* state_features.c — decayed counters, profiles and the social graph over
 * the store (formats and bounds in state_features.h). */
#include "state_features.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SF_REC_BYTES(n) (STATE_FEAT_COUNTER_COUNT * STATE_DECAY_BYTES(n))
#define SF_MAX_REC      SF_REC_BYTES(STATE_DECAY_MAX_HL)
#define SF_KIND_NUM     1 /* profile entry kinds as encoded */
#define SF_KIND_STR     2

struct state_features {
    state_store *st;            /* borrowed */
    state_decay_spec spec;      /* half-lives of every counter */
    size_t rec_bytes;           /* encoded record size */
    state_features_stats stats; /* counters since create */
    unsigned char *scratch;     /* (STATE_STORE_MAX_VALUE) profile / friend list read */
    unsigned char *scratch2;    /* (STATE_STORE_MAX_VALUE) the value being rebuilt */
};

static const char family_tag[] = {
#define SF_TAG_(name, text, tag) tag,
    STATE_FEAT_FAMILY_LIST(SF_TAG_)
#undef SF_TAG_
};

const char *state_feat_family_str(state_feat_family f) {
    static const char *const names[] = {
#define SF_NAME_(name, text, tag) text,
        STATE_FEAT_FAMILY_LIST(SF_NAME_)
#undef SF_NAME_
    };
    return (unsigned)f < STATE_FEAT_FAMILY_COUNT ? names[f] : "?";
}

const char *state_feat_counter_str(state_feat_counter c) {
    static const char *const names[] = {
#define SF_CNAME_(name, text) text,
        STATE_FEAT_COUNTER_LIST(SF_CNAME_)
#undef SF_CNAME_
    };
    return (unsigned)c < STATE_FEAT_COUNTER_COUNT ? names[c] : "?";
}

sl_status state_features_create(state_store *st, const state_decay_spec *spec, state_features **out,
                                sl_err *err) {
    *out = NULL;
    state_features *sf = calloc(1, sizeof *sf);
    if (!sf)
        goto fail;
    sf->scratch = malloc(STATE_STORE_MAX_VALUE);
    sf->scratch2 = malloc(STATE_STORE_MAX_VALUE);
    if (!sf->scratch || !sf->scratch2)
        goto fail;
    sf->st = st;
    sf->spec = *spec;
    sf->rec_bytes = SF_REC_BYTES(spec->n);
    *out = sf;
    return SL_OK;
fail:
    state_features_destroy(sf);
    return sl_err_set(err, SL_ERR_NOMEM, "state_features: out of memory");
}

void state_features_destroy(state_features *sf) {
    if (!sf)
        return;
    free(sf->scratch);
    free(sf->scratch2);
    free(sf);
}

const state_decay_spec *state_features_spec(const state_features *sf) { return &sf->spec; }

/* ---- keys ---------------------------------------------------------------- */

static bool put_id16(unsigned char *key, size_t cap, size_t *at, sl_str s) {
    if (*at + 2 + s.n > cap)
        return false;
    key[(*at)++] = (unsigned char)(s.n >> 8);
    key[(*at)++] = (unsigned char)(s.n & 255);
    if (s.n)
        memcpy(key + *at, s.p, s.n);
    *at += s.n;
    return true;
}

static bool is_pair(state_feat_family fam) {
    return fam == STATE_FEAT_USER_ITEM || fam == STATE_FEAT_USER_CAT;
}

bool state_features_key(state_feat_family fam, sl_str a, sl_str b, bool prefix_only,
                        unsigned char *key, size_t cap, size_t *klen) {
    size_t at = 0;
    if (cap < 1)
        return false;
    key[at++] = (unsigned char)family_tag[fam];
    if (!put_id16(key, cap, &at, a))
        return false;
    if (is_pair(fam) && !prefix_only && !put_id16(key, cap, &at, b))
        return false;
    *klen = at;
    return true;
}

/* ---- decayed counters ----------------------------------------------------- */

sl_status state_features_add(state_features *sf, state_feat_family fam, sl_str a, sl_str b,
                             state_feat_counter c, int64_t t, double x, sl_err *err) {
    if (!isfinite(x))
        return sl_err_set(err, SL_ERR_INVALID, "state_features: %s.%s: value not finite",
                          state_feat_family_str(fam), state_feat_counter_str(c));
    unsigned char key[STATE_STORE_MAX_KEY];
    size_t klen;
    if (!state_features_key(fam, a, b, false, key, sizeof key, &klen)) {
        sf->stats.keys_too_long++;
        return SL_OK;
    }
    void *val;
    size_t old;
    sl_status rc =
        state_store_update(sf->st, STATE_CF_FEATURES, key, klen, sf->rec_bytes, &val, &old, err);
    if (rc)
        return rc;
    unsigned char *rec = val;
    if (old != sf->rec_bytes) {
        /* new key (or a record from another half-life configuration, which
         * cannot be reinterpreted): start every counter empty */
        state_decay d;
        state_decay_init(&d);
        for (int i = 0; i < STATE_FEAT_COUNTER_COUNT; i++)
            state_decay_encode(&d, sf->spec.n, rec + (size_t)i * STATE_DECAY_BYTES(sf->spec.n));
    }
    unsigned char *p = rec + (size_t)c * STATE_DECAY_BYTES(sf->spec.n);
    state_decay d;
    state_decay_decode(p, sf->spec.n, &d);
    if (state_decay_add(&d, &sf->spec, t, x) != SL_OK)
        return sl_err_set(err, SL_ERR_INVALID, "state_features: %s.%s: result not finite",
                          state_feat_family_str(fam), state_feat_counter_str(c));
    state_decay_encode(&d, sf->spec.n, p);
    return SL_OK;
}

static void record_empty(state_feat_record *rec) {
    rec->found = false;
    for (int i = 0; i < STATE_FEAT_COUNTER_COUNT; i++)
        state_decay_init(&rec->c[i]);
}

static void decode_record(const state_features *sf, const unsigned char *p, size_t len,
                          state_feat_record *rec) {
    record_empty(rec);
    if (len != sf->rec_bytes)
        return;
    rec->found = true;
    for (int i = 0; i < STATE_FEAT_COUNTER_COUNT; i++)
        state_decay_decode(p + (size_t)i * STATE_DECAY_BYTES(sf->spec.n), sf->spec.n, &rec->c[i]);
}

sl_status state_features_read(state_features *sf, state_feat_family fam, sl_str a, sl_str b,
                              state_feat_record *rec, sl_err *err) {
    unsigned char key[STATE_STORE_MAX_KEY], buf[SF_MAX_REC];
    size_t klen, vlen = 0;
    record_empty(rec);
    if (!state_features_key(fam, a, b, false, key, sizeof key, &klen))
        return SL_OK;
    sl_status rc =
        state_store_get(sf->st, STATE_CF_FEATURES, key, klen, buf, sizeof buf, &vlen, err);
    if (rc == SL_ERR_NOT_FOUND || rc == SL_ERR_LIMIT)
        return SL_OK; /* absent, or a foreign-sized record: reads as empty */
    if (rc)
        return rc;
    decode_record(sf, buf, vlen, rec);
    return SL_OK;
}

int64_t state_features_horizon_ms(const state_features *sf) {
    double h = 0;
    for (int i = 0; i < sf->spec.n; i++)
        if (sf->spec.h_ms[i] > h)
            h = sf->spec.h_ms[i];
    return (int64_t)(16.0 * h);
}

bool state_features_dead(const state_features *sf, const void *val, size_t vlen, int64_t t) {
    state_feat_record rec;
    decode_record(sf, val, vlen, &rec);
    if (!rec.found)
        return false; /* not ours to judge */
    int64_t tl = state_feat_record_t_last(&rec);
    if (tl != STATE_DECAY_EMPTY && t - tl <= state_features_horizon_ms(sf))
        return false;
    for (int i = 0; i < STATE_FEAT_COUNTER_COUNT; i++)
        if (!state_decay_negligible(&rec.c[i], &sf->spec, t, STATE_FEAT_EPS))
            return false;
    return true;
}

int64_t state_feat_record_t_last(const state_feat_record *rec) {
    int64_t t = STATE_DECAY_EMPTY;
    for (int i = 0; i < STATE_FEAT_COUNTER_COUNT; i++)
        if (rec->c[i].t_last > t)
            t = rec->c[i].t_last;
    return t;
}

typedef struct pair_scan {
    const state_features *sf; /* for the record size */
    size_t plen;              /* prefix length: the second id starts after it */
    size_t max, seen;         /* bound and progress */
    state_feat_pair_fn fn;    /* caller's callback */
    void *ctx;                /* its context */
} pair_scan;

static bool pair_scan_fn(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    pair_scan *ps = ctx;
    const unsigned char *k = key;
    if (klen < ps->plen + 2)
        return true;
    size_t n = (size_t)k[ps->plen] << 8 | k[ps->plen + 1];
    if (ps->plen + 2 + n != klen)
        return true;
    state_feat_record rec;
    decode_record(ps->sf, val, vlen, &rec);
    sl_str second = {(const char *)k + ps->plen + 2, (uint32_t)n};
    if (!ps->fn(ps->ctx, second, &rec))
        return false;
    return ++ps->seen < ps->max;
}

sl_status state_features_scan_pairs(state_features *sf, state_feat_family fam, sl_str a, size_t max,
                                    state_feat_pair_fn fn, void *ctx, sl_err *err) {
    unsigned char key[STATE_STORE_MAX_KEY];
    size_t klen;
    if (!is_pair(fam) || max == 0)
        return SL_OK;
    if (!state_features_key(fam, a, a, true, key, sizeof key, &klen))
        return SL_OK;
    pair_scan ps = {sf, klen, max, 0, fn, ctx};
    return state_store_scan(sf->st, STATE_CF_FEATURES, key, klen, pair_scan_fn, &ps, err);
}

/* ---- profiles ------------------------------------------------------------- */

bool state_features_profile_key(sl_entity entity, sl_str id, unsigned char *key, size_t *klen) {
    if (entity == SL_ENTITY_NONE || 1 + (size_t)id.n > STATE_STORE_MAX_KEY)
        return false;
    key[0] = entity == SL_ENTITY_USER ? 'u' : 'i';
    if (id.n)
        memcpy(key + 1, id.p, id.n);
    *klen = 1 + id.n;
    return true;
}

/* Decodes an encoded profile (borrowing p) into kv[]. false if corrupt. */
static bool profile_decode(const unsigned char *p, size_t len, sl_kv *kv, uint32_t *n) {
    size_t at = 0;
    uint32_t k = 0;
    while (at < len) {
        if (k >= SL_EVENT_MAX_FIELDS || at + 1 > len)
            return false;
        size_t kl = p[at++];
        if (at + kl + 1 > len)
            return false;
        sl_kv *e = &kv[k++];
        memset(e, 0, sizeof *e);
        e->key = (sl_str){(const char *)p + at, (uint32_t)kl};
        at += kl;
        int kind = p[at++];
        if (kind == SF_KIND_NUM) {
            if (at + 8 > len)
                return false;
            uint64_t u = 0;
            for (int i = 0; i < 8; i++)
                u |= (uint64_t)p[at + i] << (8 * i);
            memcpy(&e->num, &u, 8);
            e->kind = SL_KV_NUM;
            at += 8;
        } else if (kind == SF_KIND_STR) {
            if (at + 2 > len)
                return false;
            size_t sl = (size_t)p[at] | (size_t)p[at + 1] << 8;
            at += 2;
            if (at + sl > len)
                return false;
            e->kind = SL_KV_STR;
            e->s = (sl_str){(const char *)p + at, (uint32_t)sl};
            at += sl;
        } else {
            return false;
        }
    }
    *n = k;
    return true;
}

/* Appends one entry to out; false if it does not fit in cap. */
static bool profile_put(unsigned char *out, size_t cap, size_t *at, const sl_kv *e) {
    size_t need = 1 + e->key.n + 1 + (e->kind == SL_KV_STR ? 2 + (size_t)e->s.n : 8);
    if (e->key.n > 255 || (e->kind == SL_KV_STR && e->s.n > 65535) || *at + need > cap)
        return false;
    out[(*at)++] = (unsigned char)e->key.n;
    memcpy(out + *at, e->key.p, e->key.n);
    *at += e->key.n;
    if (e->kind == SL_KV_STR) {
        out[(*at)++] = SF_KIND_STR;
        out[(*at)++] = (unsigned char)(e->s.n & 255);
        out[(*at)++] = (unsigned char)(e->s.n >> 8);
        if (e->s.n)
            memcpy(out + *at, e->s.p, e->s.n);
        *at += e->s.n;
    } else {
        out[(*at)++] = SF_KIND_NUM;
        uint64_t u;
        memcpy(&u, &e->num, 8);
        for (int i = 0; i < 8; i++)
            out[(*at)++] = (unsigned char)(u >> (8 * i));
    }
    return true;
}

static bool str_eq(sl_str a, sl_str b) {
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

sl_status state_features_profile_upsert(state_features *sf, sl_entity entity, sl_str id,
                                        const sl_kv *attrs, uint32_t n, sl_err *err) {
    unsigned char key[STATE_STORE_MAX_KEY];
    size_t klen, vlen = 0;
    if (entity == SL_ENTITY_NONE)
        return sl_err_set(err, SL_ERR_INVALID, "profile upsert: no entity");
    if (!state_features_profile_key(entity, id, key, &klen))
        return sl_err_set(err, SL_ERR_LIMIT, "profile upsert: id too long");
    sl_status rc = state_store_get(sf->st, STATE_CF_PROFILES, key, klen, sf->scratch,
                                   STATE_STORE_MAX_VALUE, &vlen, err);
    if (rc == SL_ERR_NOT_FOUND)
        vlen = 0;
    else if (rc)
        return rc;
    sl_kv old[SL_EVENT_MAX_FIELDS];
    uint32_t n_old = 0;
    if (!profile_decode(sf->scratch, vlen, old, &n_old))
        n_old = 0; /* a corrupt profile is replaced, not kept */
    /* Old entries not named by the upsert keep their order; then the upsert's
     * own entries in its order (a later duplicate key wins). */
    size_t at = 0;
    uint32_t count = 0;
    for (uint32_t i = 0; i < n_old; i++) {
        bool named = false;
        for (uint32_t j = 0; j < n && !named; j++)
            named = str_eq(old[i].key, attrs[j].key);
        if (named)
            continue;
        if (!profile_put(sf->scratch2, STATE_STORE_MAX_VALUE, &at, &old[i]))
            goto too_big;
        count++;
    }
    for (uint32_t j = 0; j < n; j++) {
        if (attrs[j].kind == SL_KV_NULL)
            continue;
        bool later = false;
        for (uint32_t k = j + 1; k < n && !later; k++)
            later = str_eq(attrs[j].key, attrs[k].key);
        if (later)
            continue;
        sl_kv e = attrs[j];
        if (e.kind == SL_KV_BOOL)
            e.kind = SL_KV_NUM;
        if (count >= SL_EVENT_MAX_FIELDS ||
            !profile_put(sf->scratch2, STATE_STORE_MAX_VALUE, &at, &e))
            goto too_big;
        count++;
    }
    if (at == 0)
        return state_store_delete(sf->st, STATE_CF_PROFILES, key, klen, err);
    return state_store_put(sf->st, STATE_CF_PROFILES, key, klen, sf->scratch2, at, err);
too_big:
    return sl_err_set(err, SL_ERR_INVALID, "profile %.*s: over %d attributes or %d bytes",
                      (int)id.n, id.p, SL_EVENT_MAX_FIELDS, STATE_STORE_MAX_VALUE);
}

sl_status state_features_profile_get(state_features *sf, sl_entity entity, sl_str id,
                                     state_profile *p, sl_err *err) {
    unsigned char key[STATE_STORE_MAX_KEY];
    size_t klen, vlen = 0;
    p->found = false;
    p->n = 0;
    if (entity == SL_ENTITY_NONE || !state_features_profile_key(entity, id, key, &klen))
        return SL_OK;
    sl_status rc =
        state_store_get(sf->st, STATE_CF_PROFILES, key, klen, p->buf, sizeof p->buf, &vlen, err);
    if (rc == SL_ERR_NOT_FOUND)
        return SL_OK;
    if (rc)
        return rc;
    if (!profile_decode(p->buf, vlen, p->kv, &p->n)) {
        p->n = 0;
        return sl_err_set(err, SL_ERR_CORRUPT, "profile %.*s: undecodable", (int)id.n, id.p);
    }
    p->found = true;
    return SL_OK;
}

const sl_kv *state_profile_attr(const state_profile *p, const char *key) {
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < p->n; i++)
        if (sl_str_eq(p->kv[i].key, key, kl))
            return &p->kv[i];
    return NULL;
}

bool state_profile_num(const state_profile *p, const char *key, double *v) {
    const sl_kv *e = state_profile_attr(p, key);
    if (!e || e->kind != SL_KV_NUM)
        return false;
    *v = e->num;
    return true;
}

bool state_profile_str(const state_profile *p, const char *key, sl_str *s) {
    const sl_kv *e = state_profile_attr(p, key);
    if (!e || e->kind != SL_KV_STR)
        return false;
    *s = e->s;
    return true;
}

/* ---- graph ---------------------------------------------------------------- */

static bool graph_key1(char tag, sl_str a, unsigned char *key, size_t *klen) {
    if (1 + (size_t)a.n > STATE_STORE_MAX_KEY)
        return false;
    key[0] = (unsigned char)tag;
    if (a.n)
        memcpy(key + 1, a.p, a.n);
    *klen = 1 + a.n;
    return true;
}

static bool attendee_key(sl_str item, sl_str user, unsigned char *key, size_t *klen) {
    size_t at = 1;
    key[0] = 'A';
    if (!put_id16(key, STATE_STORE_MAX_KEY, &at, item) || at + user.n > STATE_STORE_MAX_KEY)
        return false;
    if (user.n)
        memcpy(key + at, user.p, user.n);
    *klen = at + user.n;
    return true;
}

/* Reads a friend list into buf; *len 0 if absent. */
static sl_status friends_read(state_features *sf, sl_str user, unsigned char *buf, size_t *len,
                              sl_err *err) {
    unsigned char key[STATE_STORE_MAX_KEY];
    size_t klen;
    *len = 0;
    if (!graph_key1('F', user, key, &klen))
        return SL_OK;
    sl_status rc =
        state_store_get(sf->st, STATE_CF_GRAPH, key, klen, buf, STATE_STORE_MAX_VALUE, len, err);
    if (rc == SL_ERR_NOT_FOUND) {
        *len = 0;
        return SL_OK;
    }
    return rc;
}

/* Appends other to user's list unless present or full. */
static sl_status friend_add_one(state_features *sf, sl_str user, sl_str other, sl_err *err) {
    unsigned char key[STATE_STORE_MAX_KEY];
    size_t klen, len;
    if (other.n > 255 || !graph_key1('F', user, key, &klen)) {
        sf->stats.friends_dropped++;
        return SL_OK;
    }
    sl_status rc = friends_read(sf, user, sf->scratch, &len, err);
    if (rc)
        return rc;
    size_t at = 0, count = 0;
    while (at < len) {
        size_t n = sf->scratch[at];
        if (at + 1 + n > len)
            break;
        if (n == other.n && memcmp(sf->scratch + at + 1, other.p, n) == 0)
            return SL_OK; /* already a friend */
        at += 1 + n;
        count++;
    }
    if (count >= STATE_FEAT_MAX_FRIENDS || at + 1 + other.n > STATE_STORE_MAX_VALUE) {
        sf->stats.friends_dropped++;
        return SL_OK;
    }
    sf->scratch[at] = (unsigned char)other.n;
    memcpy(sf->scratch + at + 1, other.p, other.n);
    return state_store_put(sf->st, STATE_CF_GRAPH, key, klen, sf->scratch, at + 1 + other.n, err);
}

sl_status state_features_friend_add(state_features *sf, sl_str a, sl_str b, sl_err *err) {
    if (str_eq(a, b))
        return SL_OK; /* no self-edges */
    sl_status rc = friend_add_one(sf, a, b, err);
    if (rc)
        return rc;
    return friend_add_one(sf, b, a, err);
}

sl_status state_features_friend_count(state_features *sf, sl_str user, uint32_t *n, sl_err *err) {
    size_t len, at = 0;
    *n = 0;
    sl_status rc = friends_read(sf, user, sf->scratch, &len, err);
    if (rc)
        return rc;
    while (at < len) {
        at += 1 + (size_t)sf->scratch[at];
        (*n)++;
    }
    return SL_OK;
}

sl_status state_features_attend(state_features *sf, sl_str item, sl_str user, bool *added,
                                sl_err *err) {
    unsigned char key[STATE_STORE_MAX_KEY], one = 1;
    size_t klen, vlen;
    if (added)
        *added = false;
    if (!attendee_key(item, user, key, &klen))
        return SL_OK;
    sl_status rc = state_store_get(sf->st, STATE_CF_GRAPH, key, klen, &one, 1, &vlen, err);
    if (rc == SL_OK) {
        sf->stats.dup_registers++;
        return SL_OK;
    }
    if (rc != SL_ERR_NOT_FOUND)
        return rc;
    one = 1;
    if ((rc = state_store_put(sf->st, STATE_CF_GRAPH, key, klen, &one, 1, err)))
        return rc;
    if (!graph_key1('N', item, key, &klen))
        return SL_OK;
    void *val;
    size_t old;
    if ((rc = state_store_update(sf->st, STATE_CF_GRAPH, key, klen, 8, &val, &old, err)))
        return rc;
    unsigned char *p = val;
    uint64_t c = 0;
    for (int i = 0; i < 8; i++)
        c |= (uint64_t)p[i] << (8 * i);
    c++;
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(c >> (8 * i));
    if (added)
        *added = true;
    return SL_OK;
}

sl_status state_features_attendee_count(state_features *sf, sl_str item, uint64_t *n, sl_err *err) {
    unsigned char key[STATE_STORE_MAX_KEY], buf[8];
    size_t klen, vlen;
    *n = 0;
    if (!graph_key1('N', item, key, &klen))
        return SL_OK;
    sl_status rc = state_store_get(sf->st, STATE_CF_GRAPH, key, klen, buf, sizeof buf, &vlen, err);
    if (rc == SL_ERR_NOT_FOUND)
        return SL_OK;
    if (rc)
        return rc;
    if (vlen != 8)
        return sl_err_set(err, SL_ERR_CORRUPT, "attendee count: %zu bytes", vlen);
    for (int i = 0; i < 8; i++)
        *n |= (uint64_t)buf[i] << (8 * i);
    return SL_OK;
}

sl_status state_features_friends_registered(state_features *sf, sl_str user, sl_str item,
                                            uint32_t *n, sl_err *err) {
    size_t len, at = 0;
    *n = 0;
    sl_status rc = friends_read(sf, user, sf->scratch, &len, err);
    if (rc)
        return rc;
    /* The friend list stays in scratch while we probe: gets copy into a
     * one-byte buffer and never touch scratch. */
    for (int k = 0; at < len && k < STATE_FEAT_MAX_FRIENDS; k++) {
        size_t fl = sf->scratch[at];
        if (at + 1 + fl > len)
            break;
        sl_str f = {(const char *)sf->scratch + at + 1, (uint32_t)fl};
        at += 1 + fl;
        unsigned char key[STATE_STORE_MAX_KEY], one;
        size_t klen, vlen;
        if (!attendee_key(item, f, key, &klen))
            continue;
        rc = state_store_get(sf->st, STATE_CF_GRAPH, key, klen, &one, 1, &vlen, err);
        if (rc == SL_OK)
            (*n)++;
        else if (rc != SL_ERR_NOT_FOUND)
            return rc;
    }
    return SL_OK;
}

void state_features_stats_get(const state_features *sf, state_features_stats *out) {
    *out = sf->stats;
}
