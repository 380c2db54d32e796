/*
 * gen_internal.h — the generator's building blocks, shared between the gen/
 * files and nowhere else: direct writers for line formatting, a Walker alias
 * table for O(1) weighted sampling, the min-heap of scheduled events and an
 * open-addressing map keyed by (user, item) pairs.
 *
 * Writers: a line is formatted straight into reserved sl_buf space through a
 * char cursor (gen__put_*), no bounds check per byte. The caller reserves
 * GEN_LINE_MAX first, and every line but the deliberately huge bad one is far
 * shorter, so the cursor never passes the reservation.
 */
#ifndef GEN_INTERNAL_H
#define GEN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gen_world.h"
#include "sl_rand.h"

/* ---- writers ------------------------------------------------------------- */

/* Copies a string literal (length known at compile time). */
#define GEN_PUT_LIT(o, lit) ((o) = gen__put_mem((o), (lit), sizeof(lit) - 1))

static inline char *gen__put_mem(char *o, const char *s, size_t n) {
    memcpy(o, s, n);
    return o + n;
}

static inline char *gen__put_str(char *o, const char *s) { return gen__put_mem(o, s, strlen(s)); }

static inline char *gen__put_u64(char *o, uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *o++ = tmp[--n];
    return o;
}

static inline char *gen__put_i64(char *o, int64_t v) {
    if (v < 0) {
        *o++ = '-';
        return gen__put_u64(o, (uint64_t)0 - (uint64_t)v);
    }
    return gen__put_u64(o, (uint64_t)v);
}

/* Writes v (|v| < 1e9) with at most `decimals` (<= 9) digits after the point,
 * trailing zeros trimmed: a JSON number, fast and deterministic. */
char *gen__put_fixed(char *o, double v, int decimals);

/* Writes a probability in (0, 1] with about 9 significant digits, JSON. */
char *gen__put_prob(char *o, double p);

/* An id: prefix letter(s) then a number, quoted ("u42", "v1234"). */
static inline char *gen__put_id(char *o, const char *prefix, size_t n, uint64_t v) {
    *o++ = '"';
    o = gen__put_mem(o, prefix, n);
    o = gen__put_u64(o, v);
    *o++ = '"';
    return o;
}

/* ---- alias table --------------------------------------------------------- */

/* Walker/Vose alias table: sample index i with probability w[i] / sum(w) in
 * O(1) from one 64-bit draw. */
typedef struct gen_alias {
    uint32_t n;       /* entries */
    uint32_t *thresh; /* (n) keep i when the 32-bit coin < thresh[i] */
    uint32_t *alias;  /* (n) else take alias[i] */
} gen_alias;

/* Builds the table from n > 0 non-negative weights with a positive sum.
 * SL_ERR_NOMEM on allocation failure. */
sl_status gen__alias_init(gen_alias *a, const double *w, uint32_t n);
void gen__alias_deinit(gen_alias *a);

static inline uint32_t gen__alias_sample(const gen_alias *a, sl_rand *r) {
    uint64_t x = sl_rand_u64(r);
    uint32_t i = (uint32_t)(((x & 0xFFFFFFFFu) * (uint64_t)a->n) >> 32);
    return (uint32_t)(x >> 32) < a->thresh[i] ? i : a->alias[i];
}

/* ---- scheduled events ---------------------------------------------------- */

/* What a scheduled entry becomes when written. */
typedef enum gen_kind {
    GEN_KIND_VIEW,       /* a view (truth attached) */
    GEN_KIND_CLICK,      /* click on a view */
    GEN_KIND_LIKE,       /* like (feed) */
    GEN_KIND_SHARE,      /* share (feed) */
    GEN_KIND_DWELL,      /* dwell (feed), val = dwell ms */
    GEN_KIND_CONVERSION, /* conversion (ads) */
    GEN_KIND_REGISTER,   /* registration (events) */
    GEN_KIND_PROFILE     /* profile upsert of user `user` or item slot `slot` */
} gen_kind;

/* Entry flags. */
#define GEN_PEND_OCCURRED 1u /* its effects on the world are applied */
#define GEN_PEND_LATE     2u /* held back; ts < emit_at */
#define GEN_PEND_DUP      4u /* the second copy of a line */
#define GEN_PEND_LOST     8u /* a view whose line is never written */

