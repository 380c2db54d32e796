/* model_example.c — the example's reset and its compact byte form. */
#include "sl_bytes.h"
#include "model_example.h"

#include <string.h>

#define MODEL_EXAMPLE_VERSION 1

static const char *const model_label_names[] = {
#define MODEL_LABEL_NAME_(name, text) text,
    MODEL_LABEL_LIST(MODEL_LABEL_NAME_)
#undef MODEL_LABEL_NAME_
};

const char *model_label_str(model_label l) {
    return (unsigned)l < MODEL_LABEL_COUNT ? model_label_names[l] : "?";
}

void model_example_reset(model_example *ex) {
    ex->n = 0;
    ex->n_dense = 0;
    ex->has_label = 0;
    memset(ex->label, 0, sizeof ex->label);
    ex->weight = 1.0f;
}

size_t model_example_encoded_size(const model_example *ex) {
    size_t labels = (size_t)__builtin_popcount(ex->has_label);
    return 16 + (size_t)ex->n * 9 + (size_t)ex->n_dense * 4 + labels * 4;
}

/* Layout: version u8, n u8, n_dense u8, pad u8, has_label u32, weight f32,
 * reserved u32, then idx[n] u32, val[n] f32, field[n] u8, dense[n_dense]
 * f32, then one f32 per set label in label order. */
sl_status model_example_encode(const model_example *ex, void *out, size_t cap, size_t *len) {
    size_t need = model_example_encoded_size(ex);
    if (need > cap || ex->n > MODEL_MAX_SPARSE || ex->n_dense > MODEL_MAX_DENSE)
        return SL_ERR_LIMIT;
    unsigned char *p = out;
    p[0] = MODEL_EXAMPLE_VERSION;
    p[1] = (unsigned char)ex->n;
    p[2] = (unsigned char)ex->n_dense;
    p[3] = 0;
    sl_put_u32(p + 4, ex->has_label);
    sl_put_f32(p + 8, ex->weight);
    sl_put_u32(p + 12, 0);
    p += 16;
    for (uint32_t i = 0; i < ex->n; i++, p += 4)
        sl_put_u32(p, ex->idx[i]);
    for (uint32_t i = 0; i < ex->n; i++, p += 4)
        sl_put_f32(p, ex->val[i]);
    memcpy(p, ex->field, ex->n);
    p += ex->n;
    for (uint32_t i = 0; i < ex->n_dense; i++, p += 4)
        sl_put_f32(p, ex->dense[i]);
    for (int l = 0; l < MODEL_LABEL_COUNT; l++)
        if (ex->has_label & (1u << l)) {
            sl_put_f32(p, ex->label[l]);
            p += 4;
        }
    *len = need;
    return SL_OK;
}

sl_status model_example_decode(const void *in, size_t len, model_example *ex) {
    const unsigned char *p = in;
    if (len < 16 || p[0] != MODEL_EXAMPLE_VERSION)
        return SL_ERR_CORRUPT;
    model_example_reset(ex);
    ex->n = p[1];
    ex->n_dense = p[2];
    ex->has_label = sl_get_u32(p + 4);
    ex->weight = sl_get_f32(p + 8);
    if (ex->n > MODEL_MAX_SPARSE || ex->n_dense > MODEL_MAX_DENSE ||
        ex->has_label >= (1u << MODEL_LABEL_COUNT) || model_example_encoded_size(ex) != len)
        return SL_ERR_CORRUPT;
    p += 16;
    for (uint32_t i = 0; i < ex->n; i++, p += 4)
        ex->idx[i] = sl_get_u32(p);
    for (uint32_t i = 0; i < ex->n; i++, p += 4)
        ex->val[i] = sl_get_f32(p);
    memcpy(ex->field, p, ex->n);
    p += ex->n;
    for (uint32_t i = 0; i < ex->n_dense; i++, p += 4)
        ex->dense[i] = sl_get_f32(p);
    for (int l = 0; l < MODEL_LABEL_COUNT; l++)
        if (ex->has_label & (1u << l)) {
            ex->label[l] = sl_get_f32(p);
            p += 4;
        }
    return SL_OK;
}
