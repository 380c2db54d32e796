/*
 * cli_features.c — `streamlearn features get --config FILE [--state DIR]
 * [--at TS] ENTITY ID`: an entity's current features as JSON, read from the
 * last checkpoint of the state store (opened read-only, so it works next to
 * a running engine). The same read path as the HTTP serving's. Exit codes:
 * 0 printed; 1 no state directory, unknown entity kind, id not found or the
 * store unreadable; 2 bad usage or an unusable config.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "op_features.h"
#include "sl_config.h"
#include "state_store.h"

static int usage(void) {
    fputs("usage: streamlearn features get --config FILE [--state DIR] [--at TS] user|item ID\n"
          "  prints the entity's features (profile, decayed counters read at TS, default:\n"
          "  the entity's newest event) as one JSON object\n",
          stderr);
    return 2;
}

int cli_features_main(int argc, char **argv) {
    const char *config = NULL, *dir = NULL, *entity = NULL, *id = NULL;
    long long at = -1;
    if (argc < 2 || strcmp(argv[1], "get"))
        return usage();
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            config = argv[++i];
        } else if (!strcmp(argv[i], "--state") && i + 1 < argc) {
            dir = argv[++i];
        } else if (!strcmp(argv[i], "--at") && i + 1 < argc) {
            char *end;
            errno = 0;
            at = strtoll(argv[++i], &end, 10);
            if (errno || *end || at < SL_EVENT_TS_MIN || at >= SL_EVENT_TS_MAX) {
                fprintf(stderr, "streamlearn features: --at: not a time in ms, got '%s'\n",
                        argv[i]);
                return 2;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage();
        } else if (!entity) {
            entity = argv[i];
        } else if (!id) {
            id = argv[i];
        } else {
            return usage();
        }
    }
    if (!config || !entity || !id)
        return usage();
    if (strcmp(entity, "user") && strcmp(entity, "item")) {
        fprintf(stderr, "streamlearn features: unknown entity kind '%s' (user or item)\n", entity);
        return 1;
    }
    int code = 1;
    sl_err err = {{0}};
    sl_config *cfg = NULL;
    state_store *st = NULL;
    op_features *f = NULL;
    sl_buf out;
    sl_buf_init(&out, 64u << 20);
    if (sl_config_load(config, &cfg, &err)) {
        fprintf(stderr, "streamlearn features: %s\n", err.msg);
        code = 2;
        goto out;
    }
    if (!dir)
        dir = cfg->state.dir;
    if (!dir || !dir[0]) {
        fprintf(stderr,
                "streamlearn features: no state directory: give --state DIR or set "
                "state.dir in %s\n",
                config);
        goto out;
    }
    state_store_opts o;
    state_store_opts_from_config(&o, &cfg->state);
    o.dir = dir;
    o.read_only = true;
    if (state_store_open(&o, &st, &err)) {
        fprintf(stderr, "streamlearn features: %s\n", err.msg);
        goto out;
    }
    if (op_features_create(cfg, st, &f, &err)) {
        fprintf(stderr, "streamlearn features: %s\n", err.msg);
        code = 2;
        goto out;
    }
    /* Without --at: as of the far future would decay everything to nothing;
     * read at the newest time the state knows instead (the checkpoint's
     * view of "now" is the entity's own newest event). */
    sl_status rc = op_features_describe(f, entity, id, at < 0 ? SL_EVENT_TS_MIN : at, &out, &err);
    if (rc) {
        fprintf(stderr, "streamlearn features: %s\n", err.msg);
        goto out;
    }
    fwrite(out.p, 1, out.len, stdout);
    putchar('\n');
    code = 0;
out:
    sl_buf_deinit(&out);
    op_features_destroy(f);
    state_store_close(st);
    sl_config_destroy(cfg);
    return code;
}
