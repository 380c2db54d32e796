/*
 * test_snapshot.c — the snapshot blob: bitwise round trip, CRC32C vectors,
 * and every corruption refused with its message and without reading outside
 * the buffer (each damaged blob sits in an exact-size heap copy, so ASan
 * sees any over-read).
 *
 * With SL_SNAPSHOT_SEED_DIR set, also writes the fuzz seeds
 * (fuzz/corpus/snapshot/) there.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model_snapshot.h"

/* Bitwise CRC32C: the definition the table must agree with. */
static uint32_t naive_crc32c(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

static const float W[] = {0.0f, 1.0f, -2.0f, 3.0f, 0.0f, 0.5f};
static const unsigned char OFFSETS[] = "topic=events p0=1234 p1=99";

/* A small but complete snapshot into out; returns its length. */
static size_t build(sl_buf *out, bool with_nan) {
    model_snapshot_writer w;
    sl_err err = {{0}};
    size_t len = 0;
    float z[3] = {1.0f, with_nan ? NAN : 2.0f, 0.0f};
    model_snapshot_begin(&w, out, SL_MODEL_FM, "click_fm");
    model_snapshot_put_hyper(&w, "alpha", 0.05);
    model_snapshot_put_hyper(&w, "beta", 1.0);
    model_snapshot_put_hyper(&w, "l1", 0.5);
    model_snapshot_put_dim(&w, "bits", 20);
    model_snapshot_put_dim(&w, "factors", 8);
    model_snapshot_put_offsets(&w, OFFSETS, sizeof OFFSETS - 1);
    model_snapshot_put_array(&w, "w", W, sizeof W / sizeof W[0]);
    model_snapshot_put_array(&w, "z", z, 3);
    model_snapshot_put_array(&w, "empty", NULL, 0);
    assert_int_equal(model_snapshot_finish(&w, &len, &err), SL_OK);
    assert_int_equal(len, out->len);
    return len;
}

static void fix_crc(unsigned char *b, size_t len) {
    uint32_t c = model_snapshot_crc32c(0, b, len - 4);
    for (int i = 0; i < 4; i++)
        b[len - 4 + (size_t)i] = (unsigned char)(c >> (8 * i));
}

static void put_u64_at(unsigned char *b, uint64_t v) {
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

/* Opens an exact-size heap copy; returns the status, message in err. */
static sl_status open_copy(const void *p, size_t len, sl_err *err) {
    void *copy = malloc(len ? len : 1);
    if (len)
        memcpy(copy, p, len);
    model_snapshot snap;
    err->msg[0] = '\0';
    sl_status st = model_snapshot_open(copy, len, &snap, err);
    free(copy);
    return st;
}

static void test_crc_vectors(void **state) {
    (void)state;
    assert_int_equal(model_snapshot_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(model_snapshot_crc32c(0, "", 0), 0);
    unsigned char zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof ones);
    assert_int_equal(model_snapshot_crc32c(0, zeros, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
    assert_int_equal(model_snapshot_crc32c(0, ones, 32), 0x62A8AB43u);
    /* Chunked equals whole; the table equals the bitwise definition. */
    unsigned char r[1000];
    uint32_t s = 1;
    for (size_t i = 0; i < sizeof r; i++) {
        s = s * 1103515245u + 12345u;
        r[i] = (unsigned char)(s >> 16);
    }
    uint32_t whole = model_snapshot_crc32c(0, r, sizeof r);
    assert_int_equal(model_snapshot_crc32c(model_snapshot_crc32c(0, r, 333), r + 333, 667), whole);
    assert_int_equal(naive_crc32c(r, sizeof r), whole);
    /* The instruction form (where the CPU has it) equals the table at every
     * length and alignment, chained too. */
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof r; n += 37) {
            assert_int_equal(model_snapshot_crc32c(0, r + off, n),
                             model_snapshot__crc32c_portable(0, r + off, n));
            assert_int_equal(model_snapshot_crc32c(7, r + off, n),
                             model_snapshot__crc32c_portable(7, r + off, n));
        }
    assert_int_equal(model_snapshot__crc32c_portable(0, "123456789", 9), 0xE3069283u);
}

static void test_round_trip(void **state) {
    (void)state;
    sl_buf a, b;
    sl_buf_init(&a, 1 << 20);
    sl_buf_init(&b, 1 << 20);
    size_t len = build(&a, false);
    model_snapshot snap;
    sl_err err = {{0}};
    assert_int_equal(model_snapshot_open(a.p, len, &snap, &err), SL_OK);
    assert_int_equal(snap.version, 1);
    assert_int_equal(snap.kind, SL_MODEL_FM);
    assert_string_equal(snap.name, "click_fm");
    assert_int_equal(snap.total_bytes, len);
    assert_int_equal(snap.n_hyper, 3);
    assert_int_equal(snap.n_dims, 2);
    assert_int_equal(snap.n_arrays, 3);
    assert_int_equal(snap.n_unknown, 0);
    double d;
    uint64_t u;
    assert_true(model_snapshot_hyper(&snap, "alpha", &d) && d == 0.05);
    assert_true(model_snapshot_hyper(&snap, "l1", &d) && d == 0.5);
    assert_false(model_snapshot_hyper(&snap, "l2", &d));
    assert_true(model_snapshot_dim(&snap, "bits", &u) && u == 20);
    assert_int_equal(snap.offsets_len, sizeof OFFSETS - 1);
    assert_memory_equal(snap.offsets, OFFSETS, sizeof OFFSETS - 1);
    const model_snapshot_array *arr = model_snapshot_find_array(&snap, "w");
    assert_non_null(arr);
    assert_int_equal(arr->count, 6);
    assert_non_null(arr->data); /* sl_buf memory is malloc'd: aligned, zero-copy */
    assert_ptr_equal(arr->data, arr->raw);
    assert_int_equal(((uintptr_t)arr->raw - (uintptr_t)a.p) % 8, 0);
    assert_memory_equal(arr->data, W, sizeof W); /* bitwise */
    assert_int_equal(model_snapshot_find_array(&snap, "empty")->count, 0);
    assert_null(model_snapshot_find_array(&snap, "nope"));

    /* Rebuilding from what was read gives the same bytes. */
    model_snapshot_writer w;
    model_snapshot_begin(&w, &b, (sl_model_kind)snap.kind, snap.name);
    for (uint32_t i = 0; i < snap.n_hyper; i++) {
        memcpy(&d, &snap.hyper[i].v.u, sizeof d);
        model_snapshot_put_hyper(&w, snap.hyper[i].key, d);
    }
    for (uint32_t i = 0; i < snap.n_dims; i++)
        model_snapshot_put_dim(&w, snap.dims[i].key, snap.dims[i].v.u);
    model_snapshot_put_offsets(&w, snap.offsets, snap.offsets_len);
    for (uint32_t i = 0; i < snap.n_arrays; i++)
        model_snapshot_put_array(&w, snap.arrays[i].name, snap.arrays[i].data,
                                 (size_t)snap.arrays[i].count);
    size_t len2;
    assert_int_equal(model_snapshot_finish(&w, &len2, &err), SL_OK);
    assert_int_equal(len2, len);
    assert_memory_equal(a.p, b.p, len);

    /* An unaligned copy still opens; the views say so and copy out. */
    unsigned char *odd = malloc(len + 1);
    memcpy(odd + 1, a.p, len);
    assert_int_equal(model_snapshot_open(odd + 1, len, &snap, &err), SL_OK);
    arr = model_snapshot_find_array(&snap, "w");
    assert_null(arr->data);
    float out[6];
    assert_int_equal(model_snapshot_array_copy(arr, out, 5), SL_ERR_LIMIT);
    assert_int_equal(model_snapshot_array_copy(arr, out, 6), SL_OK);
    assert_memory_equal(out, W, sizeof W);
    free(odd);
    sl_buf_deinit(&a);
    sl_buf_deinit(&b);
}

static void test_refusals(void **state) {
    (void)state;
    sl_buf a;
    sl_buf_init(&a, 1 << 20);
    size_t len = build(&a, false);
    unsigned char *b = malloc(len + 8);
    sl_err err;

    /* Wrong magic. */
    memcpy(b, a.p, len);
    b[3] ^= 0x20;
    assert_int_equal(open_copy(b, len, &err), SL_ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "not a streamlearn snapshot"));
    assert_int_equal(open_copy("{\"json\":1}", 10, &err), SL_ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "not a streamlearn snapshot"));

    /* Unknown version, even with a valid checksum. */
    memcpy(b, a.p, len);
    b[8] = 2;
    fix_crc(b, len);
    assert_int_equal(open_copy(b, len, &err), SL_ERR_CORRUPT);
    assert_string_equal(err.msg, "unknown format version 2 (this reader takes 1)");

    /* Every single flipped byte is refused; past the header fields that
     * locate things, it is the checksum that says so. */
    for (size_t i = 0; i < len; i++) {
        memcpy(b, a.p, len);
        b[i] ^= 0x01;
        assert_int_equal(open_copy(b, len, &err), SL_ERR_CORRUPT);
        if (i >= 24)
            assert_non_null(strstr(err.msg, "checksum mismatch: stored 0x"));
    }

    /* Truncated at every length. */
    char want[128];
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(open_copy(a.p, n, &err), SL_ERR_CORRUPT);
        if (n < 32)
            snprintf(want, sizeof want, "truncated: %zu bytes, header needs 32", n);
        else
            snprintf(want, sizeof want, "truncated: %zu bytes, header says %zu", n, len);
        assert_string_equal(err.msg, want);
    }
    /* Trailing bytes. */
    memcpy(b, a.p, len);
    memset(b + len, 0, 8);
    assert_int_equal(open_copy(b, len + 8, &err), SL_ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "trailing bytes"));

    /* Section lengths past the end (checksum fixed so the parser is reached):
     * the NAME section is the first, at offset 32. */
    uint64_t bad[] = {UINT64_MAX, UINT64_MAX - 7, 1u << 31, len};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        memcpy(b, a.p, len);
        put_u64_at(b + 32 + 8, bad[k]);
        fix_crc(b, len);
        assert_int_equal(open_copy(b, len, &err), SL_ERR_CORRUPT);
        assert_non_null(strstr(err.msg, "section 0 (NAME): length"));
        assert_non_null(strstr(err.msg, "out of bounds"));
    }
    /* More sections announced than there are; fewer. */
    memcpy(b, a.p, len);
    b[28] += 1;
    fix_crc(b, len);
    assert_int_equal(open_copy(b, len, &err), SL_ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "header out of bounds"));
    memcpy(b, a.p, len);
    b[28] -= 1;
    fix_crc(b, len);
    assert_int_equal(open_copy(b, len, &err), SL_ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "after the last"));
    /* Total size below the header. */
    memcpy(b, a.p, len);
    put_u64_at(b + 16, 8);
    assert_int_equal(open_copy(b, len, &err), SL_ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "less than its own header"));

    /* An array whose count disagrees with its bytes. */
    model_snapshot snap;
    memcpy(b, a.p, len);
    assert_int_equal(model_snapshot_open(b, len, &snap, &err), SL_OK);
    size_t at = (size_t)((const unsigned char *)model_snapshot_find_array(&snap, "w")->raw - b);
    put_u64_at(b + at - 8, 7);
    fix_crc(b, len);
    assert_int_equal(open_copy(b, len, &err), SL_ERR_CORRUPT);
    assert_string_equal(err.msg, "array w: count 7 does not match 24 data bytes");
    put_u64_at(b + at - 8, UINT64_MAX);
    fix_crc(b, len);
    assert_int_equal(open_copy(b, len, &err), SL_ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "does not match"));

    /* A section with a tag we do not know is skipped (forward compatible). */
    memcpy(b, a.p, len);
    assert_int_equal(model_snapshot_open(b, len, &snap, &err), SL_OK);
    at = (size_t)((const unsigned char *)snap.offsets - b) - 16;
    memcpy(b + at, "XTRA", 4);
    fix_crc(b, len);
    assert_int_equal(model_snapshot_open(b, len, &snap, &err), SL_OK);
    assert_int_equal(snap.n_unknown, 1);
    assert_null(snap.offsets);
    assert_int_equal(model_snapshot_find_array(&snap, "z")->count, 3);
    free(b);
    sl_buf_deinit(&a);
}

