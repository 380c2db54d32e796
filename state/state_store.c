/*
 * state_store.c — RocksDB behind a write-back cache (see state_store.h).
 *
 * The cache. Entries (header + key + value) are bump-allocated from slabs
 * of SLAB bytes, never malloc'd one by one; only the newest slab takes new
 * entries. An open-addressing table with linear probing maps hash(cf, key)
 * to an entry; a slot is 8 bytes: the low 32 bits of the hash (the tag:
 * its low bits are the slot's home, so growing the table and deleting from
 * it never read an entry) and a 32-bit reference (slab index and offset in
 * 8-byte units; REF_NONE marks an empty slot). A value that outgrows its
 * entry gets a new entry and the old one is marked dead in place.
 *
 * Eviction, one slab at a time. When the newest slab is full and no new
 * slab fits under the cap, the oldest slab is compacted in place: the
 * entries worth keeping slide to its front — dirty (and pinned) ones
 * always, clean ones used since the slab was last compacted (a CLOCK-like
 * second chance, their mark cleared) — the others leave the table
 * (backward-shift deletion: no tombstone slots), and the slab becomes the
 * newest, new entries going after the kept ones. Each step costs O(SLAB),
 * not O(cache), so no allocation stops the owner for long. A whole cycle
 * over the slabs that cannot make room means the cache is full of dirty
 * data: SL_ERR_LIMIT until the next checkpoint makes entries clean.
 *
 * Budget: slabs + table <= cap, and a new slab is only opened while the
 * table could still double after it (slabs + SLAB + 3 table <= cap), so the
 * table can always grow to keep itself at most half full; once it cannot,
 * eviction drops entries instead.
 *
 * Any allocation may evict, which moves entries: code never holds an entry
 * pointer across cache_alloc() or table_reserve(), it looks the key up
 * again.
 *
 * The checkpoint in two halves, copy on write. checkpoint_begin records
 * where every dirty entry's key and value are (24 bytes each, no copy of
 * the data) and turns the entry clean and PINNED (E_PIN);
 * checkpoint_write, on any thread, sorts those records, builds the
 * WriteBatch from the slabs themselves and writes it; checkpoint_finish,
 * back on the owner's thread, publishes the id and offsets, or on failure
 * makes the pinned entries dirty again. While a checkpoint is in flight a
 * pinned entry's bytes belong to the writer:
 *   - a write to it makes a new entry (the copy on write), and the old one
 *     dies but stays pinned, its bytes untouched;
 *   - compaction never moves or reuses it, live or dead: the entries
 *     around it slide as usual, stopping in front of it (the gap before it
 *     becomes a dead filler, at least 16 bytes since every entry is);
 *   - reads use it in place, and a get never reaches RocksDB for it,
 *     which still holds the previous value until the write lands.
 * Begin finds the dirty entries in the dirty list (st->dlist: the
 * reference of each entry made dirty since the last begin; an entry knows
 * its position, so compaction moving it updates the list, and one dying
 * leaves a hole), so begin and finish each cost one visit per dirty entry
 * (prefetched), with no walk over the slabs and no copy of the data.
 * Finish ends the pins through the checkpoint's records, which still point
 * at the pinned entries since those never moved.
 */
#include "sl_bytes.h"
#include "state_store.h"

#include <assert.h>
#include <errno.h>
#include <rocksdb/c.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sl_rand.h"
#include "state_store_internal.h"

#define SLAB_SHIFT   18 /* 256 KiB slabs */
#define SLAB         ((size_t)1 << SLAB_SHIFT)
#define UNIT_SHIFT   3 /* references count 8-byte units */
#define REF_OFF_BITS (SLAB_SHIFT - UNIT_SHIFT)
#define MAX_SLABS    ((size_t)1 << (32 - REF_OFF_BITS)) /* 131072 slabs = 32 GiB */
#define MIN_SLOTS    4096                               /* initial table: 32 KiB */
#define SECOND_CHANCE_SLABS 4 /* slabs one allocation compacts with the second chance */
#define REF_NONE     UINT32_MAX /* an empty slot: no entry starts 8 bytes before a slab's end */
#define MIN_CACHE    ((size_t)1 << 20)                  /* room for a few slabs and the table */

#define E_LIVE  1u /* reachable from the table (else dead space) */
#define E_DIRTY 2u /* differs from RocksDB: the next checkpoint writes it */
#define E_TOMB  4u /* deleted (dirty) or known absent (clean) */
#define E_REF   8u /* used since the last compaction */
#define E_PIN   16u /* in the checkpoint being written: its bytes are the writer's while
                       st->ck is set (never written in place, never moved) */

/* A cache entry, 8-byte aligned in a slab, followed by its key and value. */
typedef struct entry {
    uint32_t size;        /* slab bytes, header included, multiple of 8 */
    uint32_t vlen;        /* value bytes (0 for a tombstone) */
    uint32_t didx;        /* while E_DIRTY: its position in st->dlist */
    uint16_t klen;        /* key bytes */
    uint8_t cf;           /* state_cf */
    uint8_t flags;        /* E_* */
    unsigned char data[]; /* key[klen], then value[e_vcap(e)] */
} entry;

typedef struct slot {
    uint32_t tag; /* low 32 bits of the hash: tag & (n_slots - 1) is the home slot */
    uint32_t ref; /* slab << REF_OFF_BITS | offset / 8, or REF_NONE */
} slot;

#define OFFSETS_MAGIC   0x4b434c53u /* "SLCK" little-endian */
#define OFFSETS_VERSION 1u
#define RECORD_HEAD     20 /* magic, version, id, blob length */

struct state_store {
    /* RocksDB */
    rocksdb_t *db;                                          /* the database */
    rocksdb_options_t *opts;                                /* DB and column family options */
    rocksdb_block_based_table_options_t *table_opts;        /* block cache + bloom filter */
    rocksdb_cache_t *block_cache;                           /* LRU, opts.block_cache_bytes */
    rocksdb_env_t *mem_env;                                 /* in-memory env, or NULL */
    rocksdb_column_family_handle_t *cf[STATE_CF_COUNT + 1]; /* [0] default, then state_cf + 1 */
    rocksdb_readoptions_t *ropts;                           /* point reads */
    rocksdb_readoptions_t *sweep_ropts;                     /* scans: do not fill the block cache */
    rocksdb_writeoptions_t *wopts;                          /* checkpoints only: synced, or
                                                               in memory no WAL at all */
    char *path;                                             /* directory, or "(memory)" */
    bool read_only;                                         /* writes refused */
    bool broken;                                            /* out of memory after a failed
                                                               checkpoint: writes refused */
    size_t switch_bytes;                                    /* checkpoint bytes to one family that
                                                               start it a fresh memtable */
    /* the cache */
    unsigned char **slab; /* slabs by index (the index is in every reference) */
    uint32_t *slab_used;  /* bytes handed out per slab */
    uint32_t *dlist;      /* references of the entries made dirty since the last begin,
                             in order; REF_NONE where one died since (a rewrite moved it);
                             an entry knows its position (didx), so compaction updates it */
    size_t dlist_n;       /* positions used */
    size_t dlist_cap;     /* positions allocated */
    size_t dlist_dead;    /* positions that are REF_NONE */
    uint32_t *order;      /* ring of slab indexes, oldest first, from order[head] */
    size_t head;          /* position of the oldest slab in order[] */
    size_t n_slabs;       /* slabs allocated (= indexes 0 .. n_slabs - 1); the newest
                             takes new entries */
    size_t max_slabs;     /* allocated length of slab[], slab_used[] and order[] */
    slot *table;          /* open addressing, power-of-two length */
    size_t n_slots;       /* table length */
    size_t n_entries;     /* live entries (= occupied slots) */
    size_t n_dirty;       /* live dirty entries */
    size_t dirty_bytes;   /* slab bytes of live dirty entries */
    size_t cap;           /* hard cap: slabs + table, bytes */
    size_t pinned_bytes;  /* slab bytes pinned by the checkpoint in flight (an upper
                             bound: entries rewritten since stay counted) */
    bool full;            /* eviction could not make room; cleared by checkpoint */
    bool scanning;        /* inside a scan or sweep callback: calls refused */
    uint64_t seed;        /* key hash seed */
    /* checkpoint and sweep */
    uint64_t ckpt_id;       /* last committed checkpoint id, 0 = none */
    state_ckpt *ck;         /* the checkpoint begun and not finished, or NULL */
    struct ck_rec *spare;   /* the last checkpoint's record array, kept for the next */
    size_t spare_cap;       /* its records */
    bool fail_next_write;   /* test hook: the next checkpoint's write fails */
    unsigned char *offsets; /* its offsets blob (malloc'd), or NULL */
    size_t offsets_len;     /* bytes in offsets */
    unsigned char cursor[STATE_CF_COUNT][STATE_STORE_MAX_KEY]; /* sweep: last key visited */
    size_t cursor_len[STATE_CF_COUNT];                         /* its length */
    bool has_cursor[STATE_CF_COUNT]; /* false: the next sweep step starts over */
    unsigned char *scratch;          /* STATE_STORE_MAX_VALUE bytes: update() builds values here */
    const char **pf_key;             /* prefetch: the keys to read (pf_cap of each array) */
    size_t *pf_len;                  /* their lengths */
    rocksdb_pinnableslice_t **pf_val; /* what MultiGet found */
    char **pf_err;                   /* its errors */
    size_t pf_cap;                   /* entries allocated in each */
    state_store_stats stats;         /* counters (entries, dirty, ... filled on demand) */
};

