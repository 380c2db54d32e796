/*
 * test_replay.c — replay end to end on files the test writes: every kind of
 * malformed line mixed into good events is dead-lettered with the right
 * reason and its line number, the good lines around it still flow, and
 * lines read = events + dead letters. Also: gzip input, a line longer than
 * max_line_bytes, a last line without a newline, and unusable inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "test_util.h"

#include "stream_replay.h"

typedef struct bad_line {
    const char *text;   /* the line (NULL: generated below) */
    const char *reason; /* expected dead-letter reason */
} bad_line;

static const bad_line bad[] = {
    {"{\"type\":\"click\",\"ts\":17000", "bad_json"}, /* truncated */
    {"{\"type\":\"click\",\"ts\":\"x\",\"user\":\"u\",\"view_id\":\"v\"}",
     "bad_type"}, /* wrong type */
    {"{\"type\":\"click\",\"ts\":1767225600000,\"user\":\"u\"}", "missing_field"},
    {"{\"type\":\"poke\",\"ts\":1767225600000,\"user\":\"u\"}", "unknown_type"},
    {"{\"type\":\"dwell\",\"ts\":1767225600000,\"user\":\"u\",\"view_id\":\"v\",\"dwell_ms\":NaN}",
     "bad_json"},
    {"{\"type\":\"dwell\",\"ts\":1767225600000,\"user\":\"u\",\"view_id\":\"v\",\"dwell_ms\":"
     "Infinity}",
     "bad_json"},
    {NULL, "too_large"}, /* 100 KB string */
    {"{\"type\":\"click\",\"ts\":1767225600000,\"user\":\"\xc3\x28\",\"view_id\":\"v\"}",
     "bad_utf8"},
    {"", "empty"},
    {"[{\"type\":\"click\"}]", "not_object"},
    {"{\"type\":\"click\",\"type\":\"view\",\"ts\":1767225600000,\"user\":\"u\",\"view_id\":\"v\"}",
     "duplicate_key"},
};
#define N_BAD (sizeof bad / sizeof bad[0])

static void good_line(FILE *f, int i) {
    fprintf(f,
            "{\"type\":\"view\",\"ts\":%lld,\"user\":\"u%d\",\"surface\":\"feed\",\"item\":\"p%d\","
            "\"view_id\":\"v%d\",\"ctx\":{\"device\":\"ios\"}}\n",
            1767225600000LL + i, i % 97, i % 13, i);
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Writes good events with every bad kind mixed in; returns lines written. */
static int write_mixed(const char *path, int good, char **big_out) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    char *big = malloc(100 * 1024 + 128);
    int n = sprintf(big, "{\"type\":\"click\",\"ts\":1767225600000,\"view_id\":\"v\",\"user\":\"");
    memset(big + n, 'x', 100 * 1024);
    strcpy(big + n + 100 * 1024, "\"}");
    int lines = 0;
    size_t b = 0;
    for (int i = 0; i < good; i++) {
        good_line(f, i);
        lines++;
        if (i % 997 == 500) {
            const char *t = bad[b % N_BAD].text ? bad[b % N_BAD].text : big;
            fprintf(f, "%s\n", t);
            lines++;
            b++;
        }
    }
    fclose(f);
    *big_out = big;
    return lines;
}

