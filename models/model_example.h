/*
 * model_example.h — the example every model sees: sparse hashed features,
 * an optional dense vector, the labels the label join found, and a weight.
 *
 * Legend: n = sparse features used (≤ MODEL_MAX_SPARSE), d = dense values
 * used (≤ MODEL_MAX_DENSE). Indices are already hashed into [0, 2^bits) by
 * the featurizer; `field` names which configured feature produced each one
 * (per-field embeddings, field-aware FMs). An example is a plain fixed-size
 * struct: built in place in a batch arena, no allocation, copied by value.
 *
 * A view's features are frozen at view time (no peeking at the future); the
 * label join keeps the frozen example in state (model_example_encode) and
 * sets the labels when the attribution window closes. Pure data: no I/O, no
 * clock. Any thread may use distinct examples.
 */
#ifndef MODEL_EXAMPLE_H
#define MODEL_EXAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_status.h"

#define MODEL_MAX_SPARSE 128 /* sparse features per example */
#define MODEL_MAX_DENSE  32  /* dense values per example */

#define MODEL_LABEL_LIST(X)                                                                        \
    X(MODEL_LABEL_CLICK, "click")           /* 0/1 */                                              \
    X(MODEL_LABEL_LIKE, "like")             /* 0/1 */                                              \
    X(MODEL_LABEL_SHARE, "share")           /* 0/1 */                                              \
    X(MODEL_LABEL_DWELL, "dwell_ms")        /* ms, ≥ 0 */                                        \
    X(MODEL_LABEL_REGISTER, "register")     /* 0/1 */                                              \
    X(MODEL_LABEL_CONVERSION, "conversion") /* 0/1 */

typedef enum model_label {
#define MODEL_LABEL_ENUM_(name, text) name,
    MODEL_LABEL_LIST(MODEL_LABEL_ENUM_)
#undef MODEL_LABEL_ENUM_
        MODEL_LABEL_COUNT
} model_label;

typedef struct model_example {
    uint32_t n;                      /* sparse features used */
    uint32_t n_dense;                /* dense values used */
    uint32_t idx[MODEL_MAX_SPARSE];  /* (n) hashed feature indices */
    float val[MODEL_MAX_SPARSE];     /* (n) their values (1 for categorical) */
    uint8_t field[MODEL_MAX_SPARSE]; /* (n) the configured feature each came from */
    float dense[MODEL_MAX_DENSE];    /* (n_dense) dense features */
    float label[MODEL_LABEL_COUNT];  /* labels; meaningful where has_label says */
    uint32_t has_label;              /* bit (1u << model_label) per label set */
    float weight;                    /* importance weight (down-sampling), default 1 */
} model_example;

const char *model_label_str(model_label l);

/* Empties ex: no features, no labels, weight 1. */
void model_example_reset(model_example *ex);

/* Appends a sparse feature; false (and nothing added) when ex is full. */
static inline bool model_example_add(model_example *ex, uint32_t idx, float val, uint8_t field) {
    if (ex->n >= MODEL_MAX_SPARSE)
        return false;
    ex->idx[ex->n] = idx;
    ex->val[ex->n] = val;
    ex->field[ex->n] = field;
    ex->n++;
    return true;
}

static inline void model_example_set_label(model_example *ex, model_label l, float v) {
    ex->label[l] = v;
    ex->has_label |= 1u << l;
}

/* Bytes model_example_encode writes for ex: at most MODEL_EXAMPLE_MAX_BYTES,
 * 187-290 (mean 251) for the default config's examples (bench/STATE.md).
 * One pass over ex, which must be within the limits (n, n_dense). */
size_t model_example_encoded_size(const model_example *ex);
/* The largest encoding of any version (version 1's worst case). It sizes
 * buffers that are persisted (the MTL's buffered rows in its snapshots), so
 * it stays put; a new version must fit under it. */
#define MODEL_EXAMPLE_MAX_BYTES                                                                    \
    (16 + MODEL_MAX_SPARSE * 9 + MODEL_MAX_DENSE * 4 + MODEL_LABEL_COUNT * 4)
/* Writes ex compactly (version 3: little-endian, bit-exact, layout in
 * model_example.c) into out (cap bytes) and sets *len (OUT:), which is
 * model_example_encoded_size(ex). No allocation. SL_ERR_LIMIT when cap is
 * too small or ex is out of the limits (n, n_dense, a has_label bit past
 * MODEL_LABEL_COUNT); out is then untouched. */
sl_status model_example_encode(const model_example *ex, void *out, size_t cap, size_t *len);
/* Reads what model_example_encode of this or an older binary wrote
 * (versions 1, 2 and 3) into ex (OUT:), bit for bit. SL_ERR_CORRUPT on an
 * unknown version, a length other than the exact one, counts or flags out
 * of range, or unused bits that are not 0; ex is then unspecified. */
sl_status model_example_decode(const void *in, size_t len, model_example *ex);

#endif
