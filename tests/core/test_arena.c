/* test_arena.c — arenas stay inside their limit and buffers write valid JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sl_arena.h"

static void test_arena_limit(void **state) {
    (void)state;
    sl_arena a;
    sl_arena_init(&a, 1024, 4096);
    assert_non_null(sl_arena_alloc(&a, 1000));
    assert_non_null(sl_arena_alloc(&a, 3000));
    assert_null(sl_arena_alloc(&a, 1000)); /* would pass the 4096 cap */
    sl_arena_reset(&a);
    assert_non_null(sl_arena_alloc(&a, 1000));
    char *p = sl_arena_memdup(&a, "abc", 3);
    assert_string_equal(p, "abc");
    assert_int_equal((uintptr_t)sl_arena_alloc(&a, 1) % 8, 0);
    sl_arena_deinit(&a);
}

static void test_buf_json(void **state) {
    (void)state;
    sl_buf b;
    sl_buf_init(&b, 1 << 20);
    bool lossy = false;
    assert_int_equal(sl_buf_json_str(&b, "a\"\\\n\x01\xc3\xa9\xff", 8, &lossy), SL_OK);
    assert_string_equal(b.p, "\"a\\\"\\\\\\n\\u0001\xc3\xa9\xef\xbf\xbd\"");
    assert_true(lossy);
    sl_buf_clear(&b);
    assert_int_equal(sl_buf_json_num(&b, 0.1), SL_OK);
    assert_int_equal(sl_buf_putc(&b, ' '), SL_OK);
    assert_int_equal(sl_buf_json_num(&b, 1.0 / 0.0), SL_OK);
    assert_int_equal(sl_buf_putc(&b, ' '), SL_OK);
    assert_int_equal(sl_buf_json_i64(&b, INT64_MIN), SL_OK);
    assert_string_equal(b.p, "0.1 null -9223372036854775808");
    sl_buf_clear(&b);
    assert_int_equal(sl_buf_json_fixed(&b, 0.0123456789, 6), SL_OK);
    assert_int_equal(sl_buf_putc(&b, ' '), SL_OK);
    assert_int_equal(sl_buf_json_fixed(&b, -2.5, 2), SL_OK);
    assert_int_equal(sl_buf_putc(&b, ' '), SL_OK);
    assert_int_equal(sl_buf_json_fixed(&b, 0.9999999, 6), SL_OK);
    assert_int_equal(sl_buf_putc(&b, ' '), SL_OK);
    assert_int_equal(sl_buf_json_fixed(&b, -0.0000001, 3), SL_OK);
    assert_string_equal(b.p, "0.012346 -2.50 1.000000 0.000");
    sl_buf_deinit(&b);

    sl_buf small;
    sl_buf_init(&small, 8);
    assert_int_equal(sl_buf_append(&small, "1234567", 7), SL_OK);
    assert_int_equal(sl_buf_append(&small, "89", 2), SL_ERR_LIMIT);
    assert_int_equal(small.len, 7);
    sl_buf_deinit(&small);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_limit),
        cmocka_unit_test(test_buf_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
