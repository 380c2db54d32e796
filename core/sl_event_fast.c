/*
 * sl_event_fast.c — the fast event front end: a single-pass scanner over
 * the message bytes that fills an sl_event_raw without building a tree.
 *
 * It is conservative by design. It returns 1 only when the message is valid
 * JSON by jansson's rules (the reference) and it has understood every byte;
 * on anything else — a syntax error, invalid UTF-8, a duplicate key, an
 * escape in a key, an integer that might not fit, deep nesting, more
 * entries than the schema allows, a ctx value that is not a scalar — it
 * returns 0 and the caller asks jansson, which produces the exact error. So
 * the fast path never has to reproduce jansson's error reporting, only its
 * acceptance and its values, and tests/test_event_diff.c holds it to that.
 *
 * Unescaped strings are borrowed from the message; escaped ones are decoded
 * into the arena. Returns -1 when the arena is exhausted.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sl_event_internal.h"
#include "sl_utf8.h"

#define FAST_MAX_DEPTH 16 /* deeper documents go to jansson */
#define FAST_MAX_KEYS  64 /* keys per object checked for duplicates here */
#define FAST_MAX_NUM   63 /* longest real number token handled here */

enum { BAIL = 0, OK = 1, OOM = -1 };

typedef struct fscan {
    const unsigned char *p;   /* next byte */
    const unsigned char *end; /* one past the last byte */
    sl_arena *arena;          /* where decoded strings go */
} fscan;

/* Byte classes inside a string: 0 = ordinary ASCII, 1 = needs a look. */
static const unsigned char str_special[256] = {
    /* controls 0x00-0x1F */
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    ['"'] = 1,
    ['\\'] = 1,
    /* 0x80-0xFF: UTF-8 lead and continuation bytes */
    [0x80] = 1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
};

static inline void ws(fscan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out) {
    if (end - p < 4)
        return BAIL;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return BAIL;
        v = v << 4 | d;
    }
    *out = v;
    return OK;
}

/* Decodes a string that has escapes, from `start` (after the quote); `p` is
 * the first backslash. */
