/*
 * stream_engine.c — the live engine on libuv and librdkafka (see
 * stream_engine.h for the shape; this comment is about the invariants).
 *
 * Threads: everything here runs on the loop thread, except the synced
 * RocksDB write of a checkpoint, which runs on the checkpoint writer thread
 * (writer_main) and touches nothing but the state_ckpt it is handed.
 * librdkafka's own threads only write a byte into our pipes; every callback
 * (rebalance, error, log, delivery report) is served from a call we make on
 * the loop thread.
 *
 * At-least-once: batch k gets sequence number k and an entry in the ring
 * with the count of its outputs not yet delivered. A delivery report
 * decrements its batch's count; the oldest batches whose counts reached
 * zero leave the ring in order. Without state.dir each leaving batch has
 * its offsets stored at once, and librdkafka's auto-commit sends stored
 * offsets to the group. With state.dir the offsets wait for the checkpoint
 * that covers them (DESIGN §7: state first, then offsets):
 *
 *   1. begin (loop, between batches): the operators write their state, the
 *      store records where its dirty entries are and pins them (no copy:
 *      the writer reads them in place, a write to one copies it), the
 *      consumed offsets are encoded; the checkpoint covers batches [.., ck_seq).
 *   2. once every batch below ck_seq has all its outputs delivered (the ring
 *      head passed it), the writer thread does the one synced WriteBatch;
 *      the loop goes on with the next batches meanwhile.
 *   3. finish (loop, woken by wdone): the store publishes the checkpoint,
 *      and only then are its offsets stored for the auto-commit.
 *
 * One checkpoint at a time: a checkpoint that comes due while one is in
 * flight starts when it finishes, and draining stops while the store says
 * its memory is short. A crash at any point restarts from the last synced
 * checkpoint, whose state and offsets agree and whose records' outputs were
 * all delivered. A delivery that fails for good, or a checkpoint write that
 * fails, stops the engine with an error and without storing those offsets.
 */
#include "stream_engine.h"
#include "stream_snapchunk.h"
#include "stream_snapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "op_graph.h"
#include "sl_log.h"
#include "state_store.h"

#define RING 64 /* batches in flight; full ring = backpressure */

typedef struct inflight {
    uint32_t pending;                         /* outputs not yet delivered */
    rd_kafka_topic_partition_list_t *offsets; /* next offset per partition */
} inflight;

typedef struct engine {
    const sl_config *cfg;        /* immutable config */
    stream_engine_opts opts;     /* run options */
    uv_loop_t loop;              /* the one loop */
    uv_poll_t cons_poll;         /* consumer queue's pipe */
    uv_poll_t prod_poll;         /* producer queue's pipe */
    uv_signal_t sigint, sigterm; /* graceful stop */
    uv_timer_t tick;             /* progress, idle check, re-drain */
    uv_idle_t feed_idle;         /* produces the feed while it lasts */
    int cons_pipe[2];            /* librdkafka writes, we read */
    int prod_pipe[2];
    rd_kafka_t *cons;                              /* consumer group member */
    rd_kafka_t *prod;                              /* idempotent producer */
    rd_kafka_t *mock_host;                         /* hosts the embedded cluster */
    rd_kafka_mock_cluster_t *mock;                 /* embedded cluster, or NULL */
    rd_kafka_queue_t *cons_q;                      /* consumer queue (messages + events) */
    rd_kafka_queue_t *prod_q;                      /* producer main queue (reports) */
    rd_kafka_topic_t *out_topic[OP_CHANNEL_COUNT]; /* sink topics */
    rd_kafka_topic_t *feed_topic;                  /* first input topic (feed target) */
    state_store *store;                            /* operator state (state.dir, or in memory) */
    bool durable;                              /* state.dir set: offsets wait for a checkpoint */
    uint64_t ckpt_seq;                         /* batches below this are in a checkpoint begun */
    double last_ckpt;                          /* wall clock of the last checkpoint begun */
    uint64_t ckpt_records;                     /* records consumed at the last checkpoint begun */
    uint64_t checkpoints;                      /* checkpoints committed */
    /* the checkpoint in flight (loop side) */
    state_ckpt *ck;                            /* begun, not finished, or NULL */
    bool ck_writing;                           /* handed to the writer thread */
    uint64_t ck_seq;                           /* it covers the batches below this */
    uint64_t ck_records;                       /* records consumed when it began */
    uint64_t ck_prev_seq;                      /* ckpt_seq before it began */
    rd_kafka_topic_partition_list_t *ck_offsets; /* offsets to store once it is durable */
    rd_kafka_topic_partition_list_t *since;    /* offsets consumed since the last begin */
    /* the checkpoint writer thread: w_* are shared, under wlock */
    uv_thread_t writer;                        /* runs writer_main */
    uv_mutex_t wlock;                          /* guards w_* */
    uv_cond_t wcond;                           /* w_job or w_quit set, or w_done */
    uv_async_t wdone;                          /* the writer's "done" to the loop */
    bool writer_started;                       /* thread, lock, cond and wdone exist */
    state_ckpt *w_job;                         /* the checkpoint to write, or NULL */
    bool w_busy;                               /* a job is taken and not done */
    bool w_done;                               /* a job is done; result below */
    bool w_quit;                               /* the thread should exit */
    sl_status w_rc;                            /* the write's status */
    sl_err w_err;                              /* its message */
    double w_ms;                               /* its duration */
    /* loop stalls, for the summary */
    double ck_begin_ms_max;                    /* longest checkpoint begin (loop) */
    double ck_begin_cpu_ms_max;                /* longest in CPU time */
    double ck_graph_cpu_ms_max;                /* of which the operators' part, longest */
    size_t ck_dirty_max;                       /* most bytes a checkpoint copied */
    size_t ck_cache_max;                       /* largest cache it walked */
    double ck_begin_ms_total;                  /* all of them */
    double ck_write_ms_max;                    /* longest synced write (writer thread) */
    double ck_sync_ms_max;                     /* longest forced (blocking) checkpoint */
    double batch_ms_max;                       /* longest batch through the graph */
    double batch_cpu_ms_max;                   /* longest in CPU time */
    uint32_t batch_cpu_max_n;                  /* records in that batch */
    uint64_t batches_over_10ms;                /* batches that took >= 10 ms */
    uint64_t ckpt_waits;                       /* drains stopped for a checkpoint in flight */
    rd_kafka_topic_partition_list_t *consumed; /* next offset per partition consumed */
    unsigned char ckpt_blob[64 * 1024];        /* the encoded offsets (~2000 partitions) */
    op_graph *graph;                           /* the operators */
    op_batch batch;                            /* reused for every batch */
    bool batch_ready;                          /* batch initialized */
    rd_kafka_message_t **msgs;                 /* consume buffer (batch_size) */
    inflight ring[RING];                       /* batches whose outputs are in flight */
    uint64_t head;                             /* oldest batch not yet stored */
    uint64_t tail;                             /* next batch sequence number */
    bool assigned_once;                        /* idle time counts from the first assignment */
    bool stopping;                             /* graceful stop under way */
    bool handles_closed;                       /* uv handles closed */
    bool loop_inited;                          /* uv_loop_init succeeded */
    bool failed;                               /* a fatal error happened */
    char fatal[512];                           /* its message */
    double started;                            /* wall clock at start */
    double last_input;                         /* wall clock of the last message */
    double first_msg;                          /* wall clock of the first message (0: none yet) */
    double last_msg;                           /* wall clock of the last message */
    double last_progress;                      /* wall clock of the last progress line */
    double last_down_log;                      /* rate limit for "brokers down" */
    uint64_t outputs;                          /* outputs delivered */
    uint64_t batches;                          /* batches through the graph */
    uint64_t run_records;                      /* messages consumed by this process (the
                                                  graph's counters carry over restarts) */
    uint64_t queue_full_waits;                 /* produce() found the producer queue full */
    size_t snapshot_max_bytes;                 /* the producer's message.max.bytes */
    uint64_t snapshots_chunked;                /* snapshots sent as chunks */
    unsigned char *chunk_buf;                  /* (snapshot_max_bytes) one chunk message */
    uint64_t ring_full;                        /* drains stopped by a full ring (backpressure) */
    uint64_t fed;                              /* feed lines produced */
    bool feed_done;                            /* the feed is exhausted */
    char bootstrap[512];                       /* where the brokers are */
} engine;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the calling thread: beside the wall clock it tells a stall
 * of our own (both long) from the machine taking the core away (wall
 * only). */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void begin_stop(engine *e, const char *why);
