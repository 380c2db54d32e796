/*
 * sl_event_internal.h — what the two event front ends (fast scanner, jansson
 * reference) hand to the shared validator.
 *
 * A front end only answers "is this valid JSON, and what sits under each key
 * the schema knows?". It fills an sl_event_raw; sl_event__validate() then
 * applies every rule of the contract. Keeping the rules in one place is what
 * makes the two front ends agree on everything but JSON syntax, and JSON
 * syntax disagreements are impossible by construction: the fast path accepts
 * only what it fully understands and hands everything else to jansson.
 */
#ifndef SL_EVENT_INTERNAL_H
#define SL_EVENT_INTERNAL_H

#include "sl_event.h"

typedef enum sl_raw_kind {
    SL_RAW_ABSENT, /* key not present */
    SL_RAW_NULL,   /* JSON null */
    SL_RAW_BOOL,   /* b */
    SL_RAW_INT,    /* i: a JSON number without fraction or exponent */
    SL_RAW_REAL,   /* d: any other JSON number */
    SL_RAW_STR,    /* s: decoded UTF-8 */
    SL_RAW_OBJECT, /* an object (contents in kv[] for ctx/attrs) */
    SL_RAW_ARRAY   /* an array (contents in cand[] for candidates) */
} sl_raw_kind;

typedef struct sl_raw {
    sl_raw_kind kind; /* what the JSON value was */
    bool b;           /* SL_RAW_BOOL */
    int64_t i;        /* SL_RAW_INT */
    double d;         /* SL_RAW_REAL */
    sl_str s;         /* SL_RAW_STR */
} sl_raw;

/* The top-level keys the schema knows, in validation order. */
#define SL_KEY_LIST(X)                                                                             \
    X(SL_KEY_TYPE, "type")                                                                         \
    X(SL_KEY_TS, "ts")                                                                             \
    X(SL_KEY_USER, "user")                                                                         \
    X(SL_KEY_SURFACE, "surface")                                                                   \
    X(SL_KEY_ITEM, "item")                                                                         \
    X(SL_KEY_VIEW_ID, "view_id")                                                                   \
    X(SL_KEY_CTX, "ctx")                                                                           \
    X(SL_KEY_DWELL_MS, "dwell_ms")                                                                 \
    X(SL_KEY_ENTITY, "entity")                                                                     \
    X(SL_KEY_ID, "id")                                                                             \
    X(SL_KEY_ATTRS, "attrs")                                                                       \
    X(SL_KEY_OTHER, "other")                                                                       \
    X(SL_KEY_CANDIDATES, "candidates")                                                             \
    X(SL_KEY_REQUEST_ID, "request_id")

typedef enum sl_key {
#define SL_KEY_ENUM_(name, text) name,
    SL_KEY_LIST(SL_KEY_ENUM_)
#undef SL_KEY_ENUM_
        SL_KEY_COUNT
} sl_key;

/* The entries of one object-valued field (ctx or attrs). */
typedef struct sl_raw_obj {
    sl_kv *kv;            /* first SL_EVENT_MAX_FIELDS entries, arena-owned */
    uint32_t n;           /* entries seen (may exceed SL_EVENT_MAX_FIELDS) */
    int32_t bad;          /* index of the first object/array value, or -1 */
    sl_str bad_key;       /* its key */
    sl_raw_kind bad_kind; /* its kind */
} sl_raw_obj;

typedef struct sl_event_raw {
    sl_raw f[SL_KEY_COUNT];    /* top-level known keys */
    sl_raw_obj ctx;            /* ctx entries when f[SL_KEY_CTX] is an object */
    sl_raw_obj attrs;          /* attrs entries when f[SL_KEY_ATTRS] is an object */
    sl_str *cand;              /* first SL_EVENT_MAX_CANDIDATES strings */
    uint32_t n_cand;           /* elements seen (may exceed the max) */
    int32_t cand_bad;          /* index of the first non-string element, or -1 */
    sl_raw_kind cand_bad_kind; /* its kind */
} sl_event_raw;

/* Resets raw to "nothing seen". */
void sl_event__raw_init(sl_event_raw *raw);
/* Maps a top-level key to its slot; SL_KEY_COUNT when unknown. */
sl_key sl_event__key_lookup(const char *s, size_t n);
/* Applies every rule of the contract. Returns true and fills ev, or false and
 * fills err. */
bool sl_event__validate(const sl_event_raw *raw, sl_arena *arena, sl_event *ev,
                        sl_event_error *err);

/* Fast front end: 1 = filled raw, 0 = not sure (use the reference). */
int sl_event__fast_scan(const char *msg, size_t len, sl_arena *arena, sl_event_raw *raw);
/* Reference front end (jansson): true = filled raw; false = err filled. */
bool sl_event__json_scan(const char *msg, size_t len, sl_arena *arena, sl_event_raw *raw,
                         sl_event_error *err);

const char *sl_event__raw_kind_str(sl_raw_kind k);

#endif