static int str_escaped(fscan *s, const unsigned char *start, const unsigned char *p, sl_str *out) {
    size_t cap = (size_t)(s->end - start);
    unsigned char *buf = sl_arena_alloc(s->arena, cap + 1);
    if (!buf)
        return OOM;
    size_t o = (size_t)(p - start);
    memcpy(buf, start, o);
    while (p < s->end) {
        unsigned c = *p;
        if (c == '"') {
            *out = (sl_str){(const char *)buf, (uint32_t)o};
            s->p = p + 1;
            return OK;
        }
        if (c < 0x20)
            return BAIL;
        if (c >= 0x80) {
            size_t k = sl_utf8_seq_len(p, (size_t)(s->end - p));
            if (!k)
                return BAIL;
            memcpy(buf + o, p, k);
            o += k;
            p += k;
            continue;
        }
        if (c != '\\') {
            buf[o++] = (unsigned char)c;
            p++;
            continue;
        }
        if (++p >= s->end)
            return BAIL;
        switch (*p++) {
        case '"': buf[o++] = '"'; break;
        case '\\': buf[o++] = '\\'; break;
        case '/': buf[o++] = '/'; break;
        case 'b': buf[o++] = '\b'; break;
        case 'f': buf[o++] = '\f'; break;
        case 'n': buf[o++] = '\n'; break;
        case 'r': buf[o++] = '\r'; break;
        case 't': buf[o++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (hex4(p, s->end, &cp) != OK)
                return BAIL;
            p += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return BAIL; /* lone low surrogate */
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (s->end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, s->end, &lo) != OK)
                    return BAIL;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return BAIL;
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0)
                return BAIL; /* jansson refuses NUL without JSON_ALLOW_NUL */
            if (cp < 0x80) {
                buf[o++] = (unsigned char)cp;
            } else if (cp < 0x800) {
                buf[o++] = (unsigned char)(0xC0 | cp >> 6);
                buf[o++] = (unsigned char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                buf[o++] = (unsigned char)(0xE0 | cp >> 12);
                buf[o++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                buf[o++] = (unsigned char)(0x80 | (cp & 0x3F));
            } else {
                buf[o++] = (unsigned char)(0xF0 | cp >> 18);
                buf[o++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
                buf[o++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                buf[o++] = (unsigned char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: return BAIL;
        }
    }
    return BAIL; /* unterminated */
}

/* s->p is at the opening quote. Keys with escapes go to jansson, so that two
 * keys are equal exactly when their bytes are. */
static int str(fscan *s, sl_str *out, bool is_key) {
    const unsigned char *start = ++s->p;
    const unsigned char *p = start;
    const unsigned char *end = s->end;
    for (;;) {
        while (p < end && !str_special[*p])
            p++;
        if (p >= end)
            return BAIL;
        unsigned c = *p;
        if (c == '"') {
            *out = (sl_str){(const char *)start, (uint32_t)(p - start)};
            s->p = p + 1;
            return OK;
        }
        if (c >= 0x80) {
            size_t k = sl_utf8_seq_len(p, (size_t)(end - p));
            if (!k)
                return BAIL;
            p += k;
            continue;
        }
        if (c == '\\' && !is_key)
            return str_escaped(s, start, p, out);
        return BAIL; /* a control byte, or an escape in a key */
    }
}

static inline bool digit(unsigned c) { return c - '0' < 10; }

static int num(fscan *s, sl_raw *out) {
    const unsigned char *b = s->p, *p = b, *end = s->end;
    bool neg = false, real = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (p >= end)
        return BAIL;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (p < end && digit(*p))
            p++;
    else
        return BAIL;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !digit(*p))
            return BAIL;
        while (p < end && digit(*p))
            p++;
        real = true;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !digit(*p))
            return BAIL;
        while (p < end && digit(*p))
            p++;
        real = true;
    }
    size_t n = (size_t)(p - b);
    if (!real) {
        size_t ndig = n - neg;
        if (ndig > 18) /* might not fit in int64: let jansson judge */
            return BAIL;
        int64_t v = 0;
        for (const unsigned char *q = b + neg; q < p; q++)
            v = v * 10 + (*q - '0');
        out->kind = SL_RAW_INT;
        out->i = neg ? -v : v;
    } else {
        if (n > FAST_MAX_NUM)
            return BAIL;
        char tmp[FAST_MAX_NUM + 1];
        memcpy(tmp, b, n);
        tmp[n] = '\0';
        char *e;
        errno = 0;
        double d = strtod(tmp, &e);
        if (e != tmp + n)
            return BAIL;
        if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE)
            return BAIL; /* jansson: "real number overflow" */
        out->kind = SL_RAW_REAL;
        out->d = d;
    }
    s->p = p;
    return OK;
}

static int lit(fscan *s, const char *word, size_t n) {
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return BAIL;
    s->p += n;
    return OK;
}

static int value(fscan *s, sl_raw *out, int depth);

/* An object or array that nothing reads: checked for validity, then dropped. */
static int skip_object(fscan *s, int depth) {
    if (depth > FAST_MAX_DEPTH)
        return BAIL;
    sl_str keys[FAST_MAX_KEYS];
    uint32_t nk = 0;
    s->p++; /* '{' */
    ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return OK;
    }
    for (;;) {
        if (s->p >= s->end || *s->p != '"' || nk == FAST_MAX_KEYS)
            return BAIL;
        sl_str key;
        int rc = str(s, &key, true);
        if (rc != OK)
            return rc;
        for (uint32_t i = 0; i < nk; i++)
            if (keys[i].n == key.n && !memcmp(keys[i].p, key.p, key.n))
                return BAIL;
        keys[nk++] = key;
        ws(s);
        if (s->p >= s->end || *s->p != ':')
            return BAIL;
        s->p++;
        ws(s);
        sl_raw tmp;
        if ((rc = value(s, &tmp, depth + 1)) != OK)
            return rc;
        ws(s);
        if (s->p >= s->end)
            return BAIL;
        if (*s->p == ',') {
            s->p++;
            ws(s);
            continue;
        }
        if (*s->p == '}') {
            s->p++;
            return OK;
        }
        return BAIL;
    }
}

static int skip_array(fscan *s, int depth) {
    if (depth > FAST_MAX_DEPTH)
        return BAIL;
    s->p++; /* '[' */
    ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return OK;
    }
    for (;;) {
        sl_raw tmp;
        int rc = value(s, &tmp, depth + 1);
        if (rc != OK)
            return rc;
        ws(s);
        if (s->p >= s->end)
            return BAIL;
        if (*s->p == ',') {
            s->p++;
            ws(s);
            continue;
        }
        if (*s->p == ']') {
            s->p++;
            return OK;
        }
        return BAIL;
    }
}

static int value(fscan *s, sl_raw *out, int depth) {
    if (s->p >= s->end)
        return BAIL;
    switch (*s->p) {
    case '"': out->kind = SL_RAW_STR; return str(s, &out->s, false);
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9': return num(s, out);
    case 't':
        out->kind = SL_RAW_BOOL;
        out->b = true;
        return lit(s, "true", 4);
    case 'f':
        out->kind = SL_RAW_BOOL;
        out->b = false;
        return lit(s, "false", 5);
    case 'n': out->kind = SL_RAW_NULL; return lit(s, "null", 4);
    case '{': out->kind = SL_RAW_OBJECT; return skip_object(s, depth);
    case '[': out->kind = SL_RAW_ARRAY; return skip_array(s, depth);
    default: return BAIL;
    }
}

