/*
 * test_join.c — the label join on hand-made timelines, through the real
 * graph (parse -> route -> join) over an in-memory store: JSON lines in,
 * the scores and examples outboxes and the join's report out.
 *
 * Windows are small (ads: 60 s window, 10 s lateness) so each timeline is a
 * few events. Every test asserts the exact labels per view_id and the exact
 * counters of the report:
 *  - a click inside the window (the boundary included) labels 1; one after
 *    view ts + window, while the view still waits for lateness, labels 0 and
 *    is counted late;
 *  - a repeated (view, type) counts once and is counted duplicate; a second
 *    dwell is a duplicate (dwell_ms is the first dwell, not a sum);
 *  - a reaction that beats its view waits and applies when the view comes;
 *    one whose view never comes is counted unknown once the lateness runs
 *    out, and a view that arrives after that does not get it;
 *  - a repeated view is one score, one example, and does not touch the
 *    features twice;
 *  - windows close on the max event time, not on arrival, and the final
 *    watermark closes the rest;
 *  - a generated 2000-event timeline (duplicates, out of order, late,
 *    unknown) gives byte-identical scores and examples in batches of 1, 7,
 *    64 and 2000, and across a checkpoint + restart (also after a "crash"
 *    that loses the writes since the checkpoint).
 *
 * "pending" counts views waiting for their window, not orphan reactions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_util.h"
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "op_graph.h"
#include "sl_rand.h"
#include "state_store.h"

#define T0 INT64_C(1767225600000)
#define W  60000 /* ads window */
#define L  10000 /* lateness, the same on every surface */

/* Every surface has lateness L: orphans wait for the largest lateness of
 * all surfaces, so leaving a default (60 s / 300 s) would stretch them. */
static const char CONFIG[] = "{\"surfaces\":{\"ads\":{\"window_ms\":60000,\"lateness_ms\":10000},"
                             "\"feed\":{\"window_ms\":120000,\"lateness_ms\":10000},"
                             "\"events\":{\"window_ms\":60000,\"lateness_ms\":10000}},"
                             "\"models\":{}}";

/* ---- timelines ----------------------------------------------------------- */

#define TL_MAX_EVENTS 4096
#define TL_POOL       (1u << 20)

/* JSON lines back to back in a pool that never moves, so the records of a
 * batch can borrow them for as long as the timeline lives. */
typedef struct timeline {
    char *pool;                  /* the lines' bytes */
    size_t used;                 /* bytes used in pool */
    uint32_t off[TL_MAX_EVENTS]; /* line i starts at pool + off[i] */
    uint32_t len[TL_MAX_EVENTS]; /* and has len[i] bytes */
    uint32_t n;                  /* lines */
} timeline;

static timeline *tl_new(void) {
    timeline *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->pool = malloc(TL_POOL);
    assert_non_null(t->pool);
    return t;
}

static void tl_free(timeline *t) {
    if (!t)
        return;
    free(t->pool);
    free(t);
}

static void tl_add(timeline *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tl_add(timeline *t, const char *fmt, ...) {
    assert_true(t->n < TL_MAX_EVENTS);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->pool + t->used, TL_POOL - t->used, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < TL_POOL - t->used);
    t->off[t->n] = (uint32_t)t->used;
    t->len[t->n] = (uint32_t)n;
    t->n++;
    t->used += (size_t)n + 1;
}

/* A view on ads at T0 + dt. */
static void tl_view(timeline *t, int64_t dt, const char *vid, const char *user, const char *item) {
    tl_add(t,
           "{\"type\":\"view\",\"ts\":%lld,\"user\":\"%s\",\"surface\":\"ads\",\"item\":\"%s\","
           "\"view_id\":\"%s\",\"ctx\":{\"device\":\"ios\"}}",
           (long long)(T0 + dt), user, item, vid);
}

/* A click / like / share / conversion on view vid at T0 + dt. */
static void tl_react(timeline *t, const char *type, int64_t dt, const char *vid) {
    tl_add(t, "{\"type\":\"%s\",\"ts\":%lld,\"user\":\"u1\",\"view_id\":\"%s\"}", type,
           (long long)(T0 + dt), vid);
}

