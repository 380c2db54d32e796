/* model_dirty.c — the dirty-row tracker (model_dirty.h). */
#include "model_dirty.h"

#include <string.h>

#define DIRTY_LIST_MAX (1u << 24) /* 64 MiB of row numbers at most */

sl_status model_dirty_init(model_dirty *d, uint64_t rows, uint32_t list_cap) {
    memset(d, 0, sizeof *d);
    if (rows == 0 || rows > ((uint64_t)1 << 32))
        return SL_ERR_INVALID;
    if (list_cap == 0 || list_cap > rows)
        list_cap = rows < DIRTY_LIST_MAX ? (uint32_t)rows : DIRTY_LIST_MAX;
    d->bits = calloc((size_t)((rows + 63) / 64), sizeof *d->bits);
    d->list = malloc((size_t)list_cap * sizeof *d->list);
    if (!d->bits || !d->list) {
        model_dirty_deinit(d);
        return SL_ERR_NOMEM;
    }
    d->rows = rows;
    d->list_cap = list_cap;
    return SL_OK;
}

void model_dirty_deinit(model_dirty *d) {
    free(d->bits);
    free(d->list);
    memset(d, 0, sizeof *d);
}

void model_dirty_clear(model_dirty *d) {
    if (d->overflow || d->all)
        memset(d->bits, 0, (size_t)((d->rows + 63) / 64) * sizeof *d->bits);
    else
        for (uint32_t i = 0; i < d->n; i++)
            d->bits[d->list[i] >> 6] = 0;
    d->n = 0;
    d->overflow = false;
    d->all = false;
}
