/*
 * bench_kafka.c — the Kafka side of bench/kafka_e2e.sh, a bare librdkafka
 * client with three modes:
 *
 *   bench_kafka produce BROKERS TOPIC N [RATE [KIND]]
 *       produces N events keyed by user, at RATE events/s (0 = as fast as
 *       possible); KIND is `view` (default: each gets a score) or `friend`
 *       (parsed and routed, no output). Each event's ts is the wall clock
 *       at produce time, so a score's latency is (time read) - (its ts).
 *   bench_kafka consume BROKERS TOPIC N
 *       the raw ceiling: a consumer that reads N messages in batches and
 *       does nothing with them; prints messages/s from first to last.
 *   bench_kafka relay BROKERS FROM TO N
 *       the latency peer: a bare consume -> produce loop (same client
 *       settings as the engine: linger.ms 5, idempotent) that copies N
 *       messages from FROM to TO unchanged, so a latency measured on TO is
 *       two Kafka hops with no processing.
 *   bench_kafka latency BROKERS TOPIC N
 *       reads N score records (from the end of the topic, so start it before
 *       producing) and prints p50 / p99 / max of now - ts in ms.
 *
 * A benchmark tool, not part of the engine: it talks to rdkafka directly.
 */
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *why) {
    fprintf(stderr, "bench_kafka: %s: %s\n", what, why);
    exit(1);
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *brokers, const char *group,
                          const char *offset_reset) {
    char why[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", brokers, why, sizeof why);
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set(c, "linger.ms", "5", why, sizeof why);
        rd_kafka_conf_set(c, "enable.idempotence", "true", why, sizeof why);
        rd_kafka_conf_set(c, "queue.buffering.max.kbytes", "1048576", why, sizeof why);
    } else {
        rd_kafka_conf_set(c, "group.id", group, why, sizeof why);
        rd_kafka_conf_set(c, "auto.offset.reset", offset_reset, why, sizeof why);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", why, sizeof why);
        rd_kafka_conf_set(c, "fetch.wait.max.ms", "10", why, sizeof why);
        rd_kafka_conf_set(c, "partition.assignment.strategy", "cooperative-sticky", why,
                          sizeof why);
    }
    rd_kafka_t *rk = rd_kafka_new(type, c, why, sizeof why);
    if (!rk)
        die("client", why);
    return rk;
}

static int produce(const char *brokers, const char *topic, long n, double rate, bool views) {
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, brokers, NULL, NULL);
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    double t0 = now_s();
    char buf[512], key[32];
    for (long i = 0; i < n; i++) {
        if (rate > 0) {
            double due = t0 + (double)i / rate;
            double wait = due - now_s();
            if (wait > 0.0005)
                usleep((useconds_t)(wait * 1e6));
        }
        long long ts = (long long)(now_s() * 1000.0);
        int kl = snprintf(key, sizeof key, "u%ld", i % 100000);
        int len = views ? snprintf(buf, sizeof buf,
                                   "{\"type\":\"view\",\"ts\":%lld,\"user\":\"u%ld\",\"surface\":"
                                   "\"ads\",\"item\":\"ad%ld\",\"view_id\":\"v%ld\",\"ctx\":{"
                                   "\"device\":\"%s\",\"pos\":%ld}}",
                                   ts, i % 100000, i % 977, i, (i & 1) ? "ios" : "android", i % 8)
                        : snprintf(buf, sizeof buf,
                                   "{\"type\":\"friend\",\"ts\":%lld,\"user\":\"u%ld\",\"other\":"
                                   "\"w%ld\",\"ctx\":{\"source\":\"%s\",\"rank\":%ld}}",
                                   ts, i % 100000, (i * 7919 + 1) % 100000,
                                   (i & 1) ? "contacts" : "suggested", i % 8);
        while (rd_kafka_produce(t, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, buf, (size_t)len,
                                key, (size_t)kl, NULL) != 0) {
            if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                die("produce", rd_kafka_err2str(rd_kafka_last_error()));
            rd_kafka_poll(rk, 10);
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    double dt = now_s() - t0;
    printf("produced %ld events in %.2f s (%.0f events/s)\n", n, dt, (double)n / dt);
    rd_kafka_topic_destroy(t);
    rd_kafka_destroy(rk);
    return 0;
}

static rd_kafka_t *subscribe(const char *brokers, const char *topic, const char *reset) {
    char group[64];
    snprintf(group, sizeof group, "bench-%d-%ld", (int)getpid(), (long)time(NULL));
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, brokers, group, reset);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        die("subscribe", rd_kafka_err2str(err));
    return rk;
}

