/* stream_snapchunk.c — snapshots cut into chunks on a topic, and fetched
 * back (stream_snapchunk.h). */
#include "stream_snapchunk.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_snapshot.h"
#include "sl_bytes.h"
#include "sl_log.h"

#define FETCH_TIMEOUT_MS 60000 /* the whole read of the topic */
#define FETCH_MAX_CHUNKS 65536 /* chunks of one snapshot: 64 GiB at 1 MB */

uint32_t stream_snapchunk_count(size_t len, size_t max_msg) {
    if (max_msg <= STREAM_SNAPCHUNK_HEADER + 64)
        return 0;
    size_t per = max_msg - STREAM_SNAPCHUNK_HEADER - 64; /* room for the key and framing */
    return (uint32_t)((len + per - 1) / per);
}

void stream_snapchunk_make(const char *name, size_t name_len, const void *blob, size_t len,
                           uint32_t i, uint32_t n, unsigned char *out, size_t *out_len,
                           char *key, size_t key_cap, size_t *key_len) {
    size_t per = (len + n - 1) / n, off = (size_t)i * per;
    size_t bytes = off >= len ? 0 : (len - off < per ? len - off : per);
    memcpy(out, STREAM_SNAPCHUNK_MAGIC, 8);
    memcpy(out + 8, (const unsigned char *)blob + len - 4, 4); /* the snapshot's CRC32C */
    sl_put_u32(out + 12, i);
    sl_put_u32(out + 16, n);
    sl_put_u32(out + 20, 0);
    sl_put_u64(out + 24, len);
    memcpy(out + STREAM_SNAPCHUNK_HEADER, (const unsigned char *)blob + off, bytes);
    *out_len = STREAM_SNAPCHUNK_HEADER + bytes;
    int k = snprintf(key, key_cap, "%.*s#%u", (int)name_len, name, i);
    *key_len = k < 0 ? 0 : ((size_t)k < key_cap ? (size_t)k : key_cap - 1);
}

/* ---- fetch ------------------------------------------------------------------ */

typedef struct chunk {
    unsigned char *p; /* the message value (header + bytes), malloc'd; NULL = none */
    size_t len;       /* its length */
} chunk;

typedef struct fetch {
    const char *name;  /* the model */
    size_t name_len;   /* its length */
    chunk whole;       /* latest message under key NAME */
    chunk *parts;      /* (n_parts) latest message under key NAME#i */
    uint32_t n_parts;  /* slots allocated */
} fetch;

static void chunk_set(chunk *c, const void *p, size_t len) {
    free(c->p);
    c->p = malloc(len ? len : 1);
    c->len = c->p ? len : 0;
    if (c->p)
        memcpy(c->p, p, len);
}

/* Keeps m if it is a message of our model; later offsets of a key replace
 * earlier ones (one key lives in one partition, read in order). */
static void fetch_take(fetch *f, const rd_kafka_message_t *m) {
    const char *k = m->key;
    if (!k || m->key_len < f->name_len || memcmp(k, f->name, f->name_len) != 0)
        return;
    if (m->key_len == f->name_len) {
        chunk_set(&f->whole, m->payload, m->len);
        return;
    }
    if (k[f->name_len] != '#' || m->key_len - f->name_len > 11)
        return;
    char num[12];
    memcpy(num, k + f->name_len + 1, m->key_len - f->name_len - 1);
    num[m->key_len - f->name_len - 1] = '\0';
    char *end;
    unsigned long i = strtoul(num, &end, 10);
    if (*end || !num[0] || i >= FETCH_MAX_CHUNKS)
        return;
    if (i >= f->n_parts) {
        uint32_t n = f->n_parts ? f->n_parts : 16;
        while (n <= i)
            n *= 2;
        chunk *np = realloc(f->parts, n * sizeof *np);
        if (!np)
            return;
        memset(np + f->n_parts, 0, (n - f->n_parts) * sizeof *np);
        f->parts = np;
        f->n_parts = n;
    }
    chunk_set(&f->parts[i], m->payload, m->len);
}

