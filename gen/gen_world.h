/*
 * gen_world.h — a simulated world of users, ads, feed posts and events that
 * emits the event stream of docs/EVENTS.md as JSON Lines, with known true
 * probabilities behind every view (docs/GENERATOR.md has the model).
 *
 * A gen_world is an endless, deterministic stream: the lines it writes are a
 * pure function of the gen_opts (seed included) and of how many lines were
 * asked for — never of the wall clock, the batch sizes used to pull them or
 * anything else. It starts with a burst of `profile` and `friend` events at
 * opts.start_ts, then simulates views, rank requests and profile updates
 * arriving at random, with delayed reactions (clicks, likes, shares, dwell,
 * conversions, registrations) and the imperfections real pipelines see: late
 * and duplicated events, lost views (reactions to an unknown view_id) and, at
 * opts.bad_rate, malformed lines of every kind the event parser refuses.
 *
 * Output goes to caller-owned sl_bufs, appended, one '\n'-terminated line per
 * call of gen_world_next(); gen_world_fill() appends many. The hot path
 * allocates nothing (the world's tables grow rarely and geometrically).
 *
 * Ownership: gen_world_create() returns a world owned by the caller, freed by
 * gen_world_destroy(). Buffers are borrowed for the call. Not thread-safe:
 * one world belongs to one thread; independent worlds may run in parallel.
 */
#ifndef GEN_WORLD_H
#define GEN_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_arena.h"
#include "sl_event.h"
#include "sl_status.h"

/* The longest line (newline included) gen_world_next() may append: the
 * "huge string" bad line is ~100 KiB. The `out` buffer must be able to grow
 * this much past its current length. */
#define GEN_LINE_MAX (128u * 1024u)
/* The longest truth line (a rank request with 30 candidates is ~2 KiB). */
#define GEN_TRUTH_MAX 8192u

#define GEN_DEFAULT_START_TS INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */

/* The kinds of malformed line, and the reason sl_event_parse() must give for
 * each (with the default 64 KiB message limit). */
#define GEN_BAD_LIST(X)                                                                            \
    X(GEN_BAD_NONE, "none", SL_REASON_OK)                           /* a good line */              \
    X(GEN_BAD_TRUNCATED, "truncated", SL_REASON_BAD_JSON)           /* cut mid-object */           \
    X(GEN_BAD_WRONG_TYPE, "wrong_type", SL_REASON_BAD_TYPE)         /* "ts":"x", "user":42 */      \
    X(GEN_BAD_MISSING, "missing_field", SL_REASON_MISSING_FIELD)    /* no ts/user/... */           \
    X(GEN_BAD_UNKNOWN_TYPE, "unknown_type", SL_REASON_UNKNOWN_TYPE) /* "purchase" */               \
    X(GEN_BAD_RANGE, "out_of_range", SL_REASON_BAD_VALUE)           /* ts in seconds */            \
    X(GEN_BAD_NAN, "nan", SL_REASON_BAD_JSON)                       /* a NaN token */              \
    X(GEN_BAD_INFINITY, "infinity", SL_REASON_BAD_JSON)             /* an Infinity token */        \
    X(GEN_BAD_HUGE, "huge", SL_REASON_TOO_LARGE)                    /* a 100 KB string */          \
    X(GEN_BAD_UTF8, "bad_utf8", SL_REASON_BAD_UTF8)                 /* invalid UTF-8 */            \
    X(GEN_BAD_EMPTY, "empty", SL_REASON_EMPTY)                      /* an empty line */            \
    X(GEN_BAD_ARRAY, "array", SL_REASON_NOT_OBJECT)                 /* [ {...} ] */                \
    X(GEN_BAD_DUP_KEY, "duplicate_key", SL_REASON_DUPLICATE_KEY)    /* "user" twice */

typedef enum gen_bad {
#define GEN_BAD_ENUM_(name, text, reason) name,
    GEN_BAD_LIST(GEN_BAD_ENUM_)
#undef GEN_BAD_ENUM_
        GEN_BAD_COUNT
} gen_bad;

/* Stable name of a bad-line kind ("truncated", ...). */
const char *gen_bad_str(gen_bad b);
/* The reason sl_event_parse() gives for a line of that kind. */
sl_reason gen_bad_reason(gen_bad b);

