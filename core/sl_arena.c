/* sl_arena.c — chunked bump allocator and bounded buffers (see sl_arena.h). */
#include "sl_arena.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_utf8.h"

struct sl_arena_chunk {
    sl_arena_chunk *next; /* older chunk */
    size_t size;          /* usable bytes in data[] */
    size_t used;          /* bytes handed out */
    _Alignas(16) unsigned char data[];
};

void sl_arena_init(sl_arena *a, size_t chunk_size, size_t limit) {
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
    a->limit = limit ? limit : SIZE_MAX;
    a->held = 0;
}

void sl_arena_deinit(sl_arena *a) {
    if (!a)
        return;
    sl_arena_chunk *c = a->head;
    while (c) {
        sl_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->held = 0;
}

void sl_arena_reset(sl_arena *a) {
    /* Keep the biggest chunk so a steady stream reaches zero mallocs. */
    sl_arena_chunk *keep = NULL;
    for (sl_arena_chunk *c = a->head; c; c = c->next)
        if (!keep || c->size > keep->size)
            keep = c;
    sl_arena_chunk *c = a->head;
    while (c) {
        sl_arena_chunk *next = c->next;
        if (c != keep)
            free(c);
        c = next;
    }
    a->head = keep;
    a->held = 0;
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
        a->held = keep->size;
    }
}

void *sl_arena_alloc(sl_arena *a, size_t n) {
    n = (n + 7) & ~(size_t)7;
    sl_arena_chunk *c = a->head;
    if (c && c->size - c->used >= n) {
        void *p = c->data + c->used;
        c->used += n;
        return p;
    }
    size_t size = a->chunk_size > n ? a->chunk_size : n;
    if (size > a->limit || a->held > a->limit - size)
        return NULL;
    c = malloc(sizeof *c + size);
    if (!c)
        return NULL;
    c->size = size;
    c->used = n;
    c->next = a->head;
    a->head = c;
    a->held += size;
    return c->data;
}

char *sl_arena_memdup(sl_arena *a, const void *p, size_t n) {
    char *q = sl_arena_alloc(a, n + 1);
    if (!q)
        return NULL;
    if (n)
        memcpy(q, p, n);
    q[n] = '\0';
    return q;
}

void sl_buf_init(sl_buf *b, size_t limit) {
    b->p = NULL;
    b->len = b->cap = 0;
    b->limit = limit ? limit : SIZE_MAX;
}

void sl_buf_deinit(sl_buf *b) {
    if (!b)
        return;
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

sl_status sl_buf_reserve(sl_buf *b, size_t n) {
    if (b->cap - b->len > n)
        return SL_OK;
    if (n >= b->limit || b->len >= b->limit - n)
        return SL_ERR_LIMIT;
    size_t want = b->len + n + 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;
    if (cap > b->limit)
        cap = b->limit;
    char *p = realloc(b->p, cap);
    if (!p)
        return SL_ERR_NOMEM;
    b->p = p;
    b->cap = cap;
    return SL_OK;
}

sl_status sl_buf_append(sl_buf *b, const void *p, size_t n) {
    sl_status st = sl_buf_reserve(b, n);
    if (st)
        return st;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return SL_OK;
}

sl_status sl_buf_putc(sl_buf *b, char c) { return sl_buf_append(b, &c, 1); }

sl_status sl_buf_printf(sl_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SL_ERR_INVALID;
    if ((size_t)n < sizeof tmp)
        return sl_buf_append(b, tmp, (size_t)n);
    sl_status st = sl_buf_reserve(b, (size_t)n);
    if (st)
        return st;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return SL_OK;
}

sl_status sl_buf_json_str(sl_buf *b, const char *s, size_t n, bool *lossy) {
    static const char hex[] = "0123456789abcdef";
    /* Worst case: every byte becomes \u00XX (6) or U+FFFD (3). */
    sl_status st = sl_buf_reserve(b, n * 6 + 2);
    if (st)
        return st;
    char *o = b->p + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c;
            i++;
        } else if (c < 0x80) {
            *o++ = '\\';
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
            i++;
        } else {
            size_t k = sl_utf8_seq_len((const unsigned char *)s + i, n - i);
            if (k) {
                memcpy(o, s + i, k);
                o += k;
                i += k;
            } else {
                memcpy(o, "\xEF\xBF\xBD", 3);
                o += 3;
                i++;
                if (lossy)
                    *lossy = true;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
    return SL_OK;
}

sl_status sl_buf_json_num(sl_buf *b, double v) {
    if (!isfinite(v))
        return sl_buf_append(b, "null", 4);
    if (v == (double)(int64_t)v && fabs(v) < 1e15)
        return sl_buf_json_i64(b, (int64_t)v);
    /* %.17g always round-trips; try the shorter %.15g first for readability. */
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v)
        n = snprintf(tmp, sizeof tmp, "%.17g", v);
    return sl_buf_append(b, tmp, (size_t)n);
}

sl_status sl_buf_json_i64(sl_buf *b, int64_t v) {
    char tmp[24];
    char *e = tmp + sizeof tmp;
    char *p = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return sl_buf_append(b, p, (size_t)(e - p));
}

sl_status sl_buf_json_fixed(sl_buf *b, double v, int decimals) {
    static const double scale[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    if (!isfinite(v) || fabs(v) >= 1e9 || decimals < 1 || decimals > 9)
        return sl_buf_json_num(b, v);
    sl_status st = sl_buf_reserve(b, 24);
    if (st)
        return st;
    bool neg = v < 0;
    double a = neg ? -v : v;
    uint64_t units = (uint64_t)(a * scale[decimals] + 0.5);
    uint64_t whole = units / (uint64_t)scale[decimals];
    uint64_t frac = units % (uint64_t)scale[decimals];
    char tmp[24];
    char *e = tmp + sizeof tmp, *p = e;
    for (int i = 0; i < decimals; i++) {
        *--p = (char)('0' + frac % 10);
        frac /= 10;
    }
    *--p = '.';
    do {
        *--p = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    if (neg && units)
        *--p = '-';
    return sl_buf_append(b, p, (size_t)(e - p));
}
