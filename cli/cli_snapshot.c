/* cli_snapshot.c — `streamlearn snapshot inspect FILE` and
 * `streamlearn snapshot fetch`. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model_snapshot.h"
#include "sl_arena.h"
#include "sl_config.h"
#include "stream_snapchunk.h"
#include "stream_snapfile.h"

static void usage(FILE *to) {
    fputs("usage: streamlearn snapshot inspect FILE\n"
          "       streamlearn snapshot fetch --config FILE [--brokers HOST:PORT,...]\n"
          "                                  [--topic T] --out FILE MODEL\n"
          "\n"
          "Checks a model snapshot (magic, format version, sizes, CRC32C) and\n"
          "prints its header, hyperparameters, dimensions and, per parameter\n"
          "array, count, min, max, mean, nonzero and NaN count as JSON\n"
          "(docs/SNAPSHOTS.md). Exit 0 for a sound snapshot; 2 when the file is\n"
          "unreadable or not a valid snapshot, with the reason.\n"
          "\n"
          "fetch reads the snapshots topic (kafka.snapshots_topic unless --topic)\n"
          "to its end with the config's brokers and kafka.consumer.* properties and\n"
          "writes the newest complete snapshot of MODEL, whole or reassembled from\n"
          "its chunks, to --out (for --warm-start). Exit 0 when written, 1 when the\n"
          "topic holds no complete snapshot of MODEL, 2 on bad usage or a cluster\n"
          "it cannot read.\n",
          to);
}

static int fetch_main(int argc, char **argv) {
    const char *config = NULL, *brokers = NULL, *topic = NULL, *out = NULL, *model = NULL;
    for (int i = 2; i < argc; i++) {
        bool v = i + 1 < argc;
        if (!strcmp(argv[i], "--config") && v)
            config = argv[++i];
        else if (!strcmp(argv[i], "--brokers") && v)
            brokers = argv[++i];
        else if (!strcmp(argv[i], "--topic") && v)
            topic = argv[++i];
        else if (!strcmp(argv[i], "--out") && v)
            out = argv[++i];
        else if (argv[i][0] != '-' && !model)
            model = argv[i];
        else {
            fprintf(stderr, "streamlearn snapshot fetch: unknown or incomplete option '%s'\n\n",
                    argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!config || !out || !model) {
        fprintf(stderr, "streamlearn snapshot fetch: --config, --out and MODEL are required\n\n");
        usage(stderr);
        return 2;
    }
    sl_err err;
    sl_config *cfg;
    if (sl_config_load(config, &cfg, &err)) {
        fprintf(stderr, "streamlearn snapshot fetch: %s\n", err.msg);
        return 2;
    }
    void *blob;
    size_t len;
    sl_status st = stream_snapchunk_fetch(cfg, brokers, topic ? topic : cfg->kafka.topic_snapshots,
                                          model, &blob, &len, &err);
    sl_config_destroy(cfg);
    if (st) {
        fprintf(stderr, "streamlearn snapshot fetch: %s\n", err.msg);
        return st == SL_ERR_NOT_FOUND ? 1 : 2;
    }
    FILE *f = fopen(out, "wb");
    bool ok = f && fwrite(blob, 1, len, f) == len;
    if (f && fclose(f) != 0)
        ok = false;
    free(blob);
    if (!ok) {
        fprintf(stderr, "streamlearn snapshot fetch: %s: cannot write\n", out);
        return 2;
    }
    fprintf(stderr, "streamlearn snapshot fetch: %s: %zu bytes of model \"%s\"\n", out, len, model);
    return 0;
}

int cli_snapshot_main(int argc, char **argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "fetch"))
        return fetch_main(argc, argv);
    if (argc != 3 || strcmp(argv[1], "inspect") != 0) {
        usage(stderr);
        return 2;
    }
    const char *path = argv[2];
    sl_err err;
    void *blob;
    size_t len;
    if (stream_snapfile_read(path, &blob, &len, &err)) {
        fprintf(stderr, "streamlearn snapshot: %s\n", err.msg);
        return 2;
    }
    sl_buf json;
    sl_buf_init(&json, (size_t)16 << 20);
    sl_status st = model_snapshot_describe(blob, len, &json, &err);
    stream_snapfile_free(blob);
    if (st) {
        fprintf(stderr, "streamlearn snapshot: %s: %s\n", path, err.msg);
        sl_buf_deinit(&json);
        return 2;
    }
    fwrite(json.p, 1, json.len, stdout);
    putchar('\n');
    sl_buf_deinit(&json);
    return 0;
}
