/*
 * state_store.h — the state store: RocksDB column families behind an
 * in-memory write-back cache, and the checkpoint that makes them durable.
 *
 * Keys and values are bytes; the store knows nothing of events, features or
 * models (callers encode, e.g. with state_decay_encode). Each key lives in
 * one column family (state_cf): features, pending, profiles, graph, models,
 * meta. Keys sort bytewise, so related keys sharing a prefix can be scanned.
 *
 * Invariant (DESIGN §7): RocksDB holds only committed checkpoints. Every
 * put and delete lands in the cache and stays there, dirty, until
 * state_store_checkpoint() writes all dirty entries, the caller's blob of
 * source offsets and the next checkpoint id in ONE synced WriteBatch. A
 * crash (or state_store_close() without a checkpoint) therefore loses
 * exactly the writes since the last checkpoint, and reopening shows that
 * checkpoint's state and offsets, never half of the next one.
 *
 * Memory: the cache lives in fixed-size slabs under a hard cap
 * (opts.cache_bytes, state.cache_mb). Clean entries are a read cache and are
 * dropped when room is needed; dirty ones cannot be until a checkpoint.
 * state_store_want_checkpoint() turns true well before the cap so a caller
 * can checkpoint between batches; if the dirty data reaches the cap anyway,
 * put and delete return SL_ERR_LIMIT ("checkpoint now") without applying
 * the write. RocksDB's own memory is bounded by the block cache, the write
 * buffers and max_open_files (docs/STATE.md has the arithmetic).
 *
 * The checkpoint comes whole (state_store_checkpoint) or in three steps,
 * so that its synced write can leave the caller's thread: _begin records
 * where the dirty entries are and turns them clean but PINNED (kept in the
 * cache, unmoved, never re-read from RocksDB, until the write lands, since
 * RocksDB still holds their previous values); _write does the one synced
 * WriteBatch from the pinned bytes, on any thread; _finish publishes the
 * new id and offsets, or, if the write failed or never ran, makes the
 * pinned entries dirty again. Between begin and finish the store is fully
 * usable: reads see the newest values, and an entry written again is
 * copied (the pinned bytes stay the writer's) and dirty for the next
 * checkpoint. One
 * checkpoint at a time. Offsets the caller derives from a checkpoint (a
 * Kafka commit) must wait for _finish to return SL_OK.
 *
 * Threading: one store belongs to one thread (the owner); nothing here
 * locks. The one exception is state_store_checkpoint_write(), which may run
 * on another thread concurrently with the owner's calls: it touches only
 * the state_ckpt, the pinned entries' keys and values (which the owner
 * leaves alone until _finish) and RocksDB, which is thread-safe. RocksDB
 * runs its own background flush/compaction threads, invisible to callers.
 * Ownership: keys and values passed in are copied; pointers handed out are
 * borrowed and valid only as the function documents.
 */
#ifndef STATE_STORE_H
#define STATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_config.h"
#include "sl_status.h"

#define STATE_STORE_MAX_KEY     1024               /* bytes; longer keys are refused */
#define STATE_STORE_MAX_VALUE   (64 * 1024)        /* bytes; model blocks are cut to fit */
#define STATE_STORE_MAX_OFFSETS (1 << 20)          /* bytes of the offsets blob */
#define STATE_STORE_MAX_CACHE   ((size_t)32 << 30) /* the slab addressing limit, 32 GiB */

/* Column families: the name is the RocksDB column family's name. */
#define STATE_CF_LIST(X)                                                                           \
    X(STATE_CF_FEATURES, "features") /* decayed aggregates per entity key */                       \
    X(STATE_CF_PENDING, "pending")   /* views waiting for labels, by view_id */                    \
    X(STATE_CF_PROFILES, "profiles") /* user / item attributes */                                  \
    X(STATE_CF_GRAPH, "graph")       /* friend edges, attendee sets */                             \
    X(STATE_CF_MODELS, "models")     /* model parameter blocks */                                  \
    X(STATE_CF_META, "meta")         /* the checkpoint record, caller metadata */

typedef enum state_cf {
#define STATE_CF_ENUM_(name, text) name,
    STATE_CF_LIST(STATE_CF_ENUM_)
#undef STATE_CF_ENUM_
        STATE_CF_COUNT
} state_cf;

/* The checkpoint record's key in STATE_CF_META; callers may not write it. */
#define STATE_META_CHECKPOINT "checkpoint"

