/* cli_snapshot.c — `streamlearn snapshot inspect FILE`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "model_snapshot.h"
#include "sl_arena.h"
#include "stream_snapfile.h"

static void usage(FILE *to) {
    fputs("usage: streamlearn snapshot inspect FILE\n"
          "\n"
          "Checks a model snapshot (magic, format version, sizes, CRC32C) and\n"
          "prints its header, hyperparameters, dimensions and, per parameter\n"
          "array, count, min, max, mean, nonzero and NaN count as JSON\n"
          "(docs/SNAPSHOTS.md). Exit 0 for a sound snapshot; 2 when the file is\n"
          "unreadable or not a valid snapshot, with the reason.\n",
          to);
}

int cli_snapshot_main(int argc, char **argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
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
