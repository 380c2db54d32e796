/* test_example.c — the example's byte form round-trips and refuses garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "model_example.h"

static void test_round_trip(void **state) {
    (void)state;
    model_example a, b;
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
    unsigned char buf[MODEL_EXAMPLE_MAX_BYTES];
    size_t len;
    assert_int_equal(model_example_encode(&a, buf, sizeof buf, &len), SL_OK);
    assert_int_equal(len, model_example_encoded_size(&a));
    assert_int_equal(model_example_decode(buf, len, &b), SL_OK);
    assert_int_equal(b.n, 40);
    assert_memory_equal(a.idx, b.idx, 40 * sizeof a.idx[0]);
    assert_memory_equal(a.val, b.val, 40 * sizeof a.val[0]);
    assert_memory_equal(a.field, b.field, 40);
    assert_memory_equal(a.dense, b.dense, 3 * sizeof a.dense[0]);
    assert_int_equal(b.has_label, a.has_label);
    assert_true(b.label[MODEL_LABEL_CLICK] == 1.0f);
    assert_true(b.label[MODEL_LABEL_DWELL] == 12345.5f);
    assert_true(b.weight == 10.0f);
    /* Truncated, wrong version, too small a buffer. */
    assert_int_equal(model_example_decode(buf, len - 1, &b), SL_ERR_CORRUPT);
    buf[0] = 99;
    assert_int_equal(model_example_decode(buf, len, &b), SL_ERR_CORRUPT);
    assert_int_equal(model_example_encode(&a, buf, 10, &len), SL_ERR_LIMIT);
}

/* The common case is compact: indicator features (every val 1.0f) keep no
 * values, zero dense values are not stored; -0.0f, NaN bits and the rest
 * come back bit for bit. */
static void test_compact(void **state) {
    (void)state;
    model_example a, b;
    model_example_reset(&a);
    for (uint32_t i = 0; i < 60; i++)
        assert_true(model_example_add(&a, i * 104729u, 1.0f, (uint8_t)i));
    a.n_dense = 32;
    memset(a.dense, 0, sizeof a.dense);
    a.dense[3] = 0.25f;
    a.dense[7] = -0.0f;
    uint32_t nan_bits = 0x7fc00123u;
    memcpy(&a.dense[31], &nan_bits, 4);
    model_example_set_label(&a, MODEL_LABEL_LIKE, 1.0f);
    unsigned char buf[MODEL_EXAMPLE_MAX_BYTES];
    size_t len;
    assert_int_equal(model_example_encode(&a, buf, sizeof buf, &len), SL_OK);
    /* header 16 + 60 × (idx 4 + field 1) + 3 dense + 1 label */
    assert_int_equal(len, 16 + 60 * 5 + 3 * 4 + 4);
    assert_int_equal(model_example_decode(buf, len, &b), SL_OK);
    assert_int_equal(b.n, 60);
    assert_memory_equal(a.idx, b.idx, 60 * sizeof a.idx[0]);
    assert_memory_equal(a.val, b.val, 60 * sizeof a.val[0]);
    assert_memory_equal(a.field, b.field, 60);
    assert_memory_equal(a.dense, b.dense, sizeof a.dense); /* -0.0f and the NaN payload too */
    assert_true(b.label[MODEL_LABEL_LIKE] == 1.0f);
    /* Unknown flag bits and a dense value past n_dense are refused. */
    buf[3] |= 2;
    assert_int_equal(model_example_decode(buf, len, &b), SL_ERR_CORRUPT);
    buf[3] &= 1;
    buf[2] = 31; /* n_dense 31, but the mask has bit 31 */
    assert_int_equal(model_example_decode(buf, len, &b), SL_ERR_CORRUPT);
}

/* Version 1 (state written before the compact form) still decodes. */
static void test_version1(void **state) {
    (void)state;
    unsigned char v1[16 + 2 * 9 + 2 * 4 + 4] = {1, 2, 2, 0};
    v1[4] = 1; /* has_label: click */
    float one = 1.0f, half = 0.5f, three = 3.0f;
    memcpy(v1 + 8, &one, 4);             /* weight */
    v1[16] = 7;                          /* idx[0] = 7 */
    v1[20] = 9;                          /* idx[1] = 9 */
    memcpy(v1 + 24, &half, 4);           /* val[0] */
    memcpy(v1 + 28, &three, 4);          /* val[1] */
    v1[32] = 4;                          /* field[0] */
    v1[33] = 5;                          /* field[1] */
    memcpy(v1 + 34, &three, 4);          /* dense[0] */
    memcpy(v1 + 38, &half, 4);           /* dense[1] */
    memcpy(v1 + 42, &one, 4);            /* label click */
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

static void test_full(void **state) {
    (void)state;
    model_example ex;
    model_example_reset(&ex);
    for (int i = 0; i < MODEL_MAX_SPARSE; i++)
        assert_true(model_example_add(&ex, (uint32_t)i, 1.0f, 0));
    assert_false(model_example_add(&ex, 1, 1.0f, 0));
    assert_int_equal(ex.n, MODEL_MAX_SPARSE);
    unsigned char buf[MODEL_EXAMPLE_MAX_BYTES];
    size_t len;
    for (int l = 0; l < MODEL_LABEL_COUNT; l++)
        model_example_set_label(&ex, (model_label)l, 1.0f);
    ex.n_dense = MODEL_MAX_DENSE;
    assert_int_equal(model_example_encode(&ex, buf, sizeof buf, &len), SL_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_compact),
        cmocka_unit_test(test_version1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