typedef struct state_store state_store;
typedef struct state_ckpt state_ckpt; /* a checkpoint between begin and finish */

typedef struct state_store_opts {
    const char *dir;           /* RocksDB directory, created if missing; NULL or "" keeps
                                  RocksDB in memory (no persistence, same code path) */
    size_t cache_bytes;        /* hard cap on the write-back cache (slabs + table) */
    size_t block_cache_bytes;  /* RocksDB LRU block cache, shared by every column family */
    size_t write_buffer_bytes; /* RocksDB memtable size per column family */
    int max_open_files;        /* RocksDB table files kept open (-1 = unlimited) */
    bool read_only;            /* open without RocksDB's lock, so a tool can read the last
                                  checkpoint of a running engine; writes are refused */
    uint64_t hash_seed;        /* seed of the cache's key hash */
} state_store_opts;

/* Defaults matching the config's: 256 MiB cache, 64 MiB block cache, 32 MiB
 * write buffers, 512 open files, in-memory RocksDB. */
void state_store_opts_default(state_store_opts *o);
/* The state.* section of a config; o->dir borrows cfg->dir. */
void state_store_opts_from_config(state_store_opts *o, const sl_config_state *cfg);

/*
 * Opens (creating if missing) the store in o->dir. On success *out (OUT:) is
 * a store owned by the caller, closed with state_store_close(); its last
 * checkpoint is readable with state_store_last_checkpoint().
 * Returns SL_ERR_INVALID (opts out of range), SL_ERR_STATE (the directory
 * cannot be made or RocksDB refused: its message and the path are in err),
 * SL_ERR_CORRUPT (the checkpoint record is unreadable), SL_ERR_NOMEM.
 */
sl_status state_store_open(const state_store_opts *o, state_store **out, sl_err *err);

/* Closes the store WITHOUT checkpointing: dirty entries are dropped, as in a
 * crash. Callers that want them kept checkpoint first. A checkpoint begun
 * and not finished is freed: RocksDB holds it if its write completed, else
 * the one before, exactly as after a crash. No thread may be inside
 * state_store_checkpoint_write() for it (join the writer first). Accepts
 * NULL. */
void state_store_close(state_store *st);

/* One key of a prefetch: its column family and bytes (borrowed). */
typedef struct state_key {
    state_cf cf;              /* column family */
    uint32_t klen;            /* key bytes */
    const unsigned char *key; /* the key */
} state_key;

/*
 * Warms the cache for keys about to be read: every key not in the cache is
 * read from RocksDB with one batched MultiGet per column family and cached
 * clean (its value, or its absence), so the gets that follow are hits. One
 * batched read costs much less per key than as many gets: RocksDB walks its
 * memtables and table files once for the whole batch. Keys may repeat; keys
 * too long are skipped. Only an optimization: what fails (a RocksDB error,
 * no memory, a full cache) is simply not cached, and the get that follows
 * reads RocksDB itself and reports it. Counts the keys it read in
 * stats.prefetched. Not from inside a scan (ignored there).
 */
void state_store_prefetch(state_store *st, const state_key *keys, size_t n);

/* A list of keys for a prefetch, built in caller-owned arrays: v[max] and
 * the keys' bytes in buf[cap]. */
typedef struct state_keys {
    state_key *v;       /* the keys */
    size_t n, max;      /* used, allocated */
    unsigned char *buf; /* their bytes */
    size_t used, cap;   /* used, allocated */
} state_keys;

/* Where the next key's bytes (at most `need`) go, or NULL when the list is
 * full; state_keys_push() then adds the key written there. */
unsigned char *state_keys_room(state_keys *ks, size_t need);
void state_keys_push(state_keys *ks, state_cf cf, size_t klen);

/*
 * Copies the value of key into out (up to cap bytes) and sets *vlen (OUT:)
 * to its length. Looks in the cache, then RocksDB; a value read from
 * RocksDB is cached clean (and so is its absence).
 * Returns SL_OK, SL_ERR_NOT_FOUND (absent or deleted), SL_ERR_LIMIT (cap is
 * too small: *vlen is the size needed, nothing copied), SL_ERR_INVALID (key
 * too long, or called from inside a scan), SL_ERR_STATE (RocksDB read).
 */
sl_status state_store_get(state_store *st, state_cf cf, const void *key, size_t klen, void *out,
                          size_t cap, size_t *vlen, sl_err *err);

