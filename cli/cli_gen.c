/*
 * cli_gen.c — `streamlearn gen`: writes the simulated world's event stream
 * (and optionally its truth) to files or stdout.
 *
 * All the simulation lives in gen/; this file parses flags, opens the
 * outputs (plain, or gzip through zlib when a name ends in .gz), pulls lines
 * from the world in ~1 MiB batches and prints a summary on stderr. The output
 * is a pure function of the flags: the wall clock only reaches the summary.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "cli.h"
#include "gen_world.h"

#define GEN_CLI_BATCH (1u << 20) /* bytes per write */

static void usage(FILE *to) {
    fputs("usage: streamlearn gen --events N [--seed S] [options]\n"
          "\n"
          "Simulates users, ads, feed posts and events and writes the event stream as\n"
          "JSON Lines, deterministic per seed (docs/GENERATOR.md).\n"
          "\n"
          "  --events N        lines to write, exactly, malformed ones included (required)\n"
          "  --seed S          seed of everything random (default 1)\n"
          "  --surfaces LIST   comma-separated subset of ads,feed,events (default all)\n"
          "  --out FILE        events file (default stdout); a name ending in .gz is gzipped\n"
          "  --truth FILE      true probabilities: a JSON line per view and rank request\n"
          "  --bad RATE        share of malformed lines, every kind (default 0)\n"
          "  --late RATE       share of events held back 2 s..5 min (default 0.01)\n"
          "  --dup RATE        share of views and reactions written twice (default 0.005)\n"
          "  --lost RATE       share of reacted-to views whose view line is lost (default 0.002)\n"
          "  --users U         users in the world (default max(1000, N/100))\n"
          "  --start-ts MS     simulated start, ms since epoch (default 1767225600000,\n"
          "                    2026-01-01T00:00:00Z)\n"
          "  --rate R          views and other primary actions per simulated second\n"
          "                    (default users / 100: the average user acts every 100 s)\n"
          "  --quiet           no summary on stderr\n"
          "  --help            this text\n",
          to);
}

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("streamlearn gen: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(see streamlearn gen --help)\n", stderr);
    return 2;
}