static void maybe_checkpoint(engine *e, bool force);
static void drain(engine *e);

static void fail(engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(engine *e, const char *fmt, ...) {
    if (!e->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->fatal, sizeof e->fatal, fmt, ap);
        va_end(ap);
        e->failed = true;
        sl_log(SL_LOG_ERROR, "%s", e->fatal);
    }
    begin_stop(e, "fatal error");
}

/* ---- librdkafka callbacks (served on the loop thread) ------------------ */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    /* Connection failures also reach error_cb, which says what they mean for
     * the engine and rate-limits them; here they would repeat every retry. */
    if (!strcmp(fac, "FAIL") && level > 2)
        level = 7;
    sl_log(level <= 3   ? SL_LOG_ERROR
           : level <= 4 ? SL_LOG_WARN
           : level <= 6 ? SL_LOG_INFO
                        : SL_LOG_DEBUG,
           "kafka: %s: %s", fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    engine *e = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_fatal_error(rk, why, sizeof why);
        fail(e, "kafka: fatal error: %s", why);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT) {
        double t = now_s();
        if (t - e->last_down_log < 5.0)
            return;
        e->last_down_log = t;
        sl_log(SL_LOG_WARN,
               "kafka: %s (%s); waiting for the brokers: outputs stay queued and offsets "
               "uncommitted, nothing is lost",
               rd_kafka_err2str(err), reason);
        return;
    }
    sl_log(SL_LOG_WARN, "kafka: %s: %s", rd_kafka_err2str(err), reason);
}

static void try_write(engine *e);

/* Moves the ring past the oldest batches whose outputs are all delivered.
 * Without state.dir their offsets are stored now; with it they wait for
 * the checkpoint (which may now be writable). */
static void advance(engine *e) {
    while (e->head < e->tail && e->ring[e->head % RING].pending == 0) {
        inflight *f = &e->ring[e->head % RING];
        if (f->offsets && f->offsets->cnt) {
            rd_kafka_resp_err_t err = rd_kafka_offsets_store(e->cons, f->offsets);
            if (err && err != RD_KAFKA_RESP_ERR__STATE)
                sl_log(SL_LOG_WARN, "kafka: storing offsets: %s", rd_kafka_err2str(err));
        }
        if (f->offsets)
            rd_kafka_topic_partition_list_destroy(f->offsets);
        f->offsets = NULL;
        e->head++;
    }
    try_write(e);
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    engine *e = opaque;
    uint64_t seq = (uint64_t)(uintptr_t)m->_private;
    if (m->err) {
        fail(e,
             "kafka: delivery to %s [%d] failed for good: %s; stopping without committing "
             "that batch (it will be consumed again)",
             rd_kafka_topic_name(m->rkt), (int)m->partition, rd_kafka_err2str(m->err));
        return;
    }
    if (seq == UINT64_MAX) { /* a feed message, not an output */
        return;
    }
    e->outputs++;
    /* seq == tail is the batch still being produced: when the producer queue
     * is full, produce() serves delivery reports for that batch's earlier
     * outputs, which were already counted in its pending. */
    if (seq >= e->head && seq <= e->tail && e->ring[seq % RING].pending > 0)
        e->ring[seq % RING].pending--;
}

/* Delivers everything in flight (bounded), then stores what it can. */
static void finish_inflight(engine *e, int timeout_ms) {
    rd_kafka_resp_err_t err = rd_kafka_flush(e->prod, timeout_ms);
    if (err)
        sl_log(SL_LOG_WARN, "kafka: outputs still undelivered after %d ms: %s", timeout_ms,
               rd_kafka_err2str(err));
    advance(e);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    engine *e = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    char list[512];
    size_t o = 0;
    list[0] = '\0';
    for (int i = 0; i < parts->cnt && o < sizeof list - 64; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s[%d]", i ? " " : "",
                              parts->elems[i].topic, (int)parts->elems[i].partition);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        sl_log(SL_LOG_INFO, "kafka: assigned %s", parts->cnt ? list : "(nothing new)");
        /* The state reflects exactly the records before e->consumed's
         * offsets: the checkpoint we started from (whose outputs were all
         * delivered), then every record processed since. So a partition we
         * know resumes there, not at the group's committed offset, which
         * may lag it by one commit interval; and one handed to another
         * member and given back does not replay what this state already
         * holds. (Records the other member processed meanwhile are in its
         * state, not ours: they are consumed again here, duplicates the
         * at-least-once contract allows.) */
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *p = &parts->elems[i];
            rd_kafka_topic_partition_t *r =
                rd_kafka_topic_partition_list_find(e->consumed, p->topic, p->partition);
            if (r && r->offset >= 0) {
                p->offset = r->offset;
                sl_log(SL_LOG_INFO, "kafka: %s[%d] resumes at offset %lld, where this state "
                       "left it", p->topic, (int)p->partition, (long long)r->offset);
            }
        }
        rd_kafka_error_t *ke = NULL;
        rd_kafka_resp_err_t re = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (coop)
            ke = rd_kafka_incremental_assign(rk, parts);
        else
            re = rd_kafka_assign(rk, parts);
        if (ke) {
            fail(e, "kafka: assign: %s", rd_kafka_error_string(ke));
            rd_kafka_error_destroy(ke);
        } else if (re) {
            fail(e, "kafka: assign: %s", rd_kafka_err2str(re));
        }
        e->assigned_once = true;
        if (!e->last_input)
            e->last_input = now_s();
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        sl_log(SL_LOG_INFO, "kafka: revoking %s: delivering their outputs and committing",
               parts->cnt ? list : "(nothing)");
        /* Hand back the revoked partitions' work: every batch consumed so far
         * is delivered and its offsets committed before we let go. */
        if (!rd_kafka_assignment_lost(rk)) {
            finish_inflight(e, 30000);
            maybe_checkpoint(e, true);
            rd_kafka_resp_err_t ce = rd_kafka_commit(rk, NULL, 0);
            if (ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
                sl_log(SL_LOG_WARN, "kafka: commit on revoke: %s", rd_kafka_err2str(ce));
        } else {
            sl_log(SL_LOG_WARN, "kafka: partitions lost; their uncommitted work will be redone "
                                "by their new owner");
        }
        if (coop) {
            rd_kafka_error_t *ke = rd_kafka_incremental_unassign(rk, parts);
            if (ke)
                rd_kafka_error_destroy(ke);
        } else {
            rd_kafka_assign(rk, NULL);
        }
        return;
    }
    sl_log(SL_LOG_ERROR, "kafka: rebalance failed: %s", rd_kafka_err2str(err));
    rd_kafka_assign(rk, NULL);
}

/* ---- clients ----------------------------------------------------------- */

static sl_status conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, const char *origin,
                          sl_err *err) {
    char why[512];
    if (rd_kafka_conf_set(conf, k, v, why, sizeof why) != RD_KAFKA_CONF_OK)
        return sl_err_set(err, SL_ERR_CONFIG, "%s%s: %s", origin, k, why);
    return SL_OK;
}

