/*
 * bench_features.c — the featurizer's cost per event: generated events
 * (gen_world) parsed, then (a) parse only, (b) parse + stateless hashing of
 * the view's categorical fields (item, user, every ctx field), (c) parse +
 * op_features_build + update / on_reaction against an in-memory store, the
 * way the label join calls it. Reports events/s and views/s of each and the
 * ratio (c)/(b). Usage: bench_features [EVENTS] [CONFIG]; bench/FEATURES.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen_world.h"
#include "op_features.h"
#include "sl_config.h"
#include "sl_hash.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if ((x) != SL_OK) {                                                                        \
            fprintf(stderr, "bench_features: %s: %s\n", #x, err.msg);                              \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv) {
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    sl_err err = {{0}};
    sl_config *cfg;
    if (argc > 2)
        CHECK(sl_config_load(argv[2], &cfg, &err));
    else
        CHECK(sl_config_defaults(&cfg, &err));
    gen_opts go;
    gen_opts_init(&go);
    go.events = n;
    gen_world *w;
    CHECK(gen_world_create(&go, &w, &err));
    sl_buf lines;
    sl_buf_init(&lines, (size_t)8 << 30);
    uint64_t written;
    CHECK(gen_world_fill(w, &lines, NULL, n, (size_t)8 << 30, &written, &err));
    gen_world_destroy(w);

    sl_arena arena;
    sl_arena_init(&arena, 1 << 16, 1 << 24);
    sl_event_parse_opts po = {SL_EVENT_DEFAULT_MAX_BYTES, false, false};
    double secs[3] = {0};
    uint64_t views = 0, sink = 0;
    op_features_stats fs = {0};
    for (int mode = 0; mode < 3; mode++) {
        state_store *st = NULL;
        op_features *f = NULL;
        if (mode == 2) {
            state_store_opts o;
            state_store_opts_default(&o);
            o.cache_bytes = (size_t)2 << 30;
            CHECK(state_store_open(&o, &st, &err));
            CHECK(op_features_create(cfg, st, &f, &err));
        }
        uint64_t ns_item = sl_hash64("item", 4, 1), ns_user = sl_hash64("user", 4, 1);
        model_example ex;
        views = 0;
        double t0 = now_s();
        for (size_t at = 0; at < lines.len;) {
            const char *p = lines.p + at, *nl = memchr(p, '\n', lines.len - at);
            size_t len = nl ? (size_t)(nl - p) : lines.len - at;
            at += len + 1;
            sl_event ev;
            sl_event_error pe;
            sl_arena_reset(&arena);
            if (!sl_event_parse(p, len, &arena, &po, &ev, &pe))
                continue;
            if (mode == 1 && ev.type == SL_EVENT_VIEW) {
                model_example_reset(&ex);
                model_example_add(&ex, sl_hash_feature(ns_item, ev.item.p, ev.item.n, 1, 22), 1, 0);
                model_example_add(&ex, sl_hash_feature(ns_user, ev.user.p, ev.user.n, 1, 22), 1, 1);
                for (uint32_t i = 0; i < ev.n_kv; i++) {
                    uint64_t k = sl_hash64(ev.kv[i].key.p, ev.kv[i].key.n, 1);
                    const void *v = ev.kv[i].kind == SL_KV_STR ? (const void *)ev.kv[i].s.p
                                                               : (const void *)&ev.kv[i].num;
                    size_t vn = ev.kv[i].kind == SL_KV_STR ? ev.kv[i].s.n : 8;
                    model_example_add(&ex, sl_hash_feature(k, v, vn, 1, 22), 1, (uint8_t)(2 + i));
                }
                sink += ex.idx[0];
            } else if (mode == 2) {
                if (ev.type == SL_EVENT_VIEW) {
                    CHECK(op_features_build(f, &ev, ev.item, &ex, &err));
                    sink += ex.idx[0];
                }
                if (ev.type == SL_EVENT_CLICK || ev.type == SL_EVENT_LIKE ||
                    ev.type == SL_EVENT_SHARE || ev.type == SL_EVENT_DWELL ||
                    ev.type == SL_EVENT_CONVERSION) {
                    if (ev.item.n) {
                        op_view_ref ref = {ev.user, ev.item, SL_SURFACE_NONE, ev.ts};
                        CHECK(op_features_on_reaction(f, &ref, ev.type, ev.ts, ev.dwell_ms, &err));
                    }
                } else {
                    CHECK(op_features_update(f, &ev, &err));
                }
            }
            views += ev.type == SL_EVENT_VIEW;
        }
        secs[mode] = now_s() - t0;
        if (f)
            op_features_stats_get(f, &fs);
        op_features_destroy(f);
        state_store_close(st);
    }
    const char *names[3] = {"parse only", "parse + stateless hashing", "parse + op_features"};
    printf("%llu events (%llu views), config %s, %d half-lives\n", (unsigned long long)written,
           (unsigned long long)views, argc > 2 ? argv[2] : "(defaults)",
           cfg->features.n_half_lives);
    for (int m = 0; m < 3; m++)
        printf("  %-28s %7.3f s  %10.0f events/s  %10.0f views/s\n", names[m], secs[m],
               (double)written / secs[m], (double)views / secs[m]);
    double fe = secs[2] - secs[0], hb = secs[1] - secs[0];
    printf("  featurizer alone: %.2f us/event; stateless hashing alone: %.3f us/view;"
           " ratio (c)/(b) total time %.2fx\n",
           fe * 1e6 / (double)written, hb * 1e6 / (double)views, secs[2] / secs[1]);
    printf("  examples %llu, sparse dropped %llu (sink %llu)\n", (unsigned long long)fs.built,
           (unsigned long long)fs.sparse_dropped, (unsigned long long)(sink & 1));
    sl_arena_deinit(&arena);
    sl_buf_deinit(&lines);
    sl_config_destroy(cfg);
    return 0;
}
