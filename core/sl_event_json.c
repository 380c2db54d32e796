/*
 * sl_event_json.c — the reference event front end, on jansson.
 *
 * jansson decides what is valid JSON (strict RFC 8259 plus: duplicate keys
 * refused, NUL refused, integers must fit in int64, reals must not overflow).
 * This file only copies what sits under the schema's keys into an
 * sl_event_raw; sl_event__validate() judges it. It is the slow path (~4x
 * slower than the scanner) and the arbiter for anything the scanner refuses
 * to decide.
 */
#include <jansson.h>
#include <string.h>

#include "sl_event_internal.h"

static sl_raw_kind kind_of(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: return SL_RAW_OBJECT;
    case JSON_ARRAY: return SL_RAW_ARRAY;
    case JSON_STRING: return SL_RAW_STR;
    case JSON_INTEGER: return SL_RAW_INT;
    case JSON_REAL: return SL_RAW_REAL;
    case JSON_TRUE:
    case JSON_FALSE: return SL_RAW_BOOL;
    case JSON_NULL: return SL_RAW_NULL;
    }
    return SL_RAW_NULL;
}

/* Copies a jansson string into the arena; false when the arena is full. */
static bool copy_str(const json_t *j, sl_arena *arena, sl_str *out) {
    size_t n = json_string_length(j);
    char *p = sl_arena_memdup(arena, json_string_value(j), n);
    if (!p)
        return false;
    *out = (sl_str){p, (uint32_t)n};
    return true;
}

static bool fill_obj(const json_t *obj, sl_arena *arena, sl_raw_obj *o) {
    size_t total = json_object_size(obj);
    size_t keep = total < SL_EVENT_MAX_FIELDS ? total : SL_EVENT_MAX_FIELDS;
    o->kv = keep ? sl_arena_alloc(arena, keep * sizeof *o->kv) : NULL;
    if (keep && !o->kv)
        return false;
    o->n = 0;
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)obj, key, klen, v) {
        uint32_t i = o->n++;
        sl_raw_kind k = kind_of(v);
        if ((k == SL_RAW_OBJECT || k == SL_RAW_ARRAY) && o->bad < 0) {
            o->bad = (int32_t)i;
            o->bad_kind = k;
            char *kp = sl_arena_memdup(arena, key, klen);
            if (!kp)
                return false;
            o->bad_key = (sl_str){kp, (uint32_t)klen};
        }
        if (i >= keep)
            continue;
        sl_kv *kv = &o->kv[i];
        memset(kv, 0, sizeof *kv);
        char *kp = sl_arena_memdup(arena, key, klen);
        if (!kp)
            return false;
        kv->key = (sl_str){kp, (uint32_t)klen};
        switch (k) {
        case SL_RAW_STR:
            kv->kind = SL_KV_STR;
            if (!copy_str(v, arena, &kv->s))
                return false;
            break;
        case SL_RAW_INT:
            kv->kind = SL_KV_NUM;
            kv->num = (double)json_integer_value(v);
            break;
        case SL_RAW_REAL:
            kv->kind = SL_KV_NUM;
            kv->num = json_real_value(v);
            break;
        case SL_RAW_BOOL:
            kv->kind = SL_KV_BOOL;
            kv->num = json_is_true(v) ? 1.0 : 0.0;
            break;
        default: kv->kind = SL_KV_NULL; break;
        }
    }
    return true;
}

static bool fill_candidates(const json_t *arr, sl_arena *arena, sl_event_raw *raw) {
    size_t total = json_array_size(arr);
    size_t keep = total < SL_EVENT_MAX_CANDIDATES ? total : SL_EVENT_MAX_CANDIDATES;
    raw->cand = keep ? sl_arena_alloc(arena, keep * sizeof *raw->cand) : NULL;
    if (keep && !raw->cand)
        return false;
    raw->n_cand = (uint32_t)total;
    for (size_t i = 0; i < total; i++) {
        const json_t *v = json_array_get(arr, i);
        if (!json_is_string(v)) {
            if (raw->cand_bad < 0) {
                raw->cand_bad = (int32_t)i;
                raw->cand_bad_kind = kind_of(v);
            }
            if (i < keep)
                raw->cand[i] = (sl_str){0};
            continue;
        }
        if (i < keep && !copy_str(v, arena, &raw->cand[i]))
            return false;
    }
    return true;
}

bool sl_event__json_scan(const char *msg, size_t len, sl_arena *arena, sl_event_raw *raw,
                         sl_event_error *err) {
    json_error_t jerr;
    json_t *root = json_loadb(msg, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        switch (json_error_code(&jerr)) {
        case json_error_invalid_utf8: err->reason = SL_REASON_BAD_UTF8; break;
        case json_error_duplicate_key: err->reason = SL_REASON_DUPLICATE_KEY; break;
        default: err->reason = SL_REASON_BAD_JSON; break;
        }
        snprintf(err->detail, sizeof err->detail, "byte %d: %s", jerr.position, jerr.text);
        return false;
    }
    bool ok = true;
    if (!json_is_object(root)) {
        err->reason = SL_REASON_NOT_OBJECT;
        snprintf(err->detail, sizeof err->detail, "an event must be a JSON object, got %s",
                 sl_event__raw_kind_str(kind_of(root)));
        ok = false;
        goto out;
    }
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(root, key, klen, v) {
        sl_key k = sl_event__key_lookup(key, klen);
        if (k == SL_KEY_COUNT)
            continue;
        sl_raw *r = &raw->f[k];
        r->kind = kind_of(v);
        switch (r->kind) {
        case SL_RAW_STR: ok = copy_str(v, arena, &r->s); break;
        case SL_RAW_INT: r->i = json_integer_value(v); break;
        case SL_RAW_REAL: r->d = json_real_value(v); break;
        case SL_RAW_BOOL: r->b = json_is_true(v); break;
        case SL_RAW_OBJECT:
            if (k == SL_KEY_CTX)
                ok = fill_obj(v, arena, &raw->ctx);
            else if (k == SL_KEY_ATTRS)
                ok = fill_obj(v, arena, &raw->attrs);
            break;
        case SL_RAW_ARRAY:
            if (k == SL_KEY_CANDIDATES)
                ok = fill_candidates(v, arena, raw);
            break;
        default: break;
        }
        if (!ok) {
            err->reason = SL_REASON_TOO_LARGE;
            snprintf(err->detail, sizeof err->detail,
                     "message needs more memory than the batch allows");
            goto out;
        }
    }
out:
    json_decref(root);
    return ok;
}
