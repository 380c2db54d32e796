/* test_metrics.c — progressive-validation metrics against hand-computed values. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model_metrics.h"

static void init_m(model_metrics *m, int window_events, int auc_window) {
    sl_config_metrics cfg = {.window_events = window_events, .auc_window = auc_window};
    sl_err err = {{0}};
    assert_int_equal(model_metrics_init(m, &cfg, 1.0, &err), SL_OK);
}

static void assert_near(double a, double b, double tol) {
    if (!(fabs(a - b) <= tol))
        fail_msg("%.12g != %.12g (tol %g)", a, b, tol);
}

/* O(n²) reference: every (positive, negative) pair, ties half credit. */
static double naive_auc(const float *p, const float *y, const float *w, int n) {
    double num = 0, den = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double pw = w[i] * y[i] * w[j] * (1 - y[j]);
            den += pw;
            num += pw * (p[i] > p[j] ? 1.0 : p[i] == p[j] ? 0.5 : 0.0);
        }
    return num / den;
}

static void test_logloss_hand(void **state) {
    (void)state;
    model_metrics m;
    init_m(&m, 100, 100);
    model_metrics_add(&m, 0.9f, 1, 1);
    model_metrics_add(&m, 0.2f, 0, 1);
    model_metrics_add(&m, 0.6f, 0, 1);
    double want = -(log(0.9) + log(0.8) + log(0.4)) / 3; /* 0.414930 */
    assert_near(model_metrics_logloss(&m, false), want, 1e-6);
    assert_near(model_metrics_logloss(&m, true), want, 1e-6);
    /* Clipping: p = 0 on a positive costs -ln(1e-7), not infinity. */
    model_metrics m2;
    init_m(&m2, 100, 100);
    model_metrics_add(&m2, 0.0f, 1, 1);
    assert_near(model_metrics_logloss(&m2, false), -log(1e-7), 1e-6);
    /* A weight of 2 counts like the example twice. */
    model_metrics m3;
    init_m(&m3, 100, 100);
    model_metrics_add(&m3, 0.9f, 1, 2);
    model_metrics_add(&m3, 0.2f, 0, 1);
    model_metrics_add(&m3, 0.2f, 0, 1);
    assert_near(model_metrics_logloss(&m3, false), -(2 * log(0.9) + 2 * log(0.8)) / 4, 1e-6);
    model_metrics_deinit(&m);
    model_metrics_deinit(&m2);
    model_metrics_deinit(&m3);
}

static void test_auc_hand(void **state) {
    (void)state;
    model_metrics m;
    init_m(&m, 100, 100);
    /* neg 0.1, pos 0.4, neg 0.4, pos 0.8: pairs 1 + 0.5 + 1 + 1 of 4. */
    model_metrics_add(&m, 0.1f, 0, 1);
    model_metrics_add(&m, 0.4f, 1, 1);
    model_metrics_add(&m, 0.4f, 0, 1);
    model_metrics_add(&m, 0.8f, 1, 1);
    assert_near(model_metrics_auc(&m, false), 0.875, 1e-12);
    model_metrics_deinit(&m);

    /* Perfect, inverted, all tied. */
    model_metrics a, b, c;
    init_m(&a, 100, 100);
    init_m(&b, 100, 100);
    init_m(&c, 100, 100);
    for (int i = 0; i < 20; i++) {
        float y = (float)(i % 2);
        model_metrics_add(&a, y ? 0.9f : 0.1f, y, 1);
        model_metrics_add(&b, y ? 0.1f : 0.9f, y, 1);
        model_metrics_add(&c, 0.5f, y, 1);
    }
    assert_near(model_metrics_auc(&a, false), 1.0, 1e-12);
    assert_near(model_metrics_auc(&b, false), 0.0, 1e-12);
    assert_near(model_metrics_auc(&c, false), 0.5, 1e-12);
    /* One class only: undefined. */
    model_metrics d;
    init_m(&d, 100, 100);
    model_metrics_add(&d, 0.3f, 1, 1);
    assert_true(isnan(model_metrics_auc(&d, false)));
    model_metrics_deinit(&a);
    model_metrics_deinit(&b);
    model_metrics_deinit(&c);
    model_metrics_deinit(&d);
}

static void test_auc_random_matches_naive(void **state) {
    (void)state;
    enum { N = 400 };
    float p[N], y[N], w[N];
    uint32_t s = 12345;
    model_metrics m;
    init_m(&m, 1000, N);
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)((s >> 24) % 20) / 20.0f; /* coarse: many ties */
        s = s * 1664525u + 1013904223u;
        y[i] = (float)((s >> 16) & 1);
        w[i] = (i % 3) ? 1.0f : 2.0f;
        model_metrics_add(&m, p[i], y[i], w[i]);
    }
    /* p was clipped inside but the order is unchanged. */
    for (int i = 0; i < N; i++)
        p[i] = p[i] < 1e-7f ? 1e-7f : p[i];
    double want = naive_auc(p, y, w, N);
    assert_near(model_metrics_auc(&m, false), want, 1e-9);
    /* Random scores on random labels sit near 0.5. */
    assert_true(fabs(want - 0.5) < 0.1);
    model_metrics_deinit(&m);
}