static sl_status make_conf(engine *e, bool consumer, rd_kafka_conf_t **out, sl_err *err) {
    const sl_config_kafka *k = &e->cfg->kafka;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    sl_status st = conf_set(conf, "bootstrap.servers", e->bootstrap, "", err);
    st = st ? st : conf_set(conf, "client.id", k->client_id, "", err);
    if (consumer) {
        /* Our defaults first; kafka.consumer.* below may override any of them. */
        st = st ? st : conf_set(conf, "group.id", k->group_id, "", err);
        st = st ? st
                : conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", "", err);
        st = st ? st : conf_set(conf, "enable.auto.commit", "true", "", err);
        st = st ? st : conf_set(conf, "enable.auto.offset.store", "false", "", err);
        st = st ? st : conf_set(conf, "auto.offset.reset", "earliest", "", err);
        st = st ? st : conf_set(conf, "auto.commit.interval.ms", "1000", "", err);
        st = st ? st : conf_set(conf, "queued.max.messages.kbytes", "65536", "", err);
        /* With the default (100000) the fetcher kept only ~250 k events/s
         * coming on a 4-partition topic here; with 1 M it keeps up with the
         * graph (1.6 M/s, bench/kafka_e2e.sh). Memory stays bounded by
         * queued.max.messages.kbytes above. */
        st = st ? st : conf_set(conf, "queued.min.messages", "1000000", "", err);
        st = st ? st : conf_set(conf, "fetch.wait.max.ms", "10", "", err);
        st = st ? st : conf_set(conf, "session.timeout.ms", "10000", "", err);
        st = st ? st : conf_set(conf, "heartbeat.interval.ms", "1000", "", err);
        for (int i = 0; !st && i < k->n_consumer; i++)
            st = conf_set(conf, k->consumer[i].key, k->consumer[i].value, "kafka.consumer.", err);
        if (!st) {
            /* The engine owns offset storing: these two are not negotiable. */
            st = conf_set(conf, "enable.auto.offset.store", "false", "", err);
            rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
        }
    } else {
        st = st ? st : conf_set(conf, "enable.idempotence", "true", "", err);
        st = st ? st : conf_set(conf, "linger.ms", "5", "", err);
        st = st ? st : conf_set(conf, "queue.buffering.max.kbytes", "262144", "", err);
        for (int i = 0; !st && i < k->n_producer; i++)
            st = conf_set(conf, k->producer[i].key, k->producer[i].value, "kafka.producer.", err);
        if (!st)
            rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    }
    if (st) {
        rd_kafka_conf_destroy(conf);
        return st;
    }
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_opaque(conf, e);
    *out = conf;
    return SL_OK;
}

static sl_status start_embedded(engine *e, sl_err *err) {
    char why[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set(conf, "log_level", "3", why, sizeof why); /* it only hosts the cluster */
    e->mock_host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!e->mock_host) {
        rd_kafka_conf_destroy(conf);
        return sl_err_set(err, SL_ERR_KAFKA, "embedded kafka: %s", why);
    }
    e->mock = rd_kafka_mock_cluster_new(e->mock_host, 1);
    if (!e->mock)
        return sl_err_set(err, SL_ERR_KAFKA, "embedded kafka: cannot start the mock cluster");
    snprintf(e->bootstrap, sizeof e->bootstrap, "%s", rd_kafka_mock_cluster_bootstraps(e->mock));
    const sl_config_kafka *k = &e->cfg->kafka;
    const char *sinks[] = {k->topic_scores, k->topic_examples, k->topic_snapshots, k->topic_metrics,
                           k->topic_deadletter};
    for (int i = 0; i < k->n_topics_in; i++)
        rd_kafka_mock_topic_create(e->mock, k->topics_in[i], k->embedded_partitions, 1);
    for (size_t i = 0; i < sizeof sinks / sizeof sinks[0]; i++)
        rd_kafka_mock_topic_create(e->mock, sinks[i], k->embedded_partitions, 1);
    fprintf(stderr,
            "embedded Kafka (librdkafka mock cluster) at %s\n"
            "  topics: %s (input), %s, %s, %s, %s, %s; %d partitions each\n"
            "  e.g.: kcat -b %s -C -t %s -o beginning\n",
            e->bootstrap, k->topics_in[0], k->topic_scores, k->topic_examples, k->topic_snapshots,
            k->topic_metrics, k->topic_deadletter, k->embedded_partitions, e->bootstrap,
            k->topic_scores);
    return SL_OK;
}

/* Makes q signal a fresh non-blocking pipe; the read end goes to fds[0]. */
static sl_status queue_pipe(rd_kafka_queue_t *q, int fds[2], sl_err *err) {
    if (pipe(fds) != 0)
        return sl_err_set(err, SL_ERR_IO, "pipe: %s", strerror(errno));
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    rd_kafka_queue_io_event_enable(q, fds[1], "1", 1);
    return SL_OK;
}

static void drain_pipe(int fd) {
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0) {
    }
}

/* ---- the batch path ---------------------------------------------------- */

/* Records msg's next offset in the batch's list (one entry per partition). */
static void note_offset(rd_kafka_topic_partition_list_t *l, const rd_kafka_message_t *m) {
    const char *topic = rd_kafka_topic_name(m->rkt);
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *p = &l->elems[i];
        if (p->partition == m->partition && strcmp(p->topic, topic) == 0) {
            if (m->offset + 1 > p->offset)
                p->offset = m->offset + 1;
            return;
        }
    }
    rd_kafka_topic_partition_list_add(l, topic, m->partition)->offset = m->offset + 1;
}

static sl_status produce(engine *e, rd_kafka_topic_t *t, const void *key, size_t klen,
                         const void *val, size_t vlen, uint64_t seq) {
    for (int tries = 0;; tries++) {
        if (rd_kafka_produce(t, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)val, vlen,
                             klen ? key : NULL, klen, (void *)(uintptr_t)seq) == 0)
            return SL_OK;
        rd_kafka_resp_err_t err = rd_kafka_last_error();
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fail(e, "kafka: produce to %s: %s", rd_kafka_topic_name(t), rd_kafka_err2str(err));
            return SL_ERR_KAFKA;
        }
        /* The producer queue is full: the sinks are behind. Serve delivery
         * reports for a moment (bounded) and try again. */
        e->queue_full_waits++;
        if (tries == 0 || tries % 100 == 0)
            sl_log(SL_LOG_DEBUG, "kafka: producer queue full; waiting for deliveries");
        rd_kafka_poll(e->prod, 50);
        if (e->stopping && e->failed)
            return SL_ERR_KAFKA;
    }
}

/* A snapshot too large for one message, as chunks (stream_snapchunk.h);
 * each chunk is an output of the batch like any other. */
static sl_status produce_chunks(engine *e, rd_kafka_topic_t *t, const char *name, size_t name_len,
                                const void *blob, size_t len, uint64_t seq, uint32_t *pending) {
    uint32_t n = stream_snapchunk_count(len, e->snapshot_max_bytes);
    if (!e->chunk_buf && n)
        e->chunk_buf = malloc(e->snapshot_max_bytes);
    if (!n || !e->chunk_buf || name_len > 200) {
        fail(e, "kafka: cannot cut a snapshot of %.*s into messages of %zu bytes", (int)name_len,
             name, e->snapshot_max_bytes);
        return SL_ERR_KAFKA;
    }
    char key[224];
    for (uint32_t i = 0; i < n; i++) {
        size_t vlen, klen;
        stream_snapchunk_make(name, name_len, blob, len, i, n, e->chunk_buf, &vlen, key, sizeof key,
                              &klen);
        sl_status st = produce(e, t, key, klen, e->chunk_buf, vlen, seq);
        if (st)
            return st;
        ++*pending;
    }
    e->snapshots_chunked++;
    return SL_OK;
}

/* Produces every output of b, tagged seq (the ring slot whose delivery
 * they count toward, or UINT64_MAX for none), adding the messages produced
 * to *pending; stops at the first failure (fail() has stopped the engine).
 * A model snapshot larger than a message goes as chunks, keys NAME#i
 * (stream_snapchunk.h). */