static void test_every_line_accounted(void **state) {
    (void)state;
    char dir[512];
    assert_true(test_tmpdir(dir, sizeof dir, "sl_replay"));
    char in[256], out[256], path[300];
    snprintf(in, sizeof in, "%s/in.jsonl", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    char *big;
    int good = 20000;
    int lines = write_mixed(in, good, &big);
    int n_bad = lines - good;
    assert_true(n_bad >= (int)N_BAD);

    sl_config *cfg;
    sl_err err;
    assert_int_equal(sl_config_defaults(&cfg, &err), SL_OK);
    stream_replay_opts o = {.input = in, .out_dir = out, .quiet = true};
    stream_replay_result res;
    if (stream_replay_run(cfg, &o, &res, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(res.lines, (uint64_t)lines);
    assert_int_equal(res.events, (uint64_t)good);
    assert_int_equal(res.dead_letters, (uint64_t)n_bad);
    assert_int_equal(res.events + res.dead_letters, res.lines);

    snprintf(path, sizeof path, "%s/deadletter.jsonl", out);
    char *dl = read_all(path);
    assert_non_null(dl);
    assert_int_equal(count_lines(dl), n_bad);
    for (size_t k = 0; k < N_BAD; k++) {
        char want[64];
        snprintf(want, sizeof want, "\"reason\":\"%s\"", bad[k].reason);
        if (!strstr(dl, want))
            fail_msg("no dead letter with %s", want);
    }
    /* The first bad line sits after good line 501, so it is line 502. */
    assert_non_null(strstr(dl, "{\"line\":502,"));
    free(dl);

    /* Every view is scored once (the default config has one model on the
     * feed, the multi-task "feed"), in input order, keyed by its view_id. */
    snprintf(path, sizeof path, "%s/scores.jsonl", out);
    char *sc = read_all(path);
    assert_non_null(sc);
    assert_int_equal(count_lines(sc), good);
    assert_non_null(strstr(sc, "\"view_id\":\"v0\",\"surface\":\"feed\",\"model\":\"feed\","
                               "\"model_version\":0,\"scores\":{\"p_click\":"));
    free(sc);

    snprintf(path, sizeof path, "%s/summary.json", out);
    char *sum = read_all(path);
    assert_non_null(sum);
    char want[64];
    snprintf(want, sizeof want, "\"lines\": %d", lines);
    assert_non_null(strstr(sum, want));
    assert_non_null(strstr(sum, "\"view\":20000"));
    assert_non_null(strstr(sum, "\"graph\": \"parse -> route -> join\""));
    free(sum);
    sl_config_destroy(cfg);
    free(big);
    test_rm_rf(dir);
}

static void test_gzip_long_line_and_no_final_newline(void **state) {
    (void)state;
    char dir[512];
    assert_true(test_tmpdir(dir, sizeof dir, "sl_replay"));
    char in[256], out[256], path[300];
    snprintf(in, sizeof in, "%s/in.jsonl.gz", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    gzFile gz = gzopen(in, "wb");
    assert_non_null(gz);
    gzprintf(gz, "{\"type\":\"friend\",\"ts\":1767225600000,\"user\":\"a\",\"other\":\"b\"}\n");
    /* 3 MB line: over max_line_bytes (1 MiB), cut, counted, skipped. */
    for (int i = 0; i < 3000; i++) {
        char chunk[1000];
        memset(chunk, 'y', sizeof chunk);
        gzwrite(gz, chunk, sizeof chunk);
    }
    gzprintf(gz, "\n{\"type\":\"friend\",\"ts\":1767225600001,\"user\":\"a\",\"other\":\"c\"}");
    gzclose(gz);

    sl_config *cfg;
    sl_err err;
    assert_int_equal(sl_config_defaults(&cfg, &err), SL_OK);
    stream_replay_opts o = {.input = in, .out_dir = out, .quiet = true};
    stream_replay_result res;
    if (stream_replay_run(cfg, &o, &res, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(res.lines, 3);
    assert_int_equal(res.events, 2);
    assert_int_equal(res.dead_letters, 1);
    snprintf(path, sizeof path, "%s/deadletter.jsonl", out);
    char *dl = read_all(path);
    assert_non_null(strstr(dl, "\"line\":2,"));
    assert_non_null(strstr(dl, "\"bytes\":3000000,\"cut\":true"));
    free(dl);
    sl_config_destroy(cfg);
    test_rm_rf(dir);
}

static void test_unusable_inputs(void **state) {
    (void)state;
    sl_config *cfg;
    sl_err err;
    assert_int_equal(sl_config_defaults(&cfg, &err), SL_OK);
    stream_replay_opts o = {
        .input = "/nonexistent/events.jsonl", .out_dir = "/tmp/sl_replay_x", .quiet = true};
    assert_int_equal(stream_replay_run(cfg, &o, NULL, &err), SL_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/events.jsonl: cannot open"));
    o.input = "/tmp";
    assert_int_equal(stream_replay_run(cfg, &o, NULL, &err), SL_ERR_IO);
    assert_non_null(strstr(err.msg, "is a directory"));
    sl_config_destroy(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_line_accounted),
        cmocka_unit_test(test_gzip_long_line_and_no_final_newline),
        cmocka_unit_test(test_unusable_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
