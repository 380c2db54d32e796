/*
 * test_decay.c — decayed aggregates against a naive reference (the sum of
 * x_i * 2^(-(t - t_i)/h) over every event, in long double), and the property
 * that makes them cheap: any order of the same events gives the same values.
 * Also late events, reads before/at/after t_last, zero, negative and
 * non-finite inputs, a key decayed to nothing, ratios, ages and encoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "sl_rand.h"
#include "state_decay.h"

#define N_EVENTS 2000
#define T0       INT64_C(1767225600000) /* 2026-01-01, ms */

typedef struct ev {
    int64_t t; /* event time, ms */
    double x;  /* contribution */
} ev;

static state_decay_spec spec4(void) {
    /* A minute, an hour, a day, a month: short ones make late events decay
     * a lot, long ones barely at all. */
    const int64_t hl[4] = {60000, 3600000, 86400000, 2592000000};
    state_decay_spec s;
    assert_int_equal(state_decay_spec_init(&s, hl, 4, NULL), SL_OK);
    return s;
}

/* The reference: every event weighted by its own age at t. Events after t
 * are included with weight 2^(+...) only through the "as of t_last" rule,
 * so callers pass t >= max t_i. */
static long double naive(const ev *e, int n, double h, int64_t t) {
    long double s = 0;
    for (int i = 0; i < n; i++)
        s += (long double)e[i].x * exp2l(-((long double)t - (long double)e[i].t) / h);
    return s;
}

static int64_t max_t(const ev *e, int n) {
    int64_t m = INT64_MIN;
    for (int i = 0; i < n; i++)
        if (e[i].t > m)
            m = e[i].t;
    return m;
}

static void gen(sl_rand *r, ev *e, int n, double lo, double hi) {
    /* Mostly increasing times with jitter (late arrivals of up to an hour),
     * spread over ten days. */
    int64_t t = T0;
    for (int i = 0; i < n; i++) {
        t += (int64_t)sl_rand_below(r, 2 * 432000); /* mean 7.2 min apart */
        int64_t jitter = sl_rand_bernoulli(r, 0.2) ? (int64_t)sl_rand_below(r, 3600000) : 0;
        e[i].t = t - jitter;
        e[i].x = sl_rand_uniform(r, lo, hi);
    }
}

static void shuffle(sl_rand *r, ev *e, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)sl_rand_below(r, (uint64_t)i + 1);
        ev tmp = e[i];
        e[i] = e[j];
        e[j] = tmp;
    }
}

static void fold(const ev *e, int n, const state_decay_spec *s, state_decay *d) {
    state_decay_init(d);
    for (int i = 0; i < n; i++)
        assert_int_equal(state_decay_add(d, s, e[i].t, e[i].x), SL_OK);
}

static void assert_rel(double got, long double want, double tol) {
    long double err = fabsl((long double)got - want);
    long double scale = fabsl(want);
    /* Below double's normal range the reference (long double) keeps digits
     * a double cannot: there only the absolute difference means anything. */
    if (!(err <= tol * scale) && !(err < 1e-300L)) {
        fail_msg("got %.17g want %.17Lg (rel err %.3Lg > %.1g)", got, want,
                 scale > 0 ? err / scale : err, tol);
    }
}

static void test_matches_naive(void **state) {
    (void)state;
    state_decay_spec s = spec4();
    static ev e[N_EVENTS];
    sl_rand r;
    sl_rand_seed(&r, 42);
    gen(&r, e, N_EVENTS, 0.0, 10.0);
    state_decay d;
    fold(e, N_EVENTS, &s, &d);
    int64_t tmax = max_t(e, N_EVENTS);
    assert_int_equal(d.t_last, tmax);
    /* Reads at t_last and later: the reference exactly. */
    const int64_t later[] = {0, 1, 1000, 60000, 3600000, 86400000, 10 * INT64_C(86400000)};
    for (size_t k = 0; k < sizeof later / sizeof later[0]; k++)
        for (int i = 0; i < s.n; i++)
            assert_rel(state_decay_read(&d, &s, i, tmax + later[k]),
                       naive(e, N_EVENTS, s.h_ms[i], tmax + later[k]), 1e-12);
    /* A read before t_last is the value as of t_last (documented choice). */
    for (int i = 0; i < s.n; i++)
        assert_rel(state_decay_read(&d, &s, i, tmax - 3600000), naive(e, N_EVENTS, s.h_ms[i], tmax),
                   1e-12);
}