static const char *const cf_names[STATE_CF_COUNT] = {
#define STATE_CF_NAME_(name, text) text,
    STATE_CF_LIST(STATE_CF_NAME_)
#undef STATE_CF_NAME_
};

const char *state_cf_str(state_cf cf) {
    return (unsigned)cf < STATE_CF_COUNT ? cf_names[cf] : "unknown";
}

/* ---------------------------------------------------------------- hashing */

/* A keyed 64-bit hash of (cf, key): 8 bytes at a time through a multiply
 * and rotate, then splitmix64's finalizer. Not cryptographic; the seed is
 * there so a deployment can make hostile collisions harder to plan. */
static uint64_t key_hash(uint64_t seed, unsigned cf, const unsigned char *k, size_t n) {
    const uint64_t m = UINT64_C(0x9E3779B97F4A7C15);
    uint64_t h = seed ^ ((uint64_t)cf << 56) ^ (n * m);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, k, 8);
        h = (h ^ (w * UINT64_C(0xBF58476D1CE4E5B9))) * m;
        h = (h << 29) | (h >> 35);
        k += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)k[i] << (8 * i);
    h = (h ^ (w * UINT64_C(0xBF58476D1CE4E5B9))) * m;
    return sl_rand_hash64(h);
}

static uint32_t hash_tag(uint64_t h) { return (uint32_t)h; }

/* ----------------------------------------------------------------- slabs */

static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

static entry *ref_entry(const state_store *st, uint32_t ref) {
    return (entry *)(st->slab[ref >> REF_OFF_BITS] +
                     ((size_t)(ref & ((1u << REF_OFF_BITS) - 1)) << UNIT_SHIFT));
}

static uint32_t make_ref(size_t slab, size_t off) {
    return (uint32_t)(slab << REF_OFF_BITS) | (uint32_t)(off >> UNIT_SHIFT);
}

static size_t table_bytes(const state_store *st) { return st->n_slots * sizeof(slot); }

static size_t held(const state_store *st) { return st->n_slabs * SLAB + table_bytes(st); }

/* The slab index k-th from the oldest. */
static uint32_t slab_at(const state_store *st, size_t k) {
    return st->order[(st->head + k) % st->max_slabs];
}

static uint32_t newest(const state_store *st) { return slab_at(st, st->n_slabs - 1); }

static const unsigned char *e_key(const entry *e) { return e->data; }
static unsigned char *e_val(entry *e) { return e->data + e->klen; }
/* Value bytes that fit in place. */
static uint32_t e_vcap(const entry *e) { return e->size - (uint32_t)sizeof(entry) - e->klen; }
/* The entry whose key is at k (a checkpoint record's key). */
static entry *key_entry(const unsigned char *k) {
    return (entry *)(uintptr_t)(k - offsetof(entry, data));
}

static bool key_eq(const entry *e, unsigned cf, const unsigned char *k, size_t klen) {
    return e->cf == cf && e->klen == klen && memcmp(e->data, k, klen) == 0;
}

/* True if e's bytes belong to the checkpoint in flight: not to be written
 * in place, moved or reused. */
static bool pinned(const state_store *st, const entry *e) {
    return st->ck && (e->flags & E_PIN);
}

/* ----------------------------------------------------------------- table */

/* The slot holding (cf, key), or the empty slot where it would go. */
static size_t table_find(const state_store *st, uint64_t h, unsigned cf, const unsigned char *k,
                         size_t klen, bool *found) {
    size_t mask = st->n_slots - 1;
    uint32_t tag = hash_tag(h);
    for (size_t i = (size_t)tag & mask;; i = (i + 1) & mask) {
        const slot *s = &st->table[i];
        if (s->ref == REF_NONE) {
            *found = false;
            return i;
        }
        if (s->tag == tag && key_eq(ref_entry(st, s->ref), cf, k, klen)) {
            *found = true;
            return i;
        }
    }
}

static entry *lookup(const state_store *st, unsigned cf, const unsigned char *k, size_t klen) {
    bool found;
    size_t i = table_find(st, key_hash(st->seed, cf, k, klen), cf, k, klen, &found);
    return found ? ref_entry(st, st->table[i].ref) : NULL;
}

static void table_clear(slot *t, size_t n) { memset(t, 0xff, n * sizeof *t); }

/* Places a known-absent entry in t (length n). */
static void table_place(slot *t, size_t n, uint32_t tag, uint32_t ref) {
    size_t mask = n - 1;
    size_t i = (size_t)tag & mask;
    while (t[i].ref != REF_NONE)
        i = (i + 1) & mask;
    t[i].tag = tag;
    t[i].ref = ref;
}

static uint64_t entry_hash(const state_store *st, const entry *e) {
    return key_hash(st->seed, e->cf, e_key(e), e->klen);
}

/* Doubles the table. Needs the new table's bytes under the cap on top of
 * everything held (the old table is freed only after the move). The tags
 * carry the homes, so no entry is read. */
static bool table_grow(state_store *st) {
    size_t n = st->n_slots * 2;
    if (n > ((size_t)1 << 32) || held(st) + n * sizeof(slot) > st->cap)
        return false;
    slot *t = malloc(n * sizeof *t);
    if (!t)
        return false;
    table_clear(t, n);
    for (size_t i = 0; i < st->n_slots; i++)
        if (st->table[i].ref != REF_NONE)
            table_place(t, n, st->table[i].tag, st->table[i].ref);
    free(st->table);
    st->table = t;
    st->n_slots = n;
    return true;
}

/* The slot that refers to the live entry at ref (whose hash has this tag). */
static size_t table_slot_of(const state_store *st, uint32_t tag, uint32_t ref) {
    size_t mask = st->n_slots - 1;
    size_t i = (size_t)tag & mask;
    while (st->table[i].ref != ref)
        i = (i + 1) & mask;
    return i;
}

/* Empties slot i, shifting back the slots after it that would otherwise
 * become unreachable from their homes (no tombstones). */
