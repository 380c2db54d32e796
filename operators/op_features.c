/*
 * op_features.c — the featurizer (contract in op_features.h, the feature
 * list in docs/FEATURES.md).
 *
 * Legend: H = half-lives configured (1..4), h = a half-life index, A = the
 * sparse decayed-count specs (OF_AGG below), D = MODEL_MAX_DENSE (32).
 * Every sparse index is a bucket of 2^hash_bits: a configured field hashes
 * (namespace, value); a derived feature hashes (its namespace, its bucket
 * number), so all of them share one space and one model.
 */
#include "op_features.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_hash.h"
#include "state_features.h"

#define OF_SEED           OP_FEATURES_HASH_SEED
#define OF_MAX_PARTS      3    /* fields in a cross */
#define OF_CTR_A          1.0  /* smoothed CTR prior: (clicks+a)/(views+a+b) */
#define OF_CTR_B          19.0 /* ... a/(a+b) = 5 % for an unseen key */
#define OF_DESCRIBE_PAIRS 100  /* pairs listed per family by describe */

typedef enum of_src {
    OF_SRC_ITEM,      /* the item id */
    OF_SRC_USER,      /* the user id */
    OF_SRC_SURFACE,   /* the surface name */
    OF_SRC_CTX,       /* ctx.<key> of the view */
    OF_SRC_ITEM_ATTR, /* item.<attr>: the item's profile */
    OF_SRC_USER_ATTR  /* user.<attr>: the user's profile */
} of_src;

typedef struct of_part {
    of_src src;                     /* where the value comes from */
    char key[SL_EVENT_MAX_KEY + 1]; /* ctx key or attribute name */
} of_part;

typedef struct of_feature {
    int n;                      /* parts: 1 categorical, 2..3 cross */
    of_part part[OF_MAX_PARTS]; /* (n) */
    uint64_t ns;                /* namespace hash of the configured name */
} of_feature;

/* Sparse decayed-count indicators: one per spec and half-life. */
static const struct {
    state_feat_family fam;
    state_feat_counter c;
} OF_AGG[] = {
    {STATE_FEAT_USER, STATE_FEAT_VIEWS},         {STATE_FEAT_USER, STATE_FEAT_CLICKS},
    {STATE_FEAT_USER, STATE_FEAT_LIKES},         {STATE_FEAT_USER, STATE_FEAT_SHARES},
    {STATE_FEAT_USER, STATE_FEAT_REGISTERS},     {STATE_FEAT_USER, STATE_FEAT_CONVERSIONS},
    {STATE_FEAT_ITEM, STATE_FEAT_VIEWS},         {STATE_FEAT_ITEM, STATE_FEAT_CLICKS},
    {STATE_FEAT_ITEM, STATE_FEAT_LIKES},         {STATE_FEAT_ITEM, STATE_FEAT_SHARES},
    {STATE_FEAT_ITEM, STATE_FEAT_REGISTERS},     {STATE_FEAT_ITEM, STATE_FEAT_CONVERSIONS},
    {STATE_FEAT_USER_ITEM, STATE_FEAT_VIEWS},    {STATE_FEAT_USER_ITEM, STATE_FEAT_CLICKS},
    {STATE_FEAT_USER_CAT, STATE_FEAT_VIEWS},     {STATE_FEAT_USER_CAT, STATE_FEAT_CLICKS},
    {STATE_FEAT_USER_CAT, STATE_FEAT_REGISTERS}, {STATE_FEAT_ADV, STATE_FEAT_VIEWS},
    {STATE_FEAT_ADV, STATE_FEAT_CLICKS},
};
#define OF_N_AGG (sizeof OF_AGG / sizeof OF_AGG[0])

/* Derived feature groups after the configured ones: field = n_cfg + group. */
enum {
    OF_G_BIAS,
    OF_G_AGE,
    OF_G_PRICE,
    OF_G_DIST,
    OF_G_HOURS,
    OF_G_PRICE_REL,
    OF_G_FRIENDS,
    OF_G_RECENCY_U,
    OF_G_RECENCY_UI,
    OF_G_CTR,                                      /* + family: 5 groups */
    OF_G_AGG = OF_G_CTR + STATE_FEAT_FAMILY_COUNT, /* + spec index */
    OF_G_COUNT = OF_G_AGG + (int)OF_N_AGG
};