static void test_writer_refusals(void **state) {
    (void)state;
    sl_buf out;
    sl_err err = {{0}};
    model_snapshot_writer w;
    float big[1000] = {0};
    /* The buffer's limit: refused, and nothing left behind. */
    sl_buf_init(&out, 1024);
    assert_int_equal(sl_buf_append(&out, "prefix", 6), SL_OK);
    model_snapshot_begin(&w, &out, SL_MODEL_FTRL_LR, "m");
    model_snapshot_put_array(&w, "w", big, 1000);
    assert_int_equal(model_snapshot_finish(&w, NULL, &err), SL_ERR_LIMIT);
    assert_int_equal(out.len, 6);
    sl_buf_deinit(&out);
    /* Bad names and keys, duplicates. */
    sl_buf_init(&out, 1 << 16);
    model_snapshot_begin(&w, &out, SL_MODEL_FTRL_LR, "");
    assert_int_equal(model_snapshot_finish(&w, NULL, &err), SL_ERR_INVALID);
    model_snapshot_begin(&w, &out, SL_MODEL_FTRL_LR, "m");
    model_snapshot_put_hyper(&w, "a_key_that_is_far_too_long", 1);
    assert_int_equal(model_snapshot_finish(&w, NULL, &err), SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "key"));
    model_snapshot_begin(&w, &out, SL_MODEL_FTRL_LR, "m");
    model_snapshot_put_array(&w, "w", big, 2);
    model_snapshot_put_array(&w, "w", big, 2);
    assert_int_equal(model_snapshot_finish(&w, NULL, &err), SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "duplicate"));
    assert_int_equal(out.len, 0);
    /* Interleaved hyperparameters make several HYPR sections; all are read. */
    size_t len;
    model_snapshot_begin(&w, &out, SL_MODEL_RANK, "r");
    model_snapshot_put_hyper(&w, "a", 1);
    model_snapshot_put_dim(&w, "d", 2);
    model_snapshot_put_hyper(&w, "b", 3);
    assert_int_equal(model_snapshot_finish(&w, &len, &err), SL_OK);
    model_snapshot snap;
    assert_int_equal(model_snapshot_open(out.p, len, &snap, &err), SL_OK);
    assert_int_equal(snap.n_sections, 4);
    assert_int_equal(snap.n_hyper, 2);
    sl_buf_deinit(&out);
}

