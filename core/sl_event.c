/*
 * sl_event.c — the event contract: names, the entry point and the shared
 * validator. Every semantic rule of docs/EVENTS.md is here and only here.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sl_event_internal.h"

static const char *const sl_event_type_names[] = {
#define SL_NAME_(name, text) text,
    SL_EVENT_TYPE_LIST(SL_NAME_)};
static const char *const sl_surface_names[] = {SL_SURFACE_LIST(SL_NAME_)};
static const char *const sl_reason_names[] = {SL_REASON_LIST(SL_NAME_)};
static const char *const sl_key_names[] = {SL_KEY_LIST(SL_NAME_)};
#undef SL_NAME_

const char *sl_event_type_str(sl_event_type t) {
    return (unsigned)t < SL_EVENT_TYPE_COUNT ? sl_event_type_names[t] : "?";
}
const char *sl_surface_str(sl_surface s) {
    return (unsigned)s < SL_SURFACE_COUNT ? sl_surface_names[s] : "none";
}
const char *sl_reason_str(sl_reason r) {
    return (unsigned)r < SL_REASON_COUNT ? sl_reason_names[r] : "?";
}

const char *sl_event__raw_kind_str(sl_raw_kind k) {
    switch (k) {
    case SL_RAW_ABSENT: return "nothing";
    case SL_RAW_NULL: return "null";
    case SL_RAW_BOOL: return "boolean";
    case SL_RAW_INT: return "integer";
    case SL_RAW_REAL: return "real";
    case SL_RAW_STR: return "string";
    case SL_RAW_OBJECT: return "object";
    case SL_RAW_ARRAY: return "array";
    }
    return "?";
}

sl_surface sl_surface_parse(const char *s, size_t n) {
    for (int i = 0; i < SL_SURFACE_COUNT; i++)
        if (strlen(sl_surface_names[i]) == n && memcmp(sl_surface_names[i], s, n) == 0)
            return (sl_surface)i;
    return SL_SURFACE_NONE;
}

void sl_event__raw_init(sl_event_raw *raw) {
    memset(raw->f, 0, sizeof raw->f); /* SL_RAW_ABSENT == 0 */
    raw->ctx = (sl_raw_obj){.bad = -1};
    raw->attrs = (sl_raw_obj){.bad = -1};
    raw->cand = NULL;
    raw->n_cand = 0;
    raw->cand_bad = -1;
    raw->cand_bad_kind = SL_RAW_ABSENT;
}

sl_key sl_event__key_lookup(const char *s, size_t n) {
    /* Dispatch on length, then compare: a handful of byte compares per key. */
    switch (n) {
    case 2:
        if (s[0] == 't' && s[1] == 's')
            return SL_KEY_TS;
        if (s[0] == 'i' && s[1] == 'd')
            return SL_KEY_ID;
        break;
    case 3:
        if (!memcmp(s, "ctx", 3))
            return SL_KEY_CTX;
        break;
    case 4:
        if (!memcmp(s, "type", 4))
            return SL_KEY_TYPE;
        if (!memcmp(s, "user", 4))
            return SL_KEY_USER;
        if (!memcmp(s, "item", 4))
            return SL_KEY_ITEM;
        break;
    case 5:
        if (!memcmp(s, "attrs", 5))
            return SL_KEY_ATTRS;
        if (!memcmp(s, "other", 5))
            return SL_KEY_OTHER;
        break;
    case 6:
        if (!memcmp(s, "entity", 6))
            return SL_KEY_ENTITY;
        break;
    case 7:
        if (!memcmp(s, "surface", 7))
            return SL_KEY_SURFACE;
        if (!memcmp(s, "view_id", 7))
            return SL_KEY_VIEW_ID;
        break;
    case 8:
        if (!memcmp(s, "dwell_ms", 8))
            return SL_KEY_DWELL_MS;
        break;
    case 10:
        if (!memcmp(s, "candidates", 10))
            return SL_KEY_CANDIDATES;
        if (!memcmp(s, "request_id", 10))
            return SL_KEY_REQUEST_ID;
        break;
    default: break;
    }
    return SL_KEY_COUNT;
}

