/*
 * op_route.c — routes valid events to the parts of the graph that own them
 * and counts them.
 *
 * The seams, in graph order after route: views go to featurize (features
 * frozen at view time) and score; reactions (click, like, share, dwell,
 * register, conversion) go to the label join; profile and friend events
 * update state; rank_request goes to the ranker. Until those operators land,
 * route counts what each of them will receive, which is what replay's
 * summary reports.
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
