/*
 * stream_snapfile.h — model snapshot files: reading them whole, for
 * `--warm-start FILE` and `streamlearn snapshot inspect FILE`.
 *
 * The bytes are only read here; model_snapshot_open() validates them (magic,
 * version, sizes, CRC32C) and op_learners matches them to a configured model
 * by the name inside. Files are capped at STREAM_SNAPFILE_MAX bytes.
 * Ownership: the caller frees what it gets with stream_snapfile_free().
 */
#ifndef STREAM_SNAPFILE_H
#define STREAM_SNAPFILE_H

#include <stddef.h>
#include <stdint.h>

#include "op_learners.h"
#include "sl_status.h"

#define STREAM_SNAPFILE_MAX ((size_t)16 << 30) /* 16 GiB: an FTRL table at hash_bits 30 is 8 */

/* Reads path whole into an 8-aligned heap buffer. OUT: *buf (free with
 * stream_snapfile_free), *len. Returns SL_OK or SL_ERR_IO (unreadable,
 * empty or over the cap: err names the file and the reason), SL_ERR_NOMEM. */
sl_status stream_snapfile_read(const char *path, void **buf, size_t *len, sl_err *err);

/* Reads n files into warm[0..n) (path borrowed from paths). On failure
 * nothing stays allocated. Returns as stream_snapfile_read. */
sl_status stream_snapfile_read_all(const char *const *paths, uint32_t n, op_warm_start *warm,
                                   sl_err *err);
/*
 * The operator graph for cfg and store, its models started from the snapshot
 * files paths[0..n) (`--warm-start`; at most STREAM_SNAPFILE_WARM_MAX) where
 * the store holds no state of them. A file that is unreadable, corrupt, of
 * another shape or of no configured model is reported as `bad` (the
 * caller's status for unusable inputs) with the reason in err; other
 * failures keep their status. OUT: *g.
 */
#define STREAM_SNAPFILE_WARM_MAX 64
typedef struct op_graph op_graph;
sl_status stream_snapfile_graph_create(const sl_config *cfg, state_store *store,
                                       const char *const *paths, uint32_t n, sl_status bad,
                                       op_graph **g, sl_err *err);

/* Frees what read_all read; NULL / 0 is fine. */
void stream_snapfile_free_all(op_warm_start *warm, uint32_t n);
void stream_snapfile_free(void *buf);

#endif
