/*
 * sl_event.h — the event contract (one JSON object per message or line) and
 * its parser.
 *
 * Schema (see docs/EVENTS.md for the full table): every event has `type`,
 * `ts` (event time, integer ms since the Unix epoch, 2000-01-01 ≤ ts <
 * 2100-01-01) and `user`; the rest depends on the type. Unknown extra fields
 * are ignored; an unknown `type` is an error.
 *
 * Ownership: a parsed sl_event *borrows* its strings. A slice points either
 * into the caller's message bytes (unescaped strings) or into the batch arena
 * passed to the parser (decoded strings, ctx arrays, candidate arrays). Both
 * must outlive the event: in practice, the event lives as long as its batch.
 *
 * Two front ends produce the same sl_event: a hand-written scanner (fast path,
 * ~10x jansson) and jansson (the reference). The fast path hands anything it is
 * not sure of to jansson, and a differential fuzz test holds them to agreement
 * on every input. Both feed one shared validator, so every semantic rule lives
 * in one place. Thread-safe: the parser keeps no state outside its arguments.
 */
#ifndef SL_EVENT_H
#define SL_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_arena.h"

/* A borrowed string slice; not NUL-terminated in general. */
typedef struct sl_str {
    const char *p; /* first byte (NULL when absent) */
    uint32_t n;    /* length in bytes */
} sl_str;

#define SL_EVENT_TYPE_LIST(X)                                                                      \
    X(SL_EVENT_VIEW, "view")                 /* an item was shown */                               \
    X(SL_EVENT_CLICK, "click")               /* reaction to a view */                              \
    X(SL_EVENT_LIKE, "like")                 /* reaction to a view */                              \
    X(SL_EVENT_SHARE, "share")               /* reaction to a view */                              \
    X(SL_EVENT_DWELL, "dwell")               /* time spent on a view */                            \
    X(SL_EVENT_REGISTER, "register")         /* registered for an event */                         \
    X(SL_EVENT_CONVERSION, "conversion")     /* purchase after an ad click */                      \
    X(SL_EVENT_PROFILE, "profile")           /* user/item attribute upsert */                      \
    X(SL_EVENT_FRIEND, "friend")             /* social graph edge */                               \
    X(SL_EVENT_RANK_REQUEST, "rank_request") /* rank candidates now */

typedef enum sl_event_type {
#define SL_EVENT_TYPE_ENUM_(name, text) name,
    SL_EVENT_TYPE_LIST(SL_EVENT_TYPE_ENUM_)
#undef SL_EVENT_TYPE_ENUM_
        SL_EVENT_TYPE_COUNT
} sl_event_type;

#define SL_SURFACE_LIST(X)                                                                         \
    X(SL_SURFACE_ADS, "ads")       /* ad impressions: the click model */                           \
    X(SL_SURFACE_FEED, "feed")     /* news feed posts: the multi-task model */                     \
    X(SL_SURFACE_EVENTS, "events") /* event pages: the event ranker */

typedef enum sl_surface {
#define SL_SURFACE_ENUM_(name, text) name,
    SL_SURFACE_LIST(SL_SURFACE_ENUM_)
#undef SL_SURFACE_ENUM_
        SL_SURFACE_COUNT,
    SL_SURFACE_NONE = SL_SURFACE_COUNT /* the event has no surface */
} sl_surface;

typedef enum sl_entity {
    SL_ENTITY_NONE, /* not a profile event */
    SL_ENTITY_USER, /* profile of a user */
    SL_ENTITY_ITEM  /* profile of an item (ad, post, event) */
} sl_entity;

/* Why a message was refused. Stable names: they appear in dead letters. */
#define SL_REASON_LIST(X)                                                                          \
    X(SL_REASON_OK, "ok")                       /* not refused */                                  \
    X(SL_REASON_EMPTY, "empty")                 /* empty or blank message */                       \
    X(SL_REASON_TOO_LARGE, "too_large")         /* over limits.max_event_bytes */                  \
    X(SL_REASON_BAD_JSON, "bad_json")           /* syntax, truncation, NaN, ... */                 \
    X(SL_REASON_BAD_UTF8, "bad_utf8")           /* invalid UTF-8 */                                \
    X(SL_REASON_DUPLICATE_KEY, "duplicate_key") /* an object repeats a key */                      \
    X(SL_REASON_NOT_OBJECT, "not_object")       /* valid JSON, not an object */                    \
    X(SL_REASON_MISSING_FIELD, "missing_field") /* a required field is absent */                   \
    X(SL_REASON_BAD_TYPE, "bad_type")           /* a field has the wrong type */                   \
    X(SL_REASON_BAD_VALUE, "bad_value")         /* out of range / not allowed */                   \
    X(SL_REASON_UNKNOWN_TYPE, "unknown_type")   /* `type` is not in the schema */                  \
    X(SL_REASON_TOO_LONG, "too_long")           /* a string over its hard limit */                 \
    X(SL_REASON_TOO_MANY, "too_many")           /* too many ctx/attrs/candidates */