static void produce_outbox(engine *e, const op_batch *b, uint64_t seq, uint32_t *pending) {
    for (int c = 0; c < OP_CHANNEL_COUNT && !e->failed; c++) {
        const op_outbox *o = &b->out[c];
        for (uint32_t i = 0; i < o->n && !e->failed; i++) {
            const op_out *r = &o->recs[i];
            const char *key = o->data.p + r->key_off, *val = o->data.p + r->val_off;
            if (c == OP_CHANNEL_SNAPSHOTS && r->val_len > e->snapshot_max_bytes)
                produce_chunks(e, e->out_topic[c], key, r->key_len, val, r->val_len, seq, pending);
            else if (!produce(e, e->out_topic[c], key, r->key_len, val, r->val_len, seq))
                ++*pending;
        }
    }
}

static void process_msgs(engine *e, rd_kafka_message_t **msgs, ssize_t n) {
    op_batch *b = &e->batch;
    op_batch_clear(b);
    inflight *f = &e->ring[e->tail % RING];
    f->pending = 0;
    /* With state.dir the offsets go with the checkpoint (e->since). */
    f->offsets = e->durable ? NULL : rd_kafka_topic_partition_list_new(4);
    for (ssize_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                sl_log(SL_LOG_WARN, "kafka: consumer: %s%s%s", rd_kafka_message_errstr(m),
                       m->rkt ? " on " : "", m->rkt ? rd_kafka_topic_name(m->rkt) : "");
            continue;
        }
        note_offset(e->durable ? e->since : f->offsets, m);
        note_offset(e->consumed, m);
        e->run_records++;
        op_source_pos pos = {rd_kafka_topic_name(m->rkt), m->partition, m->offset};
        op_batch_add(b, m->payload ? (const char *)m->payload : "", (uint32_t)m->len, pos);
    }
    if (b->n) {
        e->last_input = e->last_msg = now_s();
        if (!e->first_msg)
            e->first_msg = e->last_msg;
        sl_err err;
        double t0 = now_s(), c0 = cpu_s();
        sl_status gs = op_graph_process(e->graph, b, &err);
        double ms = (now_s() - t0) * 1000.0, cms = (cpu_s() - c0) * 1000.0;
        if (ms > e->batch_ms_max)
            e->batch_ms_max = ms;
        if (cms > e->batch_cpu_ms_max) {
            e->batch_cpu_ms_max = cms;
            e->batch_cpu_max_n = b->n;
        }
        if (ms >= 10.0)
            e->batches_over_10ms++;
        if (gs) {
            fail(e, "graph: %s", err.msg);
        } else {
            produce_outbox(e, b, e->tail, &f->pending);
        }
    }
    e->tail++;
    for (ssize_t i = 0; i < n; i++)
        rd_kafka_message_destroy(msgs[i]);
    advance(e);
}

/* Serializes the consumed offsets: per partition u16 topic length, topic,
 * i32 partition, i64 next offset (little-endian). */
static size_t encode_offsets(const rd_kafka_topic_partition_list_t *l, unsigned char *out,
                             size_t cap) {
    size_t o = 0;
    for (int i = 0; i < l->cnt; i++) {
        size_t tl = strlen(l->elems[i].topic);
        if (o + 2 + tl + 12 > cap)
            break;
        out[o++] = (unsigned char)tl;
        out[o++] = (unsigned char)(tl >> 8);
        memcpy(out + o, l->elems[i].topic, tl);
        o += tl;
        uint32_t part = (uint32_t)l->elems[i].partition;
        uint64_t off = (uint64_t)l->elems[i].offset;
        for (int k = 0; k < 4; k++)
            out[o++] = (unsigned char)(part >> (8 * k));
        for (int k = 0; k < 8; k++)
            out[o++] = (unsigned char)(off >> (8 * k));
    }
    return o;
}

static rd_kafka_topic_partition_list_t *decode_offsets(const unsigned char *p, size_t len) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    size_t o = 0;
    char topic[256];
    while (o + 2 <= len) {
        size_t tl = p[o] | (size_t)p[o + 1] << 8;
        o += 2;
        if (tl >= sizeof topic || o + tl + 12 > len)
            break;
        memcpy(topic, p + o, tl);
        topic[tl] = '\0';
        o += tl;
        uint32_t part = 0;
        uint64_t off = 0;
        for (int k = 0; k < 4; k++)
            part |= (uint32_t)p[o++] << (8 * k);
        for (int k = 0; k < 8; k++)
            off |= (uint64_t)p[o++] << (8 * k);
        rd_kafka_topic_partition_list_add(l, topic, (int32_t)part)->offset = (int64_t)off;
    }
    return l;
}

/* ---- the checkpoint (at-least-once, DESIGN §7: state first, then offsets) */

/* The writer thread: takes one checkpoint at a time, writes it (synced),
 * reports to the loop. Touches only the job and the w_* fields. */
static void writer_main(void *arg) {
    engine *e = arg;
#ifdef __linux__
    /* Below the loop (5 above its nice, per thread on Linux): on a busy
     * machine the loop's batches come first; the write only has to land
     * before the cache fills, which the loop waits for (checkpoint_waits). */
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int nice_now = getpriority(PRIO_PROCESS, tid);
    if (errno == 0)
        (void)setpriority(PRIO_PROCESS, tid, nice_now + 5 > 19 ? 19 : nice_now + 5);
#endif
    uv_mutex_lock(&e->wlock);
    for (;;) {
        while (!e->w_job && !e->w_quit)
            uv_cond_wait(&e->wcond, &e->wlock);
        if (!e->w_job)
            break; /* quit, and nothing left to write */
        state_ckpt *ck = e->w_job;
        e->w_job = NULL;
        e->w_busy = true;
        uv_mutex_unlock(&e->wlock);
        sl_err err = {{0}};
        double t0 = now_s();
        sl_status rc = state_store_checkpoint_write(ck, &err);
        double ms = (now_s() - t0) * 1000.0;
        uv_mutex_lock(&e->wlock);
        e->w_rc = rc;
        e->w_err = err;
        e->w_ms = ms;
        e->w_busy = false;
        e->w_done = true;
        uv_cond_broadcast(&e->wcond);
        uv_async_send(&e->wdone);
    }
    uv_mutex_unlock(&e->wlock);
}

/* The outcome of one checkpoint write. */
typedef struct write_result {
    sl_status rc; /* state_store_checkpoint_write's status */
    sl_err err;   /* its message */
    double ms;    /* how long it took */
} write_result;

/* Blocks until the writer has no job and is not writing (bounded by one
 * write). If a result is waiting, takes it into *out (may be NULL) and
 * returns true. */
static bool writer_wait(engine *e, write_result *out) {
    uv_mutex_lock(&e->wlock);
    while (e->w_job || e->w_busy)
        uv_cond_wait(&e->wcond, &e->wlock);
    bool done = e->w_done;
    if (done && out) {
        *out = (write_result){e->w_rc, e->w_err, e->w_ms};
        e->w_done = false;
    }
    uv_mutex_unlock(&e->wlock);
    return done;
}

/* Hands the checkpoint in flight to the writer once it may be written:
 * with state.dir, only after every output of the batches it covers was
 * delivered, so that a crash right after the write never resumes past a
 * record whose output was lost. */
static void try_write(engine *e) {
    if (!e->ck || e->ck_writing || e->failed || e->handles_closed)
        return;
    if (e->durable && e->head < e->ck_seq)
        return;
    e->ck_writing = true;
    uv_mutex_lock(&e->wlock);
    e->w_job = e->ck;
    e->w_done = false;
    uv_cond_broadcast(&e->wcond);
    uv_mutex_unlock(&e->wlock);
}

/* Back on the loop after the write: publish, then store the offsets it
 * covers. A write that failed is fatal: the restart resumes from the last
 * good checkpoint, and these offsets are never stored. */