static void tl_dwell(timeline *t, int64_t dt, const char *vid, int dwell_ms) {
    tl_add(t, "{\"type\":\"dwell\",\"ts\":%lld,\"user\":\"u1\",\"view_id\":\"%s\",\"dwell_ms\":%d}",
           (long long)(T0 + dt), vid, dwell_ms);
}

/* An event that only moves event time (a friend edge between bystanders). */
static void tl_tick(timeline *t, int64_t dt) {
    tl_add(t, "{\"type\":\"friend\",\"ts\":%lld,\"user\":\"zz1\",\"other\":\"zz2\"}",
           (long long)(T0 + dt));
}

/* ---- the graph under test ------------------------------------------------ */

typedef struct fixture {
    sl_config *cfg;      /* CONFIG */
    state_store *st;     /* in memory, or in dir */
    op_graph *g;         /* parse -> route -> join */
    op_batch b;          /* reused for every batch */
    sl_buf scores;       /* every score record so far, one per line */
    sl_buf examples;     /* every example record so far, one per line */
    uint32_t n_scores;   /* lines in scores */
    uint32_t n_examples; /* lines in examples */
} fixture;

static void fx_start(fixture *fx, const char *dir) {
    sl_err err = {{0}};
    state_store_opts o;
    state_store_opts_default(&o);
    o.dir = dir;
    o.cache_bytes = 64u << 20;
    o.block_cache_bytes = 1u << 20;
    o.write_buffer_bytes = 1u << 20;
    if (state_store_open(&o, &fx->st, &err))
        fail_msg("state_store_open: %s", err.msg);
    if (op_graph_create(fx->cfg, fx->st, &fx->g, &err))
        fail_msg("op_graph_create: %s", err.msg);
}

/* Destroys the graph and closes the store WITHOUT a checkpoint. */
static void fx_stop(fixture *fx) {
    op_graph_destroy(fx->g);
    fx->g = NULL;
    state_store_close(fx->st);
    fx->st = NULL;
}

static void fx_open(fixture *fx, const char *dir) {
    memset(fx, 0, sizeof *fx);
    sl_err err = {{0}};
    if (sl_config_load_string(CONFIG, strlen(CONFIG), "test", &fx->cfg, &err))
        fail_msg("config: %s", err.msg);
    assert_int_equal(op_batch_init(&fx->b, TL_MAX_EVENTS, 64u << 20), SL_OK);
    sl_buf_init(&fx->scores, 64u << 20);
    sl_buf_init(&fx->examples, 64u << 20);
    fx_start(fx, dir);
}

static void fx_close(fixture *fx) {
    fx_stop(fx);
    op_batch_deinit(&fx->b);
    sl_buf_deinit(&fx->scores);
    sl_buf_deinit(&fx->examples);
    sl_config_destroy(fx->cfg);
}

/* Appends the values of one outbox to acc, a line each. */
static uint32_t collect(const op_outbox *o, sl_buf *acc) {
    for (uint32_t i = 0; i < o->n; i++) {
        assert_int_equal(sl_buf_append(acc, o->data.p + o->recs[i].val_off, o->recs[i].val_len),
                         SL_OK);
        assert_int_equal(sl_buf_putc(acc, '\n'), SL_OK);
    }
    return o->n;
}

static void fx_collect(fixture *fx) {
    assert_int_equal(fx->b.out[OP_CHANNEL_DEADLETTER].n, 0); /* every line is a valid event */
    fx->n_scores += collect(&fx->b.out[OP_CHANNEL_SCORES], &fx->scores);
    fx->n_examples += collect(&fx->b.out[OP_CHANNEL_EXAMPLES], &fx->examples);
}

/* Processes lines [from, to) of t in batches of `batch` records. */
static void fx_feed(fixture *fx, const timeline *t, uint32_t from, uint32_t to, uint32_t batch) {
    sl_err err = {{0}};
    for (uint32_t i = from; i < to;) {
        op_batch_clear(&fx->b);
        for (uint32_t k = 0; k < batch && i < to; k++, i++) {
            op_source_pos pos = {"timeline", -1, (int64_t)i + 1};
            assert_non_null(op_batch_add(&fx->b, t->pool + t->off[i], t->len[i], pos));
        }
        if (op_graph_process(fx->g, &fx->b, &err))
            fail_msg("op_graph_process: %s", err.msg);
        fx_collect(fx);
    }
}

