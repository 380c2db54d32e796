/*
 * gen_util.c — number writers, the alias table, the event heap and the pair
 * map of the generator (see gen_internal.h for the contracts).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gen_internal.h"

/* ---- writers ------------------------------------------------------------- */

static const uint64_t gen_pow10[13] = {
    1,        10,        100,        1000,        10000,        100000,        1000000,
    10000000, 100000000, 1000000000, 10000000000, 100000000000, 1000000000000,
};

char *gen__put_fixed(char *o, double v, int decimals) {
    if (!isfinite(v))
        v = 0.0; /* never produced by the model; keep the line valid JSON */
    if (decimals < 0)
        decimals = 0;
    if (decimals > 12)
        decimals = 12;
    bool neg = v < 0;
    double a = neg ? -v : v;
    uint64_t scale = gen_pow10[decimals];
    uint64_t x = (uint64_t)llround(a * (double)scale);
    uint64_t ip = x / scale, fp = x % scale;
    if (neg && x)
        *o++ = '-';
    o = gen__put_u64(o, ip);
    if (fp) {
        char dig[12] = {0}; /* fully written below; zeroed for the analyzers */
        for (int i = decimals - 1; i >= 0; i--) {
            dig[i] = (char)('0' + fp % 10);
            fp /= 10;
        }
        int n = decimals;
        while (n > 0 && dig[n - 1] == '0')
            n--;
        *o++ = '.';
        o = gen__put_mem(o, dig, (size_t)n);
    }
    return o;
}

char *gen__put_prob(char *o, double p) {
    if (p >= 1e-3 || p <= 0.0 || !isfinite(p))
        return gen__put_fixed(o, p, 11);
    if (p >= 1e-6)
        return gen__put_fixed(o, p, 12); /* six or more significant digits */
    /* Rare tiny probabilities: keep the significant digits (JSON allows e-7). */
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%.9g", p);
    return gen__put_mem(o, tmp, (size_t)n);
}

/* ---- alias table --------------------------------------------------------- */

sl_status gen__alias_init(gen_alias *a, const double *w, uint32_t n) {
    a->n = n;
    a->thresh = malloc((size_t)n * sizeof *a->thresh);
    a->alias = malloc((size_t)n * sizeof *a->alias);
    double *q = malloc((size_t)n * sizeof *q);
    uint32_t *small = malloc((size_t)n * sizeof *small);
    uint32_t *large = malloc((size_t)n * sizeof *large);
    sl_status st = SL_ERR_NOMEM;
    if (!a->thresh || !a->alias || !q || !small || !large)
        goto out;
    double sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += w[i];
    /* Vose: scale to mean 1, pair each under-full slot with an over-full one. */
    uint32_t ns = 0, nl = 0;
    for (uint32_t i = 0; i < n; i++) {
        q[i] = w[i] * n / sum;
        if (q[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns && nl) {
        uint32_t s = small[--ns], l = large[--nl];
        a->thresh[s] = (uint32_t)fmin(q[s] * 4294967296.0, 4294967295.0);
        a->alias[s] = l;
        q[l] = (q[l] + q[s]) - 1.0;
        if (q[l] < 1.0)
            small[ns++] = l;
        else
            large[nl++] = l;
    }
    /* Leftovers are 1 up to rounding: always keep them. */
    while (nl) {
        uint32_t l = large[--nl];
        a->thresh[l] = UINT32_MAX;
        a->alias[l] = l;
    }
    while (ns) {
        uint32_t s = small[--ns];
        a->thresh[s] = UINT32_MAX;
        a->alias[s] = s;
    }
    st = SL_OK;
out:
    free(q);
    free(small);
    free(large);
    if (st)
        gen__alias_deinit(a);
    return st;
}

void gen__alias_deinit(gen_alias *a) {
    free(a->thresh);
    free(a->alias);
    a->thresh = a->alias = NULL;
    a->n = 0;
}

/* ---- heap ---------------------------------------------------------------- */

static inline bool pend_less(const gen_pend *x, const gen_pend *y) {
    return x->emit_at < y->emit_at || (x->emit_at == y->emit_at && x->seq < y->seq);
}

void gen__heap_deinit(gen_heap *h) {
    free(h->a);
    h->a = NULL;
    h->n = h->cap = 0;
}

sl_status gen__heap_push(gen_heap *h, const gen_pend *e) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        if (cap > h->limit)
            return SL_ERR_NOMEM;
        gen_pend *a = realloc(h->a, cap * sizeof *a);
        if (!a)
            return SL_ERR_NOMEM;
        h->a = a;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pend_less(e, &h->a[parent]))
            break;
        h->a[i] = h->a[parent];
        i = parent;
    }
    h->a[i] = *e;
    return SL_OK;
}