static void test_describe(void **state) {
    (void)state;
    sl_buf a, j;
    sl_buf_init(&a, 1 << 20);
    sl_buf_init(&j, 1 << 16);
    sl_err err = {{0}};
    size_t len = build(&a, true);
    assert_int_equal(model_snapshot_describe(a.p, len, &j, &err), SL_OK);
    const char *want[] = {
        "\"version\":1,\"kind\":\"fm\",\"kind_id\":1,\"name\":\"click_fm\"",
        "\"hyper\":{\"alpha\":0.05,\"beta\":1,\"l1\":0.5}",
        "\"dims\":{\"bits\":20,\"factors\":8}",
        "\"offsets_bytes\":26",
        "{\"tag\":\"NAME\",\"offset\":32,\"bytes\":8}",
        "{\"name\":\"w\",\"count\":6,\"bytes\":24,\"min\":-2,\"max\":3,\"mean\":0."
        "41666666666666669,"
        "\"nonzero\":4,\"nan\":0,\"aligned\":true}",
        "{\"name\":\"z\",\"count\":3,\"bytes\":12,\"min\":0,\"max\":1,\"mean\":0.5,"
        "\"nonzero\":1,\"nan\":1",
        "{\"name\":\"empty\",\"count\":0,\"bytes\":0,\"min\":null,\"max\":null,\"mean\":null",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(j.p, want[i]))
            fail_msg("describe lacks %s in\n%s", want[i], j.p);
    /* A refused blob describes nothing and says why. */
    sl_buf_clear(&j);
    a.p[len - 1] ^= 1;
    assert_int_equal(model_snapshot_describe(a.p, len, &j, &err), SL_ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "checksum mismatch"));
    assert_int_equal(j.len, 0);
    sl_buf_deinit(&a);
    sl_buf_deinit(&j);
}

