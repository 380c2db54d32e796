/*
 * test_gen.c — the simulated world: deterministic per seed, every event type
 * on every surface, every good line accepted and every bad line refused with
 * its reason by the real parser, exactly N lines, one truth line per view,
 * a fatigue effect that shows in the emitted clicks and matches the decayed
 * exposure a streaming engine would compute from the stream, true
 * probabilities that agree with the realized outcomes, and late / duplicate
 * lines at about their rates. Also sl_rand (core/sl_rand.h), whose first user
 * the generator is.
 *
 * Everything is checked from the written bytes (parsed with sl_event_parse)
 * wherever possible, not from the generator's own counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "gen_world.h"
#include "sl_event.h"
#include "sl_rand.h"

/* ---- helpers ------------------------------------------------------------- */

typedef struct run {
    sl_buf out;      /* every line, '\n'-terminated */
    sl_buf truth;    /* every truth line */
    gen_line *lines; /* (n) what each line was */
    size_t n;        /* lines */
    gen_stats st;    /* the world's counters at the end */
} run;

static void run_gen(run *r, const gen_opts *o, size_t n) {
    memset(r, 0, sizeof *r);
    sl_buf_init(&r->out, (size_t)1 << 30);
    sl_buf_init(&r->truth, (size_t)1 << 30);
    r->lines = calloc(n ? n : 1, sizeof *r->lines);
    assert_non_null(r->lines);
    gen_world *w = NULL;
    sl_err err = {{0}};
    assert_int_equal(gen_world_create(o, &w, &err), SL_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(gen_world_next(w, &r->out, &r->truth, &r->lines[i], &err), SL_OK);
    r->n = n;
    gen_world_stats(w, &r->st);
    gen_world_destroy(w);
}

static void run_free(run *r) {
    sl_buf_deinit(&r->out);
    sl_buf_deinit(&r->truth);
    free(r->lines);
}

static gen_opts opts_for(uint64_t seed, uint64_t events) {
    gen_opts o;
    gen_opts_init(&o);
    o.seed = seed;
    o.events = events;
    return o;
}

static size_t count_newlines(const char *p, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i] == '\n';
    return k;
}

/* The number after an id's prefix letter(s): "v123" -> 123. */
static uint64_t id_num(sl_str s, size_t prefix) {
    assert_true(s.n > prefix);
    uint64_t v = 0;
    for (uint32_t i = (uint32_t)prefix; i < s.n; i++) {
        assert_true(s.p[i] >= '0' && s.p[i] <= '9');
        v = v * 10 + (uint64_t)(s.p[i] - '0');
    }
    return v;
}

static const sl_kv *kv_get(const sl_event *ev, const char *key) {
    for (uint32_t i = 0; i < ev->n_kv; i++)
        if (sl_str_eq(ev->kv[i].key, key, strlen(key)))
            return &ev->kv[i];
    return NULL;
}

