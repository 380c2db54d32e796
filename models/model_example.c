/* model_example.c — the example's reset and its compact byte form. */
#include "sl_bytes.h"
#include "model_example.h"

#include <stdbool.h>
#include <string.h>

#define MODEL_EXAMPLE_VERSION 2 /* written; version 1 is still read */
#define EX_ONES_BITS          0x3f800000u /* 1.0f */
#define EX_ALL_ONES           1u          /* flags: every val is 1, none stored */

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

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* The version-2 facts that decide its size: are all values 1.0f (by bits),
 * and which dense values are not +0.0f (by bits, so -0.0f and NaN stay). */
static bool all_ones(const model_example *ex) {
    for (uint32_t i = 0; i < ex->n; i++)
        if (f32_bits(ex->val[i]) != EX_ONES_BITS)
            return false;
    return true;
}

static uint32_t dense_nonzero(const model_example *ex) {
    uint32_t m = 0;
    for (uint32_t i = 0; i < ex->n_dense; i++)
        if (f32_bits(ex->dense[i]) != 0)
            m |= 1u << i;
    return m;
}

size_t model_example_encoded_size(const model_example *ex) {
    size_t labels = (size_t)__builtin_popcount(ex->has_label);
    size_t vals = all_ones(ex) ? 0 : (size_t)ex->n * 4;
    return 16 + (size_t)ex->n * 5 + vals + (size_t)__builtin_popcount(dense_nonzero(ex)) * 4 +
           labels * 4;
}

/* Version 2 (a pending view's frozen example is most of the state a
 * checkpoint writes, so every byte counts): version u8, n u8, n_dense u8,
 * flags u8, has_label u32, weight f32, dense mask u32 (bit i: dense[i] is
 * stored; the others are +0.0f), then idx[n] u32, val[n] f32 unless every
 * val is 1.0f (flags bit 0), field[n] u8, the stored dense values in order,
 * then one f32 per set label in label order. Bit-exact: values are compared
 * and copied by their bits. Version 1 (still read): the same header with a
 * reserved u32 in place of the mask, val[n] always, dense[n_dense] whole. */
sl_status model_example_encode(const model_example *ex, void *out, size_t cap, size_t *len) {
    if (ex->n > MODEL_MAX_SPARSE || ex->n_dense > MODEL_MAX_DENSE)
        return SL_ERR_LIMIT;
    size_t need = model_example_encoded_size(ex);
    if (need > cap)
        return SL_ERR_LIMIT;
    bool ones = all_ones(ex);
    uint32_t mask = dense_nonzero(ex);
    unsigned char *p = out;
    p[0] = MODEL_EXAMPLE_VERSION;
    p[1] = (unsigned char)ex->n;
    p[2] = (unsigned char)ex->n_dense;
    p[3] = ones ? EX_ALL_ONES : 0;
    sl_put_u32(p + 4, ex->has_label);
    sl_put_f32(p + 8, ex->weight);
    sl_put_u32(p + 12, mask);
    p += 16;
    for (uint32_t i = 0; i < ex->n; i++, p += 4)
        sl_put_u32(p, ex->idx[i]);
    for (uint32_t i = 0; !ones && i < ex->n; i++, p += 4)
        sl_put_f32(p, ex->val[i]);
    memcpy(p, ex->field, ex->n);
    p += ex->n;
    for (uint32_t i = 0; i < ex->n_dense; i++)
        if (mask & (1u << i)) {
            sl_put_f32(p, ex->dense[i]);
            p += 4;
        }
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
    if (len < 16 || (p[0] != 1 && p[0] != MODEL_EXAMPLE_VERSION))
        return SL_ERR_CORRUPT;
    int ver = p[0];
    model_example_reset(ex);
    ex->n = p[1];
    ex->n_dense = p[2];
    ex->has_label = sl_get_u32(p + 4);
    ex->weight = sl_get_f32(p + 8);
    bool ones = ver == 2 && (p[3] & EX_ALL_ONES);
    uint32_t mask = ver == 2 ? sl_get_u32(p + 12) : UINT32_MAX;
    if (ex->n > MODEL_MAX_SPARSE || ex->n_dense > MODEL_MAX_DENSE ||
        ex->has_label >= (1u << MODEL_LABEL_COUNT) || (ver == 2 && p[3] & ~EX_ALL_ONES))
        return SL_ERR_CORRUPT;
    if (ex->n_dense < 32)
        mask &= (1u << ex->n_dense) - 1;
    if (ver == 2 && mask != sl_get_u32(p + 12))
        return SL_ERR_CORRUPT; /* a dense value past n_dense */
    size_t need = 16 + (size_t)ex->n * (ones ? 5 : 9) + (size_t)__builtin_popcount(mask) * 4 +
                  (size_t)__builtin_popcount(ex->has_label) * 4;
    if (need != len)
        return SL_ERR_CORRUPT;
    p += 16;
    for (uint32_t i = 0; i < ex->n; i++, p += 4)
        ex->idx[i] = sl_get_u32(p);
    for (uint32_t i = 0; i < ex->n; i++) {
        ex->val[i] = ones ? 1.0f : sl_get_f32(p);
        p += ones ? 0 : 4;
    }
    memcpy(ex->field, p, ex->n);
    p += ex->n;
    for (uint32_t i = 0; i < ex->n_dense; i++) {
        ex->dense[i] = (mask & (1u << i)) ? sl_get_f32(p) : 0.0f;
        p += (mask & (1u << i)) ? 4 : 0;
    }
    for (int l = 0; l < MODEL_LABEL_COUNT; l++)
        if (ex->has_label & (1u << l)) {
            ex->label[l] = sl_get_f32(p);
            p += 4;
        }
    return SL_OK;
}