/*
 * Sets key to the vlen bytes at val (copied) in the cache, dirty until the
 * next checkpoint. Returns SL_OK, SL_ERR_LIMIT (the cache is full of dirty
 * data: nothing written, checkpoint and retry), SL_ERR_INVALID (key or
 * value too long, the reserved meta key, a read-only store, or from inside
 * a scan).
 */
sl_status state_store_put(state_store *st, state_cf cf, const void *key, size_t klen,
                          const void *val, size_t vlen, sl_err *err);

/* Deletes key: a dirty tombstone in the cache until the next checkpoint
 * deletes it from RocksDB. Deleting an absent key is fine. Same returns as
 * put. */
sl_status state_store_delete(state_store *st, state_cf cf, const void *key, size_t klen,
                             sl_err *err);

/*
 * Read-modify-write without copies, for fixed-size records such as decayed
 * features: makes sure key has a value of exactly vlen bytes in the cache
 * and sets *val (OUT:) to it, for the caller to read and overwrite in
 * place. The previous value (cache, else RocksDB) is kept in its first
 * min(old, vlen) bytes and the rest is zeroed; *old_len (OUT:) is its
 * length, or STATE_STORE_ABSENT if the key had none. The entry is dirty
 * from now on, changed or not. *val is valid only until the next call into
 * the store. One lookup instead of get + put's two, and no copies.
 * Returns as put (on SL_ERR_LIMIT nothing changed), and SL_ERR_STATE.
 */
#define STATE_STORE_ABSENT SIZE_MAX
sl_status state_store_update(state_store *st, state_cf cf, const void *key, size_t klen,
                             size_t vlen, void **val, size_t *old_len, sl_err *err);

/*
 * The checkpoint: writes every dirty entry (puts and deletes), the offsets
 * blob (opaque to the store, e.g. the next source offset per partition) and
 * checkpoint id = last id + 1 in ONE RocksDB WriteBatch with sync on, then
 * marks the entries clean. *id (OUT:, may be NULL) is the new id. On failure
 * nothing is marked clean, the id does not move, and a retry writes the
 * same entries again. Blocks for the whole write: begin + write + finish
 * below on the calling thread. Returns SL_OK, SL_ERR_INVALID (blob too
 * long, read-only, a checkpoint in flight), SL_ERR_STATE (RocksDB write),
 * SL_ERR_NOMEM.
 */
sl_status state_store_checkpoint(state_store *st, const void *offsets, size_t offsets_len,
                                 uint64_t *id, sl_err *err);

/*
 * The checkpoint's first step, on the owner's thread: records where every
 * dirty entry's key and value are, copies the offsets blob and the record
 * of id = last id + 1 into a new checkpoint *ck (OUT:, owned by the store
 * until finish), and marks the entries clean and pinned. Costs one visit
 * per dirty entry (no copy of the data); the sort, the WriteBatch and the
 * synced write are in _write. Until _finish, state_store_last_checkpoint() still names the
 * previous checkpoint, other calls work as usual, and no other checkpoint
 * may begin. Returns SL_OK, SL_ERR_INVALID (blob too long, read-only, one
 * in flight, inside a scan), SL_ERR_NOMEM (nothing changed).
 */
sl_status state_store_checkpoint_begin(state_store *st, const void *offsets, size_t offsets_len,
                                       state_ckpt **ck, sl_err *err);

/*
 * The synced write of ck: sorts its entries, builds one WriteBatch (the
 * entries, then meta/checkpoint) and writes it with sync on; RocksDB applies
 * it whole or not at all. May run on any thread, once per ck, concurrently
 * with the owner's calls on the store (never with close). Blocks for the
 * write (tens to hundreds of ms for a big checkpoint). The outcome is kept
 * in ck for _finish; err (may be NULL) gets the message too. Returns SL_OK,
 * SL_ERR_STATE (RocksDB refused: nothing of ck is in RocksDB), SL_ERR_NOMEM.
 */
sl_status state_store_checkpoint_write(state_ckpt *ck, sl_err *err);

/*
 * The checkpoint's last step, on the owner's thread, after _write returned
 * (or instead of it, to abandon ck): frees ck. If the write succeeded the
 * checkpoint is committed: *id (OUT:, may be NULL) is its id, it becomes
 * state_store_last_checkpoint(), and the pinned entries become ordinary
 * clean ones. Otherwise RocksDB still holds the previous checkpoint, the id
 * does not move, and every entry ck carried that was not written again
 * since is dirty again, so the next checkpoint writes it. Returns SL_OK,
 * or the write's status (SL_ERR_STATE, SL_ERR_NOMEM) with its message, or
 * SL_ERR_STOPPED if the write never ran.
 */
