/*
 * stream_snapchunk.h — model snapshots on a Kafka topic when they are larger
 * than a message may be, and reading them back.
 *
 * A snapshot is tens of MiB; Kafka's default message limit is 1 MB. A
 * snapshot that fits goes to the `snapshots` topic as it is, key = model
 * name (DESIGN §8). One that does not is cut into chunks, each its own
 * message with key "NAME#i" (i = 0..n−1, decimal) and value
 *   magic "SLSNCHK1" | crc u32 | index u32 | count u32 | pad u32 |
 *   total u64 | chunk bytes
 * (little-endian, 32-byte header), where crc is the CRC32C the whole
 * snapshot ends with: the chunks of one snapshot share it. Distinct keys
 * survive compaction: after it, each NAME#i holds its latest chunk, and a
 * reader assembles the newest snapshot whose chunks all agree (a chunk left
 * from an older, longer cut has another crc and is ignored). A model's
 * snapshot has the same size all run long, so a model is either always whole
 * or always chunked.
 *
 * stream_snapchunk_fetch() reads a topic from its start to its current end
 * (no consumer group, nothing committed) and returns the newest complete
 * snapshot of a model, whole or chunked, validated (model_snapshot_open).
 * Ownership: the caller frees the fetched blob with free().
 */
#ifndef STREAM_SNAPCHUNK_H
#define STREAM_SNAPCHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "sl_config.h"
#include "sl_status.h"

#define STREAM_SNAPCHUNK_MAGIC  "SLSNCHK1"
#define STREAM_SNAPCHUNK_HEADER 32u

/* Chunks of a len-byte snapshot when a message carries at most max_msg
 * bytes (header included); 0 when max_msg is too small to carry any. */
uint32_t stream_snapchunk_count(size_t len, size_t max_msg);

/* Writes chunk i of n of snapshot blob (len bytes; its last 4 bytes are its
 * CRC32C) into out: the header then the chunk's bytes. OUT: *out_len, and
 * the key "NAME#i" into key (cap bytes) with *key_len. */
void stream_snapchunk_make(const char *name, size_t name_len, const void *blob, size_t len,
                           uint32_t i, uint32_t n, unsigned char *out, size_t *out_len,
                           char *key, size_t key_cap, size_t *key_len);

/*
 * Reads topic (cfg->kafka: brokers unless `brokers` overrides, client.id and
 * kafka.consumer.* properties such as SASL/SSL) to its end and returns the
 * newest complete, valid snapshot of model `name`. OUT: *blob (malloc'd,
 * 8-aligned), *len. Returns SL_OK, SL_ERR_NOT_FOUND (no complete snapshot
 * of that model), SL_ERR_KAFKA (the cluster could not be read: reason in
 * err), SL_ERR_NOMEM.
 */
sl_status stream_snapchunk_fetch(const sl_config *cfg, const char *brokers, const char *topic,
                                 const char *name, void **blob, size_t *len, sl_err *err);

#endif