struct op_features {
    state_store *st;                          /* borrowed */
    state_features *sf;                       /* owned */
    int bits;                                 /* features.hash_bits */
    int n_hl;                                 /* H */
    int n_cfg;                                /* configured features: categorical then crosses */
    of_feature cfg[2 * SL_CONFIG_MAX_FIELDS]; /* (n_cfg) */
    uint64_t ns_group[OF_G_COUNT][STATE_DECAY_MAX_HL]; /* derived namespaces, per h */
    state_profile *up;                                 /* scratch: the user's profile */
    state_profile *ip;                                 /* scratch: the item's profile */
    char ip_id[SL_EVENT_MAX_ID];                       /* whose profile ip holds */
    uint32_t ip_id_n;                                  /* its length */
    bool ip_valid;                                     /* ip holds ip_id's current profile */
    op_features_stats stats;                           /* counters since create */
};

/* ---- create --------------------------------------------------------------- */

static sl_status parse_part(const char *s, size_t n, of_part *p) {
    memset(p, 0, sizeof *p);
    const struct {
        const char *prefix;
        of_src src;
    } pre[] = {{"ctx.", OF_SRC_CTX}, {"item.", OF_SRC_ITEM_ATTR}, {"user.", OF_SRC_USER_ATTR}};
    if (n == 4 && !memcmp(s, "item", 4))
        return p->src = OF_SRC_ITEM, SL_OK;
    if (n == 4 && !memcmp(s, "user", 4))
        return p->src = OF_SRC_USER, SL_OK;
    if (n == 7 && !memcmp(s, "surface", 7))
        return p->src = OF_SRC_SURFACE, SL_OK;
    for (size_t i = 0; i < 3; i++) {
        size_t pl = strlen(pre[i].prefix);
        if (n > pl && n - pl <= SL_EVENT_MAX_KEY && !memcmp(s, pre[i].prefix, pl)) {
            p->src = pre[i].src;
            memcpy(p->key, s + pl, n - pl);
            return SL_OK;
        }
    }
    return SL_ERR_CONFIG;
}

static sl_status parse_feature(const char *name, const char *path, of_feature *ft, sl_err *err) {
    const char *s = name;
    ft->n = 0;
    ft->ns = sl_hash64(name, strlen(name), OF_SEED);
    for (;;) {
        const char *star = strchr(s, '*');
        size_t n = star ? (size_t)(star - s) : strlen(s);
        if (ft->n == OF_MAX_PARTS || parse_part(s, n, &ft->part[ft->n]) != SL_OK)
            return sl_err_set(err, SL_ERR_CONFIG,
                              "%s: unknown field \"%s\" (item, user, surface, ctx.KEY, "
                              "item.ATTR or user.ATTR, crosses joined by '*')",
                              path, name);
        ft->n++;
        if (!star)
            return SL_OK;
        s = star + 1;
    }
}

static const char *const group_names[OF_G_CTR] = {"bias",
                                                  "user.age_bucket",
                                                  "item.price_bucket",
                                                  "distance_km",
                                                  "hours_until_start",
                                                  "price_rel",
                                                  "friends_registered",
                                                  "user.since_last",
                                                  "user_item.since_last"};

sl_status op_features_create(const sl_config *cfg, state_store *st, op_features **out,
                             sl_err *err) {
    *out = NULL;
    sl_status rc;
    op_features *f = calloc(1, sizeof *f);
    if (!f)
        return sl_err_set(err, SL_ERR_NOMEM, "op_features: out of memory");
    f->st = st;
    f->bits = cfg->features.hash_bits;
    f->n_hl = cfg->features.n_half_lives;
    state_decay_spec spec;
    if ((rc = state_decay_spec_init(&spec, cfg->features.half_lives_ms, f->n_hl, err)))
        goto fail;
    if ((rc = state_features_create(st, &spec, &f->sf, err)))
        goto fail;
    f->up = malloc(sizeof *f->up);
    f->ip = malloc(sizeof *f->ip);
    if (!f->up || !f->ip) {
        rc = sl_err_set(err, SL_ERR_NOMEM, "op_features: out of memory");
        goto fail;
    }
    for (int i = 0; i < cfg->features.n_categorical; i++) {
        char path[64];
        snprintf(path, sizeof path, "features.categorical[%d]", i);
        if ((rc = parse_feature(cfg->features.categorical[i], path, &f->cfg[f->n_cfg], err)))
            goto fail;
        if (f->cfg[f->n_cfg].n != 1) {
            rc = sl_err_set(err, SL_ERR_CONFIG, "%s: a cross belongs in features.crosses", path);
            goto fail;
        }
        f->n_cfg++;
    }
    for (int i = 0; i < cfg->features.n_crosses; i++) {
        char path[64];
        snprintf(path, sizeof path, "features.crosses[%d]", i);
        if ((rc = parse_feature(cfg->features.crosses[i], path, &f->cfg[f->n_cfg], err)))
            goto fail;
        f->n_cfg++;
    }
    for (int g = 0; g < OF_G_COUNT; g++) {
        char name[96];
        for (int h = 0; h < STATE_DECAY_MAX_HL; h++) {
            if (g < OF_G_CTR)
                snprintf(name, sizeof name, "%s", group_names[g]);
            else if (g < OF_G_AGG)
                snprintf(name, sizeof name, "%s.ctr.h%d", state_feat_family_str(g - OF_G_CTR), h);
            else
                snprintf(name, sizeof name, "%s.%s.h%d",
                         state_feat_family_str(OF_AGG[g - OF_G_AGG].fam),
                         state_feat_counter_str(OF_AGG[g - OF_G_AGG].c), h);
            f->ns_group[g][h] = sl_hash64(name, strlen(name), OF_SEED);
        }
    }
    *out = f;
    return SL_OK;
fail:
    op_features_destroy(f);
    return rc;
}