/* A number field of a truth line ("p_click": 0.1); NAN when absent. */
static double truth_num(const char *line, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

/* The view number of a truth line, or -1 for a rank request's. */
static int64_t truth_view(const char *line) {
    const char *p = strstr(line, "\"view_id\":\"v");
    return p ? (int64_t)strtoull(p + 12, NULL, 10) : -1;
}

/* Parses every good line of a run, asserting it is accepted; calls fn. */
typedef void (*line_fn)(void *ctx, size_t i, const sl_event *ev, const gen_line *l);

static void parse_all(const run *r, line_fn fn, void *ctx) {
    sl_arena arena;
    sl_arena_init(&arena, 1 << 16, 1 << 24);
    for (size_t i = 0; i < r->n; i++) {
        const gen_line *l = &r->lines[i];
        if (l->bad)
            continue;
        sl_event ev;
        sl_event_error err;
        bool ok = sl_event_parse(r->out.p + l->off, l->len, &arena, NULL, &ev, &err);
        if (!ok)
            fail_msg("line %zu refused (%s: %s): %.*s", i, sl_reason_str(err.reason), err.detail,
                     (int)l->len, r->out.p + l->off);
        assert_int_equal(ev.type, l->type);
        assert_int_equal(ev.ts, l->ts);
        if (fn)
            fn(ctx, i, &ev, l);
        sl_arena_reset(&arena);
    }
    sl_arena_deinit(&arena);
}

/* ---- sl_rand ------------------------------------------------------------- */

static void test_rand(void **state) {
    (void)state;
    /* Known answers: splitmix64 seeding + xoshiro256**, seed 0 (computed
     * independently from the reference algorithms). */
    sl_rand r;
    sl_rand_seed(&r, 0);
    assert_true(sl_rand_u64(&r) == UINT64_C(0x99ec5f36cb75f2b4));
    assert_true(sl_rand_u64(&r) == UINT64_C(0xbf6e1f784956452a));
    assert_true(sl_rand_u64(&r) == UINT64_C(0x1a5f849d4933e6e0));

    sl_rand a, b;
    sl_rand_seed(&a, 42);
    sl_rand_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        assert_true(sl_rand_u64(&a) == sl_rand_u64(&b));
    sl_rand_seed(&b, 43);
    assert_true(sl_rand_u64(&a) != sl_rand_u64(&b));

    enum { N = 200000 };
    double sum = 0, sum2 = 0, esum = 0, usum = 0;
    unsigned hist[7] = {0};
    for (int i = 0; i < N; i++) {
        double u = sl_rand_double(&a);
        assert_true(u >= 0.0 && u < 1.0);
        usum += u;
        double z = sl_rand_normal(&a);
        sum += z;
        sum2 += z * z;
        esum += sl_rand_exp(&a, 3.0);
        uint64_t k = sl_rand_below(&a, 7);
        assert_true(k < 7);
        hist[k]++;
    }
    assert_true(fabs(usum / N - 0.5) < 0.005);
    assert_true(fabs(sum / N) < 0.01);
    assert_true(fabs(sum2 / N - 1.0) < 0.02);
    assert_true(fabs(esum / N - 3.0) < 0.05);
    for (int k = 0; k < 7; k++)
        assert_true(fabs(hist[k] / (double)N - 1.0 / 7) < 0.005);

    /* A split child does not depend on the parent's later use; jump changes
     * the stream. */
    sl_rand p1, p2, c1, c2;
    sl_rand_seed(&p1, 9);
    sl_rand_seed(&p2, 9);
    sl_rand_split(&p1, &c1);
    sl_rand_split(&p2, &c2);
    sl_rand_u64(&p1);
    assert_true(sl_rand_u64(&c1) == sl_rand_u64(&c2));
    sl_rand j = c1;
    sl_rand_jump(&j);
    assert_true(sl_rand_u64(&j) != sl_rand_u64(&c1));
}

/* ---- determinism --------------------------------------------------------- */

static void test_deterministic(void **state) {
    (void)state;
    gen_opts o = opts_for(7, 20000);
    o.bad_rate = 0.01;
    run a, b, c;
    run_gen(&a, &o, 20000);
    run_gen(&b, &o, 20000);
    assert_int_equal(a.out.len, b.out.len);
    assert_memory_equal(a.out.p, b.out.p, a.out.len);
    assert_int_equal(a.truth.len, b.truth.len);
    assert_memory_equal(a.truth.p, b.truth.p, a.truth.len);

    /* The batch size used to pull lines does not matter. */
    gen_world *w;
    sl_err err;
    assert_int_equal(gen_world_create(&o, &w, &err), SL_OK);
    sl_buf out, truth;
    sl_buf_init(&out, (size_t)1 << 30);
    sl_buf_init(&truth, (size_t)1 << 30);
    uint64_t left = 20000, k;
    size_t batch = 1;
    while (left) {
        assert_int_equal(gen_world_fill(w, &out, &truth, left, out.len + batch, &k, &err), SL_OK);
        assert_true(k >= 1);
        left -= k;
        batch = batch * 3 + 7;
    }
    assert_int_equal(out.len, a.out.len);
    assert_memory_equal(out.p, a.out.p, out.len);
    assert_memory_equal(truth.p, a.truth.p, truth.len);
    sl_buf_deinit(&out);
    sl_buf_deinit(&truth);
    gen_world_destroy(w);

    /* Another seed, another world. */
    o.seed = 8;
    run_gen(&c, &o, 20000);
    assert_true(c.out.len != a.out.len || memcmp(c.out.p, a.out.p, a.out.len) != 0);
    run_free(&a);
    run_free(&b);
    run_free(&c);
}

/* ---- coverage: every type on every surface, every line valid ------------- */

typedef struct coverage {
    sl_surface *view_surface; /* (max views) by view number; NONE = not seen */
    size_t max_views;         /* capacity */
    unsigned seen[SL_EVENT_TYPE_COUNT][SL_SURFACE_COUNT + 1]; /* [type][surface or NONE] */
    unsigned profiles[SL_SURFACE_COUNT + 1];                  /* items per surface; users at NONE */
} coverage;

static void cover_line(void *ctx, size_t i, const sl_event *ev, const gen_line *l) {
    (void)i;
    coverage *c = ctx;
    sl_surface s = SL_SURFACE_NONE;
    switch (ev->type) {
    case SL_EVENT_VIEW: {
        uint64_t v = id_num(ev->view_id, 1);
        assert_true(v < c->max_views);
        c->view_surface[v] = ev->surface;
        s = ev->surface;
        assert_non_null(kv_get(ev, "device"));
        assert_non_null(kv_get(ev, "hour"));
        assert_non_null(kv_get(ev, "position"));
        break;
    }
    case SL_EVENT_CLICK:
    case SL_EVENT_LIKE:
    case SL_EVENT_SHARE:
    case SL_EVENT_DWELL:
    case SL_EVENT_CONVERSION:
    case SL_EVENT_REGISTER: {
        /* The surface of a reaction is its view's, as the stream tells it. */
        uint64_t v = id_num(ev->view_id, 1);
        if (v < c->max_views)
            s = c->view_surface[v];
        break;
    }
    case SL_EVENT_RANK_REQUEST:
        s = ev->surface;
        assert_true(ev->n_candidates >= 10 && ev->n_candidates <= 30);
        break;
    case SL_EVENT_PROFILE:
        if (ev->entity == SL_ENTITY_USER) {
            assert_non_null(kv_get(ev, "age"));
            assert_non_null(kv_get(ev, "lat"));
            assert_non_null(kv_get(ev, "lon"));
            c->profiles[SL_SURFACE_NONE]++;
        } else {
            const sl_kv *sk = kv_get(ev, "surface");
            assert_non_null(sk);
            sl_surface is = sl_surface_parse(sk->s.p, sk->s.n);
            assert_true(is != SL_SURFACE_NONE);
            assert_non_null(kv_get(ev, "category"));
            if (is == SL_SURFACE_ADS)
                assert_non_null(kv_get(ev, "advertiser"));
            if (is == SL_SURFACE_EVENTS) {
                assert_non_null(kv_get(ev, "start_ts"));
                assert_non_null(kv_get(ev, "price"));
                assert_non_null(kv_get(ev, "lat"));
            }
            c->profiles[is]++;
        }
        break;
    default: break;
    }
    if (l->surface != SL_SURFACE_NONE && s != SL_SURFACE_NONE)
        assert_int_equal(l->surface, s);
    c->seen[ev->type][s]++;
}

static void test_coverage(void **state) {
    (void)state;
    enum { N = 20000 };
    gen_opts o = opts_for(1, N);
    run r;
    run_gen(&r, &o, N);
    assert_int_equal(count_newlines(r.out.p, r.out.len), N);
    assert_int_equal(r.st.lines, N);

    coverage c = {.max_views = 2 * N};
    c.view_surface = malloc(c.max_views * sizeof *c.view_surface);
    for (size_t i = 0; i < c.max_views; i++)
        c.view_surface[i] = SL_SURFACE_NONE;
    parse_all(&r, cover_line, &c);

    for (int s = 0; s < SL_SURFACE_COUNT; s++) {
        assert_true(c.seen[SL_EVENT_VIEW][s] > 100);
        assert_true(c.seen[SL_EVENT_CLICK][s] > 10);
        assert_true(c.profiles[s] > 0);
    }
    assert_true(c.profiles[SL_SURFACE_NONE] >= 1000);
    assert_true(c.seen[SL_EVENT_LIKE][SL_SURFACE_FEED] > 0);
    assert_true(c.seen[SL_EVENT_SHARE][SL_SURFACE_FEED] > 0);
    assert_true(c.seen[SL_EVENT_DWELL][SL_SURFACE_FEED] > 0);
    assert_true(c.seen[SL_EVENT_CONVERSION][SL_SURFACE_ADS] > 0);
    assert_true(c.seen[SL_EVENT_REGISTER][SL_SURFACE_EVENTS] > 0);
    assert_true(c.seen[SL_EVENT_RANK_REQUEST][SL_SURFACE_EVENTS] > 0);
    assert_true(c.seen[SL_EVENT_FRIEND][SL_SURFACE_NONE] > 1000);
    /* Reactions belong to the right surfaces only. */
    for (int s = 0; s < SL_SURFACE_COUNT; s++) {
        if (s != SL_SURFACE_FEED) {
            assert_int_equal(c.seen[SL_EVENT_LIKE][s], 0);
            assert_int_equal(c.seen[SL_EVENT_DWELL][s], 0);
        }
        if (s != SL_SURFACE_ADS)
            assert_int_equal(c.seen[SL_EVENT_CONVERSION][s], 0);
        if (s != SL_SURFACE_EVENTS)
            assert_int_equal(c.seen[SL_EVENT_REGISTER][s], 0);
    }
    free(c.view_surface);
    run_free(&r);

    /* One surface only: nothing of the others. */
    o.surfaces = 1u << SL_SURFACE_FEED;
    run_gen(&r, &o, 5000);
    assert_int_equal(r.st.views_by_surface[SL_SURFACE_ADS], 0);
    assert_int_equal(r.st.views_by_surface[SL_SURFACE_EVENTS], 0);
    assert_int_equal(r.st.by_type[SL_EVENT_RANK_REQUEST], 0);
    assert_true(r.st.views_by_surface[SL_SURFACE_FEED] > 0);
    run_free(&r);
}

/* ---- malformed lines ----------------------------------------------------- */

static void test_bad_lines(void **state) {
    (void)state;
    enum { N = 20000 };
    gen_opts o = opts_for(3, N);
    o.bad_rate = 0.1;
    run r, clean;
    run_gen(&r, &o, N);
    o.bad_rate = 0;
    run_gen(&clean, &o, N);
    assert_int_equal(count_newlines(r.out.p, r.out.len), N);

    sl_arena arena;
    sl_arena_init(&arena, 1 << 16, 1 << 24);
    unsigned kinds[GEN_BAD_COUNT] = {0};
    size_t bad = 0, good = 0;
    for (size_t i = 0; i < r.n; i++) {
        const gen_line *l = &r.lines[i];
        const char *p = r.out.p + l->off;
        sl_event ev;
        sl_event_error err;
        sl_event_parse_opts ref = {.reference_only = true};
        bool ok = sl_event_parse(p, l->len, &arena, NULL, &ev, &err);
        if (l->bad) {
            kinds[l->bad]++;
            bad++;
            if (ok)
                fail_msg("bad line %zu (%s) accepted: %.*s", i, gen_bad_str(l->bad),
                         (int)(l->len > 200 ? 200 : l->len), p);
            if (err.reason != gen_bad_reason(l->bad))
                fail_msg("bad line %zu (%s): want %s, got %s (%s)", i, gen_bad_str(l->bad),
                         sl_reason_str(gen_bad_reason(l->bad)), sl_reason_str(err.reason),
                         err.detail);
            /* The jansson reference agrees. */
            assert_false(sl_event_parse(p, l->len, &arena, &ref, &ev, &err));
            assert_int_equal(err.reason, gen_bad_reason(l->bad));
            assert_null(memchr(p, '\n', l->len));
        } else {
            if (!ok)
                fail_msg("good line %zu refused: %s", i, err.detail);
            /* The good lines are the clean run's, in order: --bad leaves
             * the simulation alone. */
            const gen_line *cl = &clean.lines[good];
            assert_int_equal(l->len, cl->len);
            assert_memory_equal(p, clean.out.p + cl->off, l->len);
            good++;
        }
        sl_arena_reset(&arena);
    }
    sl_arena_deinit(&arena);
    for (int k = 1; k < GEN_BAD_COUNT; k++)
        if (kinds[k] == 0)
            fail_msg("no bad line of kind %s", gen_bad_str((gen_bad)k));
    assert_true(bad > N * 0.08 && bad < N * 0.12);
    assert_int_equal(r.st.bad, bad);
    run_free(&r);
    run_free(&clean);
}

/* ---- truth --------------------------------------------------------------- */

typedef struct views_seen {
    uint8_t *seen;        /* (cap) view number written already */
    size_t cap;           /* capacity */
    int64_t *order;       /* (cap) distinct view numbers in order of first line */
    size_t n;             /* distinct views */
    size_t rank_requests; /* rank_request lines */
} views_seen;

static void see_view(void *ctx, size_t i, const sl_event *ev, const gen_line *l) {
    (void)i;
    (void)l;
    views_seen *v = ctx;
    if (ev->type == SL_EVENT_RANK_REQUEST)
        v->rank_requests++;
    if (ev->type != SL_EVENT_VIEW)
        return;
    uint64_t k = id_num(ev->view_id, 1);
    assert_true(k < v->cap);
    if (!v->seen[k]) {
        v->seen[k] = 1;
        v->order[v->n++] = (int64_t)k;
    }
}

static void test_truth(void **state) {
    (void)state;
    enum { N = 30000 };
    gen_opts o = opts_for(5, N);
    run r;
    run_gen(&r, &o, N);
    views_seen v = {.cap = 2 * N};
    v.seen = calloc(v.cap, 1);
    v.order = malloc(v.cap * sizeof *v.order);
    parse_all(&r, see_view, &v);

    /* One truth line per distinct view, in the order views were written,
     * plus one per rank request. */
    size_t nv = 0, nr = 0;
    char *line = r.truth.p;
    while (line < r.truth.p + r.truth.len) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        int64_t k = truth_view(line);
        double pc = truth_num(line, "p_click");
        if (k >= 0) {
            assert_true(nv < v.n);
            assert_int_equal(k, v.order[nv]);
            nv++;
            assert_true(pc > 0 && pc < 1);
            if (strstr(line, "\"surface\":\"ads\"")) {
                double pv = truth_num(line, "p_conversion");
                assert_true(pv > 0 && pv < 1 && truth_num(line, "exposure") >= 0);
            } else if (strstr(line, "\"surface\":\"feed\"")) {
                double pl = truth_num(line, "p_like"), ps = truth_num(line, "p_share");
                assert_true(pl > 0 && pl <= pc && ps > 0 && ps <= pc);
                assert_true(truth_num(line, "dwell_mean_ms") > 0);
            } else {
                double pg = truth_num(line, "p_register");
                assert_true(pg >= 0 && pg <= pc);
            }
        } else {
            assert_non_null(strstr(line, "\"request_id\":\"r"));
            assert_non_null(strstr(line, "\"p_register\":["));
            nr++;
        }
        line = nl + 1;
    }
    assert_int_equal(nv, v.n);
    assert_int_equal(nr, v.rank_requests);
    assert_int_equal(r.st.truth_lines, nv + nr);
    free(v.seen);
    free(v.order);
    run_free(&r);
}