static void table_delete(state_store *st, size_t i) {
    size_t mask = st->n_slots - 1;
    for (size_t j = (i + 1) & mask; st->table[j].ref != REF_NONE; j = (j + 1) & mask) {
        size_t home = (size_t)st->table[j].tag & mask;
        /* j may move to i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            st->table[i] = st->table[j];
            i = j;
        }
    }
    st->table[i].ref = REF_NONE;
    st->table[i].tag = 0;
    st->n_entries--;
}

/*
 * Compacts the oldest slab in place and makes it the newest: the entries
 * to keep (dirty, and with second_chance clean ones used since the slab's
 * last compaction) slide to its front, in address order so a memmove never
 * overwrites an entry not yet visited; the others leave the table. An
 * entry pinned by the checkpoint in flight, live or dead, stays where it
 * is: what slides stops in front of it, and the gap becomes a dead filler.
 * O(SLAB). Returns the bytes the slab has free afterwards.
 */
static size_t evict_oldest(state_store *st, bool second_chance) {
    uint32_t s = st->order[st->head];
    unsigned char *base = st->slab[s];
    size_t used = st->slab_used[s], w = 0;
    for (size_t off = 0; off < used;) {
        entry *e = (entry *)(base + off);
        size_t size = e->size;
        if (pinned(st, e)) {
            if (w < off) { /* the gap is dropped entries' bytes: >= 16 */
                assert(off - w >= sizeof(entry));
                entry *f = (entry *)(base + w);
                memset(f, 0, sizeof *f);
                f->size = (uint32_t)(off - w);
            }
            w = off + size;
        } else if (e->flags & E_LIVE) {
            uint32_t tag = hash_tag(entry_hash(st, e));
            size_t i = table_slot_of(st, tag, make_ref(s, off));
            bool keep = (e->flags & E_DIRTY) || (second_chance && (e->flags & E_REF));
            if (keep) {
                entry *d = (entry *)(base + w);
                if (d != e)
                    memmove(d, e, size);
                if (!(d->flags & E_DIRTY))
                    d->flags &= (uint8_t)~E_REF;
                else
                    st->dlist[d->didx] = make_ref(s, w);
                st->table[i].ref = make_ref(s, w);
                w += size;
            } else {
                table_delete(st, i);
            }
        }
        off += size;
    }
    st->slab_used[s] = (uint32_t)w;
    st->head = (st->head + 1) % st->max_slabs;
    st->order[(st->head + st->n_slabs - 1) % st->max_slabs] = s;
    st->stats.compactions++;
    return SLAB - w;
}

/* True if a new slab fits and leaves room to double the table after it. */
static bool slab_fits(const state_store *st) {
    return st->n_slabs < st->max_slabs &&
           st->n_slabs * SLAB + SLAB + 3 * table_bytes(st) <= st->cap;
}

/* Makes the newest slab one with room for `size` bytes: a new slab under
 * the cap, else the oldest ones compacted in turn. false when a whole cycle
 * found no room (the cache is full of dirty and pinned entries). */
static bool make_room(state_store *st, size_t size) {
    if (slab_fits(st)) {
        unsigned char *p = malloc(SLAB);
        if (!p)
            return false;
        uint32_t s = (uint32_t)st->n_slabs++;
        st->slab[s] = p;
        st->slab_used[s] = 0;
        st->order[(st->head + st->n_slabs - 1) % st->max_slabs] = s;
        return true;
    }
    if (st->full || !st->n_slabs)
        return false;
    /* The second chance only for the first SECOND_CHANCE_SLABS slabs: when
     * everything was used lately (a working set larger than the cap) it
     * would keep every clean entry, and honouring it for every slab would
     * cost a whole cycle before anything is dropped. */
    for (size_t k = 0; k < st->n_slabs; k++) {
        bool chance = k < SECOND_CHANCE_SLABS;
        size_t room = evict_oldest(st, chance);
        if (room >= size && (!chance || room >= SLAB / 4))
            return true;
    }
    st->full = true; /* no more eviction until a checkpoint */
    return false;
}

/*
 * A new entry of `size` bytes (a multiple of 8); *ref (OUT:) its reference.
 * NULL when the cache is full of dirty data. May evict: entry pointers
 * taken before the call are invalid after it.
 */
static entry *cache_alloc(state_store *st, size_t size, uint32_t *ref) {
    if (!st->n_slabs || st->slab_used[newest(st)] + size > SLAB) {
        if (!make_room(st, size))
            return NULL;
    }
    uint32_t s = newest(st);
    size_t off = st->slab_used[s];
    st->slab_used[s] = (uint32_t)(off + size);
    *ref = make_ref(s, off);
    entry *e = (entry *)(st->slab[s] + off);
    e->size = (uint32_t)size;
    return e;
}

/* Makes sure one more entry keeps the table at most half full: linear
 * probing stays short (a miss probes ~2.5 slots at 1/2, ~8.5 at 3/4) for
 * 8 bytes a slot. */
static bool table_reserve(state_store *st) {
    if ((st->n_entries + 1) * 2 <= st->n_slots)
        return true;
    if (table_grow(st))
        return true;
    /* No room for a bigger table: evicting drops clean entries. */
    if (st->full)
        return false;
    for (size_t k = 0; k < st->n_slabs && (st->n_entries + 1) * 2 > st->n_slots; k++)
        evict_oldest(st, false);
    if ((st->n_entries + 1) * 2 <= st->n_slots)
        return true;
    st->full = true;
    return false;
}

/* Makes sure the dirty list has room for `more` positions: drops the dead
 * ones when they are half of it (each live entry is told its new
 * position), else doubles it. false on NOMEM. */
static bool dlist_room(state_store *st, size_t more) {
    if (st->dlist_n + more <= st->dlist_cap)
        return true;
    if (st->dlist_dead >= st->dlist_n / 2 && st->dlist_n - st->dlist_dead + more <= st->dlist_cap) {
        size_t w = 0;
        for (size_t i = 0; i < st->dlist_n; i++) {
            uint32_t ref = st->dlist[i];
            if (ref == REF_NONE)
                continue;
            ref_entry(st, ref)->didx = (uint32_t)w;
            st->dlist[w++] = ref;
        }
        st->dlist_n = w;
        st->dlist_dead = 0;
        return true;
    }
    size_t cap = st->dlist_cap ? st->dlist_cap : 4096;
    while (cap < st->dlist_n + more)
        cap *= 2;
    uint32_t *d = realloc(st->dlist, cap * sizeof *d);
    if (!d)
        return false;
    st->dlist = d;
    st->dlist_cap = cap;
    return true;
}

/* Marks e (at ref) dirty. The caller made room in the dirty list. */
static void set_dirty(state_store *st, entry *e, uint32_t ref) {
    if (!(e->flags & E_DIRTY)) {
        assert(st->dlist_n < st->dlist_cap);
        e->didx = (uint32_t)st->dlist_n;
        st->dlist[st->dlist_n++] = ref;
        e->flags |= E_DIRTY;
        st->n_dirty++;
        st->dirty_bytes += e->size;
    }
}

/*
 * Stores (cf, key) -> val in the cache with the given flags (E_DIRTY or
 * not, E_TOMB for deletions and known-absent keys). Reuses the entry in
 * place when the value fits, else makes a new one and marks the old dead.
 */
static sl_status cache_set(state_store *st, unsigned cf, const unsigned char *k, size_t klen,
                           const void *val, size_t vlen, unsigned flags) {
    uint64_t h = key_hash(st->seed, cf, k, klen);
    if ((flags & E_DIRTY) && !dlist_room(st, 1))
        return SL_ERR_NOMEM;
    bool found;
    size_t i = table_find(st, h, cf, k, klen, &found);
    if (found) {
        entry *e = ref_entry(st, st->table[i].ref);
        if (vlen <= e_vcap(e) && !pinned(st, e)) {
            if (vlen)
                memcpy(e_val(e), val, vlen);
            e->vlen = (uint32_t)vlen;
            e->flags =
                (uint8_t)((e->flags & (E_LIVE | E_DIRTY | E_PIN)) | E_REF | (flags & E_TOMB));
            if (flags & E_DIRTY)
                set_dirty(st, e, st->table[i].ref);
            return SL_OK;
        }
        /* The old entry must survive the allocation below (which may
         * evict): mark it used. A pinned one would anyway. */
        e->flags |= E_REF;
        if (pinned(st, e))
            st->stats.pinned_copies++;
    } else if (!table_reserve(st)) {
        return SL_ERR_LIMIT;
    }
    size_t size = round8(sizeof(entry) + klen + vlen);
    uint32_t ref;
    entry *e = cache_alloc(st, size, &ref);
    if (!e)
        return SL_ERR_LIMIT;
    e->vlen = (uint32_t)vlen;
    e->didx = 0;
    e->klen = (uint16_t)klen;
    e->cf = (uint8_t)cf;
    /* Born unmarked: only a later use (a hit, a rewrite) earns the second
     * chance, so what is written once and never read again (a pending view)
     * leaves at its slab's first compaction once it is clean. */
    e->flags = (uint8_t)(E_LIVE | (flags & E_TOMB));
    memcpy(e->data, k, klen);
    if (vlen)
        memcpy(e_val(e), val, vlen);
    if (flags & E_DIRTY)
        set_dirty(st, e, ref);
    /* The allocation may have moved entries: find the slot again. */
    i = table_find(st, h, cf, k, klen, &found);
    if (found) {
        entry *old = ref_entry(st, st->table[i].ref);
        if (old->flags & E_DIRTY) { /* never pinned: writes to a pinned entry copy */
            st->n_dirty--;
            st->dirty_bytes -= old->size;
            st->dlist[old->didx] = REF_NONE;
            st->dlist_dead++;
        }
        /* Dead space until its slab is compacted, after the checkpoint in
         * flight if it is the writer's. */
        old->flags = pinned(st, old) ? E_PIN : 0;
        st->table[i].ref = ref;
    } else {
        st->table[i].tag = hash_tag(h);
        st->table[i].ref = ref;
        st->n_entries++;
    }
    return SL_OK;
}


/* ------------------------------------------------------------- rocksdb */

static sl_status rocks_fail(const state_store *st, sl_err *err, char *errptr, const char *what) {
    sl_err_set(err, SL_ERR_STATE, "state.dir %s: %s: %s", st->path, what,
               errptr ? errptr : "unknown RocksDB error");
    free(errptr);
    return SL_ERR_STATE;
}

static rocksdb_column_family_handle_t *cf_handle(const state_store *st, unsigned cf) {
    return st->cf[cf + 1];
}

/* Reads the checkpoint record: magic, version, id, blob length, blob. */
static sl_status load_checkpoint(state_store *st, sl_err *err) {
    char *errptr = NULL;
    size_t n = 0;
    char *v = rocksdb_get_cf(st->db, st->ropts, cf_handle(st, STATE_CF_META), STATE_META_CHECKPOINT,
                             strlen(STATE_META_CHECKPOINT), &n, &errptr);
    if (errptr)
        return rocks_fail(st, err, errptr, "reading the checkpoint record");
    if (!v)
        return SL_OK; /* a new store */
    const unsigned char *p = (const unsigned char *)v;
    sl_status rc = SL_OK;
    if (n < RECORD_HEAD || sl_get_u32(p) != OFFSETS_MAGIC || sl_get_u32(p + 4) != OFFSETS_VERSION ||
        sl_get_u32(p + 16) != n - RECORD_HEAD) {
        rc = sl_err_set(err, SL_ERR_CORRUPT,
                        "state.dir %s: meta/checkpoint: not a checkpoint record (%zu bytes)",
                        st->path, n);
        goto out;
    }
    st->ckpt_id = sl_get_u64(p + 8);
    st->offsets_len = n - RECORD_HEAD;
    if (st->offsets_len) {
        st->offsets = malloc(st->offsets_len);
        if (!st->offsets) {
            rc = sl_err_set(err, SL_ERR_NOMEM, "state: checkpoint offsets");
            goto out;
        }
        memcpy(st->offsets, p + RECORD_HEAD, st->offsets_len);
    }
out:
    rocksdb_free(v);
    return rc;
}

/* mkdir -p: each missing component, then a check that it is a directory. */
static sl_status make_dirs(const char *dir, sl_err *err) {
    size_t n = strlen(dir);
    char *p = malloc(n + 1);
    if (!p)
        return sl_err_set(err, SL_ERR_NOMEM, "state.dir %s", dir);
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            sl_status rc = sl_err_set(err, SL_ERR_STATE, "state.dir %s: cannot create %s: %s", dir,
                                      p, strerror(errno));
            free(p);
            return rc;
        }
        p[i] = c;
    }
    free(p);
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return sl_err_set(err, SL_ERR_STATE, "state.dir %s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return sl_err_set(err, SL_ERR_STATE, "state.dir %s: exists and is not a directory", dir);
    return SL_OK;
}

/* --------------------------------------------------------------- public */

void state_store_opts_default(state_store_opts *o) {
    memset(o, 0, sizeof *o);
    o->dir = NULL;
    o->cache_bytes = (size_t)256 << 20;
    o->block_cache_bytes = (size_t)64 << 20;
    o->write_buffer_bytes = (size_t)32 << 20;
    o->max_open_files = 512;
    o->hash_seed = UINT64_C(0x5eed5eed5eed5eed);
}

void state_store_opts_from_config(state_store_opts *o, const sl_config_state *cfg) {
    state_store_opts_default(o);
    o->dir = cfg->dir;
    o->cache_bytes = (size_t)cfg->cache_mb << 20;
    o->block_cache_bytes = (size_t)cfg->block_cache_mb << 20;
    o->write_buffer_bytes = (size_t)cfg->write_buffer_mb << 20;
}

sl_status state_store_open(const state_store_opts *o, state_store **out, sl_err *err) {
    *out = NULL;
    bool mem = !o->dir || !o->dir[0];
    if (o->cache_bytes < MIN_CACHE || o->cache_bytes > STATE_STORE_MAX_CACHE)
        return sl_err_set(err, SL_ERR_INVALID, "state.cache_mb: must be 1..%zu MiB, got %zu bytes",
                          STATE_STORE_MAX_CACHE >> 20, o->cache_bytes);
    if (!o->block_cache_bytes || !o->write_buffer_bytes || !o->max_open_files)
        return sl_err_set(err, SL_ERR_INVALID,
                          "state: block cache, write buffer and open files "
                          "must be > 0");
    if (mem && o->read_only)
        return sl_err_set(err, SL_ERR_INVALID, "state: a read-only store needs state.dir");

    sl_status rc = SL_OK;
    char *errptr = NULL;
    state_store *st = calloc(1, sizeof *st);
    if (!st)
        return sl_err_set(err, SL_ERR_NOMEM, "state: store");
    st->read_only = o->read_only;
    st->switch_bytes = o->write_buffer_bytes / 4;
    st->cap = o->cache_bytes;
    st->seed = o->hash_seed;
    st->path = strdup(mem ? "(memory)" : o->dir);
    st->max_slabs = st->cap / SLAB;
    if (st->max_slabs > MAX_SLABS)
        st->max_slabs = MAX_SLABS;
    st->slab = calloc(st->max_slabs, sizeof *st->slab);
    st->slab_used = calloc(st->max_slabs, sizeof *st->slab_used);
    st->order = calloc(st->max_slabs, sizeof *st->order);
    st->n_slots = MIN_SLOTS;
    st->table = malloc(st->n_slots * sizeof *st->table);
    if (st->table)
        table_clear(st->table, st->n_slots);
    st->scratch = malloc(STATE_STORE_MAX_VALUE);
    if (!st->path || !st->slab || !st->slab_used || !st->order || !st->table || !st->scratch) {
        rc = sl_err_set(err, SL_ERR_NOMEM, "state: cache");
        goto fail;
    }
    if (!mem && !o->read_only) {
        rc = make_dirs(o->dir, err);
        if (rc)
            goto fail;
    }

    st->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(st->opts, 1);
    rocksdb_options_set_create_missing_column_families(st->opts, 1);
    rocksdb_options_set_max_open_files(st->opts, o->max_open_files);
    rocksdb_options_set_write_buffer_size(st->opts, o->write_buffer_bytes);
    rocksdb_options_set_max_write_buffer_number(st->opts, 2);
    /* One budget for the memtables of all column families together, or six
     * families could hold 6 x 2 x write_buffer_mb. */
    rocksdb_options_set_db_write_buffer_size(st->opts, 2 * o->write_buffer_bytes);
    rocksdb_options_set_max_background_jobs(st->opts, 2);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(st->opts, 1);
    /* A bloom filter over the memtable's keys: a miss of the write-back
     * cache would otherwise walk the memtable's skip list for nothing. */
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(st->opts, 0.02);
    rocksdb_options_set_memtable_whole_key_filtering(st->opts, 1);
    st->block_cache = rocksdb_cache_create_lru(o->block_cache_bytes);
    st->table_opts = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(st->table_opts, st->block_cache);
    /* Most reads are misses of the write-back cache for keys that often do
     * not exist yet (new users): a bloom filter answers those in memory.
     * Index and filters live in the block cache so its size bounds them,
     * partitioned into 4 KiB pieces: a whole filter of a big table file is
     * larger than one shard of the LRU cache, would never stay cached and
     * would be read from disk on every get (seen in bench_state: 30x
     * slower). The top level of each is pinned, as RocksDB advises. */
    rocksdb_block_based_options_set_filter_policy(st->table_opts,
                                                  rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(st->table_opts, 1);
    rocksdb_block_based_options_set_index_type(
        st->table_opts, rocksdb_block_based_table_index_type_two_level_index_search);
    rocksdb_block_based_options_set_partition_filters(st->table_opts, 1);
    rocksdb_block_based_options_set_metadata_block_size(st->table_opts, 4096);
    rocksdb_block_based_options_set_pin_top_level_index_and_filter(st->table_opts, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(st->table_opts, 1);
    rocksdb_options_set_block_based_table_factory(st->opts, st->table_opts);
    if (mem) {
        st->mem_env = rocksdb_create_mem_env();
        rocksdb_options_set_env(st->opts, st->mem_env);
    }
    /* Compactions run below normal CPU priority (their pool is the
     * process's default env's, the in-memory env's too): on a busy
     * machine the owner's thread, which serves the stream, comes first. */
    rocksdb_env_t *denv = rocksdb_create_default_env();
    rocksdb_env_lower_thread_pool_cpu_priority(denv);
    rocksdb_env_destroy(denv);

    const char *names[STATE_CF_COUNT + 1];
    const rocksdb_options_t *cf_opts[STATE_CF_COUNT + 1];
    names[0] = "default";
    for (int i = 0; i < STATE_CF_COUNT; i++)
        names[i + 1] = cf_names[i];
    for (int i = 0; i <= STATE_CF_COUNT; i++)
        cf_opts[i] = st->opts;
    const char *path = mem ? "/streamlearn-state" : o->dir;
    if (o->read_only)
        st->db = rocksdb_open_for_read_only_column_families(st->opts, path, STATE_CF_COUNT + 1,
                                                            names, cf_opts, st->cf, 0, &errptr);
    else
        st->db = rocksdb_open_column_families(st->opts, path, STATE_CF_COUNT + 1, names, cf_opts,
                                              st->cf, &errptr);
    if (errptr) {
        st->db = NULL;
        rc = rocks_fail(st, err, errptr, "cannot open RocksDB");
        goto fail;
    }
    st->ropts = rocksdb_readoptions_create();
    st->sweep_ropts = rocksdb_readoptions_create();
    rocksdb_readoptions_set_fill_cache(st->sweep_ropts, 0);
    st->wopts = rocksdb_writeoptions_create();
    /* In memory nothing outlives the process: a write-ahead log (and its
     * sync) would only copy every checkpoint once more. */
    rocksdb_writeoptions_set_sync(st->wopts, mem ? 0 : 1);
    rocksdb_writeoptions_disable_WAL(st->wopts, mem ? 1 : 0);
    rc = load_checkpoint(st, err);
    if (rc)
        goto fail;
    st->stats.checkpoint_id = st->ckpt_id;
    *out = st;
    return SL_OK;
fail:
    state_store_close(st);
    return rc;
}

static void ckpt_free(state_ckpt *ck);

void state_store_close(state_store *st) {
    if (!st)
        return;
    ckpt_free(st->ck); /* begun, not finished: as if it never ran, or as if the
                          process died right after its write */
    if (st->db) {
        for (int i = 0; i <= STATE_CF_COUNT; i++)
            if (st->cf[i])
                rocksdb_column_family_handle_destroy(st->cf[i]);
        rocksdb_close(st->db);
    }
    if (st->ropts)
        rocksdb_readoptions_destroy(st->ropts);
    if (st->sweep_ropts)
        rocksdb_readoptions_destroy(st->sweep_ropts);
    if (st->wopts)
        rocksdb_writeoptions_destroy(st->wopts);
    if (st->opts)
        rocksdb_options_destroy(st->opts);
    if (st->table_opts)
        rocksdb_block_based_options_destroy(st->table_opts);
    if (st->block_cache)
        rocksdb_cache_destroy(st->block_cache);
    if (st->mem_env)
        rocksdb_env_destroy(st->mem_env);
    for (size_t i = 0; i < st->n_slabs; i++)
        free(st->slab[i]);
    free(st->slab);
    free(st->slab_used);
    free(st->order);
    free(st->dlist);
    free(st->pf_key);
    free(st->pf_len);
    free(st->pf_val);
    free(st->pf_err);
    free(st->table);
    free(st->offsets);
    free(st->spare);
    free(st->scratch);
    free(st->path);
    free(st);
}

static sl_status check_key(const state_store *st, state_cf cf, size_t klen, sl_err *err) {
    if (st->scanning)
        return sl_err_set(err, SL_ERR_INVALID, "state: the store was used inside a scan callback");
    if ((unsigned)cf >= STATE_CF_COUNT)
        return sl_err_set(err, SL_ERR_INVALID, "state: no column family %d", (int)cf);
    if (klen > STATE_STORE_MAX_KEY)
        return sl_err_set(err, SL_ERR_INVALID, "state: %s key of %zu bytes (limit %d)",
                          cf_names[cf], klen, STATE_STORE_MAX_KEY);
    return SL_OK;
}

static sl_status check_write(const state_store *st, state_cf cf, const void *key, size_t klen,
                             sl_err *err) {
    sl_status rc = check_key(st, cf, klen, err);
    if (rc)
        return rc;
    if (st->read_only)
        return sl_err_set(err, SL_ERR_INVALID, "state.dir %s: opened read-only", st->path);
    if (st->broken)
        return sl_err_set(err, SL_ERR_NOMEM,
                          "state.dir %s: out of memory after a failed checkpoint: restart "
                          "(the last committed checkpoint is intact)",
                          st->path);
    if (cf == STATE_CF_META && klen == strlen(STATE_META_CHECKPOINT) &&
        memcmp(key, STATE_META_CHECKPOINT, klen) == 0)
        return sl_err_set(err, SL_ERR_INVALID, "state: meta/%s is the store's own record",
                          STATE_META_CHECKPOINT);
    return SL_OK;
}

/* Room for n keys in the prefetch arrays. */
static bool pf_reserve(state_store *st, size_t n) {
    if (n <= st->pf_cap)
        return true;
    size_t cap = st->pf_cap ? st->pf_cap : 256;
    while (cap < n)
        cap *= 2;
    const char **k = realloc(st->pf_key, cap * sizeof *k);
    if (k)
        st->pf_key = k;
    size_t *l = realloc(st->pf_len, cap * sizeof *l);
    if (l)
        st->pf_len = l;
    rocksdb_pinnableslice_t **v = realloc(st->pf_val, cap * sizeof *v);
    if (v)
        st->pf_val = v;
    char **e = realloc(st->pf_err, cap * sizeof *e);
    if (e)
        st->pf_err = e;
    if (!k || !l || !v || !e)
        return false;
    st->pf_cap = cap;
    return true;
}

unsigned char *state_keys_room(state_keys *ks, size_t need) {
    return ks->n < ks->max && need <= ks->cap - ks->used ? ks->buf + ks->used : NULL;
}

void state_keys_push(state_keys *ks, state_cf cf, size_t klen) {
    ks->v[ks->n++] = (state_key){cf, (uint32_t)klen, ks->buf + ks->used};
    ks->used += klen;
}

void state_store_prefetch(state_store *st, const state_key *keys, size_t n) {
    if (st->scanning || !n || !pf_reserve(st, n))
        return;
    for (unsigned cf = 0; cf < STATE_CF_COUNT; cf++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            const state_key *k = &keys[i];
            if (k->cf != (state_cf)cf || k->klen > STATE_STORE_MAX_KEY ||
                lookup(st, cf, k->key, k->klen))
                continue;
            st->pf_key[m] = (const char *)k->key;
            st->pf_len[m++] = k->klen;
        }
        if (!m)
            continue;
        rocksdb_batched_multi_get_cf(st->db, st->ropts, cf_handle(st, cf), m, st->pf_key,
                                     st->pf_len, st->pf_val, st->pf_err, false);
        for (size_t i = 0; i < m; i++) {
            const unsigned char *k = (const unsigned char *)st->pf_key[i];
            rocksdb_pinnableslice_t *ps = st->pf_val[i];
            if (st->pf_err[i]) {
                free(st->pf_err[i]); /* the get that follows reports it */
            } else if (!lookup(st, cf, k, st->pf_len[i])) { /* not a repeat */
                st->stats.prefetched++;
                size_t vn = 0;
                const char *v = ps ? rocksdb_pinnableslice_value(ps, &vn) : NULL;
                if (!ps)
                    (void)cache_set(st, cf, k, st->pf_len[i], NULL, 0, E_TOMB);
                else if (vn <= STATE_STORE_MAX_VALUE)
                    (void)cache_set(st, cf, k, st->pf_len[i], v, vn, 0);
            }
            if (ps)
                rocksdb_pinnableslice_destroy(ps);
        }
    }
}

sl_status state_store_get(state_store *st, state_cf cf, const void *key, size_t klen, void *out,
                          size_t cap, size_t *vlen, sl_err *err) {
    sl_status rc = check_key(st, cf, klen, err);
    if (rc)
        return rc;
    const unsigned char *k = key;
    entry *e = lookup(st, cf, k, klen);
    if (e) {
        st->stats.hits++;
        e->flags |= E_REF;
        if (e->flags & E_TOMB)
            return SL_ERR_NOT_FOUND;
        *vlen = e->vlen;
        if (e->vlen > cap)
            return SL_ERR_LIMIT;
        memcpy(out, e_val(e), e->vlen);
        return SL_OK;
    }
    st->stats.misses++;
    char *errptr = NULL;
    rocksdb_pinnableslice_t *ps =
        rocksdb_get_pinned_cf(st->db, st->ropts, cf_handle(st, cf), key, klen, &errptr);
    if (errptr)
        return rocks_fail(st, err, errptr, "get");
    if (!ps) {
        /* Remember the absence: new keys are read before their first put. */
        (void)cache_set(st, cf, k, klen, NULL, 0, E_TOMB);
        return SL_ERR_NOT_FOUND;
    }
    size_t n = 0;
    const char *v = rocksdb_pinnableslice_value(ps, &n);
    if (n <= STATE_STORE_MAX_VALUE) /* a cache miss is not an error: values too big are
                                       simply not cached (only foreign data can be) */
        (void)cache_set(st, cf, k, klen, v, n, 0);
    *vlen = n;
    if (n > cap) {
        rc = SL_ERR_LIMIT;
    } else {
        memcpy(out, v, n);
        rc = SL_OK;
    }
    rocksdb_pinnableslice_destroy(ps);
    return rc;
}

sl_status state_store_put(state_store *st, state_cf cf, const void *key, size_t klen,
                          const void *val, size_t vlen, sl_err *err) {
    sl_status rc = check_write(st, cf, key, klen, err);
    if (rc)
        return rc;
    if (vlen > STATE_STORE_MAX_VALUE)
        return sl_err_set(err, SL_ERR_INVALID, "state: %s value of %zu bytes (limit %d)",
                          cf_names[cf], vlen, STATE_STORE_MAX_VALUE);
    rc = cache_set(st, cf, key, klen, val, vlen, E_DIRTY);
    if (rc)
        return sl_err_set(err, rc, "state: write-back cache full (%zu MiB dirty): checkpoint now",
                          st->dirty_bytes >> 20);
    return SL_OK;
}

sl_status state_store_delete(state_store *st, state_cf cf, const void *key, size_t klen,
                             sl_err *err) {
    sl_status rc = check_write(st, cf, key, klen, err);
    if (rc)
        return rc;
    rc = cache_set(st, cf, key, klen, NULL, 0, E_DIRTY | E_TOMB);
    if (rc)
        return sl_err_set(err, rc, "state: write-back cache full (%zu MiB dirty): checkpoint now",
                          st->dirty_bytes >> 20);
    return SL_OK;
}

sl_status state_store_update(state_store *st, state_cf cf, const void *key, size_t klen,
                             size_t vlen, void **val, size_t *old_len, sl_err *err) {
    sl_status rc = check_write(st, cf, key, klen, err);
    if (rc)
        return rc;
    if (vlen > STATE_STORE_MAX_VALUE)
        return sl_err_set(err, SL_ERR_INVALID, "state: %s value of %zu bytes (limit %d)",
                          cf_names[cf], vlen, STATE_STORE_MAX_VALUE);
    const unsigned char *k = key;
    size_t old = STATE_STORE_ABSENT;
    bool found;
    size_t slot_i = table_find(st, key_hash(st->seed, cf, k, klen), cf, k, klen, &found);
    entry *e = found ? ref_entry(st, st->table[slot_i].ref) : NULL;
    if (e) {
        st->stats.hits++;
        if (!(e->flags & E_TOMB))
            old = e->vlen;
        if (vlen <= e_vcap(e) && !pinned(st, e)) { /* the common case: in place */
            if (!dlist_room(st, 1))
                return sl_err_set(err, SL_ERR_NOMEM, "state: dirty list");
            unsigned char *v = e_val(e);
            size_t keep = old == STATE_STORE_ABSENT ? 0 : old < vlen ? old : vlen;
            if (keep < vlen)
                memset(v + keep, 0, vlen - keep);
            e->vlen = (uint32_t)vlen;
            e->flags = (uint8_t)((e->flags & ~E_TOMB) | E_REF);
            set_dirty(st, e, st->table[slot_i].ref);
            *val = v;
            *old_len = old;
            return SL_OK;
        }
        /* Growing, or pinned (copy on write): build the value aside, the
         * old entry may move. */
        size_t keep = old == STATE_STORE_ABSENT ? 0 : old < vlen ? old : vlen;
        memcpy(st->scratch, e_val(e), keep);
        memset(st->scratch + keep, 0, vlen - keep);
    } else {
        st->stats.misses++;
        char *errptr = NULL;
        rocksdb_pinnableslice_t *ps =
            rocksdb_get_pinned_cf(st->db, st->ropts, cf_handle(st, cf), key, klen, &errptr);
        if (errptr)
            return rocks_fail(st, err, errptr, "get");
        size_t keep = 0;
        if (ps) {
            size_t n = 0;
            const char *v = rocksdb_pinnableslice_value(ps, &n);
            old = n;
            keep = n < vlen ? n : vlen;
            memcpy(st->scratch, v, keep);
            rocksdb_pinnableslice_destroy(ps);
        }
        memset(st->scratch + keep, 0, vlen - keep);
    }
    rc = cache_set(st, cf, k, klen, st->scratch, vlen, E_DIRTY);
    if (rc)
        return sl_err_set(err, rc, "state: write-back cache full (%zu MiB dirty): checkpoint now",
                          st->dirty_bytes >> 20);
    e = lookup(st, cf, k, klen);
    *val = e_val(e);
    *old_len = old;
    return SL_OK;
}

/* Three quarters of the bytes the slabs may take (what the table leaves). */
bool state_store_want_checkpoint(const state_store *st) {
    size_t t = 3 * table_bytes(st), slabs = st->cap > t ? st->cap - t : 0;
    return st->full || st->dirty_bytes + st->pinned_bytes > slabs / 4 * 3;
}

/* Calls fn on every live entry, in slab order. */
static void each_live(state_store *st, void (*fn)(state_store *, entry *, void *), void *ctx) {
    for (size_t i = 0; i < st->n_slabs; i++)
        for (size_t off = 0; off < st->slab_used[i];) {
            entry *e = (entry *)(st->slab[i] + off);
            off += e->size;
            if (e->flags & E_LIVE)
                fn(st, e, ctx);
        }
}

static int key_cmp(const void *a, size_t alen, const void *b, size_t blen) {
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* qsort order of entry pointers: column family, then key bytes. */
static int entry_cmp(const void *pa, const void *pb) {
    const entry *a = *(const entry *const *)pa;
    const entry *b = *(const entry *const *)pb;
    if (a->cf != b->cf)
        return a->cf < b->cf ? -1 : 1;
    return key_cmp(e_key(a), a->klen, e_key(b), b->klen);
}

/*
 * A checkpoint between begin and finish. Its records point at the pinned
 * entries' keys and values in the slabs, which the owner leaves untouched
 * until finish; checkpoint_write (on any thread) reads those bytes, this
 * struct and RocksDB, never the cache's table or headers.
 */
struct state_ckpt {
    rocksdb_t *db;                             /* borrowed from the store */
    const rocksdb_writeoptions_t *wopts;       /* borrowed: sync on */
    rocksdb_column_family_handle_t *const *cf; /* borrowed: the store's handles */
    const char *path;                          /* borrowed: for messages */
    size_t switch_bytes;                       /* see state_store.switch_bytes */
    struct ck_rec *rec_v; /* the dirty entries, one record each */
    size_t cap;           /* records allocated in rec_v */
    size_t n;             /* records used */
    unsigned char *rec;   /* the meta/checkpoint record */
    size_t rec_len;       /* its bytes */
    unsigned char *offsets; /* the offsets blob, published by finish */
    size_t offsets_len;     /* its bytes */
    uint64_t id;            /* the id this checkpoint commits */
    bool fail;              /* test hook: the write fails without writing */
    bool ran;               /* checkpoint_write was called */
    sl_status rc;           /* what it returned */
    sl_err err;             /* its message, for finish */
};

/* One dirty entry of a checkpoint: its key (in a slab, pinned), its value
 * right after the key. */
typedef struct ck_rec {
    const unsigned char *key; /* key[klen], then value[vlen] */
    uint32_t ref;             /* its entry's reference (pinned: it does not move) */
    uint32_t vlen;            /* value bytes */
    uint16_t klen;            /* key bytes */
    uint8_t cf;               /* state_cf */
    uint8_t tomb;             /* 1: delete the key */
} ck_rec;

/* qsort order of ck_recs: column family, then key bytes. */
static int rec_cmp(const void *pa, const void *pb) {
    const ck_rec *a = pa, *b = pb;
    if (a->cf != b->cf)
        return a->cf < b->cf ? -1 : 1;
    return key_cmp(a->key, a->klen, b->key, b->klen);
}

static void ckpt_free(state_ckpt *ck) {
    if (!ck)
        return;
    free(ck->rec_v);
    free(ck->rec);
    free(ck->offsets);
    free(ck);
}

/* Starts a flush of cf's memtable without waiting for it, so the next
 * writes go to an empty one. Only an optimization: a failure is ignored
 * (the checkpoint's own write reports real trouble). */
static void switch_memtable(rocksdb_t *db, rocksdb_column_family_handle_t *cf) {
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 0);
    char *errptr = NULL;
    rocksdb_flush_cf(db, fo, cf, &errptr);
    free(errptr);
    rocksdb_flushoptions_destroy(fo);
}

static sl_status check_checkpoint(const state_store *st, size_t offsets_len, sl_err *err) {
    if (st->scanning)
        return sl_err_set(err, SL_ERR_INVALID, "state: the store was used inside a scan callback");
    if (st->read_only)
        return sl_err_set(err, SL_ERR_INVALID, "state.dir %s: opened read-only", st->path);
    if (st->broken)
        return sl_err_set(err, SL_ERR_NOMEM,
                          "state.dir %s: out of memory after a failed checkpoint: restart", st->path);
    if (st->ck)
        return sl_err_set(err, SL_ERR_INVALID,
                          "state: checkpoint %llu is still in flight: finish it first",
                          (unsigned long long)st->ck->id);
    if (offsets_len > STATE_STORE_MAX_OFFSETS)
        return sl_err_set(err, SL_ERR_INVALID, "state: offsets blob of %zu bytes (limit %d)",
                          offsets_len, STATE_STORE_MAX_OFFSETS);
    return SL_OK;
}

sl_status state_store_checkpoint_begin(state_store *st, const void *offsets, size_t offsets_len,
                                       state_ckpt **out, sl_err *err) {
    *out = NULL;
    sl_status rc = check_checkpoint(st, offsets_len, err);
    if (rc)
        return rc;
    state_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck)
        return sl_err_set(err, SL_ERR_NOMEM, "state: checkpoint");
    ck->db = st->db;
    ck->wopts = st->wopts;
    ck->cf = st->cf;
    ck->path = st->path;
    ck->switch_bytes = st->switch_bytes;
    ck->id = st->ckpt_id + 1;
    ck->fail = st->fail_next_write;
    ck->rec_len = RECORD_HEAD + offsets_len;
    ck->rec = malloc(ck->rec_len);
    ck->offsets_len = offsets_len;
    ck->offsets = offsets_len ? malloc(offsets_len) : NULL;
    /* One record per dirty entry. The previous checkpoint's array is
     * reused when big enough: its pages are mapped already. */
    size_t need = st->n_dirty ? st->n_dirty : 1;
    if (st->spare && st->spare_cap >= need) {
        ck->rec_v = st->spare;
        ck->cap = st->spare_cap;
        st->spare = NULL;
    } else {
        free(st->spare);
        st->spare = NULL;
        ck->cap = need + need / 4; /* room to grow a little */
        ck->rec_v = malloc(ck->cap * sizeof *ck->rec_v);
    }
    if (!ck->rec || (offsets_len && !ck->offsets) || !ck->rec_v) {
        ckpt_free(ck);
        return sl_err_set(err, SL_ERR_NOMEM, "state: checkpoint of %zu entries (%zu MiB)",
                          st->n_dirty, st->dirty_bytes >> 20);
    }
    st->fail_next_write = false;
    sl_put_u32(ck->rec, OFFSETS_MAGIC);
    sl_put_u32(ck->rec + 4, OFFSETS_VERSION);
    sl_put_u64(ck->rec + 8, ck->id);
    sl_put_u32(ck->rec + 16, (uint32_t)offsets_len);
    if (offsets_len) {
        memcpy(ck->rec + RECORD_HEAD, offsets, offsets_len);
        memcpy(ck->offsets, offsets, offsets_len);
    }
    /* One pass over the dirty list: record each dirty entry, make it
     * clean and pinned. No data is copied, no slab walked. */
    size_t pinned_b = 0;
    for (size_t i = 0; i < st->dlist_n; i++) {
        if (i + 8 < st->dlist_n && st->dlist[i + 8] != REF_NONE)
            __builtin_prefetch(ref_entry(st, st->dlist[i + 8]), 1);
        uint32_t ref = st->dlist[i];
        if (ref == REF_NONE)
            continue;
        entry *e = ref_entry(st, ref);
        assert((e->flags & (E_LIVE | E_DIRTY | E_PIN)) == (E_LIVE | E_DIRTY));
        {
            ck_rec *r = &ck->rec_v[ck->n++];
            r->key = e_key(e);
            r->ref = ref;
            r->vlen = (e->flags & E_TOMB) ? 0 : e->vlen;
            r->klen = e->klen;
            r->cf = e->cf;
            r->tomb = (e->flags & E_TOMB) ? 1 : 0;
            e->flags = (uint8_t)((e->flags & ~E_DIRTY) | E_PIN);
            pinned_b += e->size;
        }
    }
    assert(ck->n == st->n_dirty && ck->n <= ck->cap);
    st->dlist_n = 0;
    st->dlist_dead = 0;
    st->n_dirty = 0;
    st->dirty_bytes = 0;
    st->pinned_bytes = pinned_b;
    st->ck = ck;
    *out = ck;
    return SL_OK;
}

sl_status state_store_checkpoint_write(state_ckpt *ck, sl_err *err) {
    assert(!ck->ran);
    ck->ran = true;
    sl_status rc = SL_OK;
    rocksdb_writebatch_t *wb = NULL;
    /* In key order: RocksDB's memtable (a skip list) inserts sorted keys
     * faster than random ones, and this insert is most of a checkpoint's
     * time (bench_state: 2.7 -> 1.6 us a key, docs/STATE.md). */
    const ck_rec *v = ck->rec_v;
    size_t n = ck->n;
    qsort(ck->rec_v, n, sizeof *ck->rec_v, rec_cmp);
    /* A family receiving a big checkpoint gets a fresh memtable first (its
     * old one is flushed in the background): sorted keys into an empty
     * skip list are appends, into last second's full one they interleave
     * (bench_state: 330 -> 210 ms a checkpoint). Small families keep
     * appending to theirs, or every checkpoint would make a tiny file. */
    size_t cf_bytes[STATE_CF_COUNT] = {0};
    for (size_t i = 0; i < n; i++)
        cf_bytes[v[i].cf] += v[i].klen + v[i].vlen + 16;
    for (unsigned c = 0; c < STATE_CF_COUNT; c++)
        if (cf_bytes[c] >= ck->switch_bytes)
            switch_memtable(ck->db, ck->cf[c + 1]);
    wb = rocksdb_writebatch_create();
    for (size_t i = 0; i < n; i++) {
        const ck_rec *r = &v[i];
        const char *k = (const char *)r->key;
        if (r->tomb)
            rocksdb_writebatch_delete_cf(wb, ck->cf[r->cf + 1], k, r->klen);
        else
            rocksdb_writebatch_put_cf(wb, ck->cf[r->cf + 1], k, r->klen, k + r->klen, r->vlen);
    }
    rocksdb_writebatch_put_cf(wb, ck->cf[STATE_CF_META + 1], STATE_META_CHECKPOINT,
                              strlen(STATE_META_CHECKPOINT), (const char *)ck->rec, ck->rec_len);
    if (ck->fail) {
        rc = sl_err_set(&ck->err, SL_ERR_STATE, "state.dir %s: checkpoint write: injected failure",
                        ck->path);
        goto out;
    }
    char *errptr = NULL;
    rocksdb_write(ck->db, ck->wopts, wb, &errptr);
    if (errptr) {
        rc = sl_err_set(&ck->err, SL_ERR_STATE, "state.dir %s: checkpoint write: %s", ck->path,
                        errptr);
        free(errptr);
    }
out:
    if (wb)
        rocksdb_writebatch_destroy(wb);
    ck->rc = rc;
    if (rc && err)
        *err = ck->err;
    return rc;
}

/* Ends the pins of ck, whose entries never moved while it was in flight.
 * With to_dirty (the write did not land), every live entry it carried
 * (never rewritten since: a rewrite copies) becomes dirty again, so the
 * next checkpoint writes it; the dead ones were rewritten, and their new
 * entries are dirty already. Returns false if the dirty list could not
 * grow (nothing changed). */
static bool unpin(state_store *st, state_ckpt *ck, bool to_dirty) {
    if (to_dirty && !dlist_room(st, ck->n))
        return false;
    for (size_t i = 0; i < ck->n; i++) {
        if (i + 8 < ck->n)
            __builtin_prefetch(key_entry(ck->rec_v[i + 8].key), 1);
        entry *e = key_entry(ck->rec_v[i].key);
        assert(e->flags & E_PIN);
        if (!(e->flags & E_LIVE)) {
            e->flags = 0;
            continue;
        }
        e->flags &= (uint8_t)~E_PIN;
        if (to_dirty)
            set_dirty(st, e, ck->rec_v[i].ref);
    }
    return true;
}

sl_status state_store_checkpoint_finish(state_store *st, state_ckpt *ck, uint64_t *id,
                                        sl_err *err) {
    assert(ck && ck == st->ck);
    sl_status rc = ck->ran ? ck->rc : SL_ERR_STOPPED;
    if (rc) {
        if (!unpin(st, ck, true)) {
            /* No memory to list them as dirty again: the next checkpoint
             * would leave them out. Refuse every write from now on. */
            (void)unpin(st, ck, false);
            st->broken = true;
        }
        if (ck->ran && err)
            *err = ck->err;
        else if (!ck->ran)
            sl_err_set(err, SL_ERR_STOPPED, "state: checkpoint %llu abandoned before its write",
                       (unsigned long long)ck->id);
    } else {
        /* Committed: the pins go, and so does the "full" mark. */
        (void)unpin(st, ck, false);
        st->full = false;
        st->ckpt_id = ck->id;
        free(st->offsets);
        st->offsets = ck->offsets;
        ck->offsets = NULL;
        st->offsets_len = ck->offsets_len;
        st->stats.checkpoints++;
        st->stats.checkpoint_id = ck->id;
        st->stats.last_checkpoint_keys = ck->n;
        if (id)
            *id = ck->id;
    }
    st->pinned_bytes = 0;
    st->ck = NULL;
    if (!st->spare) { /* keep the array for the next checkpoint */
        st->spare = ck->rec_v;
        st->spare_cap = ck->cap;
        ck->rec_v = NULL;
    }
    ckpt_free(ck);
    return rc;
}

sl_status state_store_checkpoint(state_store *st, const void *offsets, size_t offsets_len,
                                 uint64_t *id, sl_err *err) {
    state_ckpt *ck;
    sl_status rc = state_store_checkpoint_begin(st, offsets, offsets_len, &ck, err);
    if (rc)
        return rc;
    (void)state_store_checkpoint_write(ck, NULL);
    return state_store_checkpoint_finish(st, ck, id, err);
}

bool state_store_checkpoint_in_flight(const state_store *st) { return st->ck != NULL; }

void state_store__fail_next_write(state_store *st) { st->fail_next_write = true; }

void state_store_last_checkpoint(const state_store *st, uint64_t *id, const void **offsets,
                                 size_t *offsets_len) {
    if (id)
        *id = st->ckpt_id;
    if (offsets)
        *offsets = st->offsets;
    if (offsets_len)
        *offsets_len = st->offsets_len;
}

/* ------------------------------------------------------ scans and sweeps */

static bool has_prefix(const void *k, size_t klen, const void *prefix, size_t plen) {
    return klen >= plen && (plen == 0 || memcmp(k, prefix, plen) == 0);
}

typedef struct scan_collect {
    unsigned cf;        /* column family scanned */
    const void *prefix; /* key prefix */
    size_t plen;        /* its length */
    entry **v;          /* matching entries */
    size_t n;           /* how many */
} scan_collect;

static void collect_match(state_store *st, entry *e, void *ctx) {
    (void)st;
    scan_collect *c = ctx;
    if (e->cf == c->cf && has_prefix(e_key(e), e->klen, c->prefix, c->plen))
        c->v[c->n++] = e;
}

sl_status state_store_scan(state_store *st, state_cf cf, const void *prefix, size_t plen,
                           state_scan_fn fn, void *ctx, sl_err *err) {
    sl_status rc = check_key(st, cf, plen, err);
    if (rc)
        return rc;
    scan_collect c = {(unsigned)cf, prefix, plen, NULL, 0};
    c.v = malloc((st->n_entries ? st->n_entries : 1) * sizeof *c.v);
    if (!c.v)
        return sl_err_set(err, SL_ERR_NOMEM, "state: scan of %zu cached entries", st->n_entries);
    each_live(st, collect_match, &c);
    qsort(c.v, c.n, sizeof *c.v, entry_cmp);

    /* Merge the sorted cache matches with RocksDB's range; the cache wins. */
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->sweep_ropts, cf_handle(st, cf));
    rocksdb_iter_seek(it, prefix, plen);
    st->scanning = true;
    size_t i = 0;
    bool go = true;
    while (go) {
        const char *rk = NULL;
        size_t rklen = 0;
        if (rocksdb_iter_valid(it)) {
            rk = rocksdb_iter_key(it, &rklen);
            if (!has_prefix(rk, rklen, prefix, plen))
                rk = NULL;
        }
        if (!rk && i == c.n)
            break;
        int cmp = !rk ? -1 : i == c.n ? 1 : key_cmp(e_key(c.v[i]), c.v[i]->klen, rk, rklen);
        if (cmp <= 0) {
            entry *e = c.v[i++];
            if (!(e->flags & E_TOMB))
                go = fn(ctx, e_key(e), e->klen, e_val(e), e->vlen);
            if (cmp == 0)
                rocksdb_iter_next(it);
        } else {
            size_t vlen = 0;
            const char *v = rocksdb_iter_value(it, &vlen);
            go = fn(ctx, rk, rklen, v, vlen);
            rocksdb_iter_next(it);
        }
    }
    st->scanning = false;
    char *errptr = NULL;
    rocksdb_iter_get_error(it, &errptr);
    if (errptr)
        rc = rocks_fail(st, err, errptr, "scan");
    rocksdb_iter_destroy(it);
    free(c.v);
    return rc;
}