/* The end of input: event time +inf closes every window. */
static void fx_finish(fixture *fx) {
    sl_err err = {{0}};
    op_batch_clear(&fx->b);
    if (op_graph_watermark(fx->g, INT64_MAX, &fx->b, &err))
        fail_msg("op_graph_watermark: %s", err.msg);
    fx_collect(fx);
}

/* The join's report, parsed. The caller json_decref()s it. */
static json_t *fx_report(fixture *fx) {
    sl_buf out;
    sl_buf_init(&out, 1u << 20);
    assert_int_equal(op_graph_report(fx->g, &out), SL_OK);
    json_error_t je;
    json_t *root = json_loadb(out.p, out.len, 0, &je);
    if (!root)
        fail_msg("report is not JSON (%s): %.*s", je.text, (int)out.len, out.p);
    sl_buf_deinit(&out);
    json_t *join = json_object_get(root, "join");
    assert_non_null(join);
    json_incref(join);
    json_decref(root);
    return join;
}

typedef struct join_counts {
    long long views, duplicate_views, reactions, duplicate_reactions, unknown_view_reactions,
        late_reactions, early_reactions_applied, examples, pending;
} join_counts;

static long long num(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        fail_msg("report: %s is missing or not an integer", key);
    return (long long)json_integer_value(v);
}

/* Asserts every counter of the report, and the labels applied per kind. */
static void expect_report(fixture *fx, join_counts want, long long click, long long like,
                          long long share, long long dwell, long long conversion) {
    json_t *j = fx_report(fx);
    const struct {
        const char *key;
        long long want;
    } c[] = {
        {"views", want.views},
        {"duplicate_views", want.duplicate_views},
        {"reactions", want.reactions},
        {"duplicate_reactions", want.duplicate_reactions},
        {"unknown_view_reactions", want.unknown_view_reactions},
        {"late_reactions", want.late_reactions},
        {"early_reactions_applied", want.early_reactions_applied},
        {"examples", want.examples},
        {"pending", want.pending},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        if (num(j, c[i].key) != c[i].want)
            fail_msg("report: %s = %lld, want %lld", c[i].key, num(j, c[i].key), c[i].want);
    json_t *labels = json_object_get(j, "labels");
    assert_int_equal(num(labels, "click"), click);
    assert_int_equal(num(labels, "like"), like);
    assert_int_equal(num(labels, "share"), share);
    assert_int_equal(num(labels, "dwell_ms"), dwell);
    assert_int_equal(num(labels, "register"), 0);
    assert_int_equal(num(labels, "conversion"), conversion);
    json_decref(j);
}

/* The one example of vid (fails on none or several). The caller decrefs. */
static json_t *example_of(const fixture *fx, const char *vid) {
    json_t *found = NULL;
    const char *p = fx->examples.p, *end = p + fx->examples.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        json_error_t je;
        json_t *ex = json_loadb(p, (size_t)(nl - p), 0, &je);
        if (!ex)
            fail_msg("example is not JSON (%s): %.*s", je.text, (int)(nl - p), p);
        if (strcmp(json_string_value(json_object_get(ex, "view_id")), vid) == 0) {
            if (found)
                fail_msg("view %s has two examples", vid);
            found = ex;
        } else {
            json_decref(ex);
        }
        p = nl + 1;
    }
    if (!found)
        fail_msg("view %s has no example", vid);
    return found;
}

static double label_of(const fixture *fx, const char *vid, const char *label) {
    json_t *ex = example_of(fx, vid);
    json_t *v = json_object_get(json_object_get(ex, "labels"), label);
    if (!json_is_number(v))
        fail_msg("example %s: no label %s", vid, label);
    double x = json_number_value(v);
    json_decref(ex);
    return x;
}

/* All six labels of vid's example, exactly. */
static void expect_labels(const fixture *fx, const char *vid, double click, double like,
                          double share, double dwell_ms, double conversion) {
    const struct {
        const char *name;
        double want;
    } l[] = {{"click", click},       {"like", like},  {"share", share},
             {"dwell_ms", dwell_ms}, {"register", 0}, {"conversion", conversion}};
    for (size_t i = 0; i < sizeof l / sizeof l[0]; i++) {
        double got = label_of(fx, vid, l[i].name);
        if (got != l[i].want)
            fail_msg("example %s: %s = %g, want %g", vid, l[i].name, got, l[i].want);
    }
}