static bool fail(sl_event_error *err, sl_reason r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool fail(sl_event_error *err, sl_reason r, const char *fmt, ...) {
    err->reason = r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
    return false;
}

/* Quotes at most 40 bytes of a value for a message, replacing controls. */
static void quote(char *out, size_t cap, sl_str s) {
    size_t n = s.n < 40 ? s.n : 40;
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n && o + 2 < cap; i++) {
        unsigned char c = (unsigned char)s.p[i];
        out[o++] = (c < 0x20 || c == '"') ? '?' : (char)c;
    }
    if (s.n > n && o + 5 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* A required or optional string field with the id length limit. */
static bool want_str(const sl_event_raw *raw, sl_key k, bool required, sl_str *out,
                     sl_event_error *err) {
    const sl_raw *v = &raw->f[k];
    if (v->kind == SL_RAW_ABSENT || (!required && v->kind == SL_RAW_NULL)) {
        if (required)
            return fail(err, SL_REASON_MISSING_FIELD, "%s: required", sl_key_names[k]);
        *out = (sl_str){0};
        return true;
    }
    if (v->kind != SL_RAW_STR)
        return fail(err, SL_REASON_BAD_TYPE, "%s: must be a string, got %s", sl_key_names[k],
                    sl_event__raw_kind_str(v->kind));
    if (v->s.n == 0)
        return fail(err, SL_REASON_BAD_VALUE, "%s: must not be empty", sl_key_names[k]);
    if (v->s.n > SL_EVENT_MAX_ID)
        return fail(err, SL_REASON_TOO_LONG, "%s: %u bytes, the limit is %d", sl_key_names[k],
                    v->s.n, SL_EVENT_MAX_ID);
    *out = v->s;
    return true;
}

static bool want_surface(const sl_event_raw *raw, sl_event *ev, sl_event_error *err) {
    sl_str s;
    if (!want_str(raw, SL_KEY_SURFACE, true, &s, err))
        return false;
    ev->surface = sl_surface_parse(s.p, s.n);
    if (ev->surface == SL_SURFACE_NONE) {
        char q[64];
        quote(q, sizeof q, s);
        return fail(err, SL_REASON_BAD_VALUE, "surface: must be ads, feed or events, got %s", q);
    }
    return true;
}

static bool want_obj(const sl_event_raw *raw, sl_key k, const sl_raw_obj *o, bool required,
                     sl_event *ev, sl_event_error *err) {
    const char *name = sl_key_names[k];
    const sl_raw *v = &raw->f[k];
    if (v->kind == SL_RAW_ABSENT || (!required && v->kind == SL_RAW_NULL)) {
        if (required)
            return fail(err, SL_REASON_MISSING_FIELD, "%s: required", name);
        return true;
    }
    if (v->kind != SL_RAW_OBJECT)
        return fail(err, SL_REASON_BAD_TYPE, "%s: must be an object, got %s", name,
                    sl_event__raw_kind_str(v->kind));
    if (o->n > SL_EVENT_MAX_FIELDS)
        return fail(err, SL_REASON_TOO_MANY, "%s: %u fields, the limit is %d", name, o->n,
                    SL_EVENT_MAX_FIELDS);
    for (uint32_t i = 0; i < o->n; i++) {
        const sl_kv *kv = &o->kv[i];
        char q[64];
        if (o->bad == (int32_t)i) {
            quote(q, sizeof q, o->bad_key);
            return fail(err, SL_REASON_BAD_TYPE,
                        "%s.%s: must be a string, number, boolean or null, got %s", name, q,
                        sl_event__raw_kind_str(o->bad_kind));
        }
        if (kv->key.n == 0)
            return fail(err, SL_REASON_BAD_VALUE, "%s: a key must not be empty", name);
        if (kv->key.n > SL_EVENT_MAX_KEY) {
            quote(q, sizeof q, kv->key);
            return fail(err, SL_REASON_TOO_LONG, "%s.%s: key is %u bytes, the limit is %d", name, q,
                        kv->key.n, SL_EVENT_MAX_KEY);
        }
        if (kv->kind == SL_KV_STR && kv->s.n > SL_EVENT_MAX_VALUE) {
            quote(q, sizeof q, kv->key);
            return fail(err, SL_REASON_TOO_LONG, "%s.%s: value is %u bytes, the limit is %d", name,
                        q, kv->s.n, SL_EVENT_MAX_VALUE);
        }
    }
    ev->kv = o->kv;
    ev->n_kv = o->n;
    return true;
}

static bool want_candidates(const sl_event_raw *raw, sl_event *ev, sl_event_error *err) {
    const sl_raw *v = &raw->f[SL_KEY_CANDIDATES];
    if (v->kind == SL_RAW_ABSENT)
        return fail(err, SL_REASON_MISSING_FIELD, "candidates: required");
    if (v->kind != SL_RAW_ARRAY)
        return fail(err, SL_REASON_BAD_TYPE, "candidates: must be an array of strings, got %s",
                    sl_event__raw_kind_str(v->kind));
    if (raw->n_cand == 0)
        return fail(err, SL_REASON_BAD_VALUE, "candidates: must not be empty");
    if (raw->n_cand > SL_EVENT_MAX_CANDIDATES)
        return fail(err, SL_REASON_TOO_MANY, "candidates: %u items, the limit is %d", raw->n_cand,
                    SL_EVENT_MAX_CANDIDATES);
    for (uint32_t i = 0; i < raw->n_cand; i++) {
        if (raw->cand_bad == (int32_t)i)
            return fail(err, SL_REASON_BAD_TYPE, "candidates[%u]: must be a string, got %s", i,
                        sl_event__raw_kind_str(raw->cand_bad_kind));
        if (raw->cand[i].n == 0)
            return fail(err, SL_REASON_BAD_VALUE, "candidates[%u]: must not be empty", i);
        if (raw->cand[i].n > SL_EVENT_MAX_ID)
            return fail(err, SL_REASON_TOO_LONG, "candidates[%u]: %u bytes, the limit is %d", i,
                        raw->cand[i].n, SL_EVENT_MAX_ID);
    }
    ev->candidates = raw->cand;
    ev->n_candidates = raw->n_cand;
    return true;
}

static sl_event_type type_lookup(sl_str s) {
    for (int t = 0; t < SL_EVENT_TYPE_COUNT; t++) {
        const char *name = sl_event_type_names[t];
        if (s.n && name[0] == s.p[0] && strlen(name) == s.n && !memcmp(name, s.p, s.n))
            return (sl_event_type)t;
    }
    return SL_EVENT_TYPE_COUNT;
}

bool sl_event__validate(const sl_event_raw *raw, sl_arena *arena, sl_event *ev,
                        sl_event_error *err) {
    (void)arena;
    memset(ev, 0, sizeof *ev);
    ev->surface = SL_SURFACE_NONE;

    const sl_raw *t = &raw->f[SL_KEY_TYPE];
    if (t->kind == SL_RAW_ABSENT)
        return fail(err, SL_REASON_MISSING_FIELD, "type: required");
    if (t->kind != SL_RAW_STR)
        return fail(err, SL_REASON_BAD_TYPE, "type: must be a string, got %s",
                    sl_event__raw_kind_str(t->kind));
    ev->type = type_lookup(t->s);
    if (ev->type == SL_EVENT_TYPE_COUNT) {
        char q[64];
        quote(q, sizeof q, t->s);
        return fail(err, SL_REASON_UNKNOWN_TYPE, "type: unknown event type %s", q);
    }

    const sl_raw *ts = &raw->f[SL_KEY_TS];
    if (ts->kind == SL_RAW_ABSENT)
        return fail(err, SL_REASON_MISSING_FIELD, "ts: required");
    if (ts->kind != SL_RAW_INT)
        return fail(err, SL_REASON_BAD_TYPE, "ts: must be an integer (ms since epoch), got %s",
                    sl_event__raw_kind_str(ts->kind));
    if (ts->i < SL_EVENT_TS_MIN || ts->i >= SL_EVENT_TS_MAX)
        return fail(err, SL_REASON_BAD_VALUE,
                    "ts: %lld is outside 2000-01-01..2100-01-01 (ms since epoch)",
                    (long long)ts->i);
    ev->ts = ts->i;

    /* A profile names its subject with entity+id; every other event has a user. */
    if (!want_str(raw, SL_KEY_USER, ev->type != SL_EVENT_PROFILE, &ev->user, err))
        return false;

    switch (ev->type) {
    case SL_EVENT_VIEW:
        return want_surface(raw, ev, err) && want_str(raw, SL_KEY_ITEM, true, &ev->item, err) &&
               want_str(raw, SL_KEY_VIEW_ID, true, &ev->view_id, err) &&
               want_obj(raw, SL_KEY_CTX, &raw->ctx, false, ev, err);
    case SL_EVENT_CLICK:
    case SL_EVENT_LIKE:
    case SL_EVENT_SHARE:
    case SL_EVENT_CONVERSION:
        return want_str(raw, SL_KEY_VIEW_ID, true, &ev->view_id, err) &&
               want_str(raw, SL_KEY_ITEM, false, &ev->item, err);
    case SL_EVENT_DWELL: {
        if (!want_str(raw, SL_KEY_VIEW_ID, true, &ev->view_id, err) ||
            !want_str(raw, SL_KEY_ITEM, false, &ev->item, err))
            return false;
        const sl_raw *d = &raw->f[SL_KEY_DWELL_MS];
        if (d->kind == SL_RAW_ABSENT)
            return fail(err, SL_REASON_MISSING_FIELD, "dwell_ms: required");
        if (d->kind != SL_RAW_INT && d->kind != SL_RAW_REAL)
            return fail(err, SL_REASON_BAD_TYPE, "dwell_ms: must be a number, got %s",
                        sl_event__raw_kind_str(d->kind));
        double x = d->kind == SL_RAW_INT ? (double)d->i : d->d;
        if (!(x >= 0.0 && x <= SL_EVENT_MAX_DWELL_MS))
            return fail(err, SL_REASON_BAD_VALUE, "dwell_ms: %g is outside 0..86400000", x);
        ev->dwell_ms = x;
        return true;
    }
    case SL_EVENT_REGISTER:
        return want_str(raw, SL_KEY_ITEM, true, &ev->item, err) &&
               want_str(raw, SL_KEY_VIEW_ID, false, &ev->view_id, err);
    case SL_EVENT_PROFILE: {
        sl_str e;
        if (!want_str(raw, SL_KEY_ENTITY, true, &e, err))
            return false;
        if (sl_str_eq(e, "user", 4))
            ev->entity = SL_ENTITY_USER;
        else if (sl_str_eq(e, "item", 4))
            ev->entity = SL_ENTITY_ITEM;
        else {
            char q[64];
            quote(q, sizeof q, e);
            return fail(err, SL_REASON_BAD_VALUE, "entity: must be user or item, got %s", q);
        }
        return want_str(raw, SL_KEY_ID, true, &ev->id, err) &&
               want_obj(raw, SL_KEY_ATTRS, &raw->attrs, true, ev, err);
    }
    case SL_EVENT_FRIEND:
        if (!want_str(raw, SL_KEY_OTHER, true, &ev->other, err))
            return false;
        if (ev->other.n == ev->user.n && !memcmp(ev->other.p, ev->user.p, ev->user.n))
            return fail(err, SL_REASON_BAD_VALUE, "other: a user cannot befriend themself");
        return true;
    case SL_EVENT_RANK_REQUEST:
        return want_surface(raw, ev, err) &&
               want_str(raw, SL_KEY_REQUEST_ID, true, &ev->request_id, err) &&
               want_candidates(raw, ev, err) &&
               want_obj(raw, SL_KEY_CTX, &raw->ctx, false, ev, err);
    case SL_EVENT_TYPE_COUNT: break;
    }
    return fail(err, SL_REASON_UNKNOWN_TYPE, "type: unknown");
}

static bool blank(const char *msg, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (msg[i] != ' ' && msg[i] != '\t' && msg[i] != '\r' && msg[i] != '\n')
            return false;
    return true;
}

bool sl_event_parse(const char *msg, size_t len, sl_arena *arena, const sl_event_parse_opts *opts,
                    sl_event *ev, sl_event_error *err) {
    uint32_t max =
        opts && opts->max_event_bytes ? opts->max_event_bytes : SL_EVENT_DEFAULT_MAX_BYTES;
    err->reason = SL_REASON_OK;
    err->detail[0] = '\0';
    if (len > max)
        return fail(err, SL_REASON_TOO_LARGE, "message is %zu bytes, the limit is %u", len, max);
    if (blank(msg, len))
        return fail(err, SL_REASON_EMPTY, "empty message");
    sl_event_raw raw;
    sl_event__raw_init(&raw);
    int fast = opts && opts->reference_only ? 0 : sl_event__fast_scan(msg, len, arena, &raw);
    if (fast < 0)
        return fail(err, SL_REASON_TOO_LARGE, "message needs more memory than the batch allows");
    if (!fast) {
        if (opts && opts->fast_only) {
            err->reason = SL_REASON_COUNT;
            return false;
        }
        sl_event__raw_init(&raw);
        if (!sl_event__json_scan(msg, len, arena, &raw, err))
            return false;
    }
    return sl_event__validate(&raw, arena, ev, err);
}