/* ---- fatigue ------------------------------------------------------------- */

typedef struct ad_view {
    int64_t ts;    /* view time */
    uint64_t view; /* view number */
    uint32_t user; /* user number */
    uint32_t ad;   /* ad number */
} ad_view;

typedef struct fatigue_ctx {
    ad_view *views;    /* (cap) distinct ad views */
    size_t n, cap;     /* used, capacity */
    uint8_t *seen;     /* (max_view) view written */
    uint8_t *clicked;  /* (max_view) view clicked */
    size_t max_view;   /* capacity of seen / clicked */
    uint32_t max_user; /* largest user number + 1 */
    uint32_t max_ad;   /* largest ad number + 1 */
} fatigue_ctx;

static void fatigue_line(void *ctx, size_t i, const sl_event *ev, const gen_line *l) {
    (void)i;
    (void)l;
    fatigue_ctx *f = ctx;
    if (ev->type == SL_EVENT_CLICK) {
        uint64_t k = id_num(ev->view_id, 1);
        assert_true(k < f->max_view);
        f->clicked[k] = 1;
        return;
    }
    if (ev->type != SL_EVENT_VIEW)
        return;
    assert_int_equal(ev->surface, SL_SURFACE_ADS);
    uint64_t k = id_num(ev->view_id, 1);
    assert_true(k < f->max_view);
    if (f->seen[k])
        return; /* a duplicate */
    f->seen[k] = 1;
    assert_true(f->n < f->cap);
    ad_view *a = &f->views[f->n++];
    a->ts = ev->ts;
    a->view = k;
    a->user = (uint32_t)id_num(ev->user, 1);
    a->ad = (uint32_t)id_num(ev->item, 1);
    if (a->user + 1 > f->max_user)
        f->max_user = a->user + 1;
    if (a->ad + 1 > f->max_ad)
        f->max_ad = a->ad + 1;
}

