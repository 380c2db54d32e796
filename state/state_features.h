/*
 * state_features.h — the feature state: decayed counters per entity,
 * profiles, and the social graph, on top of state_store and state_decay.
 *
 * Decayed counters (CF features). A record holds every counter of one
 * entity key, each a state_decay at the configured half-lives, encoded back
 * to back (STATE_FEAT_COUNTER_COUNT * STATE_DECAY_BYTES(n) bytes), and is
 * changed in place with state_store_update: no copies, no allocation. Keys
 * are a family tag, then length-prefixed ids, so every key of one user (or
 * of one user's pairs) shares a scannable prefix:
 *
 *     <tag:1> <len:2 BE> <id> [<len:2 BE> <id2>]
 *     'u' user   'i' item   'x' user,item   'c' user,category   'a' advertiser
 *
 * Profiles (CF profiles), key <'u'|'i'> <id>: attributes of a user or an
 * item, at most SL_EVENT_MAX_FIELDS, encoded as entries of
 *     <klen:1> <key> <kind:1> (num: <f64 LE> | str: <len:2 LE> <bytes>)
 * and at most STATE_STORE_MAX_VALUE bytes (an upsert past it is refused).
 * A state_profile embeds its 64 KiB buffer: allocate it once, not per event.
 *
 * Graph (CF graph): 'F' <user> -> the user's friend list (<len:1> <id> ...,
 * at most STATE_FEAT_MAX_FRIENDS friends and STATE_STORE_MAX_VALUE bytes;
 * more edges are dropped and counted), stored for both ends of an edge;
 * 'A' <len:2 BE> <item> <user> -> attendee marker; 'N' <item> -> the
 * attendee count (u64 LE). "Friends of U registered for I" reads U's list
 * and probes the markers: bounded by STATE_FEAT_MAX_FRIENDS lookups.
 *
 * Everything is in event time given by the caller; nothing reads a clock.
 * Ownership: state_features_create() borrows the store (it must outlive the
 * object) and owns its scratch buffers. Not thread-safe: one per store.
 */
#ifndef STATE_FEATURES_H
#define STATE_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_event.h"
#include "sl_status.h"
#include "state_decay.h"
#include "state_store.h"

#define STATE_FEAT_MAX_FRIENDS 1000 /* friends kept per user, and probed per read */

#define STATE_FEAT_FAMILY_LIST(X)                                                                  \
    X(STATE_FEAT_USER, "user", 'u')              /* one user */                                    \
    X(STATE_FEAT_ITEM, "item", 'i')              /* one item */                                    \
    X(STATE_FEAT_USER_ITEM, "user_item", 'x')    /* fatigue: a pair */                             \
    X(STATE_FEAT_USER_CAT, "user_category", 'c') /* user x category */                             \
    X(STATE_FEAT_ADV, "advertiser", 'a')         /* an item's advertiser */

typedef enum state_feat_family {
#define STATE_FEAT_FAMILY_ENUM_(name, text, tag) name,
    STATE_FEAT_FAMILY_LIST(STATE_FEAT_FAMILY_ENUM_)
#undef STATE_FEAT_FAMILY_ENUM_
        STATE_FEAT_FAMILY_COUNT
} state_feat_family;

#define STATE_FEAT_COUNTER_LIST(X)                                                                 \
    X(STATE_FEAT_VIEWS, "views")             /* views shown */                                     \
    X(STATE_FEAT_CLICKS, "clicks")           /* clicks */                                          \
    X(STATE_FEAT_LIKES, "likes")             /* likes */                                           \
    X(STATE_FEAT_SHARES, "shares")           /* shares */                                          \
    X(STATE_FEAT_REGISTERS, "registers")     /* event registrations */                             \
    X(STATE_FEAT_CONVERSIONS, "conversions") /* conversions after a click */                       \
    X(STATE_FEAT_DWELL_MS, "dwell_ms")       /* sum of dwell time, ms */                           \
    X(STATE_FEAT_PRICE_PAID, "price_paid")   /* sum of prices at registration */

typedef enum state_feat_counter {
#define STATE_FEAT_COUNTER_ENUM_(name, text) name,
    STATE_FEAT_COUNTER_LIST(STATE_FEAT_COUNTER_ENUM_)
#undef STATE_FEAT_COUNTER_ENUM_
        STATE_FEAT_COUNTER_COUNT
} state_feat_counter;

/* Every counter of one entity key, decoded. */
typedef struct state_feat_record {
    bool found;                              /* the key exists */
    state_decay c[STATE_FEAT_COUNTER_COUNT]; /* per counter */
} state_feat_record;

/* A decoded profile; strings point into buf and live as long as it. */
typedef struct state_profile {
    bool found;                               /* the profile exists */
    uint32_t n;                               /* attributes in kv */
    sl_kv kv[SL_EVENT_MAX_FIELDS];            /* (n) attributes, kinds STR or NUM */
    unsigned char buf[STATE_STORE_MAX_VALUE]; /* the encoded value read */
} state_profile;

typedef struct state_features_stats {
    uint64_t keys_too_long;   /* counter updates skipped: key over STATE_STORE_MAX_KEY */
    uint64_t friends_dropped; /* edges over a user's friend-list bound */
    uint64_t dup_registers;   /* registrations already in the attendee set */
} state_features_stats;

typedef struct state_features state_features;

/* Creates the feature state over st (borrowed) with spec's half-lives.
 * *out (OUT:) is owned by the caller. SL_ERR_NOMEM. */
sl_status state_features_create(state_store *st, const state_decay_spec *spec, state_features **out,
                                sl_err *err);
