/* test_example.c — the example's byte form: every version round-trips bit
 * for bit, version 3 is never larger than version 2, older versions still
 * decode, and garbage is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "model_example.h"

#define ONE_BITS 0x3f800000u /* 1.0f */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull; /* fixed seed: reruns see the same cases */

static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static float f32_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* The decoded example is a's, bit for bit: what model_example_decode
 * promises (labels not set read 0, as after model_example_reset). */
static void assert_same(const model_example *a, const model_example *b) {
    assert_int_equal(b->n, a->n);
    assert_int_equal(b->n_dense, a->n_dense);
    assert_memory_equal(b->idx, a->idx, a->n * sizeof a->idx[0]);
    assert_memory_equal(b->val, a->val, a->n * sizeof a->val[0]);
    assert_memory_equal(b->field, a->field, a->n);
    assert_memory_equal(b->dense, a->dense, a->n_dense * sizeof a->dense[0]);
    assert_int_equal(b->has_label, a->has_label);
    for (int l = 0; l < MODEL_LABEL_COUNT; l++)
        assert_int_equal(bits_of(b->label[l]),
                         (a->has_label & (1u << l)) ? bits_of(a->label[l]) : 0u);
    assert_int_equal(bits_of(b->weight), bits_of(a->weight));
}

/* Encodes a (checking the length against encoded_size, every too-small cap
 * refused), decodes, compares bitwise; returns the length. */
static size_t round_trip(const model_example *a, unsigned char *buf) {
    size_t len = 0, len2 = 0;
    assert_int_equal(model_example_encode(a, buf, MODEL_EXAMPLE_MAX_BYTES, &len), SL_OK);
    assert_int_equal(len, model_example_encoded_size(a));
    assert_true(len <= MODEL_EXAMPLE_MAX_BYTES);
    assert_int_equal(buf[0], 3);
    model_example b;
    memset(&b, 0xa5, sizeof b); /* decode must not rely on a clean ex */
    assert_int_equal(model_example_decode(buf, len, &b), SL_OK);
    assert_same(a, &b);
    assert_int_equal(model_example_encode(a, buf, len - 1, &len2), SL_ERR_LIMIT);
    return len;
}

/* ---- the older versions, kept as their encoders wrote them -------------- */

/* Version 1: version, n, n_dense, 0, has_label u32, weight f32, reserved
 * u32, idx u32[n], val f32[n], field u8[n], dense f32[n_dense], labels. */
static size_t encode_v1(const model_example *ex, unsigned char *out) {
    unsigned char *p = out;
    memset(p, 0, 16);
    p[0] = 1;
    p[1] = (unsigned char)ex->n;
    p[2] = (unsigned char)ex->n_dense;
    put_u32(p + 4, ex->has_label);
    put_u32(p + 8, bits_of(ex->weight));
    p += 16;
    for (uint32_t i = 0; i < ex->n; i++, p += 4)
        put_u32(p, ex->idx[i]);
    for (uint32_t i = 0; i < ex->n; i++, p += 4)
        put_u32(p, bits_of(ex->val[i]));
    memcpy(p, ex->field, ex->n);
    p += ex->n;
    for (uint32_t i = 0; i < ex->n_dense; i++, p += 4)
        put_u32(p, bits_of(ex->dense[i]));
    for (int l = 0; l < MODEL_LABEL_COUNT; l++)
        if (ex->has_label & (1u << l)) {
            put_u32(p, bits_of(ex->label[l]));
            p += 4;
        }
    return (size_t)(p - out);
}

/* Version 2: version 1 with flags bit 0 = every val is 1.0f (none stored)
 * and a dense mask (bit i: dense[i] stored, the others +0.0f) in place of
 * the reserved u32. */