static void test_any_order_same_values(void **state) {
    (void)state;
    state_decay_spec s = spec4();
    static ev e[N_EVENTS];
    sl_rand r;
    sl_rand_seed(&r, 7);
    gen(&r, e, N_EVENTS, 0.0, 100.0);
    state_decay base;
    fold(e, N_EVENTS, &s, &base);
    int64_t tmax = max_t(e, N_EVENTS);
    for (int round = 0; round < 50; round++) {
        shuffle(&r, e, N_EVENTS);
        if (round == 0) /* the worst case for the late path: newest first */
            for (int i = 0; i < N_EVENTS / 2; i++) {
                ev tmp = e[i];
                e[i] = e[N_EVENTS - 1 - i];
                e[N_EVENTS - 1 - i] = tmp;
            }
        state_decay d;
        fold(e, N_EVENTS, &s, &d);
        assert_int_equal(d.t_last, base.t_last);
        for (int i = 0; i < s.n; i++) {
            assert_rel(d.v[i], base.v[i], 1e-9);
            assert_rel(state_decay_read(&d, &s, i, tmax + 123456),
                       state_decay_read(&base, &s, i, tmax + 123456), 1e-9);
        }
    }
}

static void test_late_event(void **state) {
    (void)state;
    const int64_t hl[1] = {1000};
    state_decay_spec s;
    assert_int_equal(state_decay_spec_init(&s, hl, 1, NULL), SL_OK);
    state_decay d;
    state_decay_init(&d);
    assert_int_equal(state_decay_add(&d, &s, T0 + 1000, 1.0), SL_OK);
    assert_int_equal(state_decay_add(&d, &s, T0, 1.0), SL_OK); /* one half-life late */
    assert_int_equal(d.t_last, T0 + 1000);                     /* late events never move it */
    assert_true(d.v[0] == 1.5);
    assert_true(state_decay_read(&d, &s, 0, T0 + 2000) == 0.75);
    /* The same two events in order give the same state, bit for bit here. */
    state_decay o;
    state_decay_init(&o);
    assert_int_equal(state_decay_add(&o, &s, T0, 1.0), SL_OK);
    assert_int_equal(state_decay_add(&o, &s, T0 + 1000, 1.0), SL_OK);
    assert_true(o.v[0] == 1.5 && o.t_last == d.t_last);
    /* Equal times: plain sums. */
    assert_int_equal(state_decay_add(&o, &s, T0 + 1000, 2.0), SL_OK);
    assert_true(o.v[0] == 3.5);
}

static void test_reads_at_various_times(void **state) {
    (void)state;
    const int64_t hl[2] = {1000, 4000};
    state_decay_spec s;
    assert_int_equal(state_decay_spec_init(&s, hl, 2, NULL), SL_OK);
    state_decay d;
    state_decay_init(&d);
    for (int i = 0; i < 2; i++)
        assert_true(state_decay_read(&d, &s, i, T0) == 0.0); /* empty reads 0 */
    assert_int_equal(state_decay_add(&d, &s, T0, 8.0), SL_OK);
    double out[2];
    state_decay_read_all(&d, &s, T0 - 5000, out); /* before t_last: as of t_last */
    assert_true(out[0] == 8.0 && out[1] == 8.0);
    state_decay_read_all(&d, &s, T0, out);
    assert_true(out[0] == 8.0 && out[1] == 8.0);
    state_decay_read_all(&d, &s, T0 + 1000, out);
    assert_true(out[0] == 4.0 && out[1] == 8.0 * exp2(-0.25));
    state_decay_read_all(&d, &s, T0 + 4000, out);
    assert_true(out[0] == 0.5 && out[1] == 4.0);
    /* Reading never changes the aggregate. */
    assert_true(d.v[0] == 8.0 && d.t_last == T0);
}