static void test_auc_sliding_window_forgets(void **state) {
    (void)state;
    model_metrics m;
    init_m(&m, 1000, 4);
    for (int i = 0; i < 10; i++) /* inverted */
        model_metrics_add(&m, (i % 2) ? 0.1f : 0.9f, (float)(i % 2), 1);
    assert_near(model_metrics_auc(&m, false), 0.0, 1e-12);
    for (int i = 0; i < 3; i++) /* perfect, but one inverted example remains */
        model_metrics_add(&m, (i % 2) ? 0.9f : 0.1f, (float)(i % 2), 1);
    assert_true(model_metrics_auc(&m, false) > 0.0 && model_metrics_auc(&m, false) < 1.0);
    model_metrics_add(&m, 0.9f, 1, 1);
    assert_near(model_metrics_auc(&m, false), 1.0, 1e-12);
    /* The window range only looks at its own examples. */
    model_metrics_reset_window(&m);
    assert_true(isnan(model_metrics_auc(&m, true)));
    model_metrics_add(&m, 0.2f, 1, 1);
    model_metrics_add(&m, 0.8f, 0, 1);
    assert_near(model_metrics_auc(&m, true), 0.0, 1e-12);
    model_metrics_deinit(&m);
}

static void test_ne_base_rate_is_one(void **state) {
    (void)state;
    model_metrics m;
    init_m(&m, 1000, 1000);
    for (int i = 0; i < 100; i++) /* rate 0.3 */
        model_metrics_add(&m, 0.3f, (i % 10) < 3 ? 1.0f : 0.0f, 1);
    assert_near(model_metrics_ne(&m, false), 1.0, 1e-6);
    assert_near(model_metrics_calibration(&m, false), 1.0, 1e-6);
    /* A better-than-base predictor has NE < 1, a worse one > 1. */
    model_metrics g, b;
    init_m(&g, 1000, 1000);
    init_m(&b, 1000, 1000);
    for (int i = 0; i < 100; i++) {
        float y = (i % 10) < 3 ? 1.0f : 0.0f;
        model_metrics_add(&g, y ? 0.8f : 0.1f, y, 1);
        model_metrics_add(&b, y ? 0.1f : 0.8f, y, 1);
    }
    assert_true(model_metrics_ne(&g, false) < 1.0);
    assert_true(model_metrics_ne(&b, false) > 1.0);
    /* All-negative: no entropy, NE undefined. */
    model_metrics z;
    init_m(&z, 10, 10);
    model_metrics_add(&z, 0.1f, 0, 1);
    assert_true(isnan(model_metrics_ne(&z, false)));
    model_metrics_deinit(&m);
    model_metrics_deinit(&g);
    model_metrics_deinit(&b);
    model_metrics_deinit(&z);
}

static void test_calibration_ctr_conversion(void **state) {
    (void)state;
    model_metrics m;
    init_m(&m, 1000, 1000);
    for (int i = 0; i < 100; i++) /* predicts 0.2, observes 0.1 */
        model_metrics_add(&m, 0.2f, (i % 10) == 0 ? 1.0f : 0.0f, 1);
    for (int i = 0; i < 8; i++)
        model_metrics_add_conversion(&m, i < 2 ? 1.0f : 0.0f, 1);
    assert_near(model_metrics_calibration(&m, false), 2.0, 1e-6);
    sl_buf out;
    sl_buf_init(&out, 4096);
    assert_int_equal(model_metrics_report_json(&m, &out, false), SL_OK);
    assert_non_null(strstr(out.p, "\"ctr\":0.1"));
    assert_non_null(strstr(out.p, "\"conv_rate\":0.25"));
    assert_non_null(strstr(out.p, "\"conv_n\":8"));
    assert_non_null(strstr(out.p, "\"range\":\"total\""));
    assert_non_null(strstr(out.p, "\"mae\":null"));
    sl_buf_deinit(&out);
    model_metrics_deinit(&m);
}

static void test_regression(void **state) {
    (void)state;
    model_metrics m;
    init_m(&m, 10, 10);
    model_metrics_add_real(&m, 1.0f, 1.5f, 1); /* |e| = 0.5: huber 0.125 */
    model_metrics_add_real(&m, 0.0f, 3.0f, 1); /* |e| = 3: huber 1·(3 - 0.5) = 2.5 */
    sl_buf out;
    sl_buf_init(&out, 4096);
    assert_int_equal(model_metrics_report_json(&m, &out, true), SL_OK);
    assert_non_null(strstr(out.p, "\"mae\":1.75"));
    assert_non_null(strstr(out.p, "\"huber\":1.3125"));
    assert_non_null(strstr(out.p, "\"real_n\":2"));
    /* The binary metrics are undefined without binary examples. */
    assert_non_null(strstr(out.p, "\"logloss\":null"));
    sl_buf_deinit(&out);
    model_metrics_deinit(&m);
}