static bool parse_u64(const char *s, uint64_t *out) {
    if (!*s || *s == '-' || *s == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_i64(const char *s, int64_t *out) {
    if (!*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double *out) {
    if (!*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* An output: stdout, a plain file or a gzip stream. */
typedef struct gen_sink {
    const char *name; /* for messages */
    FILE *f;          /* plain output, or NULL */
    gzFile gz;        /* gzip output, or NULL */
} gen_sink;

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int sink_open(gen_sink *k, const char *path) {
    *k = (gen_sink){.name = path ? path : "stdout"};
    if (!path || !strcmp(path, "-")) {
        k->name = "stdout";
        k->f = stdout;
        return 0;
    }
    if (ends_with(path, ".gz")) {
        /* Level 1: gzip's speed, not its ratio, is the bottleneck here. */
        k->gz = gzopen(path, "wb1");
        if (!k->gz) {
            fprintf(stderr, "streamlearn gen: %s: cannot open: %s\n", path, strerror(errno));
            return 1;
        }
        return 0;
    }
    k->f = fopen(path, "wb");
    if (!k->f) {
        fprintf(stderr, "streamlearn gen: %s: cannot open: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

static int sink_write(gen_sink *k, const char *p, size_t n) {
    if (!n)
        return 0;
    if (k->gz) {
        if (gzwrite(k->gz, p, (unsigned)n) != (int)n) {
            int zerr;
            fprintf(stderr, "streamlearn gen: %s: write failed: %s\n", k->name,
                    gzerror(k->gz, &zerr));
            return 1;
        }
        return 0;
    }
    if (fwrite(p, 1, n, k->f) != n) {
        fprintf(stderr, "streamlearn gen: %s: write failed: %s\n", k->name, strerror(errno));
        return 1;
    }
    return 0;
}

/* Closes (or flushes stdout); returns 1 if anything failed on the way. */
static int sink_close(gen_sink *k) {
    int rc = 0;
    if (k->gz) {
        if (gzclose(k->gz) != Z_OK) {
            fprintf(stderr, "streamlearn gen: %s: close failed\n", k->name);
            rc = 1;
        }
    } else if (k->f) {
        bool failed = k->f == stdout ? fflush(k->f) != 0 : fclose(k->f) != 0;
        if (failed) {
            fprintf(stderr, "streamlearn gen: %s: close failed: %s\n", k->name, strerror(errno));
            rc = 1;
        }
    }
    k->f = NULL;
    k->gz = NULL;
    return rc;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void summary(const gen_world *w, int64_t start_ts, double secs) {
    gen_stats st;
    gen_world_stats(w, &st);
    fprintf(stderr, "gen: %" PRIu64 " lines in %.2f s (%.2f M lines/s)\n", st.lines, secs,
            secs > 0 ? (double)st.lines / secs / 1e6 : 0.0);
    fputs("gen:", stderr);
    for (int t = 0; t < SL_EVENT_TYPE_COUNT; t++)
        fprintf(stderr, " %s %" PRIu64, sl_event_type_str((sl_event_type)t), st.by_type[t]);
    fputc('\n', stderr);
    fprintf(stderr, "gen: views ads %" PRIu64 " feed %" PRIu64 " events %" PRIu64 "; ",
            st.views_by_surface[SL_SURFACE_ADS], st.views_by_surface[SL_SURFACE_FEED],
            st.views_by_surface[SL_SURFACE_EVENTS]);
    fprintf(stderr,
            "bad %" PRIu64 ", duplicate %" PRIu64 ", late %" PRIu64 ", lost views %" PRIu64
            ", truth lines %" PRIu64 "\n",
            st.bad, st.dup, st.late, st.lost_views, st.truth_lines);
    if (st.bad) {
        fputs("gen: bad", stderr);
        for (int b = 1; b < GEN_BAD_COUNT; b++)
            fprintf(stderr, " %s %" PRIu64, gen_bad_str((gen_bad)b), st.bad_by_kind[b]);
        fputc('\n', stderr);
    }
    fprintf(stderr,
            "gen: world: %u users, %u ads, %u posts, %u events, %" PRIu64
            " friend edges; %.2f simulated hours\n",
            st.users, st.items[SL_SURFACE_ADS], st.items[SL_SURFACE_FEED],
            st.items[SL_SURFACE_EVENTS], st.friend_edges,
            st.max_ts == INT64_MIN ? 0.0 : (double)(st.max_ts - start_ts) / 3.6e6);
}

int cli_gen_main(int argc, char **argv) {
    gen_opts opts;
    gen_opts_init(&opts);
    const char *out_path = NULL, *truth_path = NULL;
    bool have_events = false, quiet = false;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(arg, "--quiet")) {
            quiet = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            return bad_usage("unexpected argument '%s'", arg);
        /* --flag VALUE or --flag=VALUE */
        char flag[32];
        const char *val;
        const char *eq = strchr(arg, '=');
        size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
        if (n >= sizeof flag)
            return bad_usage("unknown option '%s'", arg);
        memcpy(flag, arg, n);
        flag[n] = '\0';
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return bad_usage("%s: needs a value", flag);
            val = argv[++i];
        }

        uint64_t u;
        int64_t s64;
        double d;
        if (!strcmp(flag, "--events")) {
            if (!parse_u64(val, &u))
                return bad_usage("--events: want a count of lines, got '%s'", val);
            opts.events = u;
            have_events = true;
        } else if (!strcmp(flag, "--seed")) {
            if (!parse_u64(val, &u))
                return bad_usage("--seed: want an unsigned 64-bit integer, got '%s'", val);
            opts.seed = u;
        } else if (!strcmp(flag, "--users")) {
            if (!parse_u64(val, &u) || u < 16 || u > UINT32_MAX)
                return bad_usage("--users: want a number of users >= 16, got '%s'", val);
            opts.users = (uint32_t)u;
        } else if (!strcmp(flag, "--start-ts")) {
            if (!parse_i64(val, &s64))
                return bad_usage("--start-ts: want ms since epoch, got '%s'", val);
            opts.start_ts = s64;
        } else if (!strcmp(flag, "--surfaces")) {
            sl_err err;
            if (gen_surfaces_parse(val, &opts.surfaces, &err))
                return bad_usage("--%s", err.msg);
        } else if (!strcmp(flag, "--out")) {
            out_path = val;
        } else if (!strcmp(flag, "--truth")) {
            truth_path = val;
        } else if (!strcmp(flag, "--bad") || !strcmp(flag, "--late") || !strcmp(flag, "--dup") ||
                   !strcmp(flag, "--lost")) {
            if (!parse_double(val, &d) || d < 0 || d > 1)
                return bad_usage("%s: want a rate in [0, 1], got '%s'", flag, val);
            double *dst = flag[2] == 'b'   ? &opts.bad_rate
                          : flag[2] == 'l' ? (flag[3] == 'a' ? &opts.late_rate : &opts.lost_rate)
                                           : &opts.dup_rate;
            *dst = d;
        } else if (!strcmp(flag, "--rate")) {
            if (!parse_double(val, &d) || d <= 0 || d > 1e6)
                return bad_usage("--rate: want actions per simulated second in (0, 1e6], got '%s'",
                                 val);
            opts.rate = d;
        } else {
            return bad_usage("unknown option '%s'", flag);
        }
    }
    if (!have_events)
        return bad_usage("--events: required (how many lines to write)");
    bool out_stdout = !out_path || !strcmp(out_path, "-");
    if (truth_path && !strcmp(truth_path, "-") && out_stdout)
        return bad_usage("--truth: cannot share stdout with the events; give --out FILE");

    sl_err err = {{0}};
    gen_world *w = NULL;
    sl_status st = gen_world_create(&opts, &w, &err);
    if (st == SL_ERR_INVALID) /* the message starts with the option's name */
        return bad_usage("--%s", err.msg);
    if (st) {
        fprintf(stderr, "streamlearn gen: %s\n", err.msg);
        return 1;
    }

    int rc = 0;
    gen_sink out = {0}, truth = {0};
    sl_buf ob, tb;
    sl_buf_init(&ob, GEN_CLI_BATCH + GEN_LINE_MAX + 1);
    sl_buf_init(&tb, GEN_CLI_BATCH + GEN_TRUTH_MAX + 1);
    if ((rc = sink_open(&out, out_path)) || (truth_path && (rc = sink_open(&truth, truth_path))))
        goto out;

    double t0 = now_s();
    uint64_t left = opts.events;
    while (left) {
        uint64_t k;
        st = gen_world_fill(w, &ob, truth_path ? &tb : NULL, left, GEN_CLI_BATCH, &k, &err);
        left -= k;
        if ((rc = sink_write(&out, ob.p, ob.len)) ||
            (truth_path && (rc = sink_write(&truth, tb.p, tb.len))))
            goto out;
        sl_buf_clear(&ob);
        sl_buf_clear(&tb);
        if (st) {
            fprintf(stderr, "streamlearn gen: %s\n", err.msg);
            rc = 1;
            goto out;
        }
    }
    if (!quiet)
        summary(w, opts.start_ts, now_s() - t0);
out:
    rc |= sink_close(&out);
    if (truth_path)
        rc |= sink_close(&truth);
    sl_buf_deinit(&ob);
    sl_buf_deinit(&tb);
    gen_world_destroy(w);
    return rc;
}