/* ---- 1. the window ------------------------------------------------------- */

static void test_click_inside_and_after_the_window(void **state) {
    (void)state;
    timeline *t = tl_new();
    tl_view(t, 0, "v1", "u1", "a1");
    tl_view(t, 1000, "v2", "u2", "a2");
    tl_view(t, 2000, "v3", "u3", "a3");
    tl_react(t, "click", 5000, "v1");            /* inside */
    tl_react(t, "click", 2000 + W, "v3");        /* exactly at ts + window: still inside */
    tl_react(t, "click", 1000 + W + 4000, "v2"); /* after the window, before its close */
    fixture fx;
    fx_open(&fx, "");
    fx_feed(&fx, t, 0, t->n, 1);
    /* Max event time 65 s: no window (deadline 70 s and later) has closed. */
    assert_int_equal(fx.n_scores, 3);
    assert_int_equal(fx.n_examples, 0);
    fx_finish(&fx);
    assert_int_equal(fx.n_examples, 3);
    expect_labels(&fx, "v1", 1, 0, 0, 0, 0);
    expect_labels(&fx, "v2", 0, 0, 0, 0, 0);
    expect_labels(&fx, "v3", 1, 0, 0, 0, 0);
    expect_report(&fx,
                  (join_counts){.views = 3, .reactions = 3, .late_reactions = 1, .examples = 3}, 2,
                  0, 0, 0, 0);
    fx_close(&fx);
    tl_free(t);
}

/* ---- 2. duplicates and every kind of reaction ----------------------------- */

static void test_duplicates_and_reaction_kinds(void **state) {
    (void)state;
    timeline *t = tl_new();
    tl_view(t, 0, "v1", "u1", "a1");
    tl_react(t, "click", 1000, "v1");
    tl_react(t, "click", 2000, "v1"); /* same view, same type: duplicate */
    tl_react(t, "like", 3000, "v1");
    tl_react(t, "share", 4000, "v1");
    tl_dwell(t, 5000, "v1", 1500);
    tl_dwell(t, 6000, "v1", 2500);   /* a second dwell is a duplicate, not added */
    tl_react(t, "like", 7000, "v1"); /* duplicate */
    tl_react(t, "conversion", 8000, "v1");
    tl_view(t, 100, "v2", "u1", "a2");
    tl_dwell(t, 9000, "v2", 0);   /* a zero dwell still counts as the dwell */
    tl_dwell(t, 9500, "v2", 800); /* ... so this one is a duplicate */
    fixture fx;
    fx_open(&fx, "");
    fx_feed(&fx, t, 0, t->n, 3);
    fx_finish(&fx);
    assert_int_equal(fx.n_scores, 2);
    assert_int_equal(fx.n_examples, 2);
    /* dwell_ms is the first dwell: op_join.c drops a repeated (view, dwell)
     * like any other repeated reaction. If dwells are ever summed, this
     * test must change with it (and so must docs/ARCHITECTURE.md). */
    expect_labels(&fx, "v1", 1, 1, 1, 1500, 1);
    expect_labels(&fx, "v2", 0, 0, 0, 0, 0);
    expect_report(
        &fx, (join_counts){.views = 2, .reactions = 10, .duplicate_reactions = 4, .examples = 2}, 1,
        1, 1, 2, 1);
    fx_close(&fx);
    tl_free(t);
}

/* ---- 3. reactions before their view --------------------------------------- */