static int cmp_ad_view(const void *x, const void *y) {
    const ad_view *a = x, *b = y;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return a->view < b->view ? -1 : a->view > b->view;
}

static void test_fatigue(void **state) {
    (void)state;
    enum { N = 300000 };
    gen_opts o = opts_for(11, N);
    o.surfaces = 1u << SL_SURFACE_ADS;
    o.lost_rate = 0; /* every view the world saw is in the stream */
    run r;
    run_gen(&r, &o, N);

    fatigue_ctx f = {.cap = N, .max_view = 2 * (size_t)N};
    f.views = malloc(f.cap * sizeof *f.views);
    f.seen = calloc(f.max_view, 1);
    f.clicked = calloc(f.max_view, 1);
    parse_all(&r, fatigue_line, &f);

    /* The truth's exposure of each view, by view number. */
    double *truth_exp = malloc(f.max_view * sizeof *truth_exp);
    for (size_t i = 0; i < f.max_view; i++)
        truth_exp[i] = NAN;
    for (char *line = r.truth.p; line < r.truth.p + r.truth.len;) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        int64_t k = truth_view(line);
        assert_true(k >= 0 && (size_t)k < f.max_view);
        truth_exp[k] = truth_num(line, "exposure");
        line = nl + 1;
    }

    /* Recompute, from the stream alone, each user's decayed count of earlier
     * views of the same ad (half-life 1 h, DESIGN §4), in event-time order. */
    qsort(f.views, f.n, sizeof *f.views, cmp_ad_view);
    size_t cells = (size_t)f.max_user * f.max_ad;
    double *val = calloc(cells, sizeof *val);
    int64_t *tl = calloc(cells, sizeof *tl);
    double clicks[4] = {0}, views[4] = {0};
    double worst = 0;
    for (size_t i = 0; i < f.n; i++) {
        const ad_view *a = &f.views[i];
        size_t c = (size_t)a->user * f.max_ad + a->ad;
        double e = tl[c] ? val[c] * exp2(-(double)(a->ts - tl[c]) / 3600000.0) : 0.0;
        val[c] = e + 1.0;
        tl[c] = a->ts;
        /* Views of the last minutes may have missed an earlier view still
         * held back (late) when the stream was cut. */
        double diff = fabs(e - truth_exp[a->view]);
        if (a->ts <= f.views[f.n - 1].ts - 6 * 60000 && diff > worst)
            worst = diff;
        int b = e < 0.5 ? 0 : e < 1.5 ? 1 : e < 3.0 ? 2 : 3;
        views[b]++;
        clicks[b] += f.clicked[a->view];
    }
    /* The truth's exposure is exactly what a streaming feature would hold
     * (up to the truth's 6 decimals). */
    assert_true(worst < 1e-5);
    double ctr[4];
    for (int b = 0; b < 4; b++) {
        assert_true(views[b] > 5000);
        ctr[b] = clicks[b] / views[b];
    }
    /* Fatigue: the emitted clicks fall with exposure. */
    assert_true(clicks[0] > 300);
    assert_true(ctr[1] < ctr[0]);
    assert_true(ctr[3] < 0.5 * ctr[0]);
    print_message("fatigue: CTR by decayed exposure <0.5 %.4f, <1.5 %.4f, <3 %.4f, >=3 %.4f\n",
                  ctr[0], ctr[1], ctr[2], ctr[3]);

    free(val);
    free(tl);
    free(truth_exp);
    free(f.views);
    free(f.seen);
    free(f.clicked);
    run_free(&r);
}

