/*
 * test_hash.c — sl_hash: bucket uniformity (a chi-square bound over ids and
 * over short numeric strings), single-bit avalanche, seeds that differ,
 * namespace/value splits that do not collide, every length 0..64 distinct,
 * and the crosses' order dependence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sl_hash.h"

#define BITS    10
#define BUCKETS (1u << BITS)
#define KEYS    (BUCKETS * 64u)

/* Chi-square of KEYS keys over BUCKETS buckets. With BUCKETS-1 degrees of
 * freedom the statistic has mean 1023 and sd ~45; 1023 + 6 sd is a bound a
 * good hash never crosses and a bad one (e.g. low bits of a weak hash on
 * sequential ids) blows through by orders of magnitude. */
static double chi_square(const uint32_t *count) {
    double expect = (double)KEYS / BUCKETS, chi = 0;
    for (unsigned i = 0; i < BUCKETS; i++)
        chi += (count[i] - expect) * (count[i] - expect) / expect;
    return chi;
}

static void test_uniform_ids(void **state) {
    (void)state;
    static uint32_t count[BUCKETS];
    for (size_t f = 0; f < 4; f++) {
        memset(count, 0, sizeof count);
        for (unsigned k = 0; k < KEYS; k++) {
            char b[96];
            int n = f == 0   ? snprintf(b, sizeof b, "u%u", k)
                    : f == 1 ? snprintf(b, sizeof b, "%u", k)
                    : f == 2
                        ? snprintf(b, sizeof b, "item-%08u", k)
                        : snprintf(b, sizeof b, "a very long prefix shared by every key %u", k);
            count[sl_hash_bucket(sl_hash64(b, (size_t)n, 42), BITS)]++;
        }
        double chi = chi_square(count);
        assert_true(chi < 1023 + 6 * 45.2);
    }
    /* Feature buckets of one namespace over sequential values. */
    memset(count, 0, sizeof count);
    uint64_t ns = sl_hash64("ctx.device", 10, 7);
    for (unsigned k = 0; k < KEYS; k++) {
        char b[16];
        int n = snprintf(b, sizeof b, "%u", k);
        count[sl_hash_feature(ns, b, (size_t)n, 7, BITS)]++;
    }
    assert_true(chi_square(count) < 1023 + 6 * 45.2);
    /* And integers through sl_hash_u64. */
    memset(count, 0, sizeof count);
    for (unsigned k = 0; k < KEYS; k++)
        count[sl_hash_bucket(sl_hash_u64(k, 7), BITS)]++;
    assert_true(chi_square(count) < 1023 + 6 * 45.2);
}

/* Flipping one input bit flips about half of the output bits. */
static void test_avalanche(void **state) {
    (void)state;
    unsigned char b[24] = "avalanche-of-some-bytes";
    double total = 0;
    int trials = 0;
    for (size_t len = 1; len <= sizeof b; len++) {
        uint64_t h0 = sl_hash64(b, len, 1);
        for (size_t bit = 0; bit < len * 8; bit++) {
            b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            total += __builtin_popcountll(h0 ^ sl_hash64(b, len, 1));
            b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            trials++;
        }
    }
    double mean = total / trials;
    assert_true(mean > 30.0 && mean < 34.0);
}

static void test_seeds_differ(void **state) {
    (void)state;
    int same = 0;
    for (uint64_t s = 0; s < 1000; s++)
        same += sl_hash64("u1", 2, s) == sl_hash64("u1", 2, s + 1);
    assert_int_equal(same, 0);
    assert_true(sl_hash64("", 0, 1) != sl_hash64("", 0, 2));
    assert_true(sl_hash_u64(5, 1) != sl_hash_u64(5, 2));
}

static void test_splits_do_not_collide(void **state) {
    (void)state;
    const uint64_t seed = 99;
    /* namespace "ab" value "c" vs namespace "a" value "bc" */
    uint64_t ab = sl_hash64("ab", 2, seed), a = sl_hash64("a", 1, seed);
    uint64_t x = sl_hash_combine(ab, sl_hash64("c", 1, seed));
    uint64_t y = sl_hash_combine(a, sl_hash64("bc", 2, seed));
    assert_true(x != y);
    assert_true(sl_hash_feature(ab, "c", 1, seed, 22) != sl_hash_feature(a, "bc", 2, seed, 22));
    /* combine is order-dependent, so crosses a*b and b*a differ */
    uint64_t h1 = sl_hash64("x", 1, seed), h2 = sl_hash64("y", 1, seed);
    assert_true(sl_hash_combine(h1, h2) != sl_hash_combine(h2, h1));
    uint64_t v[2] = {h1, h2}, w[2] = {h2, h1};
    assert_true(sl_hash_cross(ab, v, 2, 30) != sl_hash_cross(ab, w, 2, 30));
    /* equal values hash equal; a value differs from its own namespace */
    assert_true(sl_hash_combine(h1, h1) != h1);
}

/* Prefixes of one buffer (lengths 0..64, all sharing bytes) are distinct,
 * as are all 1- and 2-byte strings. */
static void test_lengths_and_short_keys(void **state) {
    (void)state;
    unsigned char zeros[65] = {0};
    uint64_t seen[65];
    for (size_t n = 0; n <= 64; n++) {
        seen[n] = sl_hash64(zeros, n, 3);
        for (size_t m = 0; m < n; m++)
            assert_true(seen[m] != seen[n]);
    }
    static uint64_t all[65536 + 256];
    size_t k = 0;
    for (unsigned c = 0; c < 256; c++) {
        unsigned char s = (unsigned char)c;
        all[k++] = sl_hash64(&s, 1, 3);
    }
    for (unsigned c = 0; c < 65536; c++) {
        unsigned char s[2] = {(unsigned char)(c & 255), (unsigned char)(c >> 8)};
        all[k++] = sl_hash64(s, 2, 3);
    }
    /* sort-free duplicate check: insertion into an open-addressing set */
    static uint64_t set[1u << 18];
    memset(set, 0, sizeof set);
    int dups = 0;
    for (size_t i = 0; i < k; i++) {
        uint64_t h = all[i] | 1; /* 0 marks empty */
        size_t j = (size_t)(h >> 46);
        while (set[j] && set[j] != h)
            j = (j + 1) & ((1u << 18) - 1);
        dups += set[j] == h;
        set[j] = h;
    }
    assert_int_equal(dups, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform_ids),
        cmocka_unit_test(test_avalanche),
        cmocka_unit_test(test_seeds_differ),
        cmocka_unit_test(test_splits_do_not_collide),
        cmocka_unit_test(test_lengths_and_short_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