static size_t encode_v2(const model_example *ex, unsigned char *out) {
    bool ones = true;
    uint32_t mask = 0;
    for (uint32_t i = 0; i < ex->n; i++)
        ones = ones && bits_of(ex->val[i]) == ONE_BITS;
    for (uint32_t i = 0; i < ex->n_dense; i++)
        if (bits_of(ex->dense[i]) != 0)
            mask |= 1u << i;
    unsigned char *p = out;
    p[0] = 2;
    p[1] = (unsigned char)ex->n;
    p[2] = (unsigned char)ex->n_dense;
    p[3] = ones ? 1 : 0;
    put_u32(p + 4, ex->has_label);
    put_u32(p + 8, bits_of(ex->weight));
    put_u32(p + 12, mask);
    p += 16;
    for (uint32_t i = 0; i < ex->n; i++, p += 4)
        put_u32(p, ex->idx[i]);
    for (uint32_t i = 0; !ones && i < ex->n; i++, p += 4)
        put_u32(p, bits_of(ex->val[i]));
    memcpy(p, ex->field, ex->n);
    p += ex->n;
    for (uint32_t i = 0; i < ex->n_dense; i++)
        if (mask & (1u << i)) {
            put_u32(p, bits_of(ex->dense[i]));
            p += 4;
        }
    for (int l = 0; l < MODEL_LABEL_COUNT; l++)
        if (ex->has_label & (1u << l)) {
            put_u32(p, bits_of(ex->label[l]));
            p += 4;
        }
    return (size_t)(p - out);
}

/* ---- example makers ------------------------------------------------------- */

/* A float that is often one of the troublesome ones: 1.0f (and its
 * neighbours, which are not 1.0f), +0.0f, -0.0f, NaNs with payloads, an
 * infinity, a denormal, or random bits. */
static float odd_float(void) {
    switch (rnd() % 10) {
    case 0: return f32_of(ONE_BITS);
    case 1: return f32_of(ONE_BITS + 1);
    case 2: return f32_of(0x80000000u); /* -0.0f */
    case 3: return f32_of(0);
    case 4: return f32_of(0x7fc00000u | (rnd() & 0x3fffffu)); /* quiet NaN, payload */
    case 5: return f32_of(0xff800001u);                       /* signalling NaN bits */
    case 6: return f32_of(0x7f800000u);                       /* +inf */
    case 7: return f32_of(0x00000001u);                       /* smallest denormal */
    default: return f32_of(rnd() ^ (rnd() << 16));
    }
}

/* A random example: n features (indices below 2^bits), values 1.0f with
 * probability ones/8, fields walking like the featurizer's (steps 0, +1,
 * +2 mostly) or random, dense values with zeros and odd floats, labels and
 * a weight now and then. */
static void make_random(model_example *ex, uint32_t n, unsigned bits, unsigned ones) {
    model_example_reset(ex);
    uint8_t f = (uint8_t)rnd();
    bool walk = rnd() % 4 != 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t idx = rnd() ^ (rnd() << 16);
        idx = bits == 32 ? idx : idx & ((1u << bits) - 1);
        float v = rnd() % 8 < ones ? 1.0f : odd_float();
        unsigned step = rnd() % 16;
        if (!walk)
            f = (uint8_t)rnd();
        else
            f = (uint8_t)(f + (step < 6 ? 0 : step < 13 ? 1 : step < 14 ? 2 : rnd()));
        assert_true(model_example_add(ex, idx, v, f));
    }
    ex->n_dense = rnd() % (MODEL_MAX_DENSE + 1);
    for (uint32_t i = 0; i < ex->n_dense; i++)
        ex->dense[i] = rnd() % 2 ? 0.0f : odd_float();
    for (int l = 0; l < MODEL_LABEL_COUNT; l++)
        if (rnd() % 3 == 0)
            model_example_set_label(ex, (model_label)l, odd_float());
    if (rnd() % 3 == 0)
        ex->weight = odd_float();
}

/* What the featurizer builds (bench/STATE.md): 53 indicator features of a
 * 22-bit hash, fields in config order with the half-lives repeating one,
 * 32 dense values of which about half are 0. */