static int consume(const char *brokers, const char *topic, long n) {
    rd_kafka_t *rk = subscribe(brokers, topic, "earliest");
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t *msgs[4096];
    long got = 0;
    size_t bytes = 0;
    double first = 0, last = 0, deadline = now_s() + 120;
    while (got < n && now_s() < deadline) {
        ssize_t k = rd_kafka_consume_batch_queue(q, 100, msgs, 4096);
        for (ssize_t i = 0; i < k; i++) {
            if (!msgs[i]->err) {
                if (!got)
                    first = now_s();
                got++;
                bytes += msgs[i]->len;
            }
            rd_kafka_message_destroy(msgs[i]);
        }
        if (k > 0)
            last = now_s();
    }
    double dt = last - first;
    printf("raw consumer: %ld messages (%.1f MB) in %.2f s (%.0f messages/s)\n", got,
           (double)bytes / 1e6, dt, dt > 0 ? (double)got / dt : 0.0);
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got == n ? 0 : 1;
}

static int relay(const char *brokers, const char *from, const char *to, long n) {
    rd_kafka_t *cons = subscribe(brokers, from, "latest");
    rd_kafka_t *prod = client(RD_KAFKA_PRODUCER, brokers, NULL, NULL);
    char why[256];
    (void)why;
    rd_kafka_topic_t *t = rd_kafka_topic_new(prod, to, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(cons);
    rd_kafka_message_t *msgs[4096];
    long got = 0;
    double deadline = now_s() + 300;
    while (got < n && now_s() < deadline) {
        rd_kafka_message_t *first = rd_kafka_consumer_poll(cons, 10);
        rd_kafka_poll(prod, 0);
        if (!first)
            continue;
        msgs[0] = first;
        ssize_t k = 1 + rd_kafka_consume_batch_queue(q, 0, msgs + 1, 4095);
        for (ssize_t i = 0; i < k; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (!m->err) {
                while (rd_kafka_produce(t, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, m->payload,
                                        m->len, m->key, m->key_len, NULL) != 0)
                    rd_kafka_poll(prod, 10);
                got++;
            }
            rd_kafka_message_destroy(m);
        }
    }
    rd_kafka_flush(prod, 30000);
    printf("relay: copied %ld messages\n", got);
    rd_kafka_topic_destroy(t);
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    rd_kafka_destroy(prod);
    return got == n ? 0 : 1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int latency(const char *brokers, const char *topic, long n) {
    rd_kafka_t *rk = subscribe(brokers, topic, "latest");
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    double *lat = malloc((size_t)n * sizeof *lat);
    rd_kafka_message_t *msgs[4096];
    long got = 0;
    double deadline = now_s() + 300;
    fprintf(stderr, "latency: waiting for %ld records on %s\n", n, topic);
    while (got < n && now_s() < deadline) {
        /* consume_batch_queue with a timeout waits for a *full* batch, which
         * would add up to that timeout to every latency: wait for one
         * message, then take whatever else is already there. */
        rd_kafka_message_t *first = rd_kafka_consumer_poll(rk, 100);
        if (!first)
            continue;
        msgs[0] = first;
        ssize_t k = 1 + rd_kafka_consume_batch_queue(q, 0, msgs + 1, 4095);
        double now_ms = now_s() * 1000.0;
        for (ssize_t i = 0; i < k; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (!m->err && m->len && got < n) {
                /* The score's ts is the view's event time = its produce time. */
                const char *p = memmem(m->payload, m->len, "\"ts\":", 5);
                if (p)
                    lat[got++] = now_ms - strtod(p + 5, NULL);
            }
            rd_kafka_message_destroy(m);
        }
    }
    qsort(lat, (size_t)got, sizeof *lat, cmp_double);
    if (got)
        printf("latency over %ld scores: p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms\n",
               got, lat[got / 2], lat[(long)((double)got * 0.99)], lat[(long)((double)got * 0.999)],
               lat[got - 1]);
    free(lat);
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got == n ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: bench_kafka produce|consume|latency BROKERS TOPIC N [RATE [KIND]]\n"
                        "       bench_kafka relay BROKERS FROM TO N\n");
        return 2;
    }
    long n = atol(argv[4]);
    if (!strcmp(argv[1], "produce"))
        return produce(argv[2], argv[3], n, argc > 5 ? atof(argv[5]) : 0,
                       argc <= 6 || strcmp(argv[6], "friend") != 0);
    if (!strcmp(argv[1], "consume"))
        return consume(argv[2], argv[3], n);
    if (!strcmp(argv[1], "relay") && argc > 5)
        return relay(argv[2], argv[3], argv[4], atol(argv[5]));
    if (!strcmp(argv[1], "latency"))
        return latency(argv[2], argv[3], n);
    fprintf(stderr, "bench_kafka: unknown mode %s\n", argv[1]);
    return 2;
}