/* Writes the fuzz seeds when asked (regenerating fuzz/corpus/snapshot/). */
static void write_seed(const char *dir, const char *name, const void *p, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, len, f), len);
    fclose(f);
}

static void test_seeds(void **state) {
    (void)state;
    const char *dir = getenv("SL_SNAPSHOT_SEED_DIR");
    if (!dir)
        skip();
    sl_buf a;
    sl_buf_init(&a, 1 << 20);
    size_t len = build(&a, true);
    write_seed(dir, "fm_small.bin", a.p, len);
    sl_buf_clear(&a);
    model_snapshot_writer w;
    sl_err err;
    model_snapshot_begin(&w, &a, SL_MODEL_FTRL_LR, "click");
    model_snapshot_put_hyper(&w, "alpha", 0.1);
    model_snapshot_put_array(&w, "z", W, 6);
    model_snapshot_put_array(&w, "n", W, 3);
    assert_int_equal(model_snapshot_finish(&w, &len, &err), SL_OK);
    write_seed(dir, "ftrl_small.bin", a.p, len);
    sl_buf_clear(&a);
    model_snapshot_begin(&w, &a, SL_MODEL_RANK, "name-only");
    assert_int_equal(model_snapshot_finish(&w, &len, &err), SL_OK);
    write_seed(dir, "name_only.bin", a.p, len);
    write_seed(dir, "truncated.bin", a.p, len - 5);
    sl_buf_deinit(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_vectors), cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),    cmocka_unit_test(test_writer_refusals),
        cmocka_unit_test(test_describe),    cmocka_unit_test(test_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
