/*
 * model_example.c — the example's reset and its compact byte form.
 *
 * A pending view's frozen example is most of what the label join keeps in
 * state, and so most of what a checkpoint writes; every byte of it counts.
 * model_example_encode writes version 3; model_example_decode reads versions
 * 1, 2 and 3, because state directories and model snapshots (the MTL's
 * buffered examples) outlive the binary that wrote them.
 *
 * Every version is lossless to the bit: values are compared and copied by
 * their bits, so -0.0f, NaN payloads and the order of the features survive.
 */
#include "sl_bytes.h"
#include "model_example.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#define EX_ONES_BITS 0x3f800000u /* 1.0f */

/* Versions 1 and 2: version u8, n u8, n_dense u8, flags u8, has_label u32,
 * weight f32, then a u32 (v1: reserved; v2: the dense mask), idx[n] u32,
 * val[n] f32 (v2: none when flags bit 0 says every val is 1.0f), field[n]
 * u8, dense values (v1: all n_dense; v2: those the mask names, the others
 * +0.0f), one f32 per set label in label order. */
#define EX2_ALL_ONES 1u /* flags: every val is 1, none stored */

/* Version 3, what encode writes. Measured on the default config (200 k
 * events, bench/STATE.md): every val is 1.0f, idx are hashes of hash_bits
 * (22) bits, fields run in config order with the half-lives of a group
 * repeating one (deltas 0 and +1 are 93 % of them), half the 32 dense values
 * are +0.0f. So the indices are packed at the width of the largest (22 bits
 * there; a LEB128 varint would take 4 bytes for the 77 % of them >= 2^21,
 * and the width is in the example, not the config), the fields are 2-bit
 * steps, and what is 1.0f or +0.0f is not stored:
 *
 *   version u8 = 3, n u8, n_dense u8, flags u8, width u8, has_label u8
 *   weight f32                    unless flags has EX3_WEIGHT_ONE (1.0f)
 *   idx[n]                        width bits each, least significant bit
 *                                 first, ceil(n * width / 8) bytes; width is
 *                                 the bit length of the largest idx (0..32)
 *   val[n]                        by flags & EX3_VALS: EX3_VALS_ONES none
 *                                 (every val is 1.0f); EX3_VALS_ALL n f32;
 *                                 EX3_VALS_BITMAP ceil(n / 8) bytes, bit i
 *                                 set when val[i] is 1.0f, then the others'
 *                                 f32 in order
 *   field[n]                      EX3_FIELDS_RAW: n bytes; else ceil(n / 4)
 *                                 bytes of 2-bit codes, code i in bits
 *                                 2(i % 4) of byte i / 4: 0, 1, 2 = the
 *                                 previous field + 0, 1, 2 (mod 256; before
 *                                 the first, 255), 3 = the next literal byte,
 *                                 which follow the codes
 *   dense mask                    ceil(n_dense / 8) bytes, bit i set when
 *                                 dense[i] is stored; the others are +0.0f
 *   dense                         f32 per bit of the mask, in order
 *   label                         f32 per bit of has_label, in label order
 *
 * Unused bits of the last byte of idx, the val bitmap and the field codes
 * are 0; the decoder refuses anything else, and any length but the exact
 * one. The encoder picks the smallest of the val and field forms. */
#define EX3_VERSION     3
#define EX3_HEAD        6
#define EX3_VALS        0x03u /* flags: how val[] is stored */
#define EX3_VALS_ALL    0x00u /*   n f32 */
#define EX3_VALS_ONES   0x01u /*   nothing: every val is 1.0f */
#define EX3_VALS_BITMAP 0x02u /*   bitmap of the 1.0f ones, the others f32 */
#define EX3_WEIGHT_ONE  0x04u /* flags: weight is 1.0f, not stored */
#define EX3_FIELDS_RAW  0x08u /* flags: field[] as n bytes, not codes */
#define EX3_FLAGS       0x0fu /* every flag a decoder knows */
#define EX3_FIELD_LIT   3u    /* field code: a literal byte follows the codes */
#define EX3_FIELD_START 255u  /* "previous field" before the first */

/* The largest version 3 can take (every choice at its worst, the field
 * codes and bitmap never chosen when bigger) must fit the bound callers
 * size buffers with; that bound cannot move, since the MTL's snapshots
 * hold rows of its width. */
_Static_assert(EX3_HEAD + 4 + MODEL_MAX_SPARSE * (4 + 4 + 1) + (MODEL_MAX_DENSE + 7) / 8 +
                       MODEL_MAX_DENSE * 4 + MODEL_LABEL_COUNT * 4 <=
                   MODEL_EXAMPLE_MAX_BYTES,
               "version 3 must fit MODEL_EXAMPLE_MAX_BYTES");