void op_features_destroy(op_features *f) {
    if (!f)
        return;
    state_features_destroy(f->sf);
    free(f->up);
    free(f->ip);
    free(f);
}

void op_features_stats_get(const op_features *f, op_features_stats *out) { *out = f->stats; }

/* ---- build ---------------------------------------------------------------- */

static const sl_kv *kv_find(const sl_kv *kv, uint32_t n, const char *key) {
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < n; i++)
        if (sl_str_eq(kv[i].key, key, kl))
            return &kv[i];
    return NULL;
}

/* The hash of a ctx / attribute value; false for null. Integral numbers
 * hash as integers so that 5 and 5.0 agree. */
static bool kv_hash(const sl_kv *e, uint64_t *h) {
    if (!e || e->kind == SL_KV_NULL)
        return false;
    if (e->kind == SL_KV_STR) {
        *h = sl_hash64(e->s.p, e->s.n, OF_SEED);
    } else if (e->num == floor(e->num) && fabs(e->num) < 9.0e15) {
        *h = sl_hash_u64((uint64_t)(int64_t)e->num, OF_SEED);
    } else {
        uint64_t u;
        memcpy(&u, &e->num, 8);
        *h = sl_hash_u64(u, OF_SEED ^ 1);
    }
    return true;
}

static bool part_hash(const op_features *f, const of_part *p, const sl_event *ev, sl_str item,
                      uint64_t *h) {
    switch (p->src) {
    case OF_SRC_ITEM: *h = sl_hash64(item.p, item.n, OF_SEED); return true;
    case OF_SRC_USER: *h = sl_hash64(ev->user.p, ev->user.n, OF_SEED); return true;
    case OF_SRC_SURFACE: {
        const char *s = ev->surface == SL_SURFACE_NONE ? "none" : sl_surface_str(ev->surface);
        *h = sl_hash64(s, strlen(s), OF_SEED);
        return true;
    }
    case OF_SRC_CTX: return kv_hash(kv_find(ev->kv, ev->n_kv, p->key), h);
    case OF_SRC_ITEM_ATTR: return kv_hash(state_profile_attr(f->ip, p->key), h);
    case OF_SRC_USER_ATTR: return kv_hash(state_profile_attr(f->up, p->key), h);
    }
    return false;
}

static void add_sparse(op_features *f, model_example *ex, uint32_t idx, uint8_t field) {
    if (!model_example_add(ex, idx, 1.0f, field))
        f->stats.sparse_dropped++;
}

/* A derived indicator: group g's namespace (half-life h) with bucket b. */
static void add_group(op_features *f, model_example *ex, int g, int h, int64_t b) {
    uint64_t hb = sl_hash_combine(f->ns_group[g][h], sl_hash_u64((uint64_t)b, OF_SEED));
    add_sparse(f, ex, sl_hash_bucket(hb, f->bits), (uint8_t)(f->n_cfg + g));
}

/* Half-octave log buckets of a non-negative quantity: 0, 1, 2, ... 31. */
static int64_t log_bucket(double x) {
    if (!(x > 0))
        return 0;
    double b = floor(2.0 * log2(1.0 + x));
    return b > 31 ? 31 : (int64_t)b;
}

static double haversine_km(double lat1, double lon1, double lat2, double lon2) {
    const double r = 6371.0088, d = M_PI / 180.0; /* mean Earth radius, km */
    double dlat = (lat2 - lat1) * d, dlon = (lon2 - lon1) * d;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * d) * cos(lat2 * d) * sin(dlon / 2) * sin(dlon / 2);
    return 2 * r * asin(sqrt(a < 1 ? a : 1));
}

static float clampf(double x, double lo, double hi) {
    return (float)(x < lo ? lo : x > hi ? hi : x);
}

