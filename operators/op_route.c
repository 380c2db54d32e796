/*
 * op_route.c — routes valid events to the parts of the graph that own them
 * and counts them.
 *
 * After route comes the join (op_join.c), which takes views (featurize,
 * score, wait for labels), reactions (labels), and profile, friend and
 * register events (feature state). rank_request will go to the ranker.
 * Route counts events per type and views per surface for the summary, and
 * is where a graph in `validate` mode stops.
 */
#include <stdlib.h>

#include "op.h"

typedef struct op_route {
    op_stats *stats; /* shared counters */
} op_route;

static sl_status route_create(const op_env *env, void **ctx, sl_err *err) {
    op_route *r = calloc(1, sizeof *r);
    if (!r)
        return sl_err_set(err, SL_ERR_NOMEM, "route: out of memory");
    r->stats = env->stats;
    *ctx = r;
    return SL_OK;
}

static sl_status route_process(void *ctx, op_batch *b, sl_err *err) {
    (void)err;
    op_stats *s = ((op_route *)ctx)->stats;
    for (uint32_t i = 0; i < b->n; i++) {
        const op_record *r = &b->recs[i];
        if (r->reason != SL_REASON_OK)
            continue;
        s->by_type[r->ev.type]++;
        if (r->ev.type == SL_EVENT_VIEW)
            s->views_by_surface[r->ev.surface]++;
    }
    return SL_OK;
}

static void route_destroy(void *ctx) { free(ctx); }

const op_vtable op_route_vtable = {
    .name = "route",
    .create = route_create,
    .process = route_process,
    .destroy = route_destroy,
};