static void checkpoint_finish(engine *e, const write_result *w) {
    if (w->ms > e->ck_write_ms_max)
        e->ck_write_ms_max = w->ms;
    uint64_t id = 0;
    sl_err err = {{0}};
    sl_status rc = state_store_checkpoint_finish(e->store, e->ck, &id, &err);
    e->ck = NULL;
    e->ck_writing = false;
    if (rc) {
        uint64_t last = 0;
        state_store_last_checkpoint(e->store, &last, NULL, NULL);
        fail(e,
             "checkpoint: %s; stopping without committing its offsets (a restart resumes "
             "from checkpoint %llu)",
             w->rc ? w->err.msg : err.msg, (unsigned long long)last);
        return;
    }
    if (e->ck_offsets && e->ck_offsets->cnt) {
        rd_kafka_resp_err_t ke = rd_kafka_offsets_store(e->cons, e->ck_offsets);
        if (ke && ke != RD_KAFKA_RESP_ERR__STATE)
            sl_log(SL_LOG_WARN, "kafka: storing offsets: %s", rd_kafka_err2str(ke));
    }
    if (e->ck_offsets)
        rd_kafka_topic_partition_list_destroy(e->ck_offsets);
    e->ck_offsets = NULL;
    e->checkpoints++;
    sl_log(SL_LOG_DEBUG, "checkpoint %llu: %llu records, written in %.1f ms",
           (unsigned long long)id, (unsigned long long)e->ck_records, w->ms);
}

static void on_wdone(uv_async_t *h) {
    engine *e = h->data;
    write_result w;
    /* The writer is done when it signals (a forced checkpoint may have
     * taken the result already: then there is nothing to do). */
    if (!e->ck || !e->ck_writing || !writer_wait(e, &w))
        return;
    checkpoint_finish(e, &w);
    if (e->failed || e->stopping)
        return;
    /* The next checkpoint may have come due meanwhile, and draining may
     * have stopped for this one. */
    maybe_checkpoint(e, false);
    drain(e);
}

/* Begins a checkpoint of everything processed so far (loop thread, between
 * batches): the operators write their state into the store, the store
 * records and pins the dirty entries. hand_over: the writer thread writes it
 * when try_write says; else the caller writes it. */
static sl_status checkpoint_begin(engine *e, bool hand_over, sl_err *err) {
    const op_stats *s = op_graph_stats(e->graph);
    double t0 = now_s(), c0 = cpu_s();
    size_t n = e->durable ? encode_offsets(e->consumed, e->ckpt_blob, sizeof e->ckpt_blob) : 0;
    sl_status rc = op_graph_checkpoint(e->graph, err);
    double gcms = (cpu_s() - c0) * 1000.0;
    state_store_stats ss;
    state_store_stats_get(e->store, &ss);
    if (ss.dirty_bytes > e->ck_dirty_max)
        e->ck_dirty_max = ss.dirty_bytes;
    if (ss.cache_held > e->ck_cache_max)
        e->ck_cache_max = ss.cache_held;
    rc = rc ? rc : state_store_checkpoint_begin(e->store, e->ckpt_blob, n, &e->ck, err);
    if (rc)
        return rc;
    e->ck_prev_seq = e->ckpt_seq;
    e->ck_seq = e->ckpt_seq = e->tail;
    e->ck_records = e->ckpt_records = s->records;
    e->last_ckpt = t0;
    if (e->durable) {
        e->ck_offsets = e->since;
        e->since = rd_kafka_topic_partition_list_new(16);
    }
    double ms = (now_s() - t0) * 1000.0, cms = (cpu_s() - c0) * 1000.0;
    e->ck_begin_ms_total += ms;
    if (ms > e->ck_begin_ms_max)
        e->ck_begin_ms_max = ms;
    if (cms > e->ck_begin_cpu_ms_max)
        e->ck_begin_cpu_ms_max = cms;
    if (gcms > e->ck_graph_cpu_ms_max)
        e->ck_graph_cpu_ms_max = gcms;
    if (hand_over)
        try_write(e);
    return SL_OK;
}

/* A checkpoint comes due every state.checkpoint_interval_ms, every
 * state.checkpoint_events records, or when the store's cache asks. In
 * memory nothing resumes from a checkpoint, but the interval still keeps
 * each one small: its begin (the operators writing their state, the store
 * visiting each dirty entry) runs on this thread, so a checkpoint of 100 k
 * events' worth stops the loop for longer than one a second at 20 k
 * events/s. */
static bool checkpoint_due(engine *e) {
    const op_stats *s = op_graph_stats(e->graph);
    if (s->records - e->ckpt_records >= (uint64_t)e->cfg->state.checkpoint_events ||
        state_store_want_checkpoint(e->store))
        return true;
    return (now_s() - e->last_ckpt) * 1000.0 >= e->cfg->state.checkpoint_interval_ms;
}

/* Writes the checkpoint in flight on this thread and finishes it. */
static void checkpoint_write_here(engine *e) {
    write_result w = {SL_OK, {{0}}, 0};
    double t0 = now_s();
    w.rc = state_store_checkpoint_write(e->ck, &w.err);
    w.ms = (now_s() - t0) * 1000.0;
    checkpoint_finish(e, &w);
}

/* Gives up the checkpoint in flight before its write: its entries become
 * dirty again and its offsets go back to the ones pending. */
static void checkpoint_abandon(engine *e) {
    sl_err err = {{0}};
    (void)state_store_checkpoint_finish(e->store, e->ck, NULL, &err);
    e->ck = NULL;
    for (int i = 0; e->ck_offsets && i < e->ck_offsets->cnt; i++) {
        rd_kafka_topic_partition_t *p = &e->ck_offsets->elems[i];
        if (!rd_kafka_topic_partition_list_find(e->since, p->topic, p->partition))
            rd_kafka_topic_partition_list_add(e->since, p->topic, p->partition)->offset =
                p->offset;
    }
    if (e->ck_offsets)
        rd_kafka_topic_partition_list_destroy(e->ck_offsets);
    e->ck_offsets = NULL;
    e->ckpt_seq = e->ck_prev_seq; /* its batches wait for the next one */
}

/*
 * A checkpoint that blocks until it is committed: for a revoke and a stop,
 * which must hand over or leave with everything safe. Finishes the one in
 * flight (waiting for the writer, or writing it here), then writes one more
 * here if anything was processed since. The caller has flushed the
 * producer; if outputs are still undelivered (brokers down) the checkpoint
 * is postponed, since writing it could let a restart skip records whose
 * outputs were lost.
 */
static void checkpoint_sync(engine *e) {
    double t0 = now_s();
    if (e->ck) {
        if (e->ck_writing) {
            write_result w;
            if (!writer_wait(e, &w)) /* cannot happen: the writer always reports */
                w = (write_result){SL_ERR_STATE, {"checkpoint writer lost its result"}, 0};
            checkpoint_finish(e, &w);
        } else if (e->durable && e->head < e->ck_seq) {
            sl_log(SL_LOG_WARN, "checkpoint postponed: outputs of %llu batches are not delivered",
                   (unsigned long long)(e->ck_seq - e->head));
            checkpoint_abandon(e);
            return;
        } else {
            checkpoint_write_here(e);
        }
        if (e->failed)
            return;
    }
    if (e->tail == e->ckpt_seq)
        return;
    if (e->durable && e->head < e->tail) {
        sl_log(SL_LOG_WARN, "checkpoint postponed: outputs of %llu batches are not delivered",
               (unsigned long long)(e->tail - e->head));
        return;
    }
    sl_err err = {{0}};
    if (checkpoint_begin(e, false, &err)) {
        fail(e, "checkpoint: %s", err.msg);
        return;
    }
    checkpoint_write_here(e);
    double ms = (now_s() - t0) * 1000.0;
    if (ms > e->ck_sync_ms_max)
        e->ck_sync_ms_max = ms;
}

/* Begins a checkpoint if one is due and none is in flight (force: also
 * waits for it to be committed). */
static void maybe_checkpoint(engine *e, bool force) {
    if (e->failed)
        return;
    if (force) {
        checkpoint_sync(e);
        return;
    }
    if (e->ck || e->tail == e->ckpt_seq || !checkpoint_due(e))
        return;
    sl_err err = {{0}};
    if (checkpoint_begin(e, true, &err))
        fail(e, "checkpoint: %s", err.msg);
}