_Static_assert(MODEL_MAX_SPARSE <= 255 && MODEL_MAX_DENSE <= 32 && MODEL_LABEL_COUNT <= 8,
               "n, n_dense and has_label are one byte each in version 3");

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

static size_t bytes_of_bits(size_t bits) { return (bits + 7) / 8; }

static unsigned field_code(uint8_t prev, uint8_t f) {
    unsigned d = (uint8_t)(f - prev);
    return d < EX3_FIELD_LIT ? d : EX3_FIELD_LIT;
}

/* How version 3 writes an example, and its size: one pass over it, shared
 * by encoded_size and encode. */
typedef struct ex_plan {
    unsigned flags;      /* EX3_* */
    unsigned width;      /* bits per idx, 0..32 */
    uint32_t dense_mask; /* bit i: dense[i] is not +0.0f, by its bits */
    size_t size;         /* bytes of the whole encoding */
} ex_plan;

static void plan_make(const model_example *ex, ex_plan *pl) {
    uint32_t n = ex->n, or_idx = 0, ones = 0, lit = 0, mask = 0;
    uint8_t prev = EX3_FIELD_START;
    assert(n <= MODEL_MAX_SPARSE && ex->n_dense <= MODEL_MAX_DENSE);
    for (uint32_t i = 0; i < n; i++) {
        or_idx |= ex->idx[i]; /* same bit length as the largest */
        ones += f32_bits(ex->val[i]) == EX_ONES_BITS;
        lit += field_code(prev, ex->field[i]) == EX3_FIELD_LIT;
        prev = ex->field[i];
    }
    for (uint32_t i = 0; i < ex->n_dense; i++)
        if (f32_bits(ex->dense[i]) != 0)
            mask |= 1u << i;
    pl->width = or_idx ? 32u - (unsigned)__builtin_clz(or_idx) : 0;
    pl->dense_mask = mask;
    size_t vals = (size_t)n * 4, fields = (n + 3) / 4 + (size_t)lit;
    if (ones == n) {
        pl->flags = EX3_VALS_ONES;
        vals = 0;
    } else if (bytes_of_bits(n) + (size_t)(n - ones) * 4 < vals) {
        pl->flags = EX3_VALS_BITMAP;
        vals = bytes_of_bits(n) + (size_t)(n - ones) * 4;
    } else {
        pl->flags = EX3_VALS_ALL;
    }
    if (fields >= n) {
        pl->flags |= EX3_FIELDS_RAW;
        fields = n;
    }
    bool weight_one = f32_bits(ex->weight) == EX_ONES_BITS;
    if (weight_one)
        pl->flags |= EX3_WEIGHT_ONE;
    pl->size = EX3_HEAD + (weight_one ? 0 : 4) + bytes_of_bits((size_t)n * pl->width) + vals +
               fields + bytes_of_bits(ex->n_dense) + (size_t)__builtin_popcount(mask) * 4 +
               (size_t)__builtin_popcount(ex->has_label) * 4;
}

size_t model_example_encoded_size(const model_example *ex) {
    ex_plan pl;
    plan_make(ex, &pl);
    return pl.size;
}

/* n values of w bits (each < 2^w), least significant bit first, 32 bits
 * stored at a time. */
static unsigned char *put_bits(unsigned char *p, const uint32_t *v, uint32_t n, unsigned w) {
    uint64_t acc = 0; /* pending bits, the oldest lowest */
    unsigned nb = 0;  /* how many; < 32 between values, so nb + w < 64 */
    for (uint32_t i = 0; i < n; i++) {
        acc |= (uint64_t)v[i] << nb;
        nb += w;
        if (nb >= 32) {
            sl_put_u32(p, (uint32_t)acc);
            p += 4;
            acc >>= 32;
            nb -= 32;
        }
    }
    for (unsigned k = 0; k < nb; k += 8, acc >>= 8)
        *p++ = (unsigned char)acc;
    return p;
}

/* Reads what put_bits wrote: the bytes are [p, end), ceil(n * w / 8) of
 * them, which the caller has checked are there. 32 bits are loaded at a
 * time while 4 bytes are left. False when the unused bits of the last byte
 * are not 0. */
