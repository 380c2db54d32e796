/*
 * sl_arena.h — per-batch bump allocation and bounded byte buffers.
 *
 * The hot path never mallocs per event: everything an event needs while its
 * batch is in flight (decoded strings, ctx entries, output records) comes from
 * an arena that is reset, not freed, after the batch. An arena grows in chunks
 * up to a hard cap (`limit`), so hostile input cannot take the machine's
 * memory; an allocation past the cap returns NULL and the caller reports
 * SL_ERR_LIMIT. After sl_arena_reset() every pointer handed out before is
 * invalid. Not thread-safe: one arena belongs to one batch on one thread.
 */
#ifndef SL_ARENA_H
#define SL_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_status.h"

typedef struct sl_arena_chunk sl_arena_chunk;

typedef struct sl_arena {
    sl_arena_chunk *head; /* chunk being filled; older chunks follow ->next */
    size_t chunk_size;    /* default size of a new chunk */
    size_t limit;         /* hard cap on bytes held in all chunks */
    size_t held;          /* bytes held in all chunks (capacity) */
} sl_arena;

/* Initializes an empty arena; nothing is allocated until the first use. */
void sl_arena_init(sl_arena *a, size_t chunk_size, size_t limit);
/* Frees every chunk. Accepts an arena that was never used. */
void sl_arena_deinit(sl_arena *a);
/* Forgets every allocation but keeps the largest chunk for the next batch. */
void sl_arena_reset(sl_arena *a);
/* Returns n bytes aligned to 8, or NULL past the arena's limit. */
void *sl_arena_alloc(sl_arena *a, size_t n);
/* Copies n bytes into the arena; NULL past the limit. */
char *sl_arena_memdup(sl_arena *a, const void *p, size_t n);

/*
 * sl_buf — a growable byte buffer with a hard size limit. Appends past the
 * limit fail with SL_ERR_LIMIT and leave the buffer unchanged.
 */
typedef struct sl_buf {
    char *p;      /* bytes; NUL-terminated when len < cap */
    size_t len;   /* bytes used */
    size_t cap;   /* bytes allocated */
    size_t limit; /* hard cap on cap */
} sl_buf;

void sl_buf_init(sl_buf *b, size_t limit);
void sl_buf_deinit(sl_buf *b);
static inline void sl_buf_clear(sl_buf *b) { b->len = 0; }
/* Makes room for n more bytes. SL_ERR_LIMIT or SL_ERR_NOMEM on failure. */
sl_status sl_buf_reserve(sl_buf *b, size_t n);
sl_status sl_buf_append(sl_buf *b, const void *p, size_t n);
sl_status sl_buf_putc(sl_buf *b, char c);
sl_status sl_buf_printf(sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quotes included). Invalid UTF-8 bytes
 * become U+FFFD; *lossy (if not NULL) is set to true when that happened. */
sl_status sl_buf_json_str(sl_buf *b, const char *s, size_t n, bool *lossy);
/* Appends a double the way JSON wants it: shortest round-trip form, and
 * `null` for NaN or infinities (which JSON cannot carry). */
sl_status sl_buf_json_num(sl_buf *b, double v);
sl_status sl_buf_json_i64(sl_buf *b, int64_t v);
/* Appends v with a fixed number of decimals (1..9), rounded half away from
 * zero, without printf: for hot-path outputs such as probabilities. |v| must
 * be < 1e9; NaN, infinities and larger values fall back to sl_buf_json_num. */
sl_status sl_buf_json_fixed(sl_buf *b, double v, int decimals);

#endif