/* Takes batches off the consumer queue while there is room in the ring. */
static void drain(engine *e) {
    while (!e->stopping) {
        if (e->tail - e->head >= RING) {
            e->ring_full++;
            break;
        }
        /* The cache is short of room and a checkpoint is in flight: its
         * entries stay pinned until it lands, so wait for it (on_wdone
         * drains again). */
        if (e->ck && state_store_want_checkpoint(e->store)) {
            e->ckpt_waits++;
            break;
        }
        ssize_t n =
            rd_kafka_consume_batch_queue(e->cons_q, 0, e->msgs, (size_t)e->cfg->engine.batch_size);
        if (n <= 0)
            break;
        e->batches++;
        process_msgs(e, e->msgs, n);
        maybe_checkpoint(e, false);
    }
}

static void serve_producer(engine *e) {
    while (rd_kafka_poll(e->prod, 0) > 0) {
    }
    advance(e);
}

/* ---- libuv callbacks --------------------------------------------------- */

static void on_cons_readable(uv_poll_t *h, int status, int events) {
    (void)status;
    (void)events;
    engine *e = h->data;
    drain_pipe(e->cons_pipe[0]);
    drain(e);
}

static void on_prod_readable(uv_poll_t *h, int status, int events) {
    (void)status;
    (void)events;
    engine *e = h->data;
    drain_pipe(e->prod_pipe[0]);
    serve_producer(e);
    /* Deliveries may have made room in the ring; the io-event only fires on
     * empty -> non-empty, so drain what is already waiting. */
    drain(e);
}

static void on_signal(uv_signal_t *h, int signum) {
    engine *e = h->data;
    if (e->stopping) {
        sl_log(SL_LOG_WARN, "second %s: exiting now without flushing", strsignal(signum));
        _exit(130);
    }
    char why[64];
    snprintf(why, sizeof why, "%s", strsignal(signum));
    begin_stop(e, why);
}

static uint64_t consumer_lag(engine *e) {
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(e->cons, &parts) || !parts)
        return 0;
    rd_kafka_position(e->cons, parts);
    uint64_t lag = 0;
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo, hi;
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        if (rd_kafka_get_watermark_offsets(e->cons, p->topic, p->partition, &lo, &hi))
            continue;
        int64_t pos = p->offset >= 0 ? p->offset : lo;
        if (hi > pos)
            lag += (uint64_t)(hi - pos);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return lag;
}

static void show_progress(engine *e, bool final) {
    const op_stats *s = op_graph_stats(e->graph);
    double dt = now_s() - e->started;
    char fed[48] = "";
    if (e->opts.feed)
        snprintf(fed, sizeof fed, "  produced %llu", (unsigned long long)e->fed);
    fprintf(stderr,
            "\r %s  consumed %llu  %.0f ev/s  lag %llu  dead letters %llu  outputs %llu   %s", fed,
            (unsigned long long)s->records, dt > 0 ? (double)s->records / dt : 0.0,
            (unsigned long long)consumer_lag(e), (unsigned long long)s->dead_total,
            (unsigned long long)e->outputs, final ? "\n" : "");
    fflush(stderr);
}

static void on_tick(uv_timer_t *h) {
    engine *e = h->data;
    double t = now_s();
    serve_producer(e);
    drain(e);
    maybe_checkpoint(e, false);
    if (e->opts.progress && t - e->last_progress >= 1.0) {
        show_progress(e, false);
        e->last_progress = t;
    }
    if (e->opts.until_idle_s > 0 && e->assigned_once && (e->feed_done || !e->opts.feed) &&
        e->head == e->tail && t - e->last_input >= e->opts.until_idle_s) {
        char why[96];
        snprintf(why, sizeof why, "no input for %.1f s (--until-idle)", e->opts.until_idle_s);
        begin_stop(e, why);
    }
}

/* Produces feed lines while the input topic's backlog stays small: the
 * embedded cluster trims a partition's log at a few MiB, so the feed must
 * not run far ahead of the consumer. */
static void on_feed(uv_idle_t *h) {
    engine *e = h->data;
    const op_stats *s = op_graph_stats(e->graph);
    const uint64_t max_ahead = 20000;
    for (int i = 0; i < 2000; i++) {
        if (!e->assigned_once || e->fed >= s->records + max_ahead)
            return;
        const char *line;
        size_t len;
        if (!e->opts.feed->next(e->opts.feed->ctx, &line, &len)) {
            e->feed_done = true;
            uv_idle_stop(h);
            rd_kafka_flush(e->prod, 10000);
            sl_log(SL_LOG_INFO, "feed: produced %llu events into %s", (unsigned long long)e->fed,
                   e->cfg->kafka.topics_in[0]);
            return;
        }
        /* Key = user, as producers of the events topic should do. */
        sl_event ev;
        sl_event_error perr;
        const char *key = NULL;
        size_t klen = 0;
        sl_arena_reset(&e->batch.arena);
        if (sl_event_parse(line, len, &e->batch.arena, NULL, &ev, &perr) && ev.user.n) {
            key = ev.user.p;
            klen = ev.user.n;
        }
        if (produce(e, e->feed_topic, key, klen, line, len, UINT64_MAX))
            return;
        e->fed++;
    }
}

static void close_cb(uv_handle_t *h) { (void)h; }

static void shutdown_handles(engine *e) {
    if (e->handles_closed)
        return;
    e->handles_closed = true;
    /* wdone must outlive any write in progress (it signals through it). */
    if (e->writer_started)
        writer_wait(e, NULL);
    uv_handle_t *hs[] = {(uv_handle_t *)&e->cons_poll, (uv_handle_t *)&e->prod_poll,
                         (uv_handle_t *)&e->sigint,    (uv_handle_t *)&e->sigterm,
                         (uv_handle_t *)&e->tick,      (uv_handle_t *)&e->feed_idle,
                         (uv_handle_t *)&e->wdone};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        if (hs[i]->data && !uv_is_closing(hs[i]))
            uv_close(hs[i], close_cb);
}

/* A graceful stop: the operators' final outputs (the models' last
 * snapshots), produced like a batch's. They answer no input, so nothing
 * waits on them but the flush that follows. */
static void emit_final(engine *e) {
    if (!e->graph || !e->batch_ready)
        return;
    op_batch *b = &e->batch;
    op_batch_clear(b);
    sl_err err;
    if (op_graph_finish(e->graph, b, &err)) {
        sl_log(SL_LOG_WARN, "final outputs: %s", err.msg);
        return;
    }
    uint32_t produced = 0;
    produce_outbox(e, b, UINT64_MAX, &produced);
    if (produced)
        sl_log(SL_LOG_INFO, "final outputs: %u messages (the models' snapshots)", produced);
}