/* ctx / attrs: an object of scalars, at most SL_EVENT_MAX_FIELDS entries. */
static int kv_object(fscan *s, sl_raw_obj *o) {
    o->kv = sl_arena_alloc(s->arena, SL_EVENT_MAX_FIELDS * sizeof *o->kv);
    if (!o->kv)
        return OOM;
    o->n = 0;
    s->p++; /* '{' */
    ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return OK;
    }
    for (;;) {
        if (s->p >= s->end || *s->p != '"' || o->n == SL_EVENT_MAX_FIELDS)
            return BAIL;
        sl_kv *kv = &o->kv[o->n];
        int rc = str(s, &kv->key, true);
        if (rc != OK)
            return rc;
        for (uint32_t i = 0; i < o->n; i++)
            if (o->kv[i].key.n == kv->key.n && !memcmp(o->kv[i].key.p, kv->key.p, kv->key.n))
                return BAIL;
        ws(s);
        if (s->p >= s->end || *s->p != ':')
            return BAIL;
        s->p++;
        ws(s);
        if (s->p >= s->end || *s->p == '{' || *s->p == '[')
            return BAIL; /* jansson names the offending entry */
        sl_raw v;
        if ((rc = value(s, &v, 2)) != OK)
            return rc;
        kv->s = (sl_str){0};
        kv->num = 0.0;
        switch (v.kind) {
        case SL_RAW_STR:
            kv->kind = SL_KV_STR;
            kv->s = v.s;
            break;
        case SL_RAW_INT:
            kv->kind = SL_KV_NUM;
            kv->num = (double)v.i;
            break;
        case SL_RAW_REAL:
            kv->kind = SL_KV_NUM;
            kv->num = v.d;
            break;
        case SL_RAW_BOOL:
            kv->kind = SL_KV_BOOL;
            kv->num = v.b ? 1.0 : 0.0;
            break;
        default: kv->kind = SL_KV_NULL; break;
        }
        o->n++;
        ws(s);
        if (s->p >= s->end)
            return BAIL;
        if (*s->p == ',') {
            s->p++;
            ws(s);
            continue;
        }
        if (*s->p == '}') {
            s->p++;
            return OK;
        }
        return BAIL;
    }
}

/* candidates: an array of strings, at most SL_EVENT_MAX_CANDIDATES. */
static int cand_array(fscan *s, sl_event_raw *raw) {
    /* Size the arena block by an upper bound: each element takes ≥ 3 bytes. */
    size_t bound = (size_t)(s->end - s->p) / 3 + 1;
    if (bound > SL_EVENT_MAX_CANDIDATES)
        bound = SL_EVENT_MAX_CANDIDATES;
    raw->cand = sl_arena_alloc(s->arena, bound * sizeof *raw->cand);
    if (!raw->cand)
        return OOM;
    raw->n_cand = 0;
    s->p++; /* '[' */
    ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return OK;
    }
    for (;;) {
        if (s->p >= s->end || *s->p != '"' || raw->n_cand == bound)
            return BAIL;
        int rc = str(s, &raw->cand[raw->n_cand], false);
        if (rc != OK)
            return rc;
        raw->n_cand++;
        ws(s);
        if (s->p >= s->end)
            return BAIL;
        if (*s->p == ',') {
            s->p++;
            ws(s);
            continue;
        }
        if (*s->p == ']') {
            s->p++;
            return OK;
        }
        return BAIL;
    }
}

int sl_event__fast_scan(const char *msg, size_t len, sl_arena *arena, sl_event_raw *raw) {
    fscan sc = {(const unsigned char *)msg, (const unsigned char *)msg + len, arena};
    fscan *s = &sc;
    sl_str keys[FAST_MAX_KEYS];
    uint32_t nk = 0;
    ws(s);
    if (s->p >= s->end || *s->p != '{')
        return BAIL;
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        goto done;
    }
    for (;;) {
        if (s->p >= s->end || *s->p != '"' || nk == FAST_MAX_KEYS)
            return BAIL;
        sl_str key;
        int rc = str(s, &key, true);
        if (rc != OK)
            return rc;
        for (uint32_t i = 0; i < nk; i++)
            if (keys[i].n == key.n && !memcmp(keys[i].p, key.p, key.n))
                return BAIL;
        keys[nk++] = key;
        ws(s);
        if (s->p >= s->end || *s->p != ':')
            return BAIL;
        s->p++;
        ws(s);
        if (s->p >= s->end)
            return BAIL;
        sl_key k = sl_event__key_lookup(key.p, key.n);
        sl_raw scratch = {0};
        sl_raw *out = k == SL_KEY_COUNT ? &scratch : &raw->f[k];
        if (k == SL_KEY_CTX && *s->p == '{') {
            out->kind = SL_RAW_OBJECT;
            rc = kv_object(s, &raw->ctx);
        } else if (k == SL_KEY_ATTRS && *s->p == '{') {
            out->kind = SL_RAW_OBJECT;
            rc = kv_object(s, &raw->attrs);
        } else if (k == SL_KEY_CANDIDATES && *s->p == '[') {
            out->kind = SL_RAW_ARRAY;
            rc = cand_array(s, raw);
        } else {
            rc = value(s, out, 1);
        }
        if (rc != OK)
            return rc;
        ws(s);
        if (s->p >= s->end)
            return BAIL;
        if (*s->p == ',') {
            s->p++;
            ws(s);
            continue;
        }
        if (*s->p == '}') {
            s->p++;
            break;
        }
        return BAIL;
    }
done:
    ws(s);
    return s->p == s->end ? OK : BAIL;
}