/* The records of the families of (user, item) and the item's profile. */
typedef struct of_ctx {
    state_feat_record rec[STATE_FEAT_FAMILY_COUNT]; /* per family */
    bool have[STATE_FEAT_FAMILY_COUNT];             /* the family applies */
    sl_str cat, adv;                                /* item category / advertiser */
} of_ctx;

static sl_status read_records(op_features *f, sl_str user, sl_str item, of_ctx *c, sl_err *err) {
    sl_status rc;
    memset(c->have, 0, sizeof c->have);
    c->cat = c->adv = (sl_str){NULL, 0};
    c->have[STATE_FEAT_USER] = c->have[STATE_FEAT_ITEM] = c->have[STATE_FEAT_USER_ITEM] = true;
    c->have[STATE_FEAT_USER_CAT] = state_profile_str(f->ip, "category", &c->cat);
    c->have[STATE_FEAT_ADV] = state_profile_str(f->ip, "advertiser", &c->adv);
    for (int fam = 0; fam < STATE_FEAT_FAMILY_COUNT; fam++) {
        if (!c->have[fam])
            continue;
        sl_str a = fam == STATE_FEAT_ITEM ? item : fam == STATE_FEAT_ADV ? c->adv : user;
        sl_str b = fam == STATE_FEAT_USER_CAT ? c->cat : item;
        if ((rc = state_features_read(f->sf, (state_feat_family)fam, a, b, &c->rec[fam], err)))
            return rc;
    }
    return SL_OK;
}

static double rd(const op_features *f, const of_ctx *c, int fam, state_feat_counter k, int h,
                 int64_t t) {
    if (!c->have[fam] || h >= f->n_hl)
        return 0;
    /* Below the dead-record threshold a value reads 0, so the sweep can
     * remove a dead record without changing any feature (state_features.h). */
    double v = state_decay_read(&c->rec[fam].c[k], state_features_spec(f->sf), h, t);
    return fabs(v) < STATE_FEAT_EPS ? 0 : v;
}

static double ctr(const op_features *f, const of_ctx *c, int fam, int h, int64_t t) {
    return (rd(f, c, fam, STATE_FEAT_CLICKS, h, t) + OF_CTR_A) /
           (rd(f, c, fam, STATE_FEAT_VIEWS, h, t) + OF_CTR_A + OF_CTR_B);
}

/* Reads item's profile into f->ip, unless it is already there: a view's
 * build and update (and a reaction right after) read the same item. Valid
 * because profiles change only through op_features_update, which drops it. */
static sl_status item_profile(op_features *f, sl_str item, sl_err *err) {
    if (f->ip_valid && f->ip_id_n == item.n && memcmp(f->ip_id, item.p, item.n) == 0)
        return SL_OK;
    f->ip_valid = false;
    sl_status rc = state_features_profile_get(f->sf, SL_ENTITY_ITEM, item, f->ip, err);
    if (rc == SL_OK && item.n <= sizeof f->ip_id) {
        memcpy(f->ip_id, item.p, item.n);
        f->ip_id_n = item.n;
        f->ip_valid = true;
    }
    return rc;
}

bool op_features_prefetch_keys(const op_features *f, const sl_event *ev, state_keys *ks) {
    (void)f;
    static const state_feat_family fams[] = {STATE_FEAT_USER, STATE_FEAT_ITEM,
                                             STATE_FEAT_USER_ITEM};
    size_t klen, need = 5 + (size_t)ev->user.n + ev->item.n; /* the longest of these keys */
    unsigned char *k;
    if (!(k = state_keys_room(ks, need)))
        return false;
    if (state_features_profile_key(SL_ENTITY_USER, ev->user, k, &klen))
        state_keys_push(ks, STATE_CF_PROFILES, klen);
    if (!(k = state_keys_room(ks, need)))
        return false;
    if (state_features_profile_key(SL_ENTITY_ITEM, ev->item, k, &klen))
        state_keys_push(ks, STATE_CF_PROFILES, klen);
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        sl_str a = fams[i] == STATE_FEAT_ITEM ? ev->item : ev->user;
        if (!(k = state_keys_room(ks, need)))
            return false;
        if (state_features_key(fams[i], a, ev->item, false, k, need, &klen))
            state_keys_push(ks, STATE_CF_FEATURES, klen);
    }
    return true;
}

