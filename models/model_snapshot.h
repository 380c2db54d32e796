/*
 * model_snapshot.h — the versioned binary snapshot of a model (DESIGN.md §6,
 * byte layout in docs/SNAPSHOTS.md).
 *
 * A snapshot is one self-contained little-endian blob:
 *   header (32 bytes: magic "SLSNAP\0\1", format version, header size, total
 *   size, model kind, section count) | tagged sections | CRC32C of all bytes
 *   before it (4 bytes).
 * Each section is {u32 tag, u32 reserved, u64 payload length, payload padded
 * to 8}. Sections: NAME (the model name, exactly one), HYPR (hyperparameters,
 * key → double), DIMS (dimensions, key → u64), OFFS (the source offsets the
 * snapshot reflects: an opaque caller blob ≤ 64 KiB), ARRY (one named float32
 * array each). A reader skips tags it does not know, so a new section never
 * breaks old readers; a change to an existing layout bumps the version.
 *
 * Invariants: every section payload and every array's data start at a
 * multiple of 8 from the blob's first byte, so a blob in an 8-aligned buffer
 * (malloc, sl_buf) gives aligned zero-copy float views.
 *
 * Pure compute: encodes into / decodes from memory only; writing files and
 * topics is the stream layer's job. The writer appends into a caller's
 * bounded sl_buf; the reader never allocates and never reads outside
 * [buf, buf + len). Not thread-safe per object; distinct objects are
 * independent.
 */
#ifndef MODEL_SNAPSHOT_H
#define MODEL_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_arena.h"
#include "sl_config.h"
#include "sl_status.h"

#define MODEL_SNAPSHOT_MAGIC        "SLSNAP\0\1" /* 8 bytes, the NUL included */
#define MODEL_SNAPSHOT_VERSION      1u           /* the only version this reader takes */
#define MODEL_SNAPSHOT_HEADER_BYTES 32u          /* fixed header of version 1 */
#define MODEL_SNAPSHOT_KEY_MAX      24           /* key / array name field, NUL included */
#define MODEL_SNAPSHOT_NAME_MAX     255          /* model name bytes */
#define MODEL_SNAPSHOT_MAX_KV       64           /* hyperparameters, and dimensions, each */
#define MODEL_SNAPSHOT_MAX_ARRAYS   32           /* parameter arrays */
#define MODEL_SNAPSHOT_MAX_SECTIONS 256          /* all sections, unknown tags included */
#define MODEL_SNAPSHOT_MAX_OFFSETS  65536        /* source-offsets blob bytes */

/* CRC32C (Castagnoli, reflected 0x82F63B78), table-driven. Start with crc =
 * 0; feed chunks by passing the previous result. crc32c("123456789") =
 * 0xE3069283. */
uint32_t model_snapshot_crc32c(uint32_t crc, const void *p, size_t n);
/* The table-driven form, which model_snapshot_crc32c uses where the CPU has
 * no CRC32C instruction (SSE4.2); exposed so the tests compare the two. */
uint32_t model_snapshot__crc32c_portable(uint32_t crc, const void *p, size_t n);

/* ---- writer ---- */

typedef struct model_snapshot_writer {
    sl_buf *out;         /* borrowed: the blob is appended here */
    size_t start;        /* out->len when begun: the blob's first byte */
    size_t kv_section;   /* offset (from start) of the open HYPR/DIMS section, or 0 */
    uint32_t kv_tag;     /* tag of that open section, 0 when none */
    uint32_t n_sections; /* sections written */
    uint32_t n_hyper;    /* hyperparameters written */
    uint32_t n_dims;     /* dimensions written */
    uint32_t n_arrays;   /* arrays written */
    bool has_offsets;    /* OFFS written */
    sl_status st;        /* first failure; later calls do nothing */
    sl_err err;          /* its message */
} model_snapshot_writer;

/*
 * Starts a snapshot at the end of out (borrowed until finish). The blob is
 * 8-aligned relative to out->p when out->len is a multiple of 8 (the usual
 * case: an empty buffer). Errors are sticky: every put after a failure does
 * nothing and finish reports the first one.
 */
sl_status model_snapshot_begin(model_snapshot_writer *w, sl_buf *out, sl_model_kind kind,
                               const char *name);