static void make_typical(model_example *ex) {
    static const uint8_t fields[53] = {0,  1,  2,  3,  4,  6,  7,  9,  10, 16, 17, 18, 18, 19,
                                       19, 20, 20, 21, 21, 23, 23, 24, 24, 25, 25, 26, 26, 27,
                                       27, 28, 28, 29, 29, 30, 30, 31, 31, 32, 32, 33, 33, 34,
                                       34, 35, 35, 36, 36, 37, 37, 38, 38, 39, 39};
    model_example_reset(ex);
    for (uint32_t i = 0; i < 53; i++)
        assert_true(model_example_add(ex, (rnd() & 0x1fffffu) | 0x200000u, 1.0f, fields[i]));
    ex->n_dense = 32;
    for (uint32_t i = 0; i < 32; i++)
        ex->dense[i] = i % 2 ? 0.0f : 0.125f + (float)i / 64.0f;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_round_trip(void **state) {
    (void)state;
    model_example a;
    unsigned char buf[MODEL_EXAMPLE_MAX_BYTES];
    model_example_reset(&a);
    for (uint32_t i = 0; i < 40; i++)
        assert_true(model_example_add(&a, i * 7919u, 1.0f + (float)i, (uint8_t)(i % 5)));
    a.n_dense = 3;
    a.dense[0] = 0.5f;
    a.dense[1] = -2.0f;
    a.dense[2] = 1e-7f;
    model_example_set_label(&a, MODEL_LABEL_CLICK, 1.0f);
    model_example_set_label(&a, MODEL_LABEL_DWELL, 12345.5f);
    a.weight = 10.0f;
    round_trip(&a, buf);
}

/* The shapes that take each branch of the format, bit for bit. */
static void test_shapes(void **state) {
    (void)state;
    model_example a;
    unsigned char buf[MODEL_EXAMPLE_MAX_BYTES];

    model_example_reset(&a); /* nothing at all: the header alone */
    assert_int_equal(round_trip(&a, buf), 6);

    model_example_reset(&a); /* every val 1.0f: none stored */
    for (uint32_t i = 0; i < 20; i++)
        assert_true(model_example_add(&a, i, 1.0f, (uint8_t)i));
    assert_int_equal(round_trip(&a, buf), 6 + (20 * 5 + 7) / 8 + 5 /* codes */);

    model_example_reset(&a); /* no val 1.0f: all stored, and -0.0f / NaN kept */
    for (uint32_t i = 0; i < 20; i++)
        assert_true(model_example_add(&a, 1000u + i, i % 2 ? -0.0f : f32_of(0x7fc0beefu + i), 3));
    round_trip(&a, buf);

    model_example_reset(&a); /* mixed: the bitmap */
    for (uint32_t i = 0; i < 20; i++)
        assert_true(model_example_add(&a, 1u << (i % 32), i % 3 ? 1.0f : f32_of(0xffc00001u), 3));
    round_trip(&a, buf);

    model_example_reset(&a); /* values next to 1.0f are not 1.0f */
    assert_true(model_example_add(&a, 5, f32_of(ONE_BITS - 1), 0));
    assert_true(model_example_add(&a, 5, f32_of(ONE_BITS + 1), 0));
    assert_true(model_example_add(&a, 5, -1.0f, 0));
    assert_true(model_example_add(&a, 5, 1.0f, 0));
    round_trip(&a, buf);

    model_example_reset(&a); /* idx 0 everywhere: width 0, no idx bytes */
    for (uint32_t i = 0; i < 9; i++)
        assert_true(model_example_add(&a, 0, 1.0f, 200));
    assert_int_equal(round_trip(&a, buf), 6 + 0 + 3 + 1 /* one literal, then +0 */);

    model_example_reset(&a); /* full width and field steps that wrap */
    for (uint32_t i = 0; i < MODEL_MAX_SPARSE; i++)
        assert_true(model_example_add(&a, UINT32_MAX - i, 1.0f, (uint8_t)(254 + i)));
    round_trip(&a, buf);

    model_example_reset(&a); /* random fields: raw bytes beat the codes */
    for (uint32_t i = 0; i < 16; i++)
        assert_true(model_example_add(&a, i, 1.0f, (uint8_t)(i * 37 + 11)));
    assert_int_equal(round_trip(&a, buf), 6 + 8 + 16);

    model_example_reset(&a); /* dense: -0.0f, NaN payload, 1.0f, zeros; weight bits */
    a.n_dense = MODEL_MAX_DENSE;
    memset(a.dense, 0, sizeof a.dense);
    a.dense[3] = 0.25f;
    a.dense[7] = -0.0f;
    a.dense[30] = 1.0f;
    a.dense[31] = f32_of(0x7fc00123u);
    a.weight = -0.0f;
    model_example_set_label(&a, MODEL_LABEL_LIKE, f32_of(0xffc00042u));
    model_example_set_label(&a, MODEL_LABEL_CONVERSION, -0.0f);
    assert_int_equal(round_trip(&a, buf), 6 + 4 + 4 + 4 * 4 + 2 * 4);

    model_example_reset(&a); /* n_dense not a multiple of 8 */
    a.n_dense = 9;
    for (uint32_t i = 0; i < 9; i++)
        a.dense[i] = (float)i;
    assert_int_equal(round_trip(&a, buf), 6 + 2 + 8 * 4);
}

/* The largest example of all fits the bound buffers are sized with. */
static void test_worst(void **state) {
    (void)state;
    model_example a;
    unsigned char buf[MODEL_EXAMPLE_MAX_BYTES];
    model_example_reset(&a);
    for (uint32_t i = 0; i < MODEL_MAX_SPARSE; i++)
        assert_true(model_example_add(&a, 0x80000000u | i, 2.0f, (uint8_t)(i * 101)));
    assert_false(model_example_add(&a, 1, 1.0f, 0));
    a.n_dense = MODEL_MAX_DENSE;
    for (uint32_t i = 0; i < MODEL_MAX_DENSE; i++)
        a.dense[i] = -1.0f;
    for (int l = 0; l < MODEL_LABEL_COUNT; l++)
        model_example_set_label(&a, (model_label)l, 0.5f);
    a.weight = 3.0f;
    size_t len = round_trip(&a, buf);
    assert_int_equal(len, 6 + 4 + 128 * 9 + 4 + 32 * 4 + 6 * 4);
    assert_true(len <= MODEL_EXAMPLE_MAX_BYTES);
}

/* Thousands of random examples round-trip through version 3 and through
 * the kept version-1 and version-2 encoders, and version 3 is never larger
 * than version 2. */
static void test_random(void **state) {
    (void)state;
    model_example a, b;
    unsigned char buf[MODEL_EXAMPLE_MAX_BYTES], old[MODEL_EXAMPLE_MAX_BYTES];
    for (int it = 0; it < 4000; it++) {
        uint32_t n = it % 50 == 0 ? MODEL_MAX_SPARSE : rnd() % (MODEL_MAX_SPARSE + 1);
        make_random(&a, n, rnd() % 33, rnd() % 9);
        size_t len = round_trip(&a, buf);
        size_t l2 = encode_v2(&a, old);
        assert_true(len <= l2);
        assert_int_equal(model_example_decode(old, l2, &b), SL_OK);
        assert_same(&a, &b);
        size_t l1 = encode_v1(&a, old);
        assert_int_equal(model_example_decode(old, l1, &b), SL_OK);
        assert_same(&a, &b);
    }
}

/* The featurizer's kind of example: two thirds of version 2. */
static void test_typical(void **state) {
    (void)state;
    model_example a;
    unsigned char buf[MODEL_EXAMPLE_MAX_BYTES], old[MODEL_EXAMPLE_MAX_BYTES];
    make_typical(&a);
    size_t len = round_trip(&a, buf);
    /* header 6, idx 53 × 22 bits, 14 code bytes + 1 literal (the step to
     * 16), mask 4, 16 dense values */
    assert_int_equal(len, 6 + 146 + 14 + 1 + 4 + 16 * 4);
    assert_int_equal(encode_v2(&a, old), 16 + 53 * 5 + 16 * 4);
}

/* The version-3 bytes of a small example, written out: the format is
 * persisted, so a change to it must be a new version, not an accident. */
static void test_golden(void **state) {
    (void)state;
    model_example a, b;
    model_example_reset(&a);
    assert_true(model_example_add(&a, 5, 1.0f, 0));  /* code 1 (255 + 1) */
    assert_true(model_example_add(&a, 2, 2.0f, 0));  /* code 0 */
    assert_true(model_example_add(&a, 7, 1.0f, 9));  /* literal 9 */
    a.n_dense = 3;
    a.dense[0] = 0.0f;
    a.dense[1] = 1.0f;
    a.dense[2] = 0.0f;
    model_example_set_label(&a, MODEL_LABEL_CLICK, 1.0f);
    static const unsigned char want[] = {
        3, 3, 3, 0x06, 3, 0x01, /* version, n, n_dense, flags: bitmap + weight 1, width 3, click */
        0xd5, 0x01,             /* idx 5, 2, 7 at 3 bits: 101 010 111 */
        0x05, 0, 0, 0, 0x40,    /* val bitmap (0 and 2 are 1.0f), then 2.0f */
        0x31, 9,                /* field codes 1, 0, 3; literal 9 */
        0x02, 0, 0, 0x80, 0x3f, /* dense mask (1), 1.0f */
        0, 0, 0x80, 0x3f,       /* click 1.0f */
    };
    unsigned char buf[MODEL_EXAMPLE_MAX_BYTES];
    size_t len;
    assert_int_equal(model_example_encode(&a, buf, sizeof buf, &len), SL_OK);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    assert_int_equal(model_example_decode(want, sizeof want, &b), SL_OK);
    assert_same(&a, &b);
}

/* Version 1, built by hand (state written before the compact forms). */
static void test_version1(void **state) {
    (void)state;
    unsigned char v1[16 + 2 * 9 + 2 * 4 + 4] = {1, 2, 2, 0};
    v1[4] = 1; /* has_label: click */
    float one = 1.0f, half = 0.5f, three = 3.0f;
    memcpy(v1 + 8, &one, 4);    /* weight */
    v1[16] = 7;                 /* idx[0] = 7 */
    v1[20] = 9;                 /* idx[1] = 9 */
    memcpy(v1 + 24, &half, 4);  /* val[0] */
    memcpy(v1 + 28, &three, 4); /* val[1] */
    v1[32] = 4;                 /* field[0] */
    v1[33] = 5;                 /* field[1] */
    memcpy(v1 + 34, &three, 4); /* dense[0] */
    memcpy(v1 + 38, &half, 4);  /* dense[1] */
    memcpy(v1 + 42, &one, 4);   /* label click */
    model_example b;
    assert_int_equal(model_example_decode(v1, sizeof v1, &b), SL_OK);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.idx[1], 9);
    assert_true(b.val[0] == 0.5f && b.val[1] == 3.0f);
    assert_int_equal(b.field[1], 5);
    assert_true(b.dense[0] == 3.0f && b.dense[1] == 0.5f);
    assert_true(b.label[MODEL_LABEL_CLICK] == 1.0f);
    assert_int_equal(model_example_decode(v1, sizeof v1 - 1, &b), SL_ERR_CORRUPT);
}

