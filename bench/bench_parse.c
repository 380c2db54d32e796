/*
 * bench_parse.c — parse + validate throughput of the event parser: the
 * production path (fast scanner, jansson fallback) against jansson alone,
 * on the same messages, in the same run.
 *
 * usage: bench_parse [FILE.jsonl]   (default: built-in events of every type)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sl_event.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct msg {
    const char *p; /* bytes */
    size_t n;      /* length */
} msg;

static msg *load(const char *path, size_t *count, char **hold) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    size_t cap = 1024, n = 0;
    msg *m = malloc(cap * sizeof *m);
    char *p = buf, *end = buf + size;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n == cap)
            m = realloc(m, (cap *= 2) * sizeof *m);
        m[n++] = (msg){p, len};
        p += len + 1;
    }
    *count = n;
    *hold = buf;
    return m;
}

static const char *const builtin[] = {
    "{\"type\":\"view\",\"ts\":1767225600123,\"user\":\"u18277\",\"surface\":\"ads\",\"item\":"
    "\"ad1532\","
    "\"view_id\":\"v9912773\",\"ctx\":{\"device\":\"android\",\"hour\":13,\"pos\":2,\"page\":"
    "\"home\"}}",
    "{\"type\":\"view\",\"ts\":1767225600456,\"user\":\"u2201\",\"surface\":\"feed\",\"item\":"
    "\"p88122\","
    "\"view_id\":\"v9912774\",\"ctx\":{\"device\":\"ios\",\"hour\":13,\"pos\":7}}",
    "{\"type\":\"click\",\"ts\":1767225601789,\"user\":\"u18277\",\"view_id\":\"v9912773\","
    "\"item\":\"ad1532\"}",
    "{\"type\":\"dwell\",\"ts\":1767225631000,\"user\":\"u2201\",\"view_id\":\"v9912774\",\"dwell_"
    "ms\":29311.5}",
    "{\"type\":\"register\",\"ts\":1767225699000,\"user\":\"u77\",\"item\":\"e312\",\"view_id\":"
    "\"v9912001\"}",
};

static double run(msg *m, size_t n, int reps, const sl_event_parse_opts *o, size_t *ok) {
    sl_arena arena;
    sl_arena_init(&arena, 1 << 20, 1u << 30);
    double t0 = now_s();
    size_t good = 0;
    for (int r = 0; r < reps; r++)
        for (size_t i = 0; i < n; i++) {
            sl_event ev;
            sl_event_error err;
            good += sl_event_parse(m[i].p, m[i].n, &arena, o, &ev, &err);
            if ((i & 4095) == 4095)
                sl_arena_reset(&arena); /* as the engine does after each batch */
        }
    double dt = now_s() - t0;
    sl_arena_deinit(&arena);
    *ok = good;
    return (double)n * reps / dt;
}

int main(int argc, char **argv) {
    size_t n = 0;
    char *hold = NULL;
    msg *m;
    if (argc > 1) {
        m = load(argv[1], &n, &hold);
        if (!m) {
            fprintf(stderr, "bench_parse: cannot read %s\n", argv[1]);
            return 2;
        }
    } else {
        n = 200000;
        m = malloc(n * sizeof *m);
        for (size_t i = 0; i < n; i++)
            m[i] = (msg){builtin[i % 5], strlen(builtin[i % 5])};
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += m[i].n;
    int reps = n < 1000000 ? (int)(1000000 / n) + 1 : 1;
    sl_event_parse_opts ref = {.reference_only = true};
    size_t ok_fast, ok_ref;
    run(m, n, 1, NULL, &ok_fast); /* warm up */
    double fast = run(m, n, reps, NULL, &ok_fast);
    double jans = run(m, n, reps, &ref, &ok_ref);
    printf("messages: %zu (mean %.0f bytes), valid: %zu / %zu\n", n, (double)bytes / (double)n,
           ok_fast / (size_t)reps, ok_ref / (size_t)reps);
    printf("fast path + validate: %.2f M events/s\n", fast / 1e6);
    printf("jansson + validate:   %.2f M events/s\n", jans / 1e6);
    printf("ratio: %.1fx\n", fast / jans);
    free(m);
    free(hold);
    return 0;
}