/* One event waiting in the heap, ordered by (emit_at, seq). */
typedef struct gen_pend {
    int64_t emit_at;  /* when it is written (heap key) */
    uint64_t seq;     /* tie-break: scheduling order */
    int64_t ts;       /* the event's own time, written in the line */
    uint64_t view;    /* view number (view_id "v<view>") */
    int64_t until;    /* register: the event's start (the registration's expiry) */
    double truth[4];  /* views: per-surface true probabilities */
    uint32_t user;    /* user index (profile: user index or UINT32_MAX) */
    uint32_t item;    /* the item's id number at the time of the view */
    uint32_t slot;    /* item slot in its surface's table */
    float val;        /* dwell: ms */
    uint8_t kind;     /* gen_kind */
    uint8_t surface;  /* sl_surface (profile of a user: SL_SURFACE_NONE) */
    uint8_t flags;    /* GEN_PEND_* */
    uint8_t device;   /* view ctx: device index */
    uint8_t hour;     /* view ctx: local hour of day */
    uint8_t position; /* view ctx: 1-based position */
    uint8_t page;     /* view ctx: events page index */
} gen_pend;

typedef struct gen_heap {
    gen_pend *a;  /* (cap) binary min-heap */
    size_t n;     /* entries */
    size_t cap;   /* allocated entries */
    size_t limit; /* hard cap on entries */
} gen_heap;

void gen__heap_deinit(gen_heap *h);
/* SL_ERR_NOMEM when it cannot grow (or would pass its limit). */
sl_status gen__heap_push(gen_heap *h, const gen_pend *e);
/* Removes the smallest entry into *e (OUT:). The heap must not be empty. */
void gen__heap_pop(gen_heap *h, gen_pend *e);
static inline const gen_pend *gen__heap_top(const gen_heap *h) { return h->n ? &h->a[0] : NULL; }

/* ---- pair map ------------------------------------------------------------ */

/* Key of a (user, item) pair; never 0, the empty-slot marker. */
static inline uint64_t gen__pair_key(uint32_t user, uint32_t item) {
    return ((uint64_t)user + 1) << 32 | item;
}

typedef struct gen_map_ent {
    uint64_t key; /* gen__pair_key(); 0 = empty */
    double v;     /* a decayed value, or unused */
    int64_t t;    /* time of v, or an expiry time */
} gen_map_ent;

/* Whether an entry is still worth keeping at time now (pruned when the table
 * would grow). */
typedef bool (*gen_map_keep_fn)(const gen_map_ent *e, int64_t now, double param);

/* Open addressing, linear probing, load <= 0.7, power-of-two capacity:
 * 34..69 bytes per entry. */
typedef struct gen_map {
    gen_map_ent *a;       /* (cap) slots */
    size_t cap;           /* slots; a power of two (0 before first use) */
    size_t n;             /* used slots */
    size_t limit;         /* hard cap on cap */
    gen_map_keep_fn keep; /* prune predicate, or NULL to keep everything */
    double keep_param;    /* passed to keep */
} gen_map;

void gen__map_init(gen_map *m, size_t limit, gen_map_keep_fn keep, double keep_param);
void gen__map_deinit(gen_map *m);
/* The entry of key, or NULL. */
gen_map_ent *gen__map_find(const gen_map *m, uint64_t key);
/* The entry of key, inserted zeroed (*created = true) if missing. May prune
 * and rehash first. SL_ERR_NOMEM past the limit or on allocation failure. */
sl_status gen__map_upsert(gen_map *m, uint64_t key, int64_t now, gen_map_ent **ent, bool *created);

/* ---- malformed lines (gen_bad.c) ----------------------------------------- */

/* Writes one malformed line of kind b (without '\n') at o and returns the end.
 * The line imitates a real event of user `user` at time ts; r chooses the
 * variant. o must have GEN_LINE_MAX bytes of room. */
char *gen__bad_line(char *o, gen_bad b, sl_rand *r, uint32_t user, uint64_t view, int64_t ts);

#endif