static void test_zero_negative_nonfinite(void **state) {
    (void)state;
    const int64_t hl[1] = {1000};
    state_decay_spec s;
    assert_int_equal(state_decay_spec_init(&s, hl, 1, NULL), SL_OK);
    state_decay d;
    state_decay_init(&d);
    assert_int_equal(state_decay_add(&d, &s, T0, 0.0), SL_OK); /* a zero still starts the key */
    assert_int_equal(d.t_last, T0);
    assert_int_equal(state_decay_add(&d, &s, T0, 4.0), SL_OK);
    assert_int_equal(state_decay_add(&d, &s, T0 + 1000, 0.0), SL_OK); /* moves t_last only */
    assert_true(d.v[0] == 2.0 && d.t_last == T0 + 1000);
    assert_int_equal(state_decay_add(&d, &s, T0 + 1000, -3.0), SL_OK); /* signed sums */
    assert_true(d.v[0] == -1.0);
    assert_int_equal(state_decay_add(&d, &s, T0, 2.0), SL_OK); /* late and positive */
    assert_true(d.v[0] == 0.0);

    /* Non-finite inputs and overflowing results are refused, state kept. */
    state_decay before = d;
    assert_int_equal(state_decay_add(&d, &s, T0 + 2000, NAN), SL_ERR_INVALID);
    assert_int_equal(state_decay_add(&d, &s, T0 + 2000, INFINITY), SL_ERR_INVALID);
    assert_memory_equal(&d, &before, sizeof d);
    assert_int_equal(state_decay_add(&d, &s, T0 + 2000, 1.5e308), SL_OK);
    before = d;
    assert_int_equal(state_decay_add(&d, &s, T0 + 2000, 1.5e308), SL_ERR_INVALID);
    assert_memory_equal(&d, &before, sizeof d);

    /* Signed values in any order: equal up to rounding of the absolute mass. */
    static ev e[N_EVENTS];
    sl_rand r;
    sl_rand_seed(&r, 99);
    gen(&r, e, N_EVENTS, -10.0, 10.0);
    state_decay a, b;
    fold(e, N_EVENTS, &s, &a);
    shuffle(&r, e, N_EVENTS);
    fold(e, N_EVENTS, &s, &b);
    int64_t tmax = max_t(e, N_EVENTS);
    long double mass = 0;
    for (int i = 0; i < N_EVENTS; i++)
        mass += fabsl((long double)e[i].x) * exp2l(-((long double)tmax - e[i].t) / s.h_ms[0]);
    assert_true(fabsl((long double)a.v[0] - b.v[0]) <= 1e-12L * mass);
    assert_true(fabsl((long double)a.v[0] - naive(e, N_EVENTS, s.h_ms[0], tmax)) <= 1e-12L * mass);
}

static void test_decayed_to_nothing(void **state) {
    (void)state;
    state_decay_spec s = spec4();
    state_decay d;
    state_decay_init(&d);
    assert_true(state_decay_negligible(&d, &s, T0, 1e-6)); /* empty */
    assert_int_equal(state_decay_add(&d, &s, T0, 1.0), SL_OK);
    assert_false(state_decay_negligible(&d, &s, T0, 1e-6));
    /* Ten half-lives of the longest: 2^-10 is not nothing at eps 1e-6 ... */
    int64_t t10 = T0 + 10 * (int64_t)s.h_ms[3];
    assert_true(fabs(state_decay_read(&d, &s, 3, t10) - 1.0 / 1024) < 1e-15);
    assert_false(state_decay_negligible(&d, &s, t10, 1e-6));
    /* ... twenty-five is, and 2000 underflows to an exact 0, never a NaN. */
    assert_true(state_decay_negligible(&d, &s, T0 + 25 * (int64_t)s.h_ms[3], 1e-6));
    int64_t far = T0 + 2000 * (int64_t)s.h_ms[3];
    for (int i = 0; i < s.n; i++)
        assert_true(state_decay_read(&d, &s, i, far) == 0.0);
    /* A new event on a decayed key starts again from ~0; a very late one
     * adds (almost) nothing. */
    assert_int_equal(state_decay_add(&d, &s, far, 3.0), SL_OK);
    assert_true(state_decay_read(&d, &s, 3, far) == 3.0);
    assert_int_equal(state_decay_add(&d, &s, T0 - 1000, 5.0), SL_OK);
    assert_true(state_decay_read(&d, &s, 3, far) == 3.0);
    assert_int_equal(d.t_last, far);
}