sl_status state_store_checkpoint_finish(state_store *st, state_ckpt *ck, uint64_t *id,
                                        sl_err *err);

/* True between checkpoint_begin and checkpoint_finish. */
bool state_store_checkpoint_in_flight(const state_store *st);

/* The last checkpoint: its id (0 = none yet) and offsets blob (borrowed,
 * valid until the next checkpoint or close; NULL and 0 if none). Any OUT:
 * may be NULL. */
void state_store_last_checkpoint(const state_store *st, uint64_t *id, const void **offsets,
                                 size_t *offsets_len);

/* True once the dirty data (plus the entries pinned by a checkpoint in
 * flight, which cannot leave either) is past 3/4 of the cache cap:
 * checkpoint at the next batch boundary, or wait for the one in flight to
 * finish first, before puts start failing with SL_ERR_LIMIT. */
bool state_store_want_checkpoint(const state_store *st);

/*
 * Calls fn for every live key of cf starting with prefix (plen may be 0),
 * in bytewise key order, with the value the store would return from get
 * (cache over RocksDB; deleted keys skipped). key and val are borrowed for
 * the call. fn returns true to go on, false to stop. The store must not be
 * used from inside fn (calls return SL_ERR_INVALID). Costs one pass over
 * the cache plus the RocksDB range; meant for "features get" and tools,
 * not the hot path. Returns SL_OK, SL_ERR_STATE, SL_ERR_NOMEM.
 */
typedef bool (*state_scan_fn)(void *ctx, const void *key, size_t klen, const void *val,
                              size_t vlen);
sl_status state_store_scan(state_store *st, state_cf cf, const void *prefix, size_t plen,
                           state_scan_fn fn, void *ctx, sl_err *err);

/*
 * One bounded step of the sweep that removes dead keys of cf (keys decayed
 * to nothing, pending views past their window). Visits up to max_keys
 * committed keys from where the previous step of this cf stopped, asking
 * fn (with the current value, cache over RocksDB) whether each is dead; dead
 * ones are deleted like state_store_delete() does, so the removal commits
 * with the next checkpoint. fn must not use the store. A key written since
 * the last checkpoint is visited after that checkpoint, on a later pass.
 * OUT (may be NULL): *deleted keys deleted, *wrapped true when this step
 * reached the end of cf (the next starts over). Returns SL_OK, SL_ERR_LIMIT
 * (cache full: checkpoint, then call again; the cursor is kept),
 * SL_ERR_STATE, SL_ERR_INVALID (read-only, or cf is STATE_CF_META).
 */
typedef bool (*state_dead_fn)(void *ctx, const void *key, size_t klen, const void *val,
                              size_t vlen);
sl_status state_store_sweep(state_store *st, state_cf cf, size_t max_keys, state_dead_fn fn,
                            void *ctx, size_t *deleted, bool *wrapped, sl_err *err);

typedef struct state_store_stats {
    size_t cache_cap;              /* hard cap, bytes */
    size_t cache_held;             /* slabs + table, bytes */
    size_t entries;                /* keys in the cache (live, clean or dirty, tombstones too) */
    size_t dirty;                  /* of which dirty */
    size_t dirty_bytes;            /* bytes of slab the dirty entries hold */
    size_t pinned_bytes;           /* bytes pinned by the checkpoint in flight (upper bound) */
    uint64_t hits;                 /* get answered by the cache */
    uint64_t misses;               /* get that read RocksDB */
    uint64_t prefetched;           /* keys state_store_prefetch read from RocksDB */
    uint64_t compactions;          /* slabs compacted to make room (clean entries dropped) */
    uint64_t checkpoints;          /* since open */
    uint64_t checkpoint_id;        /* last committed id */
    uint64_t last_checkpoint_keys; /* entries the last checkpoint wrote */
    uint64_t swept;                /* keys the sweep deleted since open */
    uint64_t pinned_copies;        /* writes to an entry pinned by the checkpoint in flight,
                                      which made a new entry (copy on write) */
} state_store_stats;

void state_store_stats_get(const state_store *st, state_store_stats *out);

const char *state_cf_str(state_cf cf);

#endif