static bool get_bits(const unsigned char *p, const unsigned char *end, uint32_t *v, uint32_t n,
                     unsigned w) {
    uint64_t acc = 0; /* bits loaded and not used, the oldest lowest */
    unsigned nb = 0;  /* how many; < w before a load, so < 64 after */
    uint32_t m = w == 32 ? UINT32_MAX : (1u << w) - 1;
    for (uint32_t i = 0; i < n; i++) {
        if (nb < w) {
            if (end - p >= 4) {
                acc |= (uint64_t)sl_get_u32(p) << nb;
                p += 4;
                nb += 32;
            } else {
                for (; nb < w; nb += 8)
                    acc |= (uint64_t)*p++ << nb;
            }
        }
        v[i] = (uint32_t)acc & m;
        acc >>= w;
        nb -= w;
    }
    return acc == 0;
}

sl_status model_example_encode(const model_example *ex, void *out, size_t cap, size_t *len) {
    if (ex->n > MODEL_MAX_SPARSE || ex->n_dense > MODEL_MAX_DENSE ||
        ex->has_label >= (1u << MODEL_LABEL_COUNT))
        return SL_ERR_LIMIT;
    ex_plan pl;
    plan_make(ex, &pl);
    if (pl.size > cap)
        return SL_ERR_LIMIT;
    const uint32_t n = ex->n;
    unsigned char *p = out;
    p[0] = EX3_VERSION;
    p[1] = (unsigned char)n;
    p[2] = (unsigned char)ex->n_dense;
    p[3] = (unsigned char)pl.flags;
    p[4] = (unsigned char)pl.width;
    p[5] = (unsigned char)ex->has_label;
    p += EX3_HEAD;
    if (!(pl.flags & EX3_WEIGHT_ONE)) {
        sl_put_f32(p, ex->weight);
        p += 4;
    }
    p = put_bits(p, ex->idx, n, pl.width);
    if ((pl.flags & EX3_VALS) == EX3_VALS_BITMAP) {
        unsigned char *bm = p;
        memset(bm, 0, bytes_of_bits(n));
        p += bytes_of_bits(n);
        for (uint32_t i = 0; i < n; i++)
            if (f32_bits(ex->val[i]) == EX_ONES_BITS) {
                bm[i / 8] |= (unsigned char)(1u << (i % 8));
            } else {
                sl_put_f32(p, ex->val[i]);
                p += 4;
            }
    } else if ((pl.flags & EX3_VALS) == EX3_VALS_ALL) {
        for (uint32_t i = 0; i < n; i++, p += 4)
            sl_put_f32(p, ex->val[i]);
    }
    if (pl.flags & EX3_FIELDS_RAW) {
        memcpy(p, ex->field, n);
        p += n;
    } else {
        unsigned char *codes = p, *lit = p + (n + 3) / 4;
        uint8_t prev = EX3_FIELD_START;
        unsigned four = 0; /* the codes of the byte being filled */
        for (uint32_t i = 0; i < n; i++) {
            unsigned c = field_code(prev, ex->field[i]);
            four |= c << (2 * (i % 4));
            if (c == EX3_FIELD_LIT)
                *lit++ = ex->field[i];
            if (i % 4 == 3) {
                codes[i / 4] = (unsigned char)four;
                four = 0;
            }
            prev = ex->field[i];
        }
        if (n % 4)
            codes[n / 4] = (unsigned char)four;
        p = lit;
    }
    for (size_t b = 0; b < bytes_of_bits(ex->n_dense); b++)
        *p++ = (unsigned char)(pl.dense_mask >> (8 * b));
    for (uint32_t i = 0; i < ex->n_dense; i++)
        if (pl.dense_mask & (1u << i)) {
            sl_put_f32(p, ex->dense[i]);
            p += 4;
        }
    for (int l = 0; l < MODEL_LABEL_COUNT; l++)
        if (ex->has_label & (1u << l)) {
            sl_put_f32(p, ex->label[l]);
            p += 4;
        }
    assert((size_t)(p - (unsigned char *)out) == pl.size);
    *len = pl.size;
    return SL_OK;
}