static void test_reaction_before_its_view_and_unknown_view(void **state) {
    (void)state;
    timeline *t = tl_new();
    tl_react(t, "click", 10000, "v1"); /* v1 comes later, 2 s earlier in event time */
    tl_dwell(t, 10500, "v1", 700);
    tl_react(t, "click", 10600, "v1"); /* duplicate while still an orphan */
    tl_view(t, 8000, "v1", "u1", "a1");
    tl_react(t, "click", 11000, "v9");              /* v9 never comes in time */
    tl_react(t, "like", 11200, "v9");               /* two kinds: two unknown reactions */
    tl_tick(t, 11000 + L - 1);                      /* 1 ms short of the lateness */
    tl_tick(t, 11000 + L);                          /* the v9 orphan expires */
    tl_view(t, 11000 + L + 5000, "v9", "u2", "a2"); /* too late for its click */
    fixture fx;
    fx_open(&fx, "");
    fx_feed(&fx, t, 0, 7, 1);
    expect_report(&fx,
                  (join_counts){.views = 1,
                                .reactions = 5,
                                .duplicate_reactions = 1,
                                .early_reactions_applied = 2,
                                .pending = 1 /* v1; the v9 orphan is no view */},
                  1, 0, 0, 1, 0);
    fx_feed(&fx, t, 7, 8, 1);
    json_t *j = fx_report(&fx);
    assert_int_equal(num(j, "unknown_view_reactions"), 2);
    json_decref(j);
    fx_feed(&fx, t, 8, t->n, 1);
    assert_int_equal(fx.n_examples, 0);
    fx_finish(&fx);
    assert_int_equal(fx.n_examples, 2);
    expect_labels(&fx, "v1", 1, 0, 0, 700, 0);
    expect_labels(&fx, "v9", 0, 0, 0, 0, 0);
    expect_report(&fx,
                  (join_counts){.views = 2,
                                .reactions = 5,
                                .duplicate_reactions = 1,
                                .unknown_view_reactions = 2,
                                .early_reactions_applied = 2,
                                .examples = 2},
                  1, 0, 0, 1, 0);
    fx_close(&fx);
    tl_free(t);
}

/* ---- 4. a repeated view --------------------------------------------------- */

