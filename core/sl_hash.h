/*
 * sl_hash.h — a fast seeded 64-bit hash of bytes, and the feature-hashing
 * helpers built on it ("namespace=value" and crosses into 2^bits buckets).
 *
 * The hash reads the input 16 bytes at a time and folds each pair of 64-bit
 * words into the accumulator with a 64x64->128-bit multiply whose halves are
 * xor-ed together (the "multiply and fold" step of the wyhash family of
 * designs; this is an independent implementation, not a copy). Short inputs
 * (the common case: ids, attribute values) take one multiply for the tail
 * and a final avalanche. It is not cryptographic: it spreads ordinary keys
 * well and is cheap; hostile input can still collide on purpose.
 *
 * Feature hashing never builds "namespace=value" strings: the namespace is
 * hashed once (at config time), the value per event, and the two are
 * combined with sl_hash_combine(), which is order-dependent, so "ab"+"c" and
 * "a"+"bc" land in different buckets. Crosses fold one more value per field.
 * A bucket takes the TOP bits of the final hash (the best-mixed ones).
 *
 * Results are the same on every little- or big-endian machine (words are
 * assembled byte by byte) and every build, so hashed indices stored in
 * state or snapshots stay valid. Header-only, pure functions: any thread.
 */
#ifndef SL_HASH_H
#define SL_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SL_HASH_K0 UINT64_C(0x9e3779b97f4a7c15) /* 2^64 / golden ratio */
#define SL_HASH_K1 UINT64_C(0xc2b2ae3d27d4eb4f) /* odd constants with balanced bits */
#define SL_HASH_K2 UINT64_C(0x165667b19e3779f9)
#define SL_HASH_K3 UINT64_C(0xd6e8feb86659fd93)

__extension__ typedef unsigned __int128 sl_hash__u128;

/* 64x64 -> 128 multiply, halves folded: every input bit reaches the middle
 * output bits, and the fold brings them down to both ends. */
static inline uint64_t sl_hash__mum(uint64_t a, uint64_t b) {
    sl_hash__u128 r = (sl_hash__u128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* A full-avalanche finalizer (xorshift-multiply rounds). */
static inline uint64_t sl_hash__fmix(uint64_t x) {
    x ^= x >> 32;
    x *= SL_HASH_K3;
    x ^= x >> 29;
    x *= SL_HASH_K1;
    x ^= x >> 32;
    return x;
}

static inline uint64_t sl_hash__r64(const unsigned char *p) {
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

static inline uint64_t sl_hash__r32(const unsigned char *p) {
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

/* The hash of n bytes at data with a seed. Different seeds give unrelated
 * functions. data may be NULL when n is 0. */
static inline uint64_t sl_hash64(const void *data, size_t n, uint64_t seed) {
    const unsigned char *p = (const unsigned char *)data;
    uint64_t acc = seed ^ SL_HASH_K0;
    uint64_t a = 0, b = 0;
    size_t left = n;
    while (left > 16) {
        acc = sl_hash__mum(sl_hash__r64(p) ^ SL_HASH_K1, sl_hash__r64(p + 8) ^ acc);
        p += 16;
        left -= 16;
    }
    if (left > 8) { /* 9..16: two overlapping words */
        a = sl_hash__r64(p);
        b = sl_hash__r64(p + left - 8);
    } else if (left >= 4) { /* 4..8: two overlapping half words */
        a = sl_hash__r32(p) << 32 | sl_hash__r32(p + left - 4);
    } else if (left > 0) { /* 1..3: first, middle and last byte */
        a = (uint64_t)p[0] << 16 | (uint64_t)p[left / 2] << 8 | (uint64_t)p[left - 1];
    }
    /* The length enters so that inputs that read the same words (e.g. a
     * 3-byte tail and its overlapping 2-byte cousin) still differ. */
    uint64_t x = sl_hash__mum(a ^ SL_HASH_K1 ^ (uint64_t)n, b ^ acc ^ SL_HASH_K2);
    return sl_hash__fmix(x ^ a ^ (acc << 1));
}

/* The hash of one 64-bit integer (e.g. a numeric ctx value); cheaper than
 * hashing its bytes and unrelated to sl_hash64 of any 8-byte string. */
static inline uint64_t sl_hash_u64(uint64_t v, uint64_t seed) {
    return sl_hash__fmix(sl_hash__mum(v ^ SL_HASH_K2, seed ^ SL_HASH_K3) ^ v);
}

/* Combines two hashes, order-dependent: combine(a, b) != combine(b, a). */
static inline uint64_t sl_hash_combine(uint64_t h1, uint64_t h2) {
    return sl_hash__fmix(sl_hash__mum(h1 ^ SL_HASH_K0, h2 ^ SL_HASH_K1) ^ h1 ^
                         (h2 << 7 | h2 >> 57));
}

/* The top `bits` bits of h (1..32): a bucket in [0, 2^bits). */
static inline uint32_t sl_hash_bucket(uint64_t h, int bits) { return (uint32_t)(h >> (64 - bits)); }

/* "namespace=value" into 2^bits buckets, without building the string: ns is
 * the namespace's hash (sl_hash64 of its name, computed once). */
static inline uint32_t sl_hash_feature(uint64_t ns, const void *val, size_t n, uint64_t seed,
                                       int bits) {
    return sl_hash_bucket(sl_hash_combine(ns, sl_hash64(val, n, seed)), bits);
}

/* A cross of two or three values: vh[] are the values' hashes (sl_hash64 or
 * sl_hash_u64), ns the cross's own namespace hash ("a*b"). */
static inline uint32_t sl_hash_cross(uint64_t ns, const uint64_t *vh, int n_vals, int bits) {
    uint64_t h = ns;
    for (int i = 0; i < n_vals; i++)
        h = sl_hash_combine(h, vh[i]);
    return sl_hash_bucket(h, bits);
}

#endif