static void begin_stop(engine *e, const char *why) {
    if (e->stopping)
        return;
    e->stopping = true;
    if (e->opts.progress)
        show_progress(e, true);
    sl_log(SL_LOG_INFO, "stopping (%s): delivering outputs, committing offsets", why);
    if (!e->failed) {
        emit_final(e);
        finish_inflight(e, 30000);
        maybe_checkpoint(e, true);
        rd_kafka_resp_err_t ce = rd_kafka_commit(e->cons, NULL, 0);
        if (ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
            sl_log(SL_LOG_WARN, "kafka: final commit: %s", rd_kafka_err2str(ce));
        if (e->head != e->tail)
            sl_log(SL_LOG_WARN, "%llu batches not delivered; they will be consumed again",
                   (unsigned long long)(e->tail - e->head));
    }
    shutdown_handles(e);
}

/* ---- summary ----------------------------------------------------------- */

static void write_summary(engine *e) {
    if (!e->opts.summary_path)
        return;
    const op_stats *s = op_graph_stats(e->graph);
    FILE *f = fopen(e->opts.summary_path, "w");
    if (!f) {
        sl_log(SL_LOG_WARN, "%s: cannot write the summary: %s", e->opts.summary_path,
               strerror(errno));
        return;
    }
    double dt = now_s() - e->started;
    fprintf(f,
            "{\n  \"bootstrap\": \"%s\",\n  \"graph\": \"%s\",\n  \"records\": %llu,\n"
            "  \"events\": %llu,\n  \"dead_letters\": %llu,\n  \"outputs\": %llu,\n"
            "  \"fed\": %llu,\n  \"events_by_type\": {",
            e->bootstrap, op_graph_describe(e->graph), (unsigned long long)s->records,
            (unsigned long long)s->events, (unsigned long long)s->dead_total,
            (unsigned long long)e->outputs, (unsigned long long)e->fed);
    for (int i = 0; i < SL_EVENT_TYPE_COUNT; i++)
        fprintf(f, "%s\"%s\": %llu", i ? ", " : "", sl_event_type_str((sl_event_type)i),
                (unsigned long long)s->by_type[i]);
    fprintf(f, "},\n  \"dead_letters_by_reason\": {");
    bool first = true;
    for (int i = 1; i < SL_REASON_COUNT; i++)
        if (s->dead[i]) {
            fprintf(f, "%s\"%s\": %llu", first ? "" : ", ", sl_reason_str((sl_reason)i),
                    (unsigned long long)s->dead[i]);
            first = false;
        }
    /* The operators' own figures (the join's labels, pending views, ...). */
    sl_buf ops;
    sl_buf_init(&ops, 1 << 24);
    if (op_graph_report(e->graph, &ops) == SL_OK)
        fprintf(f, "},\n  \"operators\": %s", ops.p);
    else
        fprintf(f, "},\n  \"operators\": {}");
    sl_buf_deinit(&ops);
    /* busy: from the first message to the last, which is what throughput
     * means when the run also waited for a group join and an idle timeout. */
    double busy = e->first_msg ? e->last_msg - e->first_msg : 0.0;
    fprintf(f,
            ",\n  \"records_this_run\": %llu,\n  \"checkpoints\": %llu,\n  \"batches\": %llu,\n"
            "  \"producer_queue_full_waits\": %llu,\n  \"snapshots_chunked\": %llu,\n"
            "  \"ring_full_stops\": %llu,\n  \"seconds\": %.3f,\n  \"busy_seconds\": %.3f,\n"
            "  \"events_per_s\": %.0f,\n",
            (unsigned long long)e->run_records, (unsigned long long)e->checkpoints,
            (unsigned long long)e->batches, (unsigned long long)e->queue_full_waits,
            (unsigned long long)e->snapshots_chunked, (unsigned long long)e->ring_full, dt, busy,
            busy > 0 ? (double)s->records / busy : 0.0);
    /* The state store's cache: how often it answered, what it cost. */
    state_store_stats ss;
    state_store_stats_get(e->store, &ss);
    fprintf(f,
            "  \"state\": {\"hits\": %llu, \"misses\": %llu, \"prefetched\": %llu, "
            "\"entries\": %zu, \"cache_mb\": %.1f, \"compactions\": %llu, "
            "\"pinned_copies\": %llu, \"swept\": %llu, \"checkpoint_id\": %llu},\n",
            (unsigned long long)ss.hits, (unsigned long long)ss.misses,
            (unsigned long long)ss.prefetched, ss.entries,
            (double)ss.cache_held / (1 << 20), (unsigned long long)ss.compactions,
            (unsigned long long)ss.pinned_copies, (unsigned long long)ss.swept,
            (unsigned long long)ss.checkpoint_id);
    /* Where the loop thread stopped: the tail latency's causes. */
    fprintf(f,
            "  \"loop\": {\"batch_ms_max\": %.1f, \"batch_cpu_ms_max\": %.1f, "
            "\"batch_cpu_max_records\": %u, "
            "\"batches_over_10ms\": %llu, "
            "\"checkpoint_begin_ms_max\": %.1f, \"checkpoint_begin_cpu_ms_max\": %.1f, "
            "\"checkpoint_graph_cpu_ms_max\": %.1f, \"checkpoint_begin_ms_total\": %.1f, "
            "\"checkpoint_write_ms_max\": %.1f, \"checkpoint_sync_ms_max\": %.1f, "
            "\"checkpoint_waits\": %llu, \"checkpoint_dirty_mb_max\": %.1f, "
            "\"checkpoint_cache_mb_max\": %.1f},\n  \"status\": \"%s\"\n}\n",
            e->batch_ms_max, e->batch_cpu_ms_max, e->batch_cpu_max_n,
            (unsigned long long)e->batches_over_10ms,
            e->ck_begin_ms_max, e->ck_begin_cpu_ms_max, e->ck_graph_cpu_ms_max, e->ck_begin_ms_total,
            e->ck_write_ms_max, e->ck_sync_ms_max,
            (unsigned long long)e->ckpt_waits, (double)e->ck_dirty_max / (1 << 20),
            (double)e->ck_cache_max / (1 << 20), e->failed ? "failed" : "ok");
    fclose(f);
}

/* ---- run --------------------------------------------------------------- */

static sl_status setup(engine *e, sl_err *err) {
    const sl_config *cfg = e->cfg;
    const char *brokers = e->opts.brokers ? e->opts.brokers : cfg->kafka.brokers;
    sl_status st;
    if (brokers[0])
        snprintf(e->bootstrap, sizeof e->bootstrap, "%s", brokers);
    else if ((st = start_embedded(e, err)))
        return st;
    sl_log(SL_LOG_INFO, "kafka: bootstrap %s, group %s, input %s", e->bootstrap,
           cfg->kafka.group_id, cfg->kafka.topics_in[0]);

    state_store_opts so;
    state_store_opts_from_config(&so, &cfg->state);
    if ((st = state_store_open(&so, &e->store, err)))
        return st;
    e->durable = so.dir && so.dir[0];
    e->consumed = rd_kafka_topic_partition_list_new(16);
    e->since = rd_kafka_topic_partition_list_new(16);
    const void *blob;
    size_t blob_len;
    uint64_t ckpt_id;
    state_store_last_checkpoint(e->store, &ckpt_id, &blob, &blob_len);
    if (ckpt_id && blob_len) {
        /* The offsets the state covers: where each partition resumes on
         * assignment, and what the next checkpoint records, including
         * partitions not assigned this time. */
        rd_kafka_topic_partition_list_t *resume = decode_offsets(blob, blob_len);
        for (int i = 0; i < resume->cnt; i++)
            rd_kafka_topic_partition_list_add(e->consumed, resume->elems[i].topic,
                                              resume->elems[i].partition)
                ->offset = resume->elems[i].offset;
        sl_log(SL_LOG_INFO, "state: checkpoint %llu in %s, %d partition offsets",
               (unsigned long long)ckpt_id, so.dir, resume->cnt);
        rd_kafka_topic_partition_list_destroy(resume);
    }
    /* An unusable warm start is a bad input: SL_ERR_CONFIG, exit 2. */
    if ((st = stream_snapfile_graph_create(cfg, e->store, e->opts.warm_start, e->opts.n_warm,
                                           SL_ERR_CONFIG, &e->graph, err)))
        return st;
    if ((st = op_batch_init(&e->batch, (uint32_t)cfg->engine.batch_size,
                            (size_t)cfg->engine.arena_limit_mb << 20)))
        return sl_err_set(err, st, "cannot allocate a batch of %d", cfg->engine.batch_size);
    e->batch_ready = true;
    e->msgs = calloc((size_t)cfg->engine.batch_size, sizeof *e->msgs);
    if (!e->msgs)
        return sl_err_set(err, SL_ERR_NOMEM, "out of memory");

    char why[512];
    rd_kafka_conf_t *conf;
    if ((st = make_conf(e, false, &conf, err)))
        return st;
    size_t mlen = sizeof why;
    e->snapshot_max_bytes = 1000000; /* librdkafka's default */
    if (rd_kafka_conf_get(conf, "message.max.bytes", why, &mlen) == RD_KAFKA_CONF_OK)
        e->snapshot_max_bytes = (size_t)strtoull(why, NULL, 10);
    e->prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!e->prod) {
        rd_kafka_conf_destroy(conf);
        return sl_err_set(err, SL_ERR_CONFIG, "kafka producer: %s", why);
    }
    if ((st = make_conf(e, true, &conf, err)))
        return st;
    e->cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!e->cons) {
        rd_kafka_conf_destroy(conf);
        return sl_err_set(err, SL_ERR_CONFIG, "kafka consumer: %s", why);
    }
    rd_kafka_poll_set_consumer(e->cons);
    e->cons_q = rd_kafka_queue_get_consumer(e->cons);
    e->prod_q = rd_kafka_queue_get_main(e->prod);

    const sl_config_kafka *k = &cfg->kafka;
    const char *names[OP_CHANNEL_COUNT] = {k->topic_scores, k->topic_examples, k->topic_snapshots,
                                           k->topic_metrics, k->topic_deadletter};
    for (int c = 0; c < OP_CHANNEL_COUNT; c++)
        e->out_topic[c] = rd_kafka_topic_new(e->prod, names[c], NULL);
    e->feed_topic = rd_kafka_topic_new(e->prod, k->topics_in[0], NULL);

    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(k->n_topics_in);
    for (int i = 0; i < k->n_topics_in; i++)
        rd_kafka_topic_partition_list_add(subs, k->topics_in[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t se = rd_kafka_subscribe(e->cons, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (se)
        return sl_err_set(err, SL_ERR_KAFKA, "kafka: subscribe: %s", rd_kafka_err2str(se));

    int rc = uv_loop_init(&e->loop);
    if (rc)
        return sl_err_set(err, SL_ERR_IO, "uv_loop_init: %s", uv_strerror(rc));
    e->loop_inited = true;
    if (uv_mutex_init(&e->wlock))
        return sl_err_set(err, SL_ERR_NOMEM, "checkpoint writer: mutex");
    if (uv_cond_init(&e->wcond)) {
        uv_mutex_destroy(&e->wlock);
        return sl_err_set(err, SL_ERR_NOMEM, "checkpoint writer: condition");
    }
    uv_async_init(&e->loop, &e->wdone, on_wdone);
    e->wdone.data = e;
    if ((rc = uv_thread_create(&e->writer, writer_main, e))) {
        uv_cond_destroy(&e->wcond);
        uv_mutex_destroy(&e->wlock);
        return sl_err_set(err, SL_ERR_NOMEM, "checkpoint writer thread: %s", uv_strerror(rc));
    }
    e->writer_started = true;
    if ((st = queue_pipe(e->cons_q, e->cons_pipe, err)) ||
        (st = queue_pipe(e->prod_q, e->prod_pipe, err)))
        return st;
    uv_poll_init(&e->loop, &e->cons_poll, e->cons_pipe[0]);
    uv_poll_init(&e->loop, &e->prod_poll, e->prod_pipe[0]);
    uv_signal_init(&e->loop, &e->sigint);
    uv_signal_init(&e->loop, &e->sigterm);
    uv_timer_init(&e->loop, &e->tick);
    uv_idle_init(&e->loop, &e->feed_idle);
    e->cons_poll.data = e->prod_poll.data = e->sigint.data = e->sigterm.data = e;
    e->tick.data = e->feed_idle.data = e;
    uv_poll_start(&e->cons_poll, UV_READABLE, on_cons_readable);
    uv_poll_start(&e->prod_poll, UV_READABLE, on_prod_readable);
    uv_signal_start(&e->sigint, on_signal, SIGINT);
    uv_signal_start(&e->sigterm, on_signal, SIGTERM);
    uv_timer_start(&e->tick, on_tick, 100, e->opts.tick_ms ? e->opts.tick_ms : 100);
    if (e->opts.feed)
        uv_idle_start(&e->feed_idle, on_feed);
    return SL_OK;
}

static void teardown(engine *e) {
    /* The writer first: it may be writing into the store closed below. */
    if (e->writer_started) {
        uv_mutex_lock(&e->wlock);
        e->w_quit = true;
        uv_cond_broadcast(&e->wcond);
        uv_mutex_unlock(&e->wlock);
        uv_thread_join(&e->writer);
        uv_cond_destroy(&e->wcond);
        uv_mutex_destroy(&e->wlock);
    }
    if (e->cons) {
        rd_kafka_queue_io_event_enable(e->cons_q, -1, NULL, 0);
        rd_kafka_consumer_close(e->cons);
    }
    if (e->prod_q)
        rd_kafka_queue_io_event_enable(e->prod_q, -1, NULL, 0);
    if (e->cons_q)
        rd_kafka_queue_destroy(e->cons_q);
    if (e->prod_q)
        rd_kafka_queue_destroy(e->prod_q);
    for (int c = 0; c < OP_CHANNEL_COUNT; c++)
        if (e->out_topic[c])
            rd_kafka_topic_destroy(e->out_topic[c]);
    if (e->feed_topic)
        rd_kafka_topic_destroy(e->feed_topic);
    if (e->prod) {
        rd_kafka_flush(e->prod, 5000);
        rd_kafka_destroy(e->prod);
    }
    if (e->cons)
        rd_kafka_destroy(e->cons);
    for (uint64_t s = e->head; s < e->tail; s++)
        if (e->ring[s % RING].offsets)
            rd_kafka_topic_partition_list_destroy(e->ring[s % RING].offsets);
    if (e->mock)
        rd_kafka_mock_cluster_destroy(e->mock);
    if (e->mock_host)
        rd_kafka_destroy(e->mock_host);
    for (int i = 0; i < 2; i++) {
        if (e->cons_pipe[i] > 0)
            close(e->cons_pipe[i]);
        if (e->prod_pipe[i] > 0)
            close(e->prod_pipe[i]);
    }
    free(e->msgs);
    if (e->batch_ready)
        op_batch_deinit(&e->batch);
    op_graph_destroy(e->graph);
    state_store_close(e->store);
    if (e->consumed)
        rd_kafka_topic_partition_list_destroy(e->consumed);
    if (e->since)
        rd_kafka_topic_partition_list_destroy(e->since);
    if (e->ck_offsets)
        rd_kafka_topic_partition_list_destroy(e->ck_offsets);
    free(e->chunk_buf);
}

sl_status stream_engine_run(const sl_config *cfg, const stream_engine_opts *o,
                            stream_engine_result *res, sl_err *err) {
    engine *e = calloc(1, sizeof *e);
    if (!e)
        return sl_err_set(err, SL_ERR_NOMEM, "out of memory");
    e->cfg = cfg;
    e->opts = *o;
    e->started = now_s();
    e->cons_pipe[0] = e->cons_pipe[1] = e->prod_pipe[0] = e->prod_pipe[1] = -1;
    sl_status st = setup(e, err);
    if (!st) {
        uv_run(&e->loop, UV_RUN_DEFAULT);
        if (e->failed)
            st = sl_err_set(err, SL_ERR_KAFKA, "%s", e->fatal);
    }
    if (e->graph) {
        const op_stats *s = op_graph_stats(e->graph);
        if (res)
            *res = (stream_engine_result){s->records, s->events, s->dead_total, e->outputs, e->fed};
        write_summary(e);
        if (!st)
            sl_log(SL_LOG_INFO,
                   "stopped: %llu consumed, %llu events, %llu dead letters, %llu outputs "
                   "delivered",
                   (unsigned long long)s->records, (unsigned long long)s->events,
                   (unsigned long long)s->dead_total, (unsigned long long)e->outputs);
    }
    if (e->loop_inited) {
        shutdown_handles(e);
        uv_run(&e->loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&e->loop))
            sl_log(SL_LOG_WARN, "event loop closed with handles still open");
    }
    teardown(e);
    free(e);
    return st;
}