/* ---- the truth is the truth: calibration --------------------------------- */

typedef struct outcome {
    uint8_t surface;                        /* sl_surface + 1; 0 = not a view */
    uint8_t click, like, share, conversion; /* reactions seen */
    int64_t ts;                             /* view time */
} outcome;

typedef struct calib_ctx {
    outcome *o;     /* (cap) by view number */
    size_t cap;     /* capacity */
    int64_t max_ts; /* latest ts written */
} calib_ctx;

static void calib_line(void *ctx, size_t i, const sl_event *ev, const gen_line *l) {
    (void)i;
    (void)l;
    calib_ctx *c = ctx;
    if (ev->ts > c->max_ts)
        c->max_ts = ev->ts;
    if (!ev->view_id.p)
        return;
    uint64_t k = id_num(ev->view_id, 1);
    assert_true(k < c->cap);
    outcome *o = &c->o[k];
    switch (ev->type) {
    case SL_EVENT_VIEW:
        o->surface = (uint8_t)(ev->surface + 1);
        o->ts = ev->ts;
        break;
    case SL_EVENT_CLICK: o->click = 1; break;
    case SL_EVENT_LIKE: o->like = 1; break;
    case SL_EVENT_SHARE: o->share = 1; break;
    case SL_EVENT_CONVERSION: o->conversion = 1; break;
    default: break;
    }
}