/* Assembles the chunked snapshot when every chunk of the latest cut is
 * there. OUT: *blob (malloc'd), *len. */
static bool fetch_assemble(const fetch *f, void **blob, size_t *len, char *why, size_t cap) {
    if (!f->n_parts || !f->parts[0].p)
        return false;
    const unsigned char *h0 = f->parts[0].p;
    if (f->parts[0].len < STREAM_SNAPCHUNK_HEADER || memcmp(h0, STREAM_SNAPCHUNK_MAGIC, 8)) {
        snprintf(why, cap, "chunk 0 is not a snapshot chunk");
        return false;
    }
    uint32_t n = sl_get_u32(h0 + 16);
    uint64_t total = sl_get_u64(h0 + 24);
    if (n == 0 || n > f->n_parts || total > ((uint64_t)1 << 36)) {
        snprintf(why, cap, "chunk 0 says %u chunks, %llu bytes", n, (unsigned long long)total);
        return false;
    }
    unsigned char *out = aligned_alloc(8, ((size_t)total + 7) & ~(size_t)7);
    if (!out)
        return false;
    size_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        const chunk *c = &f->parts[i];
        if (!c->p || c->len < STREAM_SNAPCHUNK_HEADER || memcmp(c->p + 8, h0 + 8, 4) != 0 ||
            sl_get_u32(c->p + 12) != i || at + (c->len - STREAM_SNAPCHUNK_HEADER) > total) {
            snprintf(why, cap, "chunk %u of %u is missing or from another snapshot", i, n);
            free(out);
            return false;
        }
        memcpy(out + at, c->p + STREAM_SNAPCHUNK_HEADER, c->len - STREAM_SNAPCHUNK_HEADER);
        at += c->len - STREAM_SNAPCHUNK_HEADER;
    }
    if (at != total) {
        snprintf(why, cap, "chunks hold %zu bytes, the header says %llu", at,
                 (unsigned long long)total);
        free(out);
        return false;
    }
    *blob = out;
    *len = at;
    return true;
}

/* The snapshot's examples learned, to tell which of two is newer. */
static uint64_t snap_examples(const void *blob, size_t len, bool *ok) {
    model_snapshot *s = malloc(sizeof *s);
    sl_err err;
    uint64_t ex = 0;
    *ok = s && model_snapshot_open(blob, len, s, &err) == SL_OK;
    if (*ok)
        model_snapshot_dim(s, "examples", &ex);
    free(s);
    return ex;
}

static sl_status conf_set(rd_kafka_conf_t *c, const char *k, const char *v, sl_err *err) {
    char why[256];
    if (rd_kafka_conf_set(c, k, v, why, sizeof why) != RD_KAFKA_CONF_OK)
        return sl_err_set(err, SL_ERR_CONFIG, "kafka.consumer.%s: %s", k, why);
    return SL_OK;
}