sl_status state_store_sweep(state_store *st, state_cf cf, size_t max_keys, state_dead_fn fn,
                            void *ctx, size_t *deleted, bool *wrapped, sl_err *err) {
    if (deleted)
        *deleted = 0;
    if (wrapped)
        *wrapped = false;
    sl_status rc = check_write(st, cf, "", 0, err);
    if (rc)
        return rc;
    if (cf == STATE_CF_META)
        return sl_err_set(err, SL_ERR_INVALID, "state: the meta column family is not swept");
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->sweep_ropts, cf_handle(st, cf));
    if (st->has_cursor[cf]) {
        rocksdb_iter_seek(it, (const char *)st->cursor[cf], st->cursor_len[cf]);
        size_t klen = 0;
        if (rocksdb_iter_valid(it)) {
            const char *k = rocksdb_iter_key(it, &klen);
            if (key_cmp(k, klen, st->cursor[cf], st->cursor_len[cf]) == 0)
                rocksdb_iter_next(it); /* visited by the previous step */
        }
    } else {
        rocksdb_iter_seek_to_first(it);
    }
    size_t visited = 0, n_del = 0;
    while (visited < max_keys && rocksdb_iter_valid(it)) {
        size_t klen = 0, vlen = 0;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen > STATE_STORE_MAX_KEY) { /* not written by us: leave it alone */
            rocksdb_iter_next(it);
            continue;
        }
        const unsigned char *uk = (const unsigned char *)k;
        entry *e = lookup(st, cf, uk, klen);
        bool dead = false;
        if (!e || !(e->flags & E_TOMB)) { /* a tombstone is deleted already */
            const void *v;
            if (e) {
                v = e_val(e);
                vlen = e->vlen;
            } else {
                v = rocksdb_iter_value(it, &vlen);
            }
            st->scanning = true;
            dead = fn(ctx, k, klen, v, vlen);
            st->scanning = false;
        }
        if (dead) {
            rc = cache_set(st, cf, uk, klen, NULL, 0, E_DIRTY | E_TOMB);
            if (rc) {
                rc = sl_err_set(err, rc,
                                "state: write-back cache full during the %s sweep: "
                                "checkpoint now",
                                cf_names[cf]);
                goto out; /* the cursor stays before this key */
            }
            n_del++;
        }
        memcpy(st->cursor[cf], k, klen);
        st->cursor_len[cf] = klen;
        st->has_cursor[cf] = true;
        visited++;
        rocksdb_iter_next(it);
    }
    if (!rocksdb_iter_valid(it)) {
        char *errptr = NULL;
        rocksdb_iter_get_error(it, &errptr);
        if (errptr) {
            rc = rocks_fail(st, err, errptr, "sweep");
            goto out;
        }
        st->has_cursor[cf] = false;
        if (wrapped)
            *wrapped = true;
    }
out:
    st->stats.swept += n_del;
    if (deleted)
        *deleted = n_del;
    rocksdb_iter_destroy(it);
    return rc;
}

void state_store_stats_get(const state_store *st, state_store_stats *out) {
    *out = st->stats;
    out->cache_cap = st->cap;
    out->cache_held = held(st);
    out->entries = st->n_entries;
    out->dirty = st->n_dirty;
    out->dirty_bytes = st->dirty_bytes;
    out->pinned_bytes = st->pinned_bytes;
    out->checkpoint_id = st->ckpt_id;
}