/* Options. Call gen_opts_init() first: the zero struct is not the default. */
typedef struct gen_opts {
    uint64_t seed;     /* everything random derives from it (default 1) */
    uint64_t events;   /* lines the caller means to pull; sizes the world
                          when users == 0 (default 1000000) */
    uint32_t users;    /* 0 (default): max(1000, events / 100); else >= 16 */
    unsigned surfaces; /* bit (1u << SL_SURFACE_*) per surface; default all */
    int64_t start_ts;  /* simulated clock start, ms (default 2026-01-01) */
    double rate;       /* primary actions (views, rank requests, profile
                          updates) per simulated second; 0 (default):
                          users / 100, so the average user acts every 100 s */
    double bad_rate;   /* share of lines that are malformed (default 0) */
    double late_rate;  /* share of good lines held back 2 s..5 min (0.01) */
    double dup_rate;   /* share of views/reactions written twice (0.005) */
    double lost_rate;  /* share of reacted-to views whose view line is lost,
                          so reactions name an unknown view_id (0.002) */
} gen_opts;

/* Fills o with the defaults documented above. */
void gen_opts_init(gen_opts *o);

/*
 * Parses a comma-separated surface list ("ads,feed,events", any order, no
 * repeats) into *mask (OUT:). SL_ERR_INVALID with a message naming the bad
 * word on failure.
 */
sl_status gen_surfaces_parse(const char *list, unsigned *mask, sl_err *err);

typedef struct gen_world gen_world;

/*
 * Builds a world: users, items, the friend graph, popularity tables.
 * *out (OUT:) is owned by the caller. Returns SL_ERR_INVALID (message names
 * the option) for options out of range, SL_ERR_NOMEM if the world does not
 * fit in memory.
 */
sl_status gen_world_create(const gen_opts *opts, gen_world **out, sl_err *err);

/* Frees the world. Accepts NULL. */
void gen_world_destroy(gen_world *w);

/* What gen_world_next() wrote. */
typedef struct gen_line {
    size_t off;         /* the line starts at out->p + off */
    size_t len;         /* its length, without the '\n' */
    sl_event_type type; /* the event type (bad lines: SL_EVENT_TYPE_COUNT) */
    sl_surface surface; /* view, reaction, rank_request: its surface; else NONE */
    int64_t ts;         /* the event time written in the line (bad lines: 0) */
    gen_bad bad;        /* GEN_BAD_NONE for a good line */
    bool dup;           /* an exact copy of an earlier line */
    bool late;          /* held back: written after events later than itself */
    bool truth;         /* a truth line was appended to the truth buffer */
} gen_line;

/*
 * Appends the next line of the stream, '\n'-terminated, to out. If truth is
 * not NULL and the line is the first copy of a view or a rank request, its
 * truth line (docs/GENERATOR.md) is appended to truth. line (OUT:, may be
 * NULL) describes what was written.
 *
 * Returns SL_ERR_LIMIT, before changing anything, when out cannot grow by
 * GEN_LINE_MAX or truth by GEN_TRUTH_MAX within its limit; SL_ERR_NOMEM if a
 * world table could not grow (the world is then unusable).
 */
sl_status gen_world_next(gen_world *w, sl_buf *out, sl_buf *truth, gen_line *line, sl_err *err);

/*
 * Appends lines until max_lines have been written or out->len reaches
 * max_bytes (at least one line is written when max_lines > 0). *written
 * (OUT:) counts the lines. Same errors as gen_world_next(); lines appended
 * before an error stay in out and are counted.
 */
sl_status gen_world_fill(gen_world *w, sl_buf *out, sl_buf *truth, uint64_t max_lines,
                         size_t max_bytes, uint64_t *written, sl_err *err);

/* Counters since creation. */
typedef struct gen_stats {
    uint64_t lines;                              /* lines written, good and bad */
    uint64_t by_type[SL_EVENT_TYPE_COUNT];       /* good lines per type (dups included) */
    uint64_t views_by_surface[SL_SURFACE_COUNT]; /* view lines per surface */
    uint64_t bad;                                /* malformed lines */
    uint64_t bad_by_kind[GEN_BAD_COUNT];         /* malformed lines per kind */
    uint64_t dup;                                /* duplicate lines */
    uint64_t late;                               /* lines held back */
    uint64_t lost_views;                         /* view lines never written */
    uint64_t truth_lines;                        /* truth lines written */
    int64_t max_ts;                              /* latest event time written */
    uint64_t pending;                            /* events scheduled, not yet written */
    uint32_t users;                              /* users in the world */
    uint32_t items[SL_SURFACE_COUNT];            /* ads, posts, event slots */
    uint64_t friend_edges;                       /* undirected friend edges */
} gen_stats;

/* Copies the counters into *st (OUT:). */
void gen_world_stats(const gen_world *w, gen_stats *st);

#endif
