/* cli_run.c — `streamlearn run`: the live engine on Kafka. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "gen_world.h"
#include "sl_config.h"
#include "sl_log.h"
#include "stream_snapfile.h"
#include "stream_engine.h"
#include "stream_lines.h"

static void usage(FILE *to) {
    fputs("usage: streamlearn run --config FILE [--brokers HOST:PORT,...] [--until-idle SECS]\n"
          "                       [--warm-start SNAPSHOT]...\n"
          "                       [--produce EVENTS.jsonl[.gz]] [--generate N [--seed S]]\n"
          "                       [--summary FILE] [--progress|--no-progress]\n"
          "\n"
          "Runs the operator graph on Kafka: consumes kafka.input_topics as the group\n"
          "kafka.group_id and produces scores, examples, snapshots, metrics and dead\n"
          "letters to their topics. With no brokers (kafka.brokers empty and no\n"
          "--brokers) it starts an embedded Kafka (librdkafka's mock cluster) and\n"
          "prints its address.\n"
          "\n"
          "  --until-idle SECS  stop gracefully once no event arrived for SECS\n"
          "  --produce FILE     produce FILE's lines into the first input topic while\n"
          "                     running (demo, backfill into the embedded cluster)\n"
          "  --generate N       produce N generated events (streamlearn gen) likewise\n"
          "  --summary FILE     write the final counts as JSON\n"
          "  --warm-start SNAP  start the model named in the snapshot from it when the\n"
          "                     state holds none (repeat for several models)\n"
          "\n"
          "SIGINT/SIGTERM stop gracefully (deliver outputs, commit offsets); a second\n"
          "signal exits at once.\n",
          to);
}

typedef struct file_feed {
    stream_lines *in; /* the file */
} file_feed;

static int file_next(void *ctx, const char **line, size_t *len) {
    file_feed *f = ctx;
    stream_line ln;
    for (;;) {
        int rc = stream_lines_next(f->in, &ln);
        if (rc == 1) {
            *line = ln.p;
            *len = ln.len;
            return 1;
        }
        if (rc < 0)
            return 0;
        sl_err err;
        if (stream_lines_refill(f->in, &err)) {
            sl_log(SL_LOG_ERROR, "%s", err.msg);
            return 0;
        }
    }
}

typedef struct gen_feed {
    gen_world *w;  /* the simulated world */
    sl_buf line;   /* the current line */
    uint64_t left; /* lines still to give */
} gen_feed;

static int gen_next(void *ctx, const char **line, size_t *len) {
    gen_feed *g = ctx;
    if (!g->left)
        return 0;
    sl_buf_clear(&g->line);
    gen_line gl;
    sl_err err;
    if (gen_world_next(g->w, &g->line, NULL, &gl, &err)) {
        sl_log(SL_LOG_ERROR, "generator: %s", err.msg);
        return 0;
    }
    g->left--;
    *line = g->line.p + gl.off;
    *len = gl.len;
    return 1;
}

int cli_run_main(int argc, char **argv) {
    const char *config = NULL, *produce_path = NULL;
    stream_engine_opts o = {.progress = isatty(STDERR_FILENO)};
    const char *warm[STREAM_SNAPFILE_WARM_MAX];
    uint64_t generate = 0, seed = 42;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool v = i + 1 < argc;
        if (!strcmp(a, "--config") && v)
            config = argv[++i];
        else if (!strcmp(a, "--brokers") && v)
            o.brokers = argv[++i];
        else if (!strcmp(a, "--until-idle") && v)
            o.until_idle_s = atof(argv[++i]);
        else if (!strcmp(a, "--produce") && v)
            produce_path = argv[++i];
        else if (!strcmp(a, "--generate") && v)
            generate = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--seed") && v)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--summary") && v)
            o.summary_path = argv[++i];
        else if (!strcmp(a, "--warm-start") && v) {
            if (o.n_warm == STREAM_SNAPFILE_WARM_MAX) {
                fprintf(stderr, "streamlearn run: at most %d --warm-start files\n",
                        STREAM_SNAPFILE_WARM_MAX);
                return 2;
            }
            warm[o.n_warm++] = argv[++i];
            o.warm_start = warm;
        }
        else if (!strcmp(a, "--tick-ms") && v)
            o.tick_ms = atoi(argv[++i]);
        else if (!strcmp(a, "--progress"))
            o.progress = true;
        else if (!strcmp(a, "--no-progress"))
            o.progress = false;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "streamlearn run: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "streamlearn run: --config is required\n\n");
        usage(stderr);
        return 2;
    }
    if (produce_path && generate) {
        fprintf(stderr, "streamlearn run: --produce and --generate exclude each other\n");
        return 2;
    }
    sl_err err;
    sl_config *cfg;
    if (sl_config_load(config, &cfg, &err)) {
        fprintf(stderr, "streamlearn run: %s\n", err.msg);
        return 2;
    }
    int rc = 0;
    file_feed ff = {0};
    gen_feed gf = {0};
    stream_feed feed = {0};
    sl_buf_init(&gf.line, 1 << 20);
    if (produce_path) {
        if (stream_lines_open(produce_path, (uint32_t)cfg->engine.max_line_bytes, &ff.in, &err)) {
            fprintf(stderr, "streamlearn run: %s\n", err.msg);
            rc = 2;
            goto out;
        }
        feed = (stream_feed){file_next, &ff, 0};
        o.feed = &feed;
    } else if (generate) {
        gen_opts go;
        gen_opts_init(&go);
        go.events = generate;
        go.seed = seed;
        go.bad_rate = 0.001;
        if (gen_world_create(&go, &gf.w, &err)) {
            fprintf(stderr, "streamlearn run: %s\n", err.msg);
            rc = 2;
            goto out;
        }
        gf.left = generate;
        feed = (stream_feed){gen_next, &gf, generate};
        o.feed = &feed;
    }
    sl_status st = stream_engine_run(cfg, &o, NULL, &err);
    if (st) {
        fprintf(stderr, "streamlearn run: %s\n", err.msg);
        rc = st == SL_ERR_CONFIG ? 2 : 1; /* a config or snapshot it cannot use: bad input */
    }
out:
    stream_lines_close(ff.in);
    gen_world_destroy(gf.w);
    sl_buf_deinit(&gf.line);
    sl_config_destroy(cfg);
    return rc;
}