/* Version 2 refuses what it always refused. */
static void test_version2_refusals(void **state) {
    (void)state;
    model_example a, b;
    unsigned char buf[MODEL_EXAMPLE_MAX_BYTES];
    make_typical(&a);
    size_t len = encode_v2(&a, buf);
    assert_int_equal(model_example_decode(buf, len, &b), SL_OK);
    assert_same(&a, &b);
    assert_int_equal(model_example_decode(buf, len - 1, &b), SL_ERR_CORRUPT);
    buf[3] |= 2; /* an unknown flag */
    assert_int_equal(model_example_decode(buf, len, &b), SL_ERR_CORRUPT);
    buf[3] &= 1;
    buf[2] = 30; /* n_dense 30, but the mask has bit 30 */
    assert_int_equal(model_example_decode(buf, len, &b), SL_ERR_CORRUPT);
}

/* Truncations, extra bytes, counts and flags out of range, unused bits
 * set: all SL_ERR_CORRUPT. */
static void test_corrupt(void **state) {
    (void)state;
    model_example a, b;
    unsigned char buf[MODEL_EXAMPLE_MAX_BYTES + 1], bad[MODEL_EXAMPLE_MAX_BYTES + 1];
    model_example_reset(&a);
    for (uint32_t i = 0; i < 13; i++) /* 13: the last byte of each bit run has unused bits */
        assert_true(model_example_add(&a, 0x155555u + i, i % 2 ? 1.0f : 4.0f, (uint8_t)i));
    a.n_dense = 5;
    memset(a.dense, 0, sizeof a.dense);
    a.dense[4] = 2.0f;
    a.weight = 2.0f;
    model_example_set_label(&a, MODEL_LABEL_SHARE, 1.0f);
    size_t len;
    assert_int_equal(model_example_encode(&a, buf, sizeof buf, &len), SL_OK);
    assert_int_equal(buf[3], 0x02); /* bitmap, codes, weight stored */
    assert_int_equal(model_example_decode(buf, len, &b), SL_OK);
    for (size_t k = 0; k < len; k++)
        assert_int_equal(model_example_decode(buf, k, &b), SL_ERR_CORRUPT);
    buf[len] = 0;
    assert_int_equal(model_example_decode(buf, len + 1, &b), SL_ERR_CORRUPT);

    const size_t idx_end = 6 + 4 + (13 * 21 + 7) / 8; /* width 21 */
    const size_t bm_end = idx_end + 2, codes_end = bm_end + 7 * 4 + 4;
    struct {
        size_t at;          /* byte to change */
        unsigned char set;  /* new value (when mask is 0) */
        unsigned char mask; /* or: bits to set */
    } cases[] = {
        {0, 4, 0},                 /* unknown version */
        {0, 0, 0},                 /* version 0 */
        {1, 129, 0},               /* n past MODEL_MAX_SPARSE */
        {2, 33, 0},                /* n_dense past MODEL_MAX_DENSE */
        {3, 0, 0x10},              /* an unknown flag */
        {3, 0x03, 0},              /* val form 3 */
        {4, 33, 0},                /* width past 32 */
        {5, 0, 0x40},              /* a label past MODEL_LABEL_COUNT */
        {idx_end - 1, 0, 0x80},    /* an unused idx bit */
        {bm_end - 1, 0, 0x80},     /* an unused bitmap bit */
        {codes_end - 1, 0, 0xc0},  /* an unused field code */
        {codes_end, 0, 0x80},      /* a dense value past n_dense (mask byte) */
        {2, 4, 0},                 /* n_dense 4, the mask still names dense[4] */
    };
    assert_int_equal(codes_end + 1 + 4 + 4, len); /* no literal fields; mask, dense, label */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memcpy(bad, buf, len);
        if (cases[c].mask)
            bad[cases[c].at] |= cases[c].mask;
        else
            bad[cases[c].at] = cases[c].set;
        assert_int_equal(model_example_decode(bad, len, &b), SL_ERR_CORRUPT);
    }
    /* An example out of the limits is not encoded. */
    a.n = MODEL_MAX_SPARSE + 1;
    assert_int_equal(model_example_encode(&a, buf, sizeof buf, &len), SL_ERR_LIMIT);
    a.n = 13;
    a.has_label = 1u << MODEL_LABEL_COUNT;
    assert_int_equal(model_example_encode(&a, buf, sizeof buf, &len), SL_ERR_LIMIT);
    assert_int_equal(model_example_decode(buf, 0, &b), SL_ERR_CORRUPT);
}

/* Every single bit flipped in random encodings: the decoder reads nothing
 * out of bounds (ASan) and what it accepts is within the limits. */
static void test_flips(void **state) {
    (void)state;
    model_example a, b;
    unsigned char buf[MODEL_EXAMPLE_MAX_BYTES];
    for (int it = 0; it < 40; it++) {
        make_random(&a, rnd() % 40, rnd() % 33, rnd() % 9);
        size_t len;
        assert_int_equal(model_example_encode(&a, buf, sizeof buf, &len), SL_OK);
        for (size_t bit = 0; bit < 8 * len; bit++) {
            buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            if (model_example_decode(buf, len, &b) == SL_OK)
                assert_true(b.n <= MODEL_MAX_SPARSE && b.n_dense <= MODEL_MAX_DENSE &&
                            b.has_label < (1u << MODEL_LABEL_COUNT));
            buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_worst),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_typical),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_version1),
        cmocka_unit_test(test_version2_refusals),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