static void check_calibrated(const char *what, double expected, double var, double observed) {
    double z = (observed - expected) / sqrt(var);
    print_message("calibration %-18s expected %9.1f observed %7.0f (z %+.2f)\n", what, expected,
                  observed, z);
    assert_true(fabs(z) < 4.5);
}

static void test_calibration(void **state) {
    (void)state;
    enum { N = 200000 };
    gen_opts o = opts_for(21, N);
    o.lost_rate = 0;
    run r;
    run_gen(&r, &o, N);
    calib_ctx c = {.cap = N};
    c.o = calloc(c.cap, sizeof *c.o);
    parse_all(&r, calib_line, &c);

    /* Only views whose reactions have certainly been written: clicks come
     * within 10 min, likes and shares within the dwell, conversions within
     * 1.5 h of the click, and late lines within 5 min more. */
    int64_t horizon_click = c.max_ts - 20 * 60000, horizon_conv = c.max_ts - 110 * 60000;
    double e[SL_SURFACE_COUNT] = {0}, v[SL_SURFACE_COUNT] = {0}, obs[SL_SURFACE_COUNT] = {0};
    double el = 0, vl = 0, ol = 0, es = 0, vs = 0, os = 0, ec = 0, vc = 0, oc = 0;
    for (char *line = r.truth.p; line < r.truth.p + r.truth.len;) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        int64_t k = truth_view(line);
        if (k >= 0) {
            const outcome *oc_ = &c.o[k];
            assert_true(oc_->surface != 0);
            int s = oc_->surface - 1;
            double pc = truth_num(line, "p_click");
            if (oc_->ts <= horizon_click) {
                e[s] += pc;
                v[s] += pc * (1 - pc);
                obs[s] += oc_->click;
                if (s == SL_SURFACE_FEED) {
                    double pl = truth_num(line, "p_like"), ps = truth_num(line, "p_share");
                    el += pl;
                    vl += pl * (1 - pl);
                    ol += oc_->like;
                    es += ps;
                    vs += ps * (1 - ps);
                    os += oc_->share;
                }
            }
            if (s == SL_SURFACE_ADS && oc_->click && oc_->ts <= horizon_conv) {
                double pv = truth_num(line, "p_conversion");
                ec += pv;
                vc += pv * (1 - pv);
                oc += oc_->conversion;
            }
        }
        line = nl + 1;
    }
    check_calibrated("ads click", e[0], v[0], obs[0]);
    check_calibrated("feed click", e[1], v[1], obs[1]);
    check_calibrated("events click", e[2], v[2], obs[2]);
    check_calibrated("feed like", el, vl, ol);
    check_calibrated("feed share", es, vs, os);
    check_calibrated("ads conversion|click", ec, vc, oc);
    free(c.o);
    run_free(&r);
}

