/*
 * sl_bytes.h — little-endian fixed-width fields in byte buffers, whatever the
 * host: the one encoding every persisted record of the project uses (state
 * records, pending views, examples, metrics state, snapshots), and big-endian
 * integers for keys that must sort numerically. Header-only;
 * callers guarantee the bytes are there.
 */
#ifndef SL_BYTES_H
#define SL_BYTES_H

#include <stdint.h>
#include <string.h>

static inline void sl_put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void sl_put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t sl_get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t sl_get_u64(const unsigned char *p) {
    return (uint64_t)sl_get_u32(p) | (uint64_t)sl_get_u32(p + 4) << 32;
}

static inline void sl_put_i64(unsigned char *p, int64_t v) { sl_put_u64(p, (uint64_t)v); }

/* Big-endian, for integers inside keys: RocksDB orders keys bytewise, so a
 * big-endian number sorts in numeric order and a prefix scan returns them
 * in turn. */
static inline void sl_put_be32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}
static inline void sl_put_be64(unsigned char *p, uint64_t v) {
    sl_put_be32(p, (uint32_t)(v >> 32));
    sl_put_be32(p + 4, (uint32_t)v);
}
static inline uint32_t sl_get_be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t sl_get_be64(const unsigned char *p) {
    return (uint64_t)sl_get_be32(p) << 32 | sl_get_be32(p + 4);
}
static inline int64_t sl_get_i64(const unsigned char *p) { return (int64_t)sl_get_u64(p); }

static inline void sl_put_f32(unsigned char *p, float f) {
    uint32_t v;
    memcpy(&v, &f, sizeof v);
    sl_put_u32(p, v);
}

static inline float sl_get_f32(const unsigned char *p) {
    uint32_t v = sl_get_u32(p);
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}

static inline void sl_put_f64(unsigned char *p, double d) {
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    sl_put_u64(p, v);
}

static inline double sl_get_f64(const unsigned char *p) {
    uint64_t v = sl_get_u64(p);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

#endif