sl_status op_features_build(op_features *f, const sl_event *ev, sl_str item, model_example *ex,
                            sl_err *err) {
    sl_status rc;
    const int64_t t = ev->ts;
    model_example_reset(ex);
    if ((rc = state_features_profile_get(f->sf, SL_ENTITY_USER, ev->user, f->up, err)) ||
        (rc = item_profile(f, item, err)))
        return rc;
    of_ctx c;
    if ((rc = read_records(f, ev->user, item, &c, err)))
        return rc;

    /* 1. configured categorical fields and crosses */
    for (int i = 0; i < f->n_cfg; i++) {
        const of_feature *ft = &f->cfg[i];
        uint64_t vh[OF_MAX_PARTS];
        bool ok = true;
        for (int p = 0; p < ft->n && ok; p++)
            ok = part_hash(f, &ft->part[p], ev, item, &vh[p]);
        if (ok)
            add_sparse(f, ex, sl_hash_cross(ft->ns, vh, ft->n, f->bits), (uint8_t)i);
    }
    /* 2. bias, profile and derived features */
    float *dn = ex->dense;
    memset(dn, 0, sizeof ex->dense);
    ex->n_dense = MODEL_MAX_DENSE;
    add_group(f, ex, OF_G_BIAS, 0, 0);
    double age, price, ulat, ulon, ilat, ilon, start;
    if (state_profile_num(f->up, "age", &age))
        add_group(f, ex, OF_G_AGE, 0, 1 + (int64_t)clampf(age / 5.0, 0, 24));
    bool has_price = state_profile_num(f->ip, "price", &price) && price >= 0;
    if (has_price)
        add_group(f, ex, OF_G_PRICE, 0, log_bucket(price));
    if (state_profile_num(f->up, "lat", &ulat) && state_profile_num(f->up, "lon", &ulon) &&
        state_profile_num(f->ip, "lat", &ilat) && state_profile_num(f->ip, "lon", &ilon)) {
        double km = haversine_km(ulat, ulon, ilat, ilon);
        add_group(f, ex, OF_G_DIST, 0, log_bucket(km));
        dn[28] = clampf(log1p(km) / 10.0, 0, 1);
    }
    if (state_profile_num(f->ip, "start_ts", &start)) {
        double hours = (start - (double)t) / 3.6e6;
        add_group(f, ex, OF_G_HOURS, 0, hours < 0 ? -1 : log_bucket(hours));
        dn[29] = clampf((hours < 0 ? -1 : 1) * log1p(fabs(hours)) / 8.0, -1, 1);
        uint32_t nf = 0;
        if ((rc = state_features_friends_registered(f->sf, ev->user, item, &nf, err)))
            return rc;
        add_group(f, ex, OF_G_FRIENDS, 0, nf > 10 ? 10 : nf);
        dn[31] = clampf(log1p(nf) / 3.0, 0, 1);
    }
    if (has_price) {
        /* the user's decayed average paid price at the longest half-life */
        int h = f->n_hl - 1;
        double regs = rd(f, &c, STATE_FEAT_USER, STATE_FEAT_REGISTERS, h, t);
        double paid = rd(f, &c, STATE_FEAT_USER, STATE_FEAT_PRICE_PAID, h, t);
        if (regs > 1e-6) {
            double r = log((price + 1.0) / (paid / regs + 1.0));
            add_group(f, ex, OF_G_PRICE_REL, 0, (int64_t)lround(clampf(r * 4.0, -12, 12)));
            dn[30] = clampf(r / 4.0, -2, 2);
        } else {
            add_group(f, ex, OF_G_PRICE_REL, 0, 100); /* no history */
        }
    }
    /* 3. recency: time since the user's / the pair's last event */
    const int fams_rec[2] = {STATE_FEAT_USER, STATE_FEAT_USER_ITEM};
    for (int k = 0; k < 2; k++) {
        int64_t tl = state_feat_record_t_last(&c.rec[fams_rec[k]]);
        if (tl != STATE_DECAY_EMPTY && t - tl > state_features_horizon_ms(f->sf))
            tl = STATE_DECAY_EMPTY; /* past the horizon: as if never seen (sweepable) */
        double hours = tl == STATE_DECAY_EMPTY ? -1 : (t > tl ? (double)(t - tl) / 3.6e6 : 0);
        add_group(f, ex, OF_G_RECENCY_U + k, 0, hours < 0 ? -1 : log_bucket(hours * 60.0));
        dn[26 + k] = hours < 0 ? 1.0f : clampf(log1p(hours) / 8.0, 0, 1);
    }
    /* 4. smoothed click-through rates per family and half-life */
    for (int fam = 0; fam < STATE_FEAT_FAMILY_COUNT; fam++)
        for (int h = 0; h < f->n_hl && c.have[fam]; h++) {
            double r = ctr(f, &c, fam, h, t);
            add_group(f, ex, OF_G_CTR + fam, h, (int64_t)fmin(39, floor(-4.0 * log2(r))));
        }
    dn[24] = clampf(ctr(f, &c, STATE_FEAT_USER, 0, t) * 10.0, 0, 1);
    dn[25] = clampf(ctr(f, &c, STATE_FEAT_ITEM, 0, t) * 10.0, 0, 1);
    /* 5. decayed counts (dense: the first two half-lives) */
    static const struct {
        int fam;
        state_feat_counter k;
    } dense_counts[11] = {
        {STATE_FEAT_USER, STATE_FEAT_VIEWS},      {STATE_FEAT_USER, STATE_FEAT_CLICKS},
        {STATE_FEAT_USER, STATE_FEAT_LIKES},      {STATE_FEAT_USER, STATE_FEAT_SHARES},
        {STATE_FEAT_ITEM, STATE_FEAT_VIEWS},      {STATE_FEAT_ITEM, STATE_FEAT_CLICKS},
        {STATE_FEAT_ITEM, STATE_FEAT_LIKES},      {STATE_FEAT_ITEM, STATE_FEAT_SHARES},
        {STATE_FEAT_USER_ITEM, STATE_FEAT_VIEWS}, {STATE_FEAT_USER_CAT, STATE_FEAT_VIEWS},
        {STATE_FEAT_USER_CAT, STATE_FEAT_CLICKS},
    };
    for (int h = 0; h < 2 && h < f->n_hl; h++) {
        for (int k = 0; k < 11; k++)
            dn[h * 12 + k] =
                clampf(log1p(rd(f, &c, dense_counts[k].fam, dense_counts[k].k, h, t)) / 8.0, 0, 2);
        double views = rd(f, &c, STATE_FEAT_ITEM, STATE_FEAT_VIEWS, h, t);
        double dwell = rd(f, &c, STATE_FEAT_ITEM, STATE_FEAT_DWELL_MS, h, t);
        dn[h * 12 + 11] = clampf(log1p(dwell / 1000.0 / (views > 1 ? views : 1)) / 8.0, 0, 2);
    }
    for (size_t a = 0; a < OF_N_AGG; a++)
        for (int h = 0; h < f->n_hl && c.have[OF_AGG[a].fam]; h++)
            add_group(f, ex, OF_G_AGG + (int)a, h,
                      log_bucket(rd(f, &c, OF_AGG[a].fam, OF_AGG[a].c, h, t)));
    f->stats.built++;
    return SL_OK;
}