/* ---- late and duplicate lines -------------------------------------------- */

static uint64_t fnv1a(const char *p, size_t n) {
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= UINT64_C(1099511628211);
    }
    return h | 1; /* never 0: 0 marks an empty slot */
}

static void test_late_and_dup(void **state) {
    (void)state;
    enum { N = 60000 };
    const double late = 0.03, dup = 0.02;
    gen_opts o = opts_for(13, N);
    o.late_rate = late;
    o.dup_rate = dup;
    run r;
    run_gen(&r, &o, N);

    /* From the bytes: a duplicate is a line equal to an earlier one; a late
     * line is a non-duplicate older than something written before it. */
    size_t cap = 1 << 18;
    uint64_t *hash = calloc(cap, sizeof *hash);
    size_t *where = calloc(cap, sizeof *where);
    size_t dups = 0, late_lines = 0, eligible = 0;
    int64_t max_ts = INT64_MIN;
    for (size_t i = 0; i < r.n; i++) {
        const gen_line *l = &r.lines[i];
        const char *p = r.out.p + l->off;
        uint64_t h = fnv1a(p, l->len);
        size_t j = h & (cap - 1);
        bool dup_line = false;
        while (hash[j]) {
            const gen_line *m = &r.lines[where[j]];
            if (hash[j] == h && m->len == l->len && !memcmp(r.out.p + m->off, p, l->len)) {
                dup_line = true;
                break;
            }
            j = (j + 1) & (cap - 1);
        }
        assert_int_equal(dup_line, l->dup);
        if (dup_line) {
            dups++;
            continue;
        }
        hash[j] = h;
        where[j] = i;
        bool reaction_or_view = l->type <= SL_EVENT_REGISTER;
        eligible += reaction_or_view;
        if (l->ts < max_ts) {
            /* Only held-back lines arrive out of order. */
            assert_true(l->late);
            late_lines++;
        }
        if (l->ts > max_ts)
            max_ts = l->ts;
    }
    double late_frac = (double)late_lines / (double)eligible;
    double dup_frac = (double)dups / (double)eligible;
    print_message("late %.4f (want %.3f), duplicate %.4f (want %.3f) of %zu views/reactions\n",
                  late_frac, late, dup_frac, dup, eligible);
    assert_true(fabs(late_frac - late) < 0.25 * late);
    assert_true(fabs(dup_frac - dup) < 0.25 * dup);
    assert_int_equal(dups, r.st.dup);
    free(hash);
    free(where);
    run_free(&r);

    /* With both rates at zero the stream is in event-time order. */
    o.late_rate = o.dup_rate = 0;
    run_gen(&r, &o, 20000);
    for (size_t i = 1; i < r.n; i++)
        assert_true(r.lines[i].ts >= r.lines[i - 1].ts);
    run_free(&r);
}