sl_status stream_snapchunk_fetch(const sl_config *cfg, const char *brokers, const char *topic,
                                 const char *name, void **blob, size_t *len, sl_err *err) {
    *blob = NULL;
    *len = 0;
    const sl_config_kafka *k = &cfg->kafka;
    const char *boot = brokers ? brokers : k->brokers;
    if (!boot || !*boot)
        return sl_err_set(err, SL_ERR_CONFIG, "no brokers: give --brokers or kafka.brokers");
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    sl_status st = conf_set(conf, "bootstrap.servers", boot, err);
    st = st ? st : conf_set(conf, "client.id", k->client_id, err);
    st = st ? st : conf_set(conf, "group.id", "streamlearn-snapshot-fetch", err);
    for (int i = 0; !st && i < k->n_consumer; i++)
        st = conf_set(conf, k->consumer[i].key, k->consumer[i].value, err);
    st = st ? st : conf_set(conf, "enable.auto.commit", "false", err);
    if (st) {
        rd_kafka_conf_destroy(conf);
        return st;
    }
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return sl_err_set(err, SL_ERR_KAFKA, "kafka consumer: %s", why);
    }
    fetch f = {.name = name, .name_len = strlen(name)};
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t *hi = NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 10000);
    if (e || md->topic_cnt != 1 || md->topics[0].err) {
        st = sl_err_set(err, SL_ERR_KAFKA, "%s at %s: %s", topic, boot,
                        rd_kafka_err2str(e ? e : md->topic_cnt ? md->topics[0].err
                                                               : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        goto out;
    }
    int np = md->topics[0].partition_cnt;
    parts = rd_kafka_topic_partition_list_new(np);
    hi = calloc((size_t)np + 1, sizeof *hi);
    int left = 0;
    for (int p = 0; hi && p < np; p++) {
        int32_t id = md->topics[0].partitions[p].id;
        int64_t lo;
        if ((e = rd_kafka_query_watermark_offsets(rk, topic, id, &lo, &hi[p], 10000))) {
            st = sl_err_set(err, SL_ERR_KAFKA, "%s [%d]: %s", topic, id, rd_kafka_err2str(e));
            goto out;
        }
        if (hi[p] > lo) {
            rd_kafka_topic_partition_list_add(parts, topic, id)->offset = lo;
            left++;
        }
    }
    if (!hi) {
        st = sl_err_set(err, SL_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (left && (e = rd_kafka_assign(rk, parts))) {
        st = sl_err_set(err, SL_ERR_KAFKA, "%s: assign: %s", topic, rd_kafka_err2str(e));
        goto out;
    }
    int waited = 0;
    while (left > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) {
            if ((waited += 200) >= FETCH_TIMEOUT_MS) {
                st = sl_err_set(err, SL_ERR_KAFKA, "%s: no progress for %d s", topic,
                                FETCH_TIMEOUT_MS / 1000);
                goto out;
            }
            continue;
        }
        waited = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            st = sl_err_set(err, SL_ERR_KAFKA, "%s: %s", topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            goto out;
        }
        fetch_take(&f, m);
        for (int p = 0; p < np; p++)
            if (md->topics[0].partitions[p].id == m->partition && m->offset + 1 == hi[p])
                left--;
        rd_kafka_message_destroy(m);
    }
    /* The newer of the whole message and the assembled chunks. */
    void *cb = NULL;
    size_t cl = 0;
    char cwhy[160] = "no chunks";
    bool have_chunks = fetch_assemble(&f, &cb, &cl, cwhy, sizeof cwhy);
    bool ok_w = false, ok_c = false;
    uint64_t ew = f.whole.p ? snap_examples(f.whole.p, f.whole.len, &ok_w) : 0;
    uint64_t ec = have_chunks ? snap_examples(cb, cl, &ok_c) : 0;
    if (ok_c && (!ok_w || ec >= ew)) {
        *blob = cb;
        *len = cl;
    } else if (ok_w) {
        free(cb);
        void *p = aligned_alloc(8, (f.whole.len + 7) & ~(size_t)7);
        if (!p) {
            st = sl_err_set(err, SL_ERR_NOMEM, "out of memory");
            goto out;
        }
        memcpy(p, f.whole.p, f.whole.len);
        *blob = p;
        *len = f.whole.len;
    } else {
        free(cb);
        st = sl_err_set(err, SL_ERR_NOT_FOUND,
                        "%s holds no complete snapshot of model \"%s\" (%s%s)", topic, name,
                        f.whole.p ? "an invalid whole one; " : "", cwhy);
    }
out:
    free(f.whole.p);
    for (uint32_t i = 0; i < f.n_parts; i++)
        free(f.parts[i].p);
    free(f.parts);
    free(hi);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return st;
}