/* ---- updates -------------------------------------------------------------- */

/* Adds x to counter k of every family of (user, item) at t. cat/adv come
 * from the item's profile (f->ip, read by the caller). */
static sl_status add_all(op_features *f, sl_str user, sl_str item, state_feat_counter k, int64_t t,
                         double x, bool with_adv, sl_err *err) {
    sl_status rc;
    sl_str none = {NULL, 0}, cat, adv;
    if ((rc = state_features_add(f->sf, STATE_FEAT_USER, user, none, k, t, x, err)) ||
        (rc = state_features_add(f->sf, STATE_FEAT_ITEM, item, none, k, t, x, err)) ||
        (rc = state_features_add(f->sf, STATE_FEAT_USER_ITEM, user, item, k, t, x, err)))
        return rc;
    if (state_profile_str(f->ip, "category", &cat) &&
        (rc = state_features_add(f->sf, STATE_FEAT_USER_CAT, user, cat, k, t, x, err)))
        return rc;
    if (with_adv && state_profile_str(f->ip, "advertiser", &adv) &&
        (rc = state_features_add(f->sf, STATE_FEAT_ADV, adv, none, k, t, x, err)))
        return rc;
    return SL_OK;
}

sl_status op_features_update(op_features *f, const sl_event *ev, sl_err *err) {
    sl_status rc = SL_OK;
    switch (ev->type) {
    case SL_EVENT_VIEW:
        if ((rc = item_profile(f, ev->item, err)))
            return rc;
        rc = add_all(f, ev->user, ev->item, STATE_FEAT_VIEWS, ev->ts, 1.0, true, err);
        break;
    case SL_EVENT_PROFILE:
        f->ip_valid = false;
        rc = state_features_profile_upsert(f->sf, ev->entity, ev->id, ev->kv, ev->n_kv, err);
        break;
    case SL_EVENT_FRIEND: rc = state_features_friend_add(f->sf, ev->user, ev->other, err); break;
    case SL_EVENT_REGISTER: {
        bool added;
        if ((rc = state_features_attend(f->sf, ev->item, ev->user, &added, err)) || !added)
            return rc; /* a repeated registration counts once */
        if ((rc = item_profile(f, ev->item, err)) ||
            (rc = add_all(f, ev->user, ev->item, STATE_FEAT_REGISTERS, ev->ts, 1.0, false, err)))
            return rc;
        double price;
        sl_str none = {NULL, 0};
        if (state_profile_num(f->ip, "price", &price) && price >= 0 &&
            ((rc = state_features_add(f->sf, STATE_FEAT_USER, ev->user, none, STATE_FEAT_PRICE_PAID,
                                      ev->ts, price, err)) ||
             (rc = state_features_add(f->sf, STATE_FEAT_ITEM, ev->item, none, STATE_FEAT_PRICE_PAID,
                                      ev->ts, price, err))))
            return rc;
        break;
    }
    default: return SL_OK;
    }
    if (rc == SL_OK)
        f->stats.updates++;
    return rc;
}

