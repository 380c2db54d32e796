/*
 * sl_rand.h — a small, fast, seedable pseudo-random generator for everything
 * in streamlearn that must be random yet reproducible: the simulated world of
 * `streamlearn gen`, weight initialisation, sampling in the models.
 *
 * The generator is xoshiro256** (Blackman & Vigna, 2018): 256 bits of state,
 * period 2^256 - 1, passes BigCrush, a few cycles per number. It is seeded
 * through splitmix64, so any 64-bit seed (0 included) gives a well-mixed,
 * non-zero state, and nearby seeds give unrelated streams. Independent
 * sub-streams are made with sl_rand_split() (a child seeded from the parent's
 * output) or sl_rand_jump() (advance by 2^128 draws).
 *
 * Determinism: the integer functions give the same numbers on every platform.
 * The floating-point helpers (normal, exponential) call libm (log, sqrt), so
 * their last bits follow the libm in use; link with -lm.
 *
 * Not thread-safe: an sl_rand belongs to one thread. There is no global
 * generator, by design — pass the one you own.
 */
#ifndef SL_RAND_H
#define SL_RAND_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct sl_rand {
    uint64_t s[4]; /* xoshiro256** state; never all zero */
} sl_rand;

/* One step of splitmix64: advances *x and returns a well-mixed 64-bit value.
 * Also a good integer hash when called on a copy of the key. */
static inline uint64_t sl_rand_splitmix64(uint64_t *x) {
    uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* A stateless 64-bit mix of key (splitmix64's finalizer): equal keys give
 * equal values, nearby keys unrelated ones. */
static inline uint64_t sl_rand_hash64(uint64_t key) { return sl_rand_splitmix64(&key); }

/* Seeds r from a 64-bit seed. Every seed is fine, 0 included. */
static inline void sl_rand_seed(sl_rand *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = sl_rand_splitmix64(&x);
}

static inline uint64_t sl_rand__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* The next 64 uniformly random bits (xoshiro256**). */
static inline uint64_t sl_rand_u64(sl_rand *r) {
    uint64_t *s = r->s;
    uint64_t result = sl_rand__rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = sl_rand__rotl(s[3], 45);
    return result;
}

/* Seeds child (OUT:) from parent's next output: an independent stream whose
 * numbers do not depend on how much the parent is used afterwards. */
static inline void sl_rand_split(sl_rand *parent, sl_rand *child) {
    sl_rand_seed(child, sl_rand_u64(parent));
}

/* Advances r by 2^128 draws: 2^128 non-overlapping streams from one seed. */
static inline void sl_rand_jump(sl_rand *r) {
    static const uint64_t jump[4] = {UINT64_C(0x180ec6d33cfd0aba), UINT64_C(0xd5a61266f0c9392c),
                                     UINT64_C(0xa9582618e03fc9aa), UINT64_C(0x39abdc4529b1661c)};
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 64; b++) {
            if (jump[i] & (UINT64_C(1) << b)) {
                s0 ^= r->s[0];
                s1 ^= r->s[1];
                s2 ^= r->s[2];
                s3 ^= r->s[3];
            }
            sl_rand_u64(r);
        }
    r->s[0] = s0;
    r->s[1] = s1;
    r->s[2] = s2;
    r->s[3] = s3;
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double sl_rand_double(sl_rand *r) {
    return (double)(sl_rand_u64(r) >> 11) * 0x1.0p-53;
}

/* Uniform double in (0, 1]: safe to take the log of. */
static inline double sl_rand_double_pos(sl_rand *r) {
    return ((double)(sl_rand_u64(r) >> 11) + 1.0) * 0x1.0p-53;
}

/* Uniform double in [lo, hi). */
static inline double sl_rand_uniform(sl_rand *r, double lo, double hi) {
    return lo + (hi - lo) * sl_rand_double(r);
}

/* 128-bit product for sl_rand_below (GCC and Clang; __extension__ keeps
 * -Wpedantic quiet about a non-ISO type). */
__extension__ typedef unsigned __int128 sl_rand__u128;

/* Uniform integer in [0, n), exactly unbiased (Lemire's multiply-and-reject).
 * n must be > 0. */

static inline uint64_t sl_rand_below(sl_rand *r, uint64_t n) {
    sl_rand__u128 m = (sl_rand__u128)sl_rand_u64(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t threshold = (0 - n) % n;
        while (lo < threshold) {
            m = (sl_rand__u128)sl_rand_u64(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

/* True with probability p (p <= 0: never, p >= 1: always). */
static inline bool sl_rand_bernoulli(sl_rand *r, double p) { return sl_rand_double(r) < p; }

/* Standard normal N(0, 1) by the Marsaglia polar method. Uses two or more
 * uniforms per call and keeps no spare, so the stream stays a pure function
 * of the state (simpler to reason about than a cached second value). */
static inline double sl_rand_normal(sl_rand *r) {
    double u, v, s;
    do {
        u = 2.0 * sl_rand_double(r) - 1.0;
        v = 2.0 * sl_rand_double(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return u * sqrt(-2.0 * log(s) / s);
}

/* Exponential with the given mean (= 1 / rate), mean > 0. */
static inline double sl_rand_exp(sl_rand *r, double mean) {
    return -mean * log(sl_rand_double_pos(r));
}

/* Log-normal: exp(mu + sigma * N(0, 1)). Its mean is exp(mu + sigma^2 / 2). */
static inline double sl_rand_lognormal(sl_rand *r, double mu, double sigma) {
    return exp(mu + sigma * sl_rand_normal(r));
}

#endif
