/*
 * model_snapshot.c — the snapshot blob: writer, validating reader, describe.
 * Layout and the versioning rule: model_snapshot.h and docs/SNAPSHOTS.md.
 *
 * Every read goes through bounds computed from len alone, with lengths
 * compared as "remaining bytes" (never off + length, which could wrap), so
 * hostile input cannot make the reader step outside [buf, buf + len).
 */
#include "sl_bytes.h"
#include "model_snapshot.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* Arrays are viewed in place as host floats, so the host must be
 * little-endian like the format. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model_snapshot.c assumes a little-endian host"
#endif

#define FOURCC_(a, b, c, d)                                                                        \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define TAG_NAME FOURCC_('N', 'A', 'M', 'E')
#define TAG_HYPR FOURCC_('H', 'Y', 'P', 'R')
#define TAG_DIMS FOURCC_('D', 'I', 'M', 'S')
#define TAG_OFFS FOURCC_('O', 'F', 'F', 'S')
#define TAG_ARRY FOURCC_('A', 'R', 'R', 'Y')

#define SECTION_HEADER_BYTES 16u /* u32 tag, u32 reserved, u64 payload length */
#define KV_BYTES             32u /* char key[24], 8-byte value */
#define ARRAY_HEADER_BYTES   40u /* char name[24], u32 dtype, u32 reserved, u64 count */
#define DTYPE_F32            1u

/* CRC32C, reflected polynomial 0x82F63B78: table[i] is the CRC of byte i
 * (generated once by the bitwise definition; the tests check it against a
 * bitwise reference). */
static const uint32_t crc32c_table[256] = {
    0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu, 0x35f1141cu, 0x26a1e7e8u,
    0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu, 0x4d43cfd0u, 0xbf284cd3u,
    0xac78bf27u, 0x5e133c24u, 0x105ec76fu, 0xe235446cu, 0xf165b798u, 0x030e349bu, 0xd7c45070u,
    0x25afd373u, 0x36ff2087u, 0xc494a384u, 0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u,
    0x5d1d08bfu, 0xaf768bbcu, 0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u,
    0x33ed7d2au, 0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u, 0xaa64d611u, 0x580f5512u,
    0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau, 0x30e349b1u,
    0xc288cab2u, 0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu, 0x1642ae59u, 0xe4292d5au,
    0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au, 0x7da08661u, 0x8fcb0562u, 0x9c9bf696u,
    0x6ef07595u, 0x417b1dbcu, 0xb3109ebfu, 0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u,
    0x67dafa54u, 0x95b17957u, 0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u, 0x0c38d26cu,
    0xfe53516fu, 0xed03a29bu, 0x1f682198u, 0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
    0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu, 0x3ac7f2ebu,
    0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u, 0x61c69362u, 0x93ad1061u,
    0x80fde395u, 0x72966096u, 0xa65c047du, 0x5437877eu, 0x4767748au, 0xb50cf789u, 0xeb1fcbadu,
    0x197448aeu, 0x0a24bb5au, 0xf84f3859u, 0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u,
    0x7198540du, 0x83f3d70eu, 0x90a324fau, 0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u,
    0xa55230e6u, 0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu, 0xceb018deu,
    0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu, 0x456cac67u,
    0xb7072f64u, 0xa457dc90u, 0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u, 0xe9141340u, 0x1b7f9043u,
    0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu, 0x92a8fc17u, 0x60c37f14u, 0x73938ce0u,
    0x81f80fe3u, 0x55326b08u, 0xa759e80bu, 0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu,
    0xf94ad42fu, 0x0b21572cu, 0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u, 0xa24bb5a6u,
    0x502036a5u, 0x4370c551u, 0xb11b4652u, 0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
    0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u, 0x0e330a81u,
    0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du, 0x758fe5d6u, 0x87e466d5u,
    0x94b49521u, 0x66df1622u, 0x38cc2a06u, 0xcaa7a905u, 0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u,
    0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu, 0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u,
    0x0417b1dbu, 0xf67c32d8u, 0xe52cc12cu, 0x1747422fu, 0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu,
    0x5a048dffu, 0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
    0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u, 0x590ab964u,
    0xab613a67u, 0xb831c993u, 0x4a5a4a90u, 0x9e902e7bu, 0x6cfbad78u, 0x7fab5e8cu, 0x8dc0dd8fu,
    0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu, 0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u,
    0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u, 0x88d28022u, 0x7ab90321u, 0xae7367cau, 0x5c18e4c9u,
    0x4f48173du, 0xbd23943eu, 0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au,
    0xc69f7b69u, 0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
    0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u,
};