/* One hyperparameter (key ≤ 23 bytes, at most MODEL_SNAPSHOT_MAX_KV). */
sl_status model_snapshot_put_hyper(model_snapshot_writer *w, const char *key, double v);
/* One dimension (key ≤ 23 bytes, at most MODEL_SNAPSHOT_MAX_KV). */
sl_status model_snapshot_put_dim(model_snapshot_writer *w, const char *key, uint64_t v);
/* The source offsets the snapshot reflects (opaque; ≤ 64 KiB; at most once). */
sl_status model_snapshot_put_offsets(model_snapshot_writer *w, const void *blob, size_t len);
/* One named float array (name ≤ 23 bytes, unique), copied in. */
sl_status model_snapshot_put_array(model_snapshot_writer *w, const char *name, const float *data,
                                   size_t count);
/*
 * Patches the header, appends the CRC32C. On success *len (OUT:, may be NULL)
 * is the blob's size: out->p + w->start holds it. On failure the blob is
 * removed from out (out->len restored) and err says why: SL_ERR_LIMIT (out's
 * limit or a snapshot limit), SL_ERR_INVALID (a bad key or name),
 * SL_ERR_NOMEM.
 */
sl_status model_snapshot_finish(model_snapshot_writer *w, size_t *len, sl_err *err);

/* ---- reader ---- */

typedef struct model_snapshot_kv {
    char key[MODEL_SNAPSHOT_KEY_MAX]; /* NUL-terminated */
    union {
        double f;   /* HYPR value */
        uint64_t u; /* DIMS value */
    } v;
} model_snapshot_kv;

typedef struct model_snapshot_array {
    char name[MODEL_SNAPSHOT_KEY_MAX]; /* NUL-terminated, unique */
    uint64_t count;                    /* floats */
    const void *raw;                   /* (count) little-endian float32, in the caller's buffer */
    const float *data;                 /* == raw when float-aligned, else NULL: copy out */
} model_snapshot_array;

typedef struct model_snapshot {
    uint32_t version;                               /* format version (1) */
    uint32_t kind;                                  /* sl_model_kind; may be unknown to us */
    uint64_t total_bytes;                           /* blob size, CRC included */
    uint32_t crc;                                   /* stored (= computed) CRC32C */
    uint32_t n_sections;                            /* all sections */
    uint32_t n_unknown;                             /* sections with a tag we skipped */
    char name[MODEL_SNAPSHOT_NAME_MAX + 1];         /* model name, NUL-terminated */
    model_snapshot_kv hyper[MODEL_SNAPSHOT_MAX_KV]; /* (n_hyper) in file order */
    uint32_t n_hyper;
    model_snapshot_kv dims[MODEL_SNAPSHOT_MAX_KV]; /* (n_dims) in file order */
    uint32_t n_dims;
    const void *offsets;                                    /* in the caller's buffer, or NULL */
    size_t offsets_len;                                     /* bytes at offsets */
    model_snapshot_array arrays[MODEL_SNAPSHOT_MAX_ARRAYS]; /* (n_arrays) in file order */
    uint32_t n_arrays;
} model_snapshot;

/*
 * Validates buf[0, len) as a whole snapshot and fills *snap (OUT:). Pointers
 * in snap point into buf and stay valid while buf does. SL_ERR_CORRUPT with
 * err saying which of: "not a streamlearn snapshot" (magic), "unknown
 * format version V", "truncated: N bytes, header says M" (or "header needs
 * 32"), "trailing bytes: N bytes, header says M", "checksum mismatch: stored
 * X, computed Y", a section out of bounds, a section malformed, a limit
 * exceeded. The checksum is verified before any section is parsed.
 */
sl_status model_snapshot_open(const void *buf, size_t len, model_snapshot *snap, sl_err *err);

/* Lookups; false when absent. */
bool model_snapshot_hyper(const model_snapshot *snap, const char *key, double *out);
bool model_snapshot_dim(const model_snapshot *snap, const char *key, uint64_t *out);
const model_snapshot_array *model_snapshot_find_array(const model_snapshot *snap, const char *name);
/* Copies an array's floats into out (cap floats). SL_ERR_LIMIT if cap is
 * smaller than a->count. Works whatever the alignment. */
sl_status model_snapshot_array_copy(const model_snapshot_array *a, float *out, size_t cap);

/*
 * Validates buf like model_snapshot_open, then appends one JSON object to
 * json: header fields, every section with its size, and per array count,
 * min, max, mean, nonzero and nan (for `streamlearn snapshot inspect`).
 * The errors of model_snapshot_open, or SL_ERR_LIMIT when json is full.
 */
sl_status model_snapshot_describe(const void *buf, size_t len, sl_buf *json, sl_err *err);

#endif
