/*
 * op_graph.c — the registry of operators and the graph that runs them.
 *
 * The registry is the one table below: the graph is every entry, in order.
 * Adding an operator is one file and one line here.
 */
#include "op_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_store.h"

static const op_vtable *const op_registry[] = {
    &op_parse_vtable, /* bytes -> events, or dead letters */
    &op_route_vtable, /* events -> the operators that own them */
    &op_join_vtable,  /* featurize, score at view time, label join, examples */
};
#define OP_REGISTRY_LEN (sizeof op_registry / sizeof op_registry[0])

struct op_graph {
    op ops[OP_REGISTRY_LEN]; /* in run order */
    size_t n;                /* created so far */
    op_stats stats;          /* shared counters */
    state_store *store;      /* where checkpoints go */
    char desc[256];          /* "parse -> route" */
};

/* The shared counters in the meta CF: a size header, then the struct. The
 * same binary reads what it wrote; a different layout starts from zero. */
#define OP_GRAPH_META_KEY "graph.stats"

sl_status op_graph_create(const sl_config *cfg, state_store *store, op_graph **out, sl_err *err) {
    return op_graph_create_warm(cfg, store, NULL, 0, out, err);
}

sl_status op_graph_create_warm(const sl_config *cfg, state_store *store,
                               const struct op_warm_start *warm, uint32_t n_warm, op_graph **out,
                               sl_err *err) {
    *out = NULL;
    op_graph *g = calloc(1, sizeof *g);
    if (!g)
        return sl_err_set(err, SL_ERR_NOMEM, "graph: out of memory");
    g->store = store;
    uint64_t rec[1 + (sizeof g->stats + 7) / 8];
    size_t len;
    sl_status rst = state_store_get(store, STATE_CF_META, OP_GRAPH_META_KEY,
                                    strlen(OP_GRAPH_META_KEY), rec, sizeof rec, &len, err);
    if (rst == SL_OK && len == sizeof rec && rec[0] == sizeof g->stats)
        memcpy(&g->stats, rec + 1, sizeof g->stats);
    else if (rst != SL_OK && rst != SL_ERR_NOT_FOUND) {
        free(g);
        return rst;
    }
    op_env env = {cfg, &g->stats, store, warm, n_warm};
    size_t o = 0;
    /* "validate" stops after route: the first two registry entries. */
    size_t n_ops = strcmp(cfg->engine.graph, "validate") == 0 ? 2 : OP_REGISTRY_LEN;
    for (size_t i = 0; i < n_ops; i++) {
        const op_vtable *vt = op_registry[i];
        sl_status st = vt->create(&env, &g->ops[i].ctx, err);
        if (st) {
            op_graph_destroy(g);
            return st;
        }
        g->ops[i].vt = vt;
        g->n = i + 1;
        o += (size_t)snprintf(g->desc + o, sizeof g->desc - o, "%s%s", i ? " -> " : "", vt->name);
    }
    *out = g;
    return SL_OK;
}

sl_status op_graph_process(op_graph *g, op_batch *b, sl_err *err) {
    for (size_t i = 0; i < g->n; i++) {
        sl_status st = g->ops[i].vt->process(g->ops[i].ctx, b, err);
        if (st)
            return st;
    }
    return SL_OK;
}

sl_status op_graph_watermark(op_graph *g, int64_t wm, op_batch *b, sl_err *err) {
    for (size_t i = 0; i < g->n; i++) {
        if (!g->ops[i].vt->on_watermark)
            continue;
        sl_status st = g->ops[i].vt->on_watermark(g->ops[i].ctx, wm, b, err);
        if (st)
            return st;
    }
    return SL_OK;
}

sl_status op_graph_finish(op_graph *g, op_batch *b, sl_err *err) {
    for (size_t i = 0; i < g->n; i++) {
        if (!g->ops[i].vt->finish)
            continue;
        sl_status st = g->ops[i].vt->finish(g->ops[i].ctx, b, err);
        if (st)
            return st;
    }
    return SL_OK;
}

sl_status op_graph_checkpoint(op_graph *g, sl_err *err) {
    for (size_t i = 0; i < g->n; i++) {
        if (!g->ops[i].vt->checkpoint)
            continue;
        sl_status st = g->ops[i].vt->checkpoint(g->ops[i].ctx, err);
        if (st)
            return st;
    }
    uint64_t rec[1 + (sizeof g->stats + 7) / 8];
    memset(rec, 0, sizeof rec);
    rec[0] = sizeof g->stats;
    memcpy(rec + 1, &g->stats, sizeof g->stats);
    return state_store_put(g->store, STATE_CF_META, OP_GRAPH_META_KEY, strlen(OP_GRAPH_META_KEY),
                           rec, sizeof rec, err);
}

const op_stats *op_graph_stats(const op_graph *g) { return &g->stats; }

sl_status op_graph_report(op_graph *g, sl_buf *out) {
    sl_status st = sl_buf_putc(out, '{');
    bool first = true;
    for (size_t i = 0; !st && i < g->n; i++) {
        if (!g->ops[i].vt->report)
            continue;
        st = sl_buf_printf(out, "%s\"%s\":", first ? "" : ",", g->ops[i].vt->name);
        st = st ? st : g->ops[i].vt->report(g->ops[i].ctx, out);
        first = false;
    }
    return st ? st : sl_buf_putc(out, '}');
}

const char *op_graph_describe(const op_graph *g) { return g->desc; }

void op_graph_destroy(op_graph *g) {
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++)
        g->ops[i].vt->destroy(g->ops[i].ctx);
    free(g);
}