sl_status op_features_on_reaction(op_features *f, const op_view_ref *view, sl_event_type type,
                                  int64_t ts, double value, sl_err *err) {
    state_feat_counter k;
    double x = 1.0;
    switch (type) {
    case SL_EVENT_CLICK: k = STATE_FEAT_CLICKS; break;
    case SL_EVENT_LIKE: k = STATE_FEAT_LIKES; break;
    case SL_EVENT_SHARE: k = STATE_FEAT_SHARES; break;
    case SL_EVENT_CONVERSION: k = STATE_FEAT_CONVERSIONS; break;
    case SL_EVENT_DWELL:
        k = STATE_FEAT_DWELL_MS;
        x = value;
        break;
    default: return SL_OK;
    }
    sl_status rc = item_profile(f, view->item, err);
    if (rc == SL_OK)
        rc = add_all(f, view->user, view->item, k, ts, x, true, err);
    if (rc == SL_OK)
        f->stats.reactions++;
    return rc;
}

/* ---- describe ------------------------------------------------------------- */

static sl_status json_record(op_features *f, const state_feat_record *rec, int64_t at, sl_buf *b) {
    sl_status rc = sl_buf_printf(b, "{\"t_last\":");
    int64_t tl = state_feat_record_t_last(rec);
    rc = rc ? rc : (tl == STATE_DECAY_EMPTY ? sl_buf_printf(b, "null") : sl_buf_json_i64(b, tl));
    for (int k = 0; k < STATE_FEAT_COUNTER_COUNT && !rc; k++) {
        rc = sl_buf_printf(b, ",\"%s\":[", state_feat_counter_str(k));
        for (int h = 0; h < f->n_hl && !rc; h++) {
            if (h)
                rc = sl_buf_putc(b, ',');
            if (!rc)
                rc = sl_buf_json_num(
                    b, state_decay_read(&rec->c[k], state_features_spec(f->sf), h, at));
        }
        if (!rc)
            rc = sl_buf_putc(b, ']');
    }
    return rc ? rc : sl_buf_putc(b, '}');
}

typedef struct of_pairs {
    op_features *f; /* for the spec */
    int64_t at;     /* read time */
    sl_buf *b;      /* output */
    int n;          /* pairs written */
    sl_status rc;   /* first error */
} of_pairs;

static bool pairs_fn(void *ctx, sl_str second, const state_feat_record *rec) {
    of_pairs *p = ctx;
    if (p->n++ && (p->rc = sl_buf_putc(p->b, ',')))
        return false;
    if ((p->rc = sl_buf_json_str(p->b, second.p, second.n, NULL)) ||
        (p->rc = sl_buf_putc(p->b, ':')) || (p->rc = json_record(p->f, rec, p->at, p->b)))
        return false;
    return true;
}

static sl_status json_profile(const state_profile *p, sl_buf *b) {
    sl_status rc = sl_buf_putc(b, '{');
    for (uint32_t i = 0; i < p->n && !rc; i++) {
        if (i)
            rc = sl_buf_putc(b, ',');
        if (!rc)
            rc = sl_buf_json_str(b, p->kv[i].key.p, p->kv[i].key.n, NULL);
        if (!rc)
            rc = sl_buf_putc(b, ':');
        if (!rc)
            rc = p->kv[i].kind == SL_KV_STR ? sl_buf_json_str(b, p->kv[i].s.p, p->kv[i].s.n, NULL)
                                            : sl_buf_json_num(b, p->kv[i].num);
    }
    return rc ? rc : sl_buf_putc(b, '}');
}