/* The example JSON of vid with its view_id blanked, to compare features. */
static char *features_of(const fixture *fx, const char *vid) {
    json_t *ex = example_of(fx, vid);
    json_t *keep = json_object();
    const char *keys[] = {"idx", "val", "field", "dense", "predictions"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        json_object_set(keep, keys[i], json_object_get(ex, keys[i]));
    char *s = json_dumps(keep, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(keep);
    json_decref(ex);
    return s;
}

/* A reaction that beats its view reaches the features at its own time: a
 * later view reads the same aggregates whichever arrived first. */
static void test_early_reaction_reaches_the_features(void **state) {
    (void)state;
    timeline *late = tl_new(); /* the click arrives after its view */
    tl_view(late, 8000, "v1", "u1", "a1");
    tl_react(late, "click", 10000, "v1");
    tl_view(late, 12000, "v2", "u1", "a1");
    timeline *early = tl_new(); /* the click arrives first */
    tl_react(early, "click", 10000, "v1");
    tl_view(early, 8000, "v1", "u1", "a1");
    tl_view(early, 12000, "v2", "u1", "a1");
    fixture fl, fe;
    fx_open(&fl, "");
    fx_feed(&fl, late, 0, late->n, 1);
    fx_finish(&fl);
    fx_open(&fe, "");
    fx_feed(&fe, early, 0, early->n, 1);
    fx_finish(&fe);
    expect_labels(&fe, "v1", 1, 0, 0, 0, 0);
    char *a = features_of(&fl, "v2"), *b = features_of(&fe, "v2");
    assert_string_equal(a, b);
    free(a);
    free(b);
    fx_close(&fl);
    fx_close(&fe);
    tl_free(late);
    tl_free(early);
}

static void test_repeated_view(void **state) {
    (void)state;
    /* With the repeat ... */
    timeline *t = tl_new();
    tl_view(t, 0, "v1", "u1", "a1");
    tl_view(t, 1000, "v1", "u1", "a9"); /* same view_id while pending: dropped */
    tl_react(t, "click", 2000, "v1");
    tl_view(t, 3000, "v2", "u1", "a1"); /* reads the features v1 left */
    /* ... and without it. */
    timeline *ref = tl_new();
    tl_view(ref, 0, "v1", "u1", "a1");
    tl_react(ref, "click", 2000, "v1");
    tl_view(ref, 3000, "v2", "u1", "a1");

    fixture fx, fr;
    fx_open(&fx, "");
    fx_feed(&fx, t, 0, t->n, 2);
    fx_finish(&fx);
    fx_open(&fr, "");
    fx_feed(&fr, ref, 0, ref->n, 2);
    fx_finish(&fr);

    assert_int_equal(fx.n_scores, 2);
    assert_int_equal(fx.n_examples, 2);
    expect_labels(&fx, "v1", 1, 0, 0, 0, 0);
    json_t *ex = example_of(&fx, "v1");
    assert_string_equal(json_string_value(json_object_get(ex, "item")), "a1"); /* the first wins */
    json_decref(ex);
    expect_report(&fx,
                  (join_counts){.views = 2, .duplicate_views = 1, .reactions = 1, .examples = 2}, 1,
                  0, 0, 0, 0);
    /* The repeat changed no feature: v2 reads the same state either way, and
     * every output is the run without the repeat. */
    char *a = features_of(&fx, "v2"), *b = features_of(&fr, "v2");
    assert_string_equal(a, b);
    free(a);
    free(b);
    assert_int_equal(fx.scores.len, fr.scores.len);
    assert_memory_equal(fx.scores.p, fr.scores.p, fr.scores.len);
    assert_int_equal(fx.examples.len, fr.examples.len);
    assert_memory_equal(fx.examples.p, fr.examples.p, fr.examples.len);
    fx_close(&fx);
    fx_close(&fr);
    tl_free(t);
    tl_free(ref);
}

/* ---- 5. windows close on event time ---------------------------------------- */

static void test_windows_close_on_event_time(void **state) {
    (void)state;
    timeline *t = tl_new();
    tl_view(t, 0, "v1", "u1", "a1"); /* deadline W + L = 70 s */
    for (int i = 0; i < 50; i++)     /* many arrivals, old times */
        tl_tick(t, 1000 + i);
    tl_tick(t, W + L - 1); /* 1 ms short */
    tl_tick(t, 30000);     /* arrives later, earlier in time */
    uint32_t closing = t->n;
    tl_tick(t, W + L);                           /* the deadline: v1 closes */
    tl_view(t, W + L + 10000, "v2", "u1", "a1"); /* deadline 150 s: never reached */
    tl_tick(t, 100000);

    fixture fx;
    fx_open(&fx, "");
    fx_feed(&fx, t, 0, closing, 1);
    assert_int_equal(fx.n_examples, 0);
    /* The closing event's own batch carries the example, attributed to it. */
    fx_feed(&fx, t, closing, closing + 1, 1);
    assert_int_equal(fx.n_examples, 1);
    assert_int_equal(fx.b.out[OP_CHANNEL_EXAMPLES].n, 1);
    assert_int_equal(fx.b.out[OP_CHANNEL_EXAMPLES].recs[0].src, 0);
    json_t *ex = example_of(&fx, "v1");
    assert_int_equal(json_integer_value(json_object_get(ex, "ts")), T0);
    json_decref(ex);
    fx_feed(&fx, t, closing + 1, t->n, 1);
    assert_int_equal(fx.n_examples, 1);
    json_t *j = fx_report(&fx);
    assert_int_equal(num(j, "pending"), 1);
    json_decref(j);
    fx_finish(&fx);
    assert_int_equal(fx.n_examples, 2);
    expect_labels(&fx, "v2", 0, 0, 0, 0, 0);
    expect_report(&fx, (join_counts){.views = 2, .examples = 2}, 0, 0, 0, 0, 0);
    fx_close(&fx);
    tl_free(t);
}

/* ---- 6, 7. a generated timeline -------------------------------------------- */

#define GEN_EVENTS 2000

typedef struct gen_ev {
    int64_t arrival; /* when it reaches the engine (sort key) */
    uint32_t seq;    /* generation order: the tie-break */
    uint32_t off;    /* its line in the scratch timeline */
    uint32_t len;
} gen_ev;

static int gen_cmp(const void *a, const void *b) {
    const gen_ev *x = a, *y = b;
    if (x->arrival != y->arrival)
        return x->arrival < y->arrival ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Views every ~1.5 s on ads and feed; per view, with fixed odds: clicks
 * (some after the window), duplicate clicks, likes, shares, dwells (some
 * twice), conversions, repeated views, reactions for views that never come.
 * Every event arrives up to 8 s off its event time, so reactions beat their
 * views and views come out of order, within the lateness.
 */
static timeline *gen_timeline(uint64_t seed) {
    gen_ev *ev = calloc(TL_MAX_EVENTS, sizeof *ev);
    assert_non_null(ev);
    timeline *raw = tl_new();
    sl_rand r;
    sl_rand_seed(&r, seed);
    uint32_t n = 0;
#define GEN_PUSH(ts_)                                                                              \
    do {                                                                                           \
        ev[n] = (gen_ev){(ts_) + (int64_t)sl_rand_below(&r, 16000) - 8000, n,                      \
                         raw->off[raw->n - 1], raw->len[raw->n - 1]};                              \
        n++;                                                                                       \
    } while (0)
    for (int v = 0; n < GEN_EVENTS + 16; v++) {
        int64_t ts = T0 + (int64_t)v * 1500 + (int64_t)sl_rand_below(&r, 1000);
        const char *surface = v % 3 ? "ads" : "feed";
        char vid[32];
        snprintf(vid, sizeof vid, "v%d", v);
        unsigned user = (unsigned)sl_rand_below(&r, 20), item = (unsigned)sl_rand_below(&r, 30);
        tl_add(raw,
               "{\"type\":\"view\",\"ts\":%lld,\"user\":\"u%u\",\"surface\":\"%s\","
               "\"item\":\"a%u\",\"view_id\":\"%s\",\"ctx\":{\"device\":\"%s\"}}",
               (long long)ts, user, surface, item, vid, sl_rand_below(&r, 2) ? "ios" : "web");
        GEN_PUSH(ts);
        if (sl_rand_bernoulli(&r, 0.03)) { /* the same message delivered twice */
            ev[n] = ev[n - 1];
            ev[n].arrival += (int64_t)sl_rand_below(&r, 5000);
            ev[n].seq = n;
            n++;
        }
        static const struct {
            const char *type;
            double p;
        } kinds[] = {{"click", 0.4}, {"like", 0.15}, {"share", 0.05}, {"conversion", 0.05}};
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            if (!sl_rand_bernoulli(&r, kinds[k].p))
                continue;
            int copies = sl_rand_bernoulli(&r, 0.1) ? 2 : 1;
            for (int c = 0; c < copies; c++) {
                int64_t rts = ts + (int64_t)sl_rand_below(&r, 80000); /* some late */
                tl_add(raw, "{\"type\":\"%s\",\"ts\":%lld,\"user\":\"u%u\",\"view_id\":\"%s\"}",
                       kinds[k].type, (long long)rts, user, vid);
                GEN_PUSH(rts);
            }
        }
        if (sl_rand_bernoulli(&r, 0.3)) {
            int copies = sl_rand_bernoulli(&r, 0.2) ? 2 : 1;
            for (int c = 0; c < copies; c++) {
                int64_t rts = ts + (int64_t)sl_rand_below(&r, 60000);
                tl_add(raw,
                       "{\"type\":\"dwell\",\"ts\":%lld,\"user\":\"u%u\",\"view_id\":\"%s\","
                       "\"dwell_ms\":%.1f}",
                       (long long)rts, user, vid, (double)sl_rand_below(&r, 300000) / 10.0);
                GEN_PUSH(rts);
            }
        }
        if (sl_rand_bernoulli(&r, 0.02)) {
            tl_add(raw, "{\"type\":\"click\",\"ts\":%lld,\"user\":\"u%u\",\"view_id\":\"x%s\"}",
                   (long long)ts, user, vid);
            GEN_PUSH(ts);
        }
    }
#undef GEN_PUSH
    qsort(ev, n, sizeof ev[0], gen_cmp);
    timeline *t = tl_new();
    for (uint32_t i = 0; i < GEN_EVENTS; i++)
        tl_add(t, "%.*s", (int)ev[i].len, raw->pool + ev[i].off);
    tl_free(raw);
    free(ev);
    return t;
}

/* A reference run: the whole timeline in batches of `batch`. */
static void run_whole(fixture *fx, const timeline *t, uint32_t batch) {
    fx_open(fx, "");
    fx_feed(fx, t, 0, t->n, batch);
    fx_finish(fx);
}

static void expect_same_outputs(const fixture *a, const fixture *b, const char *what) {
    if (a->scores.len != b->scores.len || memcmp(a->scores.p, b->scores.p, a->scores.len))
        fail_msg("%s: scores differ (%u vs %u records)", what, a->n_scores, b->n_scores);
    if (a->examples.len != b->examples.len || memcmp(a->examples.p, b->examples.p, a->examples.len))
        fail_msg("%s: examples differ (%u vs %u records)", what, a->n_examples, b->n_examples);
}

static void test_batching_independence(void **state) {
    (void)state;
    timeline *t = gen_timeline(42);
    assert_int_equal(t->n, GEN_EVENTS);
    static const uint32_t sizes[] = {1, 7, 64, GEN_EVENTS};
    fixture ref;
    run_whole(&ref, t, sizes[0]);
    /* The timeline exercises every path it is meant to. */
    json_t *j = fx_report(&ref);
    assert_true(num(j, "views") > 500);
    assert_true(num(j, "duplicate_views") > 0);
    assert_true(num(j, "duplicate_reactions") > 0);
    assert_true(num(j, "late_reactions") > 0);
    assert_true(num(j, "early_reactions_applied") > 0);
    assert_true(num(j, "unknown_view_reactions") > 0);
    assert_int_equal(num(j, "examples"), num(j, "views"));
    assert_int_equal(num(j, "pending"), 0);
    assert_int_equal(ref.n_scores, (uint32_t)num(j, "views"));
    assert_int_equal(ref.n_examples, (uint32_t)num(j, "views"));
    char *ref_report = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    for (size_t s = 1; s < sizeof sizes / sizeof sizes[0]; s++) {
        fixture fx;
        run_whole(&fx, t, sizes[s]);
        char what[32];
        snprintf(what, sizeof what, "batches of %u", sizes[s]);
        expect_same_outputs(&ref, &fx, what);
        j = fx_report(&fx);
        char *rep = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
        assert_string_equal(rep, ref_report);
        free(rep);
        json_decref(j);
        fx_close(&fx);
    }
    free(ref_report);
    fx_close(&ref);
    tl_free(t);
}

static void test_checkpoint_in_the_middle(void **state) {
    (void)state;
    timeline *t = gen_timeline(7);
    fixture ref;
    run_whole(&ref, t, 64);

    char dir[512];
    assert_true(test_tmpdir(dir, sizeof dir, "sl_join"));
    sl_err err = {{0}};
    fixture fx;
    fx_open(&fx, dir);
    uint32_t half = GEN_EVENTS / 2 + 3; /* not on a batch boundary of the reference */
    fx_feed(&fx, t, 0, half, 64);
    if (op_graph_checkpoint(fx.g, &err) || state_store_checkpoint(fx.st, NULL, 0, NULL, &err))
        fail_msg("checkpoint: %s", err.msg);
    size_t scores_at = fx.scores.len, examples_at = fx.examples.len;
    uint32_t n_scores_at = fx.n_scores, n_examples_at = fx.n_examples;

    /* A crash: more input, then the process dies without a checkpoint. Its
     * outputs go (replay cuts its files back to the checkpoint) and so must
     * its state. */
    fx_feed(&fx, t, half, half + 400, 64);
    fx_stop(&fx);
    fx.scores.len = scores_at;
    fx.examples.len = examples_at;
    fx.n_scores = n_scores_at;
    fx.n_examples = n_examples_at;

    /* Restart on the checkpoint, in batches cut differently. */
    fx_start(&fx, dir);
    fx_feed(&fx, t, half, t->n, 50);
    fx_finish(&fx);
    expect_same_outputs(&ref, &fx, "checkpoint + restart");
    json_t *j = fx_report(&fx);
    assert_int_equal(num(j, "pending"), 0);
    json_decref(j);
    fx_close(&fx);
    test_rm_rf(dir);
    fx_close(&ref);
    tl_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_click_inside_and_after_the_window),
        cmocka_unit_test(test_duplicates_and_reaction_kinds),
        cmocka_unit_test(test_reaction_before_its_view_and_unknown_view),
        cmocka_unit_test(test_repeated_view),
        cmocka_unit_test(test_early_reaction_reaches_the_features),
        cmocka_unit_test(test_windows_close_on_event_time),
        cmocka_unit_test(test_batching_independence),
        cmocka_unit_test(test_checkpoint_in_the_middle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