/* Accepts NULL. */
void state_features_destroy(state_features *sf);

const state_decay_spec *state_features_spec(const state_features *sf);
const char *state_feat_family_str(state_feat_family f);
const char *state_feat_counter_str(state_feat_counter c);

/*
 * Adds x at event time t to counter c of the key (fam, a[, b]) (b is used
 * by the pair families only). Returns SL_OK (also when the key was too long
 * and the update was skipped and counted), SL_ERR_INVALID (x not finite),
 * and the store's errors (SL_ERR_LIMIT: the cache is full, nothing changed).
 */
sl_status state_features_add(state_features *sf, state_feat_family fam, sl_str a, sl_str b,
                             state_feat_counter c, int64_t t, double x, sl_err *err);

/* Reads every counter of (fam, a[, b]) into *rec (OUT:); rec->found false
 * (and zero counters) if absent. SL_OK or the store's errors. */
sl_status state_features_read(state_features *sf, state_feat_family fam, sl_str a, sl_str b,
                              state_feat_record *rec, sl_err *err);

/* The newest event time of any counter of rec, STATE_DECAY_EMPTY if none. */
int64_t state_feat_record_t_last(const state_feat_record *rec);

/*
 * Dead records, and why removing them changes nothing: readers treat a
 * counter below STATE_FEAT_EPS as 0 and a record whose newest event is older
 * than state_features_horizon_ms() as never seen. A record is dead at t when
 * both hold for every read at or after t, so it reads exactly like an absent
 * key and the sweep may delete it at any moment without changing a feature
 * (which keeps outputs independent of when sweeps and checkpoints happen).
 */
#define STATE_FEAT_EPS 1e-4
/* 16 times the longest half-life: past it a counter of 1 is below 2^-16. */
int64_t state_features_horizon_ms(const state_features *sf);
/* True if the features-CF value val (vlen bytes) is dead at event time t. */
bool state_features_dead(const state_features *sf, const void *val, size_t vlen, int64_t t);

/*
 * Upserts attrs into the profile of (entity, id): SL_KV_NULL removes the
 * attribute, bools are stored as numbers. SL_ERR_INVALID (nothing changed)
 * if the result would exceed SL_EVENT_MAX_FIELDS entries or
 * STATE_STORE_MAX_VALUE bytes (refuse the event), or for SL_ENTITY_NONE;
 * SL_ERR_LIMIT only from the store (cache full: checkpoint, retry).
 */
sl_status state_features_profile_upsert(state_features *sf, sl_entity entity, sl_str id,
                                        const sl_kv *attrs, uint32_t n, sl_err *err);
/* The store key of entity's profile (in STATE_CF_PROFILES) into key (at
 * least STATE_STORE_MAX_KEY bytes); false if id is too long or entity is
 * SL_ENTITY_NONE. */
bool state_features_profile_key(sl_entity entity, sl_str id, unsigned char *key, size_t *klen);
/* Reads a profile into *p (OUT:; p->found false if absent). */
sl_status state_features_profile_get(state_features *sf, sl_entity entity, sl_str id,
                                     state_profile *p, sl_err *err);
/* An attribute of a read profile: NULL if absent. */
const sl_kv *state_profile_attr(const state_profile *p, const char *key);
/* The attribute as a number (*v OUT:); false if absent or not a number. */
bool state_profile_num(const state_profile *p, const char *key, double *v);
/* The attribute as a string (*s OUT:, borrowed from p); false if absent or
 * not a string. */
bool state_profile_str(const state_profile *p, const char *key, sl_str *s);

/* Adds the friend edge a <-> b (both lists; idempotent). */
sl_status state_features_friend_add(state_features *sf, sl_str a, sl_str b, sl_err *err);
/* Number of friends of user (*n OUT:), at most STATE_FEAT_MAX_FRIENDS. */
sl_status state_features_friend_count(state_features *sf, sl_str user, uint32_t *n, sl_err *err);

/* Adds user to item's attendee set. *added (OUT:, may be NULL) is false
 * when the user was already in it (a repeated registration). */
sl_status state_features_attend(state_features *sf, sl_str item, sl_str user, bool *added,
                                sl_err *err);
/* Attendees of item (*n OUT:). */
sl_status state_features_attendee_count(state_features *sf, sl_str item, uint64_t *n, sl_err *err);
/* How many of user's friends (the first STATE_FEAT_MAX_FRIENDS) are in
 * item's attendee set (*n OUT:). */
sl_status state_features_friends_registered(state_features *sf, sl_str user, sl_str item,
                                            uint32_t *n, sl_err *err);

/*
 * Builds the features-CF key of (fam, a[, b]) into key (cap bytes) and sets
 * *klen (OUT:). With prefix_only, only the part shared by every key of `a`
 * in the family (for scans). false if it does not fit.
 */
bool state_features_key(state_feat_family fam, sl_str a, sl_str b, bool prefix_only,
                        unsigned char *key, size_t cap, size_t *klen);

/* Calls fn for every pair key of fam (USER_ITEM or USER_CAT) whose first id
 * is a, with the second id and the decoded record, in key order, up to max
 * keys. Scans the store: for tools, not the hot path. */
typedef bool (*state_feat_pair_fn)(void *ctx, sl_str second, const state_feat_record *rec);
sl_status state_features_scan_pairs(state_features *sf, state_feat_family fam, sl_str a, size_t max,
                                    state_feat_pair_fn fn, void *ctx, sl_err *err);

void state_features_stats_get(const state_features *sf, state_features_stats *out);

#endif