sl_status op_features_describe(op_features *f, const char *entity, const char *id, int64_t at_ts,
                               sl_buf *out, sl_err *err) {
    sl_status rc;
    bool user = !strcmp(entity, "user");
    if (!user && strcmp(entity, "item"))
        return sl_err_set(err, SL_ERR_INVALID, "unknown entity kind \"%s\" (user or item)", entity);
    sl_str sid = {id, (uint32_t)strlen(id)}, none = {NULL, 0};
    state_profile *p = user ? f->up : f->ip;
    f->ip_valid = false; /* describe reads into the scratch profiles directly */
    state_feat_record rec, adv_rec;
    uint32_t friends = 0;
    uint64_t attendees = 0;
    sl_str adv = none;
    if ((rc = state_features_profile_get(f->sf, user ? SL_ENTITY_USER : SL_ENTITY_ITEM, sid, p,
                                         err)) ||
        (rc = state_features_read(f->sf, user ? STATE_FEAT_USER : STATE_FEAT_ITEM, sid, none, &rec,
                                  err)))
        return rc;
    adv_rec.found = false;
    if (user)
        rc = state_features_friend_count(f->sf, sid, &friends, err);
    else if (!(rc = state_features_attendee_count(f->sf, sid, &attendees, err)) &&
             state_profile_str(p, "advertiser", &adv))
        rc = state_features_read(f->sf, STATE_FEAT_ADV, adv, none, &adv_rec, err);
    if (rc)
        return rc;
    if (!p->found && !rec.found && !friends && !attendees)
        return sl_err_set(err, SL_ERR_NOT_FOUND, "%s \"%s\": not found", entity, id);

    size_t mark = out->len;
    rc = sl_buf_printf(out, "{\"entity\":\"%s\",\"id\":", entity);
    rc = rc ? rc : sl_buf_json_str(out, id, sid.n, NULL);
    /* at_ts at the bottom of the range means "each counter as of its own
     * newest event" (the CLI without --at): say so instead of a date. */
    if (at_ts <= SL_EVENT_TS_MIN)
        rc = rc ? rc : sl_buf_printf(out, ",\"at_ts\":null,\"half_lives_ms\":[");
    else
        rc = rc ? rc : sl_buf_printf(out, ",\"at_ts\":%lld,\"half_lives_ms\":[", (long long)at_ts);
    const state_decay_spec *spec = state_features_spec(f->sf);
    for (int h = 0; h < spec->n && !rc; h++)
        rc = sl_buf_printf(out, "%s%.0f", h ? "," : "", spec->h_ms[h]);
    rc = rc ? rc : sl_buf_printf(out, "],\"profile\":");
    rc = rc ? rc : json_profile(p, out);
    rc = rc ? rc : sl_buf_printf(out, ",\"%s\":", user ? "user" : "item");
    rc = rc ? rc : json_record(f, &rec, at_ts, out);
    if (user) {
        const state_feat_family pf[2] = {STATE_FEAT_USER_CAT, STATE_FEAT_USER_ITEM};
        for (int k = 0; k < 2 && !rc; k++) {
            of_pairs pp = {f, at_ts, out, 0, SL_OK};
            rc = sl_buf_printf(out, ",\"%s\":{", state_feat_family_str(pf[k]));
            rc = rc ? rc
                    : state_features_scan_pairs(f->sf, pf[k], sid, OF_DESCRIBE_PAIRS, pairs_fn, &pp,
                                                err);
            rc = rc ? rc : pp.rc;
            rc = rc ? rc : sl_buf_putc(out, '}');
        }
        rc = rc ? rc : sl_buf_printf(out, ",\"friends\":%u}", friends);
    } else {
        if (adv_rec.found) {
            rc = rc ? rc : sl_buf_printf(out, ",\"advertiser\":");
            rc = rc ? rc : json_record(f, &adv_rec, at_ts, out);
        }
        rc = rc ? rc : sl_buf_printf(out, ",\"attendees\":%llu}", (unsigned long long)attendees);
    }
    if (rc) {
        out->len = mark;
        if (rc == SL_ERR_LIMIT || rc == SL_ERR_NOMEM)
            return sl_err_set(err, rc, "describe %s \"%s\": output too large", entity, id);
    }
    return rc;
}

typedef struct of_sweep_ctx {
    const state_features *sf; /* judge */
    int64_t t;                /* event time of the judgement */
} of_sweep_ctx;

static bool of_dead(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    (void)key;
    (void)klen;
    const of_sweep_ctx *c = ctx;
    return state_features_dead(c->sf, val, vlen, c->t);
}

sl_status op_features_sweep(op_features *f, int64_t t, size_t max_keys, size_t *deleted,
                            sl_err *err) {
    of_sweep_ctx c = {f->sf, t};
    return state_store_sweep(f->st, STATE_CF_FEATURES, max_keys, of_dead, &c, deleted, NULL, err);
}

static bool of_count(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    (void)key;
    (void)klen;
    (void)val;
    (void)vlen;
    (*(uint64_t *)ctx)++;
    return true;
}

sl_status op_features_count(op_features *f, uint64_t *n, sl_err *err) {
    *n = 0;
    return state_store_scan(f->st, STATE_CF_FEATURES, NULL, 0, of_count, n, err);
}