static void test_ratio_and_age(void **state) {
    (void)state;
    const int64_t hl[1] = {1000};
    state_decay_spec s;
    assert_int_equal(state_decay_spec_init(&s, hl, 1, NULL), SL_OK);
    state_decay clicks, views;
    state_decay_init(&clicks);
    state_decay_init(&views);
    /* Never seen: the prior mean a/(a+b). */
    assert_true(fabs(state_decay_ratio(&clicks, &views, &s, 0, T0, 1.0, 49.0) - 0.02) < 1e-15);
    for (int i = 0; i < 100; i++)
        assert_int_equal(state_decay_add(&views, &s, T0, 1.0), SL_OK);
    for (int i = 0; i < 10; i++)
        assert_int_equal(state_decay_add(&clicks, &s, T0, 1.0), SL_OK);
    assert_true(fabs(state_decay_ratio(&clicks, &views, &s, 0, T0, 1.0, 49.0) - 11.0 / 150.0) <
                1e-15);
    /* Both decay by the same factor: (5 + 1) / (50 + 50) one half-life on. */
    assert_true(fabs(state_decay_ratio(&clicks, &views, &s, 0, T0 + 1000, 1.0, 49.0) - 0.06) <
                1e-15);
    state_decay e;
    state_decay_init(&e);
    assert_true(state_decay_ratio(&e, &e, &s, 0, T0, 0.0, 0.0) == 0.0); /* 0/0 reads 0 */
    assert_int_equal(state_decay_age_ms(&e, T0), -1);
    assert_int_equal(state_decay_age_ms(&views, T0 + 2500), 2500);
    assert_int_equal(state_decay_age_ms(&views, T0 - 2500), 0);
}

static void test_encode_decode(void **state) {
    (void)state;
    state_decay_spec s = spec4();
    state_decay d;
    state_decay_init(&d);
    unsigned char buf[STATE_DECAY_BYTES(STATE_DECAY_MAX_HL)];
    state_decay_encode(&d, s.n, buf);
    state_decay back;
    state_decay_decode(buf, s.n, &back);
    assert_int_equal(back.t_last, STATE_DECAY_EMPTY);
    assert_int_equal(state_decay_add(&d, &s, -5, -0.1), SL_OK);
    assert_int_equal(state_decay_add(&d, &s, T0, 1e-300), SL_OK);
    state_decay_encode(&d, s.n, buf);
    assert_int_equal(buf[0], (unsigned char)(T0 & 0xff)); /* little-endian */
    state_decay_decode(buf, s.n, &back);
    assert_memory_equal(&back, &d, sizeof d);
    /* Fewer half-lives: the rest read as 0. */
    state_decay_decode(buf, 2, &back);
    assert_true(back.v[2] == 0.0 && back.v[1] == d.v[1]);
}

static void test_spec_errors(void **state) {
    (void)state;
    state_decay_spec s;
    sl_err err = {{0}};
    const int64_t bad[2] = {1000, 0};
    assert_int_equal(state_decay_spec_init(&s, bad, 2, &err), SL_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "half_lives_ms[1]"));
    const int64_t five[5] = {1, 2, 3, 4, 5};
    assert_int_equal(state_decay_spec_init(&s, five, 5, &err), SL_ERR_CONFIG);
    assert_int_equal(state_decay_spec_init(&s, five, 0, &err), SL_ERR_CONFIG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_naive),
        cmocka_unit_test(test_any_order_same_values),
        cmocka_unit_test(test_late_event),
        cmocka_unit_test(test_reads_at_various_times),
        cmocka_unit_test(test_zero_negative_nonfinite),
        cmocka_unit_test(test_decayed_to_nothing),
        cmocka_unit_test(test_ratio_and_age),
        cmocka_unit_test(test_encode_decode),
        cmocka_unit_test(test_spec_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