void gen__heap_pop(gen_heap *h, gen_pend *e) {
    *e = h->a[0];
    gen_pend last = h->a[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && pend_less(&h->a[c + 1], &h->a[c]))
            c++;
        if (!pend_less(&h->a[c], &last))
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (n)
        h->a[i] = last;
}

/* ---- pair map ------------------------------------------------------------ */

void gen__map_init(gen_map *m, size_t limit, gen_map_keep_fn keep, double keep_param) {
    *m = (gen_map){.limit = limit, .keep = keep, .keep_param = keep_param};
}

void gen__map_deinit(gen_map *m) {
    free(m->a);
    m->a = NULL;
    m->cap = m->n = 0;
}

#define MAP_LOAD_MAX   0.7  /* grow (or prune) past this load */
#define MAP_LOAD_AFTER 0.35 /* load right after a rehash, at most */

static inline size_t map_slot(uint64_t key, size_t mask) {
    return (size_t)sl_rand_hash64(key) & mask;
}

gen_map_ent *gen__map_find(const gen_map *m, uint64_t key) {
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = map_slot(key, mask);; i = (i + 1) & mask) {
        if (m->a[i].key == key)
            return &m->a[i];
        if (!m->a[i].key)
            return NULL;
    }
}

/* Rebuilds the table with the live entries (per keep) at a load of at most
 * MAP_LOAD_AFTER: twice the size, or the same size when pruning freed
 * enough. */
static sl_status map_rehash(gen_map *m, int64_t now) {
    size_t live = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->a[i].key && (!m->keep || m->keep(&m->a[i], now, m->keep_param)))
            live++;
    size_t cap = m->cap ? m->cap : 1024;
    while ((double)live > MAP_LOAD_AFTER * (double)cap)
        cap *= 2;
    if (cap > m->limit)
        return SL_ERR_NOMEM;
    gen_map_ent *a = calloc(cap, sizeof *a);
    if (!a)
        return SL_ERR_NOMEM;
    size_t mask = cap - 1;
    for (size_t i = 0; i < m->cap; i++) {
        const gen_map_ent *e = &m->a[i];
        if (!e->key || (m->keep && !m->keep(e, now, m->keep_param)))
            continue;
        size_t j = map_slot(e->key, mask);
        while (a[j].key)
            j = (j + 1) & mask;
        a[j] = *e;
    }
    free(m->a);
    m->a = a;
    m->cap = cap;
    m->n = live;
    return SL_OK;
}

sl_status gen__map_upsert(gen_map *m, uint64_t key, int64_t now, gen_map_ent **ent, bool *created) {
    gen_map_ent *e = gen__map_find(m, key);
    if (e) {
        *ent = e;
        *created = false;
        return SL_OK;
    }
    if ((double)(m->n + 1) > MAP_LOAD_MAX * (double)m->cap) {
        sl_status st = map_rehash(m, now);
        if (st)
            return st;
    }
    size_t mask = m->cap - 1;
    size_t i = map_slot(key, mask);
    while (m->a[i].key)
        i = (i + 1) & mask;
    m->a[i] = (gen_map_ent){.key = key};
    m->n++;
    *ent = &m->a[i];
    *created = true;
    return SL_OK;
}