typedef enum sl_reason {
#define SL_REASON_ENUM_(name, text) name,
    SL_REASON_LIST(SL_REASON_ENUM_)
#undef SL_REASON_ENUM_
        SL_REASON_COUNT
} sl_reason;

/* Hard limits of the contract (bytes unless stated). */
#define SL_EVENT_MAX_ID         256  /* user, item, view_id, other, id, request_id */
#define SL_EVENT_MAX_KEY        64   /* a ctx / attrs key */
#define SL_EVENT_MAX_VALUE      1024 /* a ctx / attrs string value */
#define SL_EVENT_MAX_FIELDS     64   /* entries in ctx or attrs */
#define SL_EVENT_MAX_CANDIDATES 1000 /* rank_request candidates */
#define SL_EVENT_TS_MIN         INT64_C(946684800000)  /* 2000-01-01T00:00:00Z */
#define SL_EVENT_TS_MAX         INT64_C(4102444800000) /* 2100-01-01T00:00:00Z, exclusive */
#define SL_EVENT_MAX_DWELL_MS   86400000.0             /* one day */

typedef enum sl_kv_kind {
    SL_KV_STR,  /* s holds the value */
    SL_KV_NUM,  /* num holds the value (JSON integer or real, finite) */
    SL_KV_BOOL, /* num is 0 or 1 */
    SL_KV_NULL  /* JSON null: "unset" (profiles: remove the attribute) */
} sl_kv_kind;

/* One entry of `ctx` or `attrs`, in the order of first appearance. */
typedef struct sl_kv {
    sl_str key;      /* field name */
    sl_kv_kind kind; /* which of s / num is meaningful */
    sl_str s;        /* string value (SL_KV_STR) */
    double num;      /* number or bool value */
} sl_kv;

typedef struct sl_event {
    sl_event_type type;       /* the `type` field */
    int64_t ts;               /* event time, ms since epoch */
    sl_str user;              /* acting user (absent only on profile events) */
    sl_surface surface;       /* view, rank_request: required; else NONE */
    sl_str item;              /* view, register: required; reactions: optional */
    sl_str view_id;           /* view, reactions, dwell, conversion; register: optional */
    sl_str other;             /* friend: the other user */
    sl_entity entity;         /* profile: user or item */
    sl_str id;                /* profile: the entity's id */
    sl_str request_id;        /* rank_request */
    double dwell_ms;          /* dwell: milliseconds, 0 ≤ x ≤ one day */
    const sl_kv *kv;          /* view/rank_request: ctx; profile: attrs */
    uint32_t n_kv;            /* entries in kv */
    uint32_t n_candidates;    /* rank_request: entries in candidates */
    const sl_str *candidates; /* rank_request: candidate item ids */
} sl_event;

/* The outcome of parsing one message; detail names the field. */
typedef struct sl_event_error {
    sl_reason reason; /* SL_REASON_OK on success */
    char detail[160]; /* e.g. "ts: must be an integer (ms since epoch), got string" */
} sl_event_error;

typedef struct sl_event_parse_opts {
    uint32_t max_event_bytes; /* messages longer than this: SL_REASON_TOO_LARGE */
    bool reference_only;      /* skip the fast path (for tests and fuzzing) */
    bool fast_only;           /* tests: return SL_REASON_COUNT when the fast
                                 path would fall back */
} sl_event_parse_opts;

#define SL_EVENT_DEFAULT_MAX_BYTES 65536u

/*
 * Parses and validates one message of len bytes. On success returns true and
 * fills *ev (OUT:). On refusal returns false and fills *err (OUT:) with the
 * reason and a one-line detail that names the field. Allocation goes to
 * `arena`; running out of it is reported as SL_REASON_TOO_LARGE.
 */
bool sl_event_parse(const char *msg, size_t len, sl_arena *arena, const sl_event_parse_opts *opts,
                    sl_event *ev, sl_event_error *err);

const char *sl_event_type_str(sl_event_type t);
const char *sl_surface_str(sl_surface s);
const char *sl_reason_str(sl_reason r);
/* Parses a surface name; SL_SURFACE_NONE if unknown. */
sl_surface sl_surface_parse(const char *s, size_t n);

/* True if the slices hold the same bytes. */
static inline bool sl_str_eq(sl_str a, const char *b, size_t n) {
    return a.n == n && (n == 0 || __builtin_memcmp(a.p, b, n) == 0);
}

#endif