uint32_t model_snapshot__crc32c_portable(uint32_t crc, const void *p, size_t n) {
    const unsigned char *b = p;
    crc = ~crc;
    while (n--)
        crc = crc32c_table[(crc ^ *b++) & 0xffu] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* SSE4.2's crc32 instruction computes CRC32C itself, 8 bytes a step: about
 * 20x the table's speed, which matters for snapshots of 100 MiB. The same
 * polynomial and bit order, so the same result (tested against the table). */
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const unsigned char *b,
                                                              size_t n) {
    uint64_t c = ~crc;
    for (; n >= 8; n -= 8, b += 8) {
        uint64_t v;
        memcpy(&v, b, 8);
        c = __builtin_ia32_crc32di(c, v);
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *b++);
    return ~c32;
}
#endif

uint32_t model_snapshot_crc32c(uint32_t crc, const void *p, size_t n) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (__builtin_cpu_supports("sse4.2"))
        return crc32c_sse42(crc, p, n);
#endif
    return model_snapshot__crc32c_portable(crc, p, n);
}

static size_t pad8(size_t n) { return (n + 7u) & ~(size_t)7u; }

/* ---- writer ---- */

static sl_status w_fail(model_snapshot_writer *w, sl_status st, const char *what) {
    if (w->st == SL_OK) {
        w->st = st;
        sl_err_set(&w->err, st, "snapshot: %s", what);
    }
    return w->st;
}

static sl_status w_append(model_snapshot_writer *w, const void *p, size_t n) {
    sl_status st = sl_buf_append(w->out, p, n);
    return st == SL_OK ? SL_OK : w_fail(w, st, sl_status_str(st));
}

static sl_status w_zeros(model_snapshot_writer *w, size_t n) {
    static const unsigned char z[8] = {0};
    return n ? w_append(w, z, n) : SL_OK;
}

/* Appends a section header for a payload of plen bytes. */
static sl_status w_section(model_snapshot_writer *w, uint32_t tag, uint64_t plen) {
    if (w->n_sections >= MODEL_SNAPSHOT_MAX_SECTIONS)
        return w_fail(w, SL_ERR_LIMIT, "too many sections");
    unsigned char h[SECTION_HEADER_BYTES];
    sl_put_u32(h, tag);
    sl_put_u32(h + 4, 0);
    sl_put_u64(h + 8, plen);
    w->n_sections++;
    w->kv_tag = 0;
    return w_append(w, h, sizeof h);
}

static bool key_ok(const char *key) {
    size_t n = key ? strlen(key) : 0;
    return n > 0 && n < MODEL_SNAPSHOT_KEY_MAX;
}

sl_status model_snapshot_begin(model_snapshot_writer *w, sl_buf *out, sl_model_kind kind,
                               const char *name) {
    memset(w, 0, sizeof *w);
    w->out = out;
    w->start = out->len;
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > MODEL_SNAPSHOT_NAME_MAX)
        return w_fail(w, SL_ERR_INVALID, "model name must be 1..255 bytes");
    unsigned char h[MODEL_SNAPSHOT_HEADER_BYTES] = {0};
    memcpy(h, MODEL_SNAPSHOT_MAGIC, 8);
    sl_put_u32(h + 8, MODEL_SNAPSHOT_VERSION);
    sl_put_u32(h + 12, MODEL_SNAPSHOT_HEADER_BYTES);
    sl_put_u32(h + 24, (uint32_t)kind); /* total (16) and section count (28) at finish */
    if (w_append(w, h, sizeof h) || w_section(w, TAG_NAME, n) || w_append(w, name, n) ||
        w_zeros(w, pad8(n) - n))
        return w->st;
    return SL_OK;
}

/* Appends one 32-byte key/value entry, extending the open HYPR/DIMS section
 * when it is the last one written (so N puts make one section). */