/* ---- options and errors -------------------------------------------------- */

static void test_options(void **state) {
    (void)state;
    gen_world *w = NULL;
    sl_err err;
    gen_opts o;

    gen_opts_init(&o);
    o.late_rate = 2;
    assert_int_equal(gen_world_create(&o, &w, &err), SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "late"));
    assert_null(w);

    gen_opts_init(&o);
    o.users = 3;
    assert_int_equal(gen_world_create(&o, &w, &err), SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "users"));

    gen_opts_init(&o);
    o.surfaces = 0;
    assert_int_equal(gen_world_create(&o, &w, &err), SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "surfaces"));

    gen_opts_init(&o);
    o.rate = -1;
    assert_int_equal(gen_world_create(&o, &w, &err), SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "rate"));

    gen_opts_init(&o);
    o.start_ts = 12345;
    assert_int_equal(gen_world_create(&o, &w, &err), SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "start-ts"));

    unsigned mask = 0;
    assert_int_equal(gen_surfaces_parse("events,ads", &mask, &err), SL_OK);
    assert_int_equal(mask, (1u << SL_SURFACE_EVENTS) | (1u << SL_SURFACE_ADS));
    assert_int_equal(gen_surfaces_parse("ads,tv", &mask, &err), SL_ERR_INVALID);
    assert_non_null(strstr(err.msg, "tv"));
    assert_int_equal(gen_surfaces_parse("feed,feed", &mask, &err), SL_ERR_INVALID);
    assert_int_equal(gen_surfaces_parse("", &mask, &err), SL_ERR_INVALID);

    /* A buffer that cannot hold the longest line is refused up front. */
    gen_opts_init(&o);
    o.events = 1000;
    assert_int_equal(gen_world_create(&o, &w, &err), SL_OK);
    sl_buf small;
    sl_buf_init(&small, 4096);
    assert_int_equal(gen_world_next(w, &small, NULL, NULL, &err), SL_ERR_LIMIT);
    assert_int_equal(small.len, 0);
    sl_buf_deinit(&small);
    gen_world_destroy(w);
    gen_world_destroy(NULL);

    /* Names and reasons of bad kinds are total. */
    for (int b = 0; b < GEN_BAD_COUNT; b++)
        assert_true(strlen(gen_bad_str((gen_bad)b)) > 0);
    assert_int_equal(gen_bad_reason(GEN_BAD_NONE), SL_REASON_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rand),        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_coverage),    cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_truth),       cmocka_unit_test(test_fatigue),
        cmocka_unit_test(test_calibration), cmocka_unit_test(test_late_and_dup),
        cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
