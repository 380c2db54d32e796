/*
 * model_dirty.h — which rows of a parameter array changed since the last
 * checkpoint.
 *
 * Legend: R = rows of the array (a row is one coordinate's floats: z and n
 * of an FTRL weight, a factor row with its AdaGrad sums, an embedding row).
 *
 * Why: a model's tables are tens of MiB, but one checkpoint interval touches
 * a few hundred thousand rows. The checkpoint writes only the rows marked
 * here (a row delta), so its cost follows the traffic, not the table size.
 * A bitmap answers "already marked?" in one access and a list keeps the
 * marked rows in marking order, so taking them costs O(marked), never O(R).
 * Marking the same row twice is a no-op.
 *
 * The list has a hard cap (list_cap, set at init). Past it the tracker
 * stops listing and remembers that it overflowed: the caller then treats
 * every row as dirty (writes the whole array), which is always correct.
 *
 * Pure data, no I/O: models mark rows as their updates write them; the
 * operator that persists them takes the list at a checkpoint. One writer;
 * not thread-safe.
 */
#ifndef MODEL_DIRTY_H
#define MODEL_DIRTY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "sl_status.h"

typedef struct model_dirty {
    uint64_t *bits;    /* (⌈R/64⌉) bit r set = row r marked */
    uint32_t *list;    /* (list_cap) the marked rows, in marking order */
    uint32_t n;        /* rows listed */
    uint32_t list_cap; /* rows the list holds */
    uint64_t rows;     /* R */
    bool overflow;     /* more rows were marked than the list holds */
    bool all;          /* model_dirty_mark_all was called */
} model_dirty;

/* Sets up a tracker for R rows (≤ 2^32) listing at most list_cap of them
 * (0 = R, capped at 2^24). Returns SL_OK or SL_ERR_NOMEM (then *d is empty
 * and deinit is safe). */
sl_status model_dirty_init(model_dirty *d, uint64_t rows, uint32_t list_cap);
void model_dirty_deinit(model_dirty *d); /* accepts an empty tracker */

/* Marks row r (r < R). */
static inline void model_dirty_mark(model_dirty *d, uint32_t r) {
    uint64_t bit = (uint64_t)1 << (r & 63);
    uint64_t *w = &d->bits[r >> 6];
    if (*w & bit)
        return;
    *w |= bit;
    if (d->n < d->list_cap)
        d->list[d->n++] = r;
    else
        d->overflow = true;
}

/* Marks every row (e.g. a dense layer that every step rewrites, or a table
 * loaded from a snapshot). */
static inline void model_dirty_mark_all(model_dirty *d) { d->all = true; }

/* True when every row must be treated as dirty (mark_all, or the list
 * overflowed). */
static inline bool model_dirty_whole(const model_dirty *d) { return d->all || d->overflow; }

/* Forgets every mark (after the rows were written). O(marked) when the list
 * is exact, O(R/64) after an overflow or mark_all. */
void model_dirty_clear(model_dirty *d);

#endif