/* Versions 1 and 2 (module comment). ex is reset. */
static sl_status decode_v12(const unsigned char *p, size_t len, model_example *ex) {
    int ver = p[0];
    ex->n = p[1];
    ex->n_dense = p[2];
    ex->has_label = sl_get_u32(p + 4);
    ex->weight = sl_get_f32(p + 8);
    bool ones = ver == 2 && (p[3] & EX2_ALL_ONES);
    uint32_t mask = ver == 2 ? sl_get_u32(p + 12) : UINT32_MAX;
    if (ex->n > MODEL_MAX_SPARSE || ex->n_dense > MODEL_MAX_DENSE ||
        ex->has_label >= (1u << MODEL_LABEL_COUNT) || (ver == 2 && p[3] & ~EX2_ALL_ONES))
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

/* Version 3 (above). ex is reset; every read is checked against end. */
static sl_status decode_v3(const unsigned char *p, size_t len, model_example *ex) {
    const unsigned char *end = p + len;
    if (len < EX3_HEAD)
        return SL_ERR_CORRUPT;
    const uint32_t n = p[1], nd = p[2];
    const unsigned flags = p[3], width = p[4], vals = flags & EX3_VALS;
    if (n > MODEL_MAX_SPARSE || nd > MODEL_MAX_DENSE || (flags & ~EX3_FLAGS) ||
        vals > EX3_VALS_BITMAP || width > 32 || p[5] >= (1u << MODEL_LABEL_COUNT))
        return SL_ERR_CORRUPT;
    ex->n = n;
    ex->n_dense = nd;
    ex->has_label = p[5];
    p += EX3_HEAD;
#define EX3_NEED(k)                                                                                \
    do {                                                                                           \
        if ((size_t)(end - p) < (size_t)(k))                                                       \
            return SL_ERR_CORRUPT;                                                                 \
    } while (0)
    if (!(flags & EX3_WEIGHT_ONE)) {
        EX3_NEED(4);
        ex->weight = sl_get_f32(p);
        p += 4;
    }
    size_t nb = bytes_of_bits((size_t)n * width);
    EX3_NEED(nb);
    if (!get_bits(p, p + nb, ex->idx, n, width))
        return SL_ERR_CORRUPT;
    p += nb;
    if (vals == EX3_VALS_ONES) {
        for (uint32_t i = 0; i < n; i++)
            ex->val[i] = 1.0f;
    } else if (vals == EX3_VALS_ALL) {
        EX3_NEED((size_t)n * 4);
        for (uint32_t i = 0; i < n; i++, p += 4)
            ex->val[i] = sl_get_f32(p);
    } else {
        const unsigned char *bm = p;
        nb = bytes_of_bits(n);
        EX3_NEED(nb);
        uint32_t ones = 0;
        for (size_t b = 0; b < nb; b++)
            ones += (uint32_t)__builtin_popcount(bm[b]);
        if (n % 8 && bm[nb - 1] >> (n % 8))
            return SL_ERR_CORRUPT;
        p += nb;
        EX3_NEED((size_t)(n - ones) * 4);
        for (uint32_t i = 0; i < n; i++)
            if (bm[i / 8] & (1u << (i % 8))) {
                ex->val[i] = 1.0f;
            } else {
                ex->val[i] = sl_get_f32(p);
                p += 4;
            }
    }
    if (flags & EX3_FIELDS_RAW) {
        EX3_NEED(n);
        memcpy(ex->field, p, n);
        p += n;
    } else {
        const unsigned char *codes = p;
        nb = (n + 3) / 4;
        EX3_NEED(nb);
        if (n % 4 && codes[nb - 1] >> (2 * (n % 4)))
            return SL_ERR_CORRUPT;
        p += nb;
        uint8_t prev = EX3_FIELD_START;
        for (uint32_t i = 0; i < n; i++) {
            unsigned c = (codes[i / 4] >> (2 * (i % 4))) & 3u;
            if (c == EX3_FIELD_LIT) {
                EX3_NEED(1);
                prev = *p++;
            } else {
                prev = (uint8_t)(prev + c);
            }
            ex->field[i] = prev;
        }
    }
    nb = bytes_of_bits(nd);
    EX3_NEED(nb);
    uint32_t mask = 0;
    for (size_t b = 0; b < nb; b++)
        mask |= (uint32_t)*p++ << (8 * b);
    if (nd < 32 && mask >> nd)
        return SL_ERR_CORRUPT; /* a dense value past n_dense */
    EX3_NEED((size_t)__builtin_popcount(mask) * 4 + (size_t)__builtin_popcount(ex->has_label) * 4);
    for (uint32_t i = 0; i < nd; i++)
        if (mask & (1u << i)) {
            ex->dense[i] = sl_get_f32(p);
            p += 4;
        } else {
            ex->dense[i] = 0.0f;
        }
    for (int l = 0; l < MODEL_LABEL_COUNT; l++)
        if (ex->has_label & (1u << l)) {
            ex->label[l] = sl_get_f32(p);
            p += 4;
        }
#undef EX3_NEED
    return p == end ? SL_OK : SL_ERR_CORRUPT;
}

sl_status model_example_decode(const void *in, size_t len, model_example *ex) {
    const unsigned char *p = in;
    if (len < 1)
        return SL_ERR_CORRUPT;
    model_example_reset(ex);
    if (p[0] == EX3_VERSION)
        return decode_v3(p, len, ex);
    if ((p[0] == 1 || p[0] == 2) && len >= 16)
        return decode_v12(p, len, ex);
    return SL_ERR_CORRUPT;
}
