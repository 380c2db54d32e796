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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