static sl_status w_kv(model_snapshot_writer *w, uint32_t tag, const char *key, uint64_t bits) {
    if (w->st)
        return w->st;
    if (!key_ok(key))
        return w_fail(w, SL_ERR_INVALID, "key must be 1..23 bytes");
    uint32_t *count = tag == TAG_HYPR ? &w->n_hyper : &w->n_dims;
    if (*count >= MODEL_SNAPSHOT_MAX_KV)
        return w_fail(w, SL_ERR_LIMIT, "too many hyperparameters or dimensions");
    if (w->kv_tag != tag) {
        size_t at = w->out->len - w->start;
        if (w_section(w, tag, 0))
            return w->st;
        w->kv_tag = tag;
        w->kv_section = at;
    }
    unsigned char e[KV_BYTES] = {0};
    memcpy(e, key, strlen(key));
    sl_put_u64(e + MODEL_SNAPSHOT_KEY_MAX, bits);
    if (w_append(w, e, sizeof e))
        return w->st;
    unsigned char *len_at = (unsigned char *)w->out->p + w->start + w->kv_section + 8;
    sl_put_u64(len_at, sl_get_u64(len_at) + KV_BYTES);
    (*count)++;
    return SL_OK;
}

sl_status model_snapshot_put_hyper(model_snapshot_writer *w, const char *key, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return w_kv(w, TAG_HYPR, key, bits);
}

sl_status model_snapshot_put_dim(model_snapshot_writer *w, const char *key, uint64_t v) {
    return w_kv(w, TAG_DIMS, key, v);
}

sl_status model_snapshot_put_offsets(model_snapshot_writer *w, const void *blob, size_t len) {
    if (w->st)
        return w->st;
    if (w->has_offsets)
        return w_fail(w, SL_ERR_INVALID, "offsets written twice");
    if (len > MODEL_SNAPSHOT_MAX_OFFSETS)
        return w_fail(w, SL_ERR_LIMIT, "source offsets larger than 64 KiB");
    w->has_offsets = true;
    if (w_section(w, TAG_OFFS, len) || (len && w_append(w, blob, len)) ||
        w_zeros(w, pad8(len) - len))
        return w->st;
    return SL_OK;
}

sl_status model_snapshot_put_array(model_snapshot_writer *w, const char *name, const float *data,
                                   size_t count) {
    if (w->st)
        return w->st;
    if (!key_ok(name))
        return w_fail(w, SL_ERR_INVALID, "array name must be 1..23 bytes");
    if (w->n_arrays >= MODEL_SNAPSHOT_MAX_ARRAYS)
        return w_fail(w, SL_ERR_LIMIT, "too many arrays");
    if (count > (SIZE_MAX - ARRAY_HEADER_BYTES - 8) / sizeof(float))
        return w_fail(w, SL_ERR_LIMIT, "array too large");
    /* Names must be unique: the reader refuses duplicates. */
    const unsigned char *b = (const unsigned char *)w->out->p + w->start;
    size_t off = MODEL_SNAPSHOT_HEADER_BYTES, end = w->out->len - w->start;
    while (off < end) {
        uint64_t plen = sl_get_u64(b + off + 8);
        if (sl_get_u32(b + off) == TAG_ARRY && strncmp((const char *)b + off + SECTION_HEADER_BYTES,
                                                       name, MODEL_SNAPSHOT_KEY_MAX) == 0)
            return w_fail(w, SL_ERR_INVALID, "duplicate array name");
        off += SECTION_HEADER_BYTES + pad8((size_t)plen);
    }
    size_t bytes = count * sizeof(float);
    unsigned char h[ARRAY_HEADER_BYTES] = {0};
    memcpy(h, name, strlen(name));
    sl_put_u32(h + 24, DTYPE_F32);
    sl_put_u64(h + 32, count);
    if (w_section(w, TAG_ARRY, ARRAY_HEADER_BYTES + bytes) || w_append(w, h, sizeof h) ||
        (bytes && w_append(w, data, bytes)) || w_zeros(w, pad8(bytes) - bytes))
        return w->st;
    w->n_arrays++;
    return SL_OK;
}