static void test_windows_roll_exactly(void **state) {
    (void)state;
    model_metrics m;
    init_m(&m, 5, 100);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 4; i++) {
            model_metrics_add(&m, 0.5f, (float)(i % 2), 1);
            assert_false(model_metrics_window_full(&m));
        }
        model_metrics_add(&m, 0.5f, 1, 1);
        assert_true(model_metrics_window_full(&m));
        assert_int_equal(m.win.n, 5);
        model_metrics_reset_window(&m);
        assert_false(model_metrics_window_full(&m));
        assert_int_equal(m.win.n, 0);
    }
    assert_int_equal(m.all.n, 15);
    assert_int_equal(m.windows, 3);
    /* Invalid inputs are counted, not added. */
    model_metrics_add(&m, NAN, 1, 1);
    model_metrics_add(&m, 0.5f, 1, -1);
    assert_int_equal(m.all.n, 15);
    assert_int_equal(m.all.invalid, 2);
    model_metrics_deinit(&m);
}

static void test_encode_round_trip(void **state) {
    (void)state;
    model_metrics a, b;
    init_m(&a, 7, 16);
    uint32_t s = 7;
    for (int i = 0; i < 40; i++) {
        s = s * 1664525u + 1013904223u;
        model_metrics_add(&a, (float)(s >> 8) / 16777216.0f, (float)(i % 3 == 0), 1);
        if (model_metrics_window_full(&a))
            model_metrics_reset_window(&a);
    }
    model_metrics_add_conversion(&a, 1, 1);
    model_metrics_add_real(&a, 2, 3, 1);
    sl_buf enc, ja, jb;
    sl_buf_init(&enc, 1 << 20);
    sl_buf_init(&ja, 4096);
    sl_buf_init(&jb, 4096);
    assert_int_equal(model_metrics_encode(&a, &enc), SL_OK);
    init_m(&b, 7, 16);
    sl_err err = {{0}};
    assert_int_equal(model_metrics_decode(&b, enc.p, enc.len, &err), SL_OK);
    for (int w = 0; w < 2; w++) {
        sl_buf_clear(&ja);
        sl_buf_clear(&jb);
        assert_int_equal(model_metrics_report_json(&a, &ja, w), SL_OK);
        assert_int_equal(model_metrics_report_json(&b, &jb, w), SL_OK);
        assert_string_equal(ja.p, jb.p);
    }
    /* Both go on identically. */
    model_metrics_add(&a, 0.7f, 1, 1);
    model_metrics_add(&b, 0.7f, 1, 1);
    assert_true(model_metrics_auc(&a, false) == model_metrics_auc(&b, false));
    /* A smaller ring keeps the most recent examples. */
    model_metrics c;
    init_m(&c, 7, 4);
    assert_int_equal(model_metrics_decode(&c, enc.p, enc.len, &err), SL_OK);
    assert_int_equal(c.ring_len, 4);
    /* Truncation and a wrong version are refused, m unchanged. */
    for (size_t n = 0; n < enc.len; n++)
        assert_int_equal(model_metrics_decode(&c, enc.p, n, &err), SL_ERR_CORRUPT);
    enc.p[4] = 9;
    assert_int_equal(model_metrics_decode(&c, enc.p, enc.len, &err), SL_ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "version"));
    assert_int_equal(c.ring_len, 4);
    sl_buf_deinit(&enc);
    sl_buf_deinit(&ja);
    sl_buf_deinit(&jb);
    model_metrics_deinit(&a);
    model_metrics_deinit(&b);
    model_metrics_deinit(&c);
}

static void test_init_refuses(void **state) {
    (void)state;
    model_metrics m;
    sl_err err = {{0}};
    sl_config_metrics cfg = {.window_events = 0, .auc_window = 10};
    assert_int_equal(model_metrics_init(&m, &cfg, 1.0, &err), SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "window_events"));
    cfg = (sl_config_metrics){.window_events = 10, .auc_window = 0};
    assert_int_equal(model_metrics_init(&m, &cfg, 1.0, &err), SL_ERR_INVALID);
    model_metrics_deinit(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logloss_hand),
        cmocka_unit_test(test_auc_hand),
        cmocka_unit_test(test_auc_random_matches_naive),
        cmocka_unit_test(test_auc_sliding_window_forgets),
        cmocka_unit_test(test_ne_base_rate_is_one),
        cmocka_unit_test(test_calibration_ctr_conversion),
        cmocka_unit_test(test_regression),
        cmocka_unit_test(test_windows_roll_exactly),
        cmocka_unit_test(test_encode_round_trip),
        cmocka_unit_test(test_init_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