sl_status model_snapshot_finish(model_snapshot_writer *w, size_t *len, sl_err *err) {
    if (w->st == SL_OK) {
        size_t body = w->out->len - w->start;
        unsigned char *b = (unsigned char *)w->out->p + w->start;
        sl_put_u64(b + 16, (uint64_t)body + 4);
        sl_put_u32(b + 28, w->n_sections);
        unsigned char c[4];
        sl_put_u32(c, model_snapshot_crc32c(0, b, body));
        if (w_append(w, c, sizeof c) == SL_OK) {
            if (len)
                *len = body + 4;
            return SL_OK;
        }
    }
    w->out->len = w->start;
    if (w->out->len < w->out->cap)
        w->out->p[w->out->len] = '\0';
    return sl_err_set(err, w->st, "%s", w->err.msg);
}

/* ---- reader ---- */

static const char *tag_text(uint32_t tag, char out[5]) {
    for (int i = 0; i < 4; i++) {
        unsigned char ch = (unsigned char)(tag >> (8 * i));
        out[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    out[4] = '\0';
    return out;
}

/* A NUL-terminated, non-empty key within its 24-byte field. */
static bool field_key_ok(const unsigned char *k) {
    return k[0] != 0 && memchr(k, 0, MODEL_SNAPSHOT_KEY_MAX) != NULL;
}

static sl_status read_kv(const unsigned char *p, uint64_t plen, uint32_t i, model_snapshot_kv *kv,
                         uint32_t *n, const char *what, sl_err *err) {
    if (plen % KV_BYTES)
        return sl_err_set(err, SL_ERR_CORRUPT,
                          "section %u (%s): %" PRIu64 " bytes is not a whole number of entries",
                          (unsigned)i, what, plen);
    for (uint64_t e = 0; e < plen / KV_BYTES; e++, p += KV_BYTES) {
        if (*n >= MODEL_SNAPSHOT_MAX_KV)
            return sl_err_set(err, SL_ERR_CORRUPT, "section %u (%s): more than %d entries",
                              (unsigned)i, what, MODEL_SNAPSHOT_MAX_KV);
        if (!field_key_ok(p))
            return sl_err_set(err, SL_ERR_CORRUPT,
                              "section %u (%s): entry %" PRIu64 " has a malformed key", (unsigned)i,
                              what, e);
        memcpy(kv[*n].key, p, MODEL_SNAPSHOT_KEY_MAX);
        kv[*n].v.u = sl_get_u64(p + MODEL_SNAPSHOT_KEY_MAX);
        (*n)++;
    }
    return SL_OK;
}

static sl_status read_array(const unsigned char *p, uint64_t plen, uint32_t i, model_snapshot *snap,
                            sl_err *err) {
    if (plen < ARRAY_HEADER_BYTES)
        return sl_err_set(err, SL_ERR_CORRUPT,
                          "section %u (ARRY): %" PRIu64 " bytes, shorter than its header",
                          (unsigned)i, plen);
    if (!field_key_ok(p))
        return sl_err_set(err, SL_ERR_CORRUPT, "section %u (ARRY): malformed name", (unsigned)i);
    const char *name = (const char *)p;
    uint32_t dtype = sl_get_u32(p + 24);
    uint64_t count = sl_get_u64(p + 32), data_bytes = plen - ARRAY_HEADER_BYTES;
    if (dtype != DTYPE_F32)
        return sl_err_set(err, SL_ERR_CORRUPT, "array %s: unknown element type %u", name,
                          (unsigned)dtype);
    if (data_bytes % sizeof(float) || data_bytes / sizeof(float) != count)
        return sl_err_set(err, SL_ERR_CORRUPT,
                          "array %s: count %" PRIu64 " does not match %" PRIu64 " data bytes", name,
                          count, data_bytes);
    if (model_snapshot_find_array(snap, name))
        return sl_err_set(err, SL_ERR_CORRUPT, "array %s: duplicate name", name);
    if (snap->n_arrays >= MODEL_SNAPSHOT_MAX_ARRAYS)
        return sl_err_set(err, SL_ERR_CORRUPT, "more than %d arrays", MODEL_SNAPSHOT_MAX_ARRAYS);
    model_snapshot_array *a = &snap->arrays[snap->n_arrays++];
    memcpy(a->name, name, MODEL_SNAPSHOT_KEY_MAX);
    a->count = count;
    a->raw = p + ARRAY_HEADER_BYTES;
    a->data = ((uintptr_t)a->raw % _Alignof(float)) == 0 ? (const float *)a->raw : NULL;
    return SL_OK;
}

sl_status model_snapshot_open(const void *buf, size_t len, model_snapshot *snap, sl_err *err) {
    const unsigned char *b = buf;
    memset(snap, 0, sizeof *snap);
    if (memcmp(b, MODEL_SNAPSHOT_MAGIC, len < 8 ? len : 8) != 0)
        return sl_err_set(err, SL_ERR_CORRUPT, "not a streamlearn snapshot (wrong magic)");
    if (len < 12)
        return sl_err_set(err, SL_ERR_CORRUPT, "truncated: %zu bytes, header needs %u", len,
                          MODEL_SNAPSHOT_HEADER_BYTES);
    snap->version = sl_get_u32(b + 8);
    if (snap->version != MODEL_SNAPSHOT_VERSION)
        return sl_err_set(err, SL_ERR_CORRUPT, "unknown format version %u (this reader takes %u)",
                          (unsigned)snap->version, MODEL_SNAPSHOT_VERSION);
    if (len < MODEL_SNAPSHOT_HEADER_BYTES)
        return sl_err_set(err, SL_ERR_CORRUPT, "truncated: %zu bytes, header needs %u", len,
                          MODEL_SNAPSHOT_HEADER_BYTES);
    uint32_t header_bytes = sl_get_u32(b + 12);
    uint64_t total = sl_get_u64(b + 16);
    if (header_bytes < MODEL_SNAPSHOT_HEADER_BYTES || header_bytes % 8)
        return sl_err_set(err, SL_ERR_CORRUPT, "header size %u is malformed",
                          (unsigned)header_bytes);
    if (total < (uint64_t)header_bytes + 4)
        return sl_err_set(err, SL_ERR_CORRUPT,
                          "header says %" PRIu64 " bytes, less than its own header", total);
    if (len < total)
        return sl_err_set(err, SL_ERR_CORRUPT, "truncated: %zu bytes, header says %" PRIu64, len,
                          total);
    if (len > total)
        return sl_err_set(err, SL_ERR_CORRUPT, "trailing bytes: %zu bytes, header says %" PRIu64,
                          len, total);
    size_t end = (size_t)total - 4;
    uint32_t stored = sl_get_u32(b + end), computed = model_snapshot_crc32c(0, b, end);
    if (stored != computed)
        return sl_err_set(err, SL_ERR_CORRUPT, "checksum mismatch: stored 0x%08x, computed 0x%08x",
                          (unsigned)stored, (unsigned)computed);
    snap->total_bytes = total;
    snap->crc = stored;
    snap->kind = sl_get_u32(b + 24);
    snap->n_sections = sl_get_u32(b + 28);
    if (snap->n_sections > MODEL_SNAPSHOT_MAX_SECTIONS)
        return sl_err_set(err, SL_ERR_CORRUPT, "%u sections, more than %d",
                          (unsigned)snap->n_sections, MODEL_SNAPSHOT_MAX_SECTIONS);
    size_t off = header_bytes;
    bool has_name = false;
    sl_status st = SL_OK;
    char t[5];
    for (uint32_t i = 0; i < snap->n_sections; i++) {
        if (end - off < SECTION_HEADER_BYTES)
            return sl_err_set(err, SL_ERR_CORRUPT,
                              "section %u: header out of bounds at offset %zu (%zu bytes left)",
                              (unsigned)i, off, end - off);
        uint32_t tag = sl_get_u32(b + off);
        uint64_t plen = sl_get_u64(b + off + 8);
        size_t room = end - off - SECTION_HEADER_BYTES;
        if (plen > room || pad8((size_t)plen) > room)
            return sl_err_set(err, SL_ERR_CORRUPT,
                              "section %u (%s): length %" PRIu64
                              " out of bounds at offset %zu (%zu bytes left)",
                              (unsigned)i, tag_text(tag, t), plen, off, room);
        const unsigned char *p = b + off + SECTION_HEADER_BYTES;
        switch (tag) {
        case TAG_NAME:
            if (has_name)
                return sl_err_set(err, SL_ERR_CORRUPT, "section %u: a second NAME", (unsigned)i);
            if (plen == 0 || plen > MODEL_SNAPSHOT_NAME_MAX || memchr(p, 0, (size_t)plen))
                return sl_err_set(err, SL_ERR_CORRUPT, "section %u (NAME): malformed name",
                                  (unsigned)i);
            memcpy(snap->name, p, (size_t)plen);
            has_name = true;
            break;
        case TAG_HYPR: st = read_kv(p, plen, i, snap->hyper, &snap->n_hyper, "HYPR", err); break;
        case TAG_DIMS: st = read_kv(p, plen, i, snap->dims, &snap->n_dims, "DIMS", err); break;
        case TAG_OFFS:
            if (snap->offsets)
                return sl_err_set(err, SL_ERR_CORRUPT, "section %u: a second OFFS", (unsigned)i);
            if (plen > MODEL_SNAPSHOT_MAX_OFFSETS)
                return sl_err_set(err, SL_ERR_CORRUPT,
                                  "section %u (OFFS): %" PRIu64 " bytes, more than 64 KiB",
                                  (unsigned)i, plen);
            snap->offsets = p;
            snap->offsets_len = (size_t)plen;
            break;
        case TAG_ARRY: st = read_array(p, plen, i, snap, err); break;
        default:
            snap->n_unknown++; /* a newer writer's section: skipped */
            break;
        }
        if (st != SL_OK)
            return st;
        off += SECTION_HEADER_BYTES + pad8((size_t)plen);
    }
    if (off != end)
        return sl_err_set(err, SL_ERR_CORRUPT, "%zu bytes after the last of %u sections", end - off,
                          (unsigned)snap->n_sections);
    if (!has_name)
        return sl_err_set(err, SL_ERR_CORRUPT, "no NAME section");
    return SL_OK;
}

static const model_snapshot_kv *find_kv(const model_snapshot_kv *kv, uint32_t n, const char *key) {
    for (uint32_t i = 0; i < n; i++)
        if (strncmp(kv[i].key, key, MODEL_SNAPSHOT_KEY_MAX) == 0)
            return &kv[i];
    return NULL;
}

bool model_snapshot_hyper(const model_snapshot *snap, const char *key, double *out) {
    const model_snapshot_kv *kv = find_kv(snap->hyper, snap->n_hyper, key);
    if (kv)
        memcpy(out, &kv->v.u, sizeof *out);
    return kv != NULL;
}

bool model_snapshot_dim(const model_snapshot *snap, const char *key, uint64_t *out) {
    const model_snapshot_kv *kv = find_kv(snap->dims, snap->n_dims, key);
    if (kv)
        *out = kv->v.u;
    return kv != NULL;
}

const model_snapshot_array *model_snapshot_find_array(const model_snapshot *snap,
                                                      const char *name) {
    for (uint32_t i = 0; i < snap->n_arrays; i++)
        if (strncmp(snap->arrays[i].name, name, MODEL_SNAPSHOT_KEY_MAX) == 0)
            return &snap->arrays[i];
    return NULL;
}

sl_status model_snapshot_array_copy(const model_snapshot_array *a, float *out, size_t cap) {
    if (a->count > cap)
        return SL_ERR_LIMIT;
    if (a->count)
        memcpy(out, a->raw, (size_t)a->count * sizeof(float));
    return SL_OK;
}

/* ---- describe ---- */

#define PUT_(call)                                                                                 \
    do {                                                                                           \
        if ((st = (call)) != SL_OK)                                                                \
            goto out;                                                                              \
    } while (0)

static sl_status describe_array(sl_buf *json, const model_snapshot_array *a) {
    sl_status st;
    double mn = INFINITY, mx = -INFINITY, sum = 0;
    uint64_t nonzero = 0, nan = 0;
    const unsigned char *p = a->raw;
    for (uint64_t i = 0; i < a->count; i++) {
        float v = sl_get_f32(p + i * 4);
        if (isnan(v)) {
            nan++;
            continue;
        }
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        sum += v;
        nonzero += v != 0;
    }
    uint64_t n = a->count - nan;
    PUT_(sl_buf_append(json, "{\"name\":", 8));
    PUT_(sl_buf_json_str(json, a->name, strlen(a->name), NULL));
    PUT_(sl_buf_printf(json, ",\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"min\":", a->count,
                       a->count * 4));
    PUT_(sl_buf_json_num(json, n ? mn : NAN));
    PUT_(sl_buf_append(json, ",\"max\":", 7));
    PUT_(sl_buf_json_num(json, n ? mx : NAN));
    PUT_(sl_buf_append(json, ",\"mean\":", 8));
    PUT_(sl_buf_json_num(json, n ? sum / (double)n : NAN));
    PUT_(sl_buf_printf(json, ",\"nonzero\":%" PRIu64 ",\"nan\":%" PRIu64 ",\"aligned\":%s}",
                       nonzero, nan, a->data ? "true" : "false"));
out:
    return st;
}

static sl_status describe_kv(sl_buf *json, const char *key, const model_snapshot_kv *kv, uint32_t n,
                             bool is_double) {
    sl_status st;
    PUT_(sl_buf_printf(json, ",\"%s\":{", key));
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            PUT_(sl_buf_putc(json, ','));
        PUT_(sl_buf_json_str(json, kv[i].key, strlen(kv[i].key), NULL));
        PUT_(sl_buf_putc(json, ':'));
        if (is_double) {
            double d;
            memcpy(&d, &kv[i].v.u, sizeof d);
            PUT_(sl_buf_json_num(json, d));
        } else {
            PUT_(sl_buf_printf(json, "%" PRIu64, kv[i].v.u));
        }
    }
    PUT_(sl_buf_putc(json, '}'));
out:
    return st;
}

sl_status model_snapshot_describe(const void *buf, size_t len, sl_buf *json, sl_err *err) {
    model_snapshot snap;
    sl_status st = model_snapshot_open(buf, len, &snap, err);
    if (st != SL_OK)
        return st;
    const unsigned char *b = buf;
    const char *kind = snap.kind < SL_MODEL_KIND_COUNT ? sl_model_kind_str(snap.kind) : "unknown";
    PUT_(sl_buf_printf(json,
                       "{\"format\":\"streamlearn snapshot\",\"version\":%u,\"kind\":\"%s\","
                       "\"kind_id\":%u,\"name\":",
                       (unsigned)snap.version, kind, (unsigned)snap.kind));
    PUT_(sl_buf_json_str(json, snap.name, strlen(snap.name), NULL));
    PUT_(sl_buf_printf(json, ",\"bytes\":%" PRIu64 ",\"crc32c\":\"0x%08x\"", snap.total_bytes,
                       (unsigned)snap.crc));
    PUT_(describe_kv(json, "hyper", snap.hyper, snap.n_hyper, true));
    PUT_(describe_kv(json, "dims", snap.dims, snap.n_dims, false));
    PUT_(sl_buf_printf(json, ",\"offsets_bytes\":%zu,\"sections\":[", snap.offsets_len));
    size_t off = sl_get_u32(b + 12);
    char t[5];
    for (uint32_t i = 0; i < snap.n_sections; i++) {
        uint64_t plen = sl_get_u64(b + off + 8);
        PUT_(sl_buf_printf(json, "%s{\"tag\":", i ? "," : ""));
        tag_text(sl_get_u32(b + off), t);
        PUT_(sl_buf_json_str(json, t, 4, NULL));
        PUT_(sl_buf_printf(json, ",\"offset\":%zu,\"bytes\":%" PRIu64 "}", off, plen));
        off += SECTION_HEADER_BYTES + pad8((size_t)plen);
    }
    PUT_(sl_buf_append(json, "],\"arrays\":[", 12));
    for (uint32_t i = 0; i < snap.n_arrays; i++) {
        if (i)
            PUT_(sl_buf_putc(json, ','));
        PUT_(describe_array(json, &snap.arrays[i]));
    }
    PUT_(sl_buf_append(json, "]}", 2));
out:
    if (st != SL_OK)
        sl_err_set(err, st, "snapshot describe: %s", sl_status_str(st));
    return st;
}
