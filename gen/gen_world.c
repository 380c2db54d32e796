/*
 * gen_world.c — the simulated world behind `streamlearn gen`.
 *
 * Reading order: the model constants (the true model of docs/GENERATOR.md,
 * in one place), the world's tables, construction (users, items, friend
 * graph), the truth of a view per surface, the primary actions (views, rank
 * requests, profile updates), delivery (late, duplicate, lost) and the line
 * writers, then the public entry points.
 *
 * Time: one primary action arrives per exponential gap (mean 1000 / rate ms).
 * Everything a primary action causes later — reactions, held-back (late) and
 * duplicated lines, profile upserts — waits in a min-heap keyed by (emit_at,
 * seq). Before each primary action at time t every entry with emit_at <= t is
 * written, so the output is in event-time order except for the late and
 * duplicate lines. An entry's effects on the world (a click feeding an item's
 * trend, a registration its friends can see) happen when it first comes out
 * of the heap at its own ts, never at its (possibly later) write time.
 *
 * Randomness: four independent xoshiro streams split from the seed — world
 * (construction), sim (behaviour), imp (late/dup/lost) and bad (malformed
 * lines) — so changing --bad leaves every good line where it was, and
 * changing --late or --dup leaves the simulated behaviour unchanged.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

/* ---- the true model ------------------------------------------------------ */

#define GEN_K            4   /* latent dimension of users and items */
#define GEN_CITIES       8   /* cities users live in and events happen in */
#define GEN_CATS         12  /* item categories */
#define GEN_DEVICES      3   /* ios, android, web */
#define GEN_PAGES        4   /* events surface: home, search, category, friends */
#define GEN_PAGE_FRIENDS 3   /* the page of events friends registered for */
#define GEN_RECENT_REGS  2   /* registrations a user remembers for friends to see */
#define GEN_HOT          32  /* feed posts currently pushed by the "hot" slot */
#define GEN_HOT_GEN      8   /* hot posts replaced per rotation */
#define GEN_OWN          4   /* items in a user's own set per surface (retargeting) */
#define GEN_RING_K       3   /* friend ring: neighbours on each side */
#define GEN_REWIRE       0.1 /* friend ring: rewiring probability (small world) */

/* Milliseconds per second, minute, hour and day. */
#define MS_S   1000.0
#define MS_MIN 60000.0
#define MS_H   3600000.0
#define MS_D   86400000.0

/* Mix of primary actions (the rest are views). */
#define P_PROFILE_UPDATE 0.002 /* a user moves or an event changes price */
#define P_RANK_REQUEST   0.01  /* a rank request (events surface on) */
static const double surface_share[SL_SURFACE_COUNT] = {0.40, 0.45, 0.15}; /* ads, feed, events */

/* Shared by all surfaces. */
#define SD_USER_BIAS       0.4  /* user bias ~ N(0, sd) */
#define SD_ITEM_BIAS       0.4  /* item bias ~ N(0, sd) */
#define SD_USER_LATENT     0.5  /* user latent ~ N(0, sd) per dimension */
#define SD_CAT_LATENT      0.5  /* category centroid ~ N(0, sd) per dimension */
#define SD_ITEM_LATENT     0.3  /* item latent = centroid + N(0, sd) */
#define HOUR_AMP           0.25 /* amplitude of the local-hour cosine */
#define HOUR_PEAK          20.0 /* local hour of peak engagement */
#define P_PREFERRED_DEVICE 0.8  /* a view uses the user's preferred device */
static const double device_share[GEN_DEVICES] = {0.45, 0.40, 0.15};

/* Ads: click, fatigue, conversion. */
#define B_ADS        (-3.1) /* global click bias */
#define POS_ADS      0.35   /* logit lost per slot below the top */
#define G_FATIGUE    0.6    /* logit lost per log1p(decayed own views of the ad) */
#define HL_FATIGUE   MS_H   /* fatigue half-life */
#define B_CONV       (-2.7) /* conversion given click, global bias */
#define SD_CONV_BIAS 0.5    /* per-ad conversion bias */
#define CONV_DOT     0.5    /* conversion weight on user-item affinity */
static const double device_ads[GEN_DEVICES] = {0.15, 0.0, -0.25};

/* Feed: click, like, share, dwell, trending. */
#define B_FEED        (-2.9)        /* global click bias */
#define POS_FEED      0.3           /* logit lost per ln(position) */
#define FRIEND_CLICK  0.8           /* the author is a friend of the viewer */
#define B_TREND       0.2           /* logit gained per log1p(decayed item clicks) */
#define HL_TREND      (30 * MS_MIN) /* trend half-life */
#define B_LIKE        (-1.3)        /* like given click */
#define LIKE_DOT      0.8           /* like weight on affinity */
#define FRIEND_LIKE   0.6           /* like: author is a friend */
#define B_SHARE       (-3.0)        /* share given click */
#define SHARE_DOT     0.6           /* share weight on affinity */
#define FRIEND_SHARE  0.5           /* share: author is a friend */
#define SD_LIKE_BIAS  0.5           /* per-post like bias */
#define SD_SHARE_BIAS 0.5           /* per-post share bias */
#define DWELL_MEAN_MS 20000.0       /* mean dwell at zero affinity */
#define DWELL_DOT     0.5           /* ln(mean dwell) per unit of affinity */
#define DWELL_SIGMA   0.8           /* log-normal sigma of dwell */
#define DWELL_MAX_MS  3600000.0     /* dwell is capped at one hour */
static const double device_feed[GEN_DEVICES] = {0.1, 0.1, -0.2};

/* Events: click, registration. */
#define B_EV_CLICK  (-2.3)     /* global click bias */
#define POS_EV      0.3        /* logit lost per ln(position) */
#define B_REG       (0.2)      /* registration given click, global bias */
#define SD_REG_BIAS 0.4        /* per-event registration bias */
#define REG_DOT     0.5        /* registration weight on affinity */
#define REG_DIST    0.9        /* logit lost per ln(1 + km / 10) */
#define REG_TIME    0.35       /* logit lost per |ln((hours + 6) / 54)| */
#define REG_PRICE   0.8        /* logit lost per max(0, ln((price + 1) / (typical + 1))) */
#define REG_FRIENDS 1.0        /* logit gained per ln(1 + friends registered) */
#define EV_MIN_LEAD (2 * MS_H) /* events closer than this to their start are replaced */
static const double device_events[GEN_DEVICES] = {-0.1, 0.0, 0.25};
static const double page_events[GEN_PAGES] = {0.0, 0.4, 0.2, 0.3};

/* Delays. */
#define CLICK_MEDIAN_MS  4000.0 /* click delay: 1 s + log-normal(median, sigma 1) */
#define CLICK_MAX_MS     (10 * MS_MIN)
#define CONV_MEAN_MS     (5 * MS_MIN) /* conversion: 30 s + Exp(mean), max 1 h */
#define REG_FAST_SHARE   0.7          /* registrations that follow within minutes */
#define REG_FAST_MEAN_MS (90 * MS_S)
#define REG_SLOW_MEAN_MS (3 * MS_H)
#define LATE_MIN_MS      2000.0 /* held-back lines: log-uniform in [min, max] */
#define LATE_MAX_MS      (5 * MS_MIN)
#define DUP_MAX_MS       5000 /* duplicates follow within this */

static const struct gen_city {
    const char *name; /* written in profiles */
    double lat, lon;  /* centre */
    int tz_min;       /* UTC offset in January, minutes */
} gen_cities[GEN_CITIES] = {
    {"san_francisco", 37.7749, -122.4194, -480},
    {"new_york", 40.7128, -74.0060, -300},
    {"london", 51.5074, -0.1278, 0},
    {"berlin", 52.5200, 13.4050, 60},
    {"sao_paulo", -23.5505, -46.6333, -180},
    {"mumbai", 19.0760, 72.8777, 330},
    {"tokyo", 35.6762, 139.6503, 540},
    {"sydney", -33.8688, 151.2093, 660},
};
static const char *const gen_cats[GEN_CATS] = {"music",  "sports", "tech",     "food",
                                               "art",    "travel", "business", "health",
                                               "comedy", "film",   "fashion",  "games"};
static const char *const gen_devices[GEN_DEVICES] = {"ios", "android", "web"};
static const char *const gen_pages[GEN_PAGES] = {"home", "search", "category", "friends"};
static const char gen_item_prefix[SL_SURFACE_COUNT] = {'a', 'p', 'e'};

/* ---- the world's tables -------------------------------------------------- */

typedef struct gen_user {
    float x[GEN_K];                     /* latent taste */
    float bias;                         /* click propensity */
    float price;                        /* typical ticket price, USD */
    double lat, lon;                    /* home, rounded to 1e-5 degrees (as written) */
    uint32_t reg_slot[GEN_RECENT_REGS]; /* event slots of recent registrations */
    uint32_t reg_id[GEN_RECENT_REGS];   /* their event ids + 1 (0 = none) */
    uint8_t reg_next;                   /* ring position of the next registration */
    uint8_t age;                        /* years */
    uint8_t city;                       /* index into gen_cities */
    uint8_t device;                     /* preferred device */
} gen_user;

typedef struct gen_item {
    float y[GEN_K];  /* latent */
    float bias;      /* click bias */
    float bias2;     /* ads: conversion; feed: like (and dwell); events: registration */
    float bias3;     /* feed: share */
    uint32_t id;     /* number in the written id; events get a new one when replaced */
    uint32_t aux;    /* ads: advertiser; feed: author (user index) */
    uint8_t cat;     /* category */
    uint8_t city;    /* events: venue city */
    double lat, lon; /* events: venue, rounded to 1e-5 */
    double price;    /* events: USD, multiple of 0.5 (0 = free) */
    int64_t start;   /* events: start time, ms */
    uint32_t n_reg;  /* events: registrations so far (skip the friend scan at 0) */
    double trend_v;  /* feed: decayed click count ... */
    int64_t trend_t; /* ... as of this time */
} gen_item;

typedef struct gen_surf {
    gen_item *items; /* (n) item slots */
    uint32_t n;      /* slots (0 when the surface is off) */
    gen_alias pop;   /* popularity (Zipf over a random permutation) */
    bool on;         /* the surface is generated */
} gen_surf;

enum gen_phase {
    GEN_PHASE_USERS,   /* profile per user */
    GEN_PHASE_ADS,     /* profile per ad */
    GEN_PHASE_POSTS,   /* profile per post */
    GEN_PHASE_EVENTS,  /* profile per event */
    GEN_PHASE_FRIENDS, /* friend per edge */
    GEN_PHASE_RUN      /* the simulation proper */
};

struct gen_world {
    gen_opts opts;                     /* as given, defaults resolved */
    sl_rand rng_world;                 /* construction */
    sl_rand rng_sim;                   /* behaviour */
    sl_rand rng_imp;                   /* late / dup / lost decisions */
    sl_rand rng_bad;                   /* malformed lines */
    gen_user *users;                   /* (n_users) */
    uint32_t n_users;                  /* users */
    gen_alias user_act;                /* activity: who acts next */
    uint32_t *adj_off;                 /* (n_users + 1) CSR offsets of friends */
    uint32_t *adj;                     /* (2 * n_edges) friend lists */
    uint64_t n_edges;                  /* undirected friend edges */
    uint32_t *posts_off;               /* (n_users + 1) CSR offsets of posts by author */
    uint32_t *posts_by;                /* (n_posts) post slots grouped by author */
    gen_surf surf[SL_SURFACE_COUNT];   /* ads, feed, events */
    double surf_cum[SL_SURFACE_COUNT]; /* cumulative view share of the surfaces on */
    uint32_t n_adv;                    /* advertisers */
    float cat_vec[GEN_CATS][GEN_K];    /* category centroids of item latents */
    uint32_t hot[GEN_HOT];             /* hot post slots */
    unsigned hot_gen;                  /* next hot generation to replace */
    gen_heap heap;                     /* scheduled events */
    gen_map fatigue;                   /* (user, ad slot) -> decayed views */
    gen_map regs;                      /* (user, event id) -> registered; t = event start */
    uint64_t seq;                      /* heap tie-break counter */
    uint64_t next_view;                /* next view number */
    uint64_t next_request;             /* next rank request number */
    uint32_t next_event_id;            /* next event id number */
    double t_next;                     /* next primary action, ms after start_ts */
    int64_t now;                       /* time of the last primary action */
    int64_t next_sweep;                /* next check for events about to start */
    int64_t next_hot;                  /* next hot rotation */
    enum gen_phase phase;              /* burst phase */
    uint64_t phase_i;                  /* index within the phase */
    uint32_t phase_j;                  /* friends: position in the adjacency list */
    gen_stats st;                      /* counters */
};

/* ---- small helpers ------------------------------------------------------- */

static inline double sigmoid(double z) {
    if (z > 35)
        z = 35;
    if (z < -35)
        z = -35;
    return 1.0 / (1.0 + exp(-z));
}

static inline double dot(const float *a, const float *b) {
    double s = 0;
    for (int k = 0; k < GEN_K; k++)
        s += (double)a[k] * (double)b[k];
    return s;
}

static inline double round_to(double v, double step) { return round(v / step) * step; }

/* DESIGN §4: the decayed value of an aggregate (v, t) read at time t_now. */
static inline double decayed(double v, int64_t t, int64_t t_now, double half_life) {
    return t_now >= t ? v * exp2(-(double)(t_now - t) / half_life) : v;
}

/* DESIGN §4: adds x at time t to an aggregate (v, t_last), late events included. */
static inline void decayed_add(double *v, int64_t *t_last, double x, int64_t t, double half_life) {
    if (t >= *t_last) {
        *v = *v * exp2(-(double)(t - *t_last) / half_life) + x;
        *t_last = t;
    } else {
        *v += x * exp2(-(double)(*t_last - t) / half_life);
    }
}

static double haversine_km(double lat1, double lon1, double lat2, double lon2) {
    const double rad = M_PI / 180.0;
    double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
    return 2 * 6371.0 * asin(fmin(1.0, sqrt(a)));
}

static bool fatigue_keep(const gen_map_ent *e, int64_t now, double half_life) {
    return decayed(e->v, e->t, now, half_life) >= 1e-6;
}

static bool reg_keep(const gen_map_ent *e, int64_t now, double unused) {
    (void)unused;
    return e->t > now; /* the event has not started: its count may still be read */
}

static bool is_friend(const gen_world *w, uint32_t u, uint32_t v) {
    for (uint32_t i = w->adj_off[u]; i < w->adj_off[u + 1]; i++)
        if (w->adj[i] == v)
            return true;
    return false;
}

static unsigned local_hour(int64_t ts, int tz_min) {
    int64_t m = ts / 60000 + tz_min;
    return (unsigned)(((m / 60) % 24 + 24) % 24);
}

static double hour_effect(unsigned hour) {
    return HOUR_AMP * cos(2 * M_PI * ((double)hour - HOUR_PEAK) / 24.0);
}

static unsigned pick_index(sl_rand *r, const double *share, unsigned n) {
    double u = sl_rand_double(r), c = 0;
    for (unsigned i = 0; i + 1 < n; i++) {
        c += share[i];
        if (u < c)
            return i;
    }
    return n - 1;
}

/* ---- construction -------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void init_user(gen_world *w, uint32_t u) {
    sl_rand *r = &w->rng_world;
    gen_user *us = &w->users[u];
    /* Contiguous blocks per city, so ring neighbours mostly share a city. */
    us->city = (uint8_t)((uint64_t)u * GEN_CITIES / w->n_users);
    const struct gen_city *c = &gen_cities[us->city];
    us->lat = round_to(c->lat + 0.08 * sl_rand_normal(r), 1e-5);
    us->lon = round_to(c->lon + 0.08 * sl_rand_normal(r), 1e-5);
    double age = round(36 + 12 * sl_rand_normal(r));
    us->age = (uint8_t)fmax(16, fmin(80, age));
    us->device = (uint8_t)pick_index(r, device_share, GEN_DEVICES);
    us->bias = (float)(SD_USER_BIAS * sl_rand_normal(r));
    for (int k = 0; k < GEN_K; k++)
        us->x[k] = (float)(SD_USER_LATENT * sl_rand_normal(r));
    us->price = (float)sl_rand_lognormal(r, log(25.0), 0.6);
}

/* An event slot gets a fresh event: id, venue, start, price, category, latent. */
static void init_event(gen_world *w, sl_rand *r, uint32_t slot, int64_t now) {
    gen_item *it = &w->surf[SL_SURFACE_EVENTS].items[slot];
    it->id = w->next_event_id++;
    it->n_reg = 0;
    it->city = (uint8_t)(slot % GEN_CITIES);
    const struct gen_city *c = &gen_cities[it->city];
    it->lat = round_to(c->lat + 0.1 * sl_rand_normal(r), 1e-5);
    it->lon = round_to(c->lon + 0.1 * sl_rand_normal(r), 1e-5);
    it->start = now + (int64_t)sl_rand_uniform(r, 3 * MS_H, 21 * MS_D);
    bool free_entry = sl_rand_bernoulli(r, 0.3);
    it->price = free_entry ? 0.0 : round_to(sl_rand_lognormal(r, log(25.0), 0.7), 0.5);
    it->cat = (uint8_t)sl_rand_below(r, GEN_CATS);
    for (int k = 0; k < GEN_K; k++)
        it->y[k] = w->cat_vec[it->cat][k] + (float)(SD_ITEM_LATENT * sl_rand_normal(r));
    it->bias = (float)(SD_ITEM_BIAS * sl_rand_normal(r));
    it->bias2 = (float)(SD_REG_BIAS * sl_rand_normal(r));
}

/* Zipf(s) weights over a random permutation of n slots, as an alias table. */
static sl_status zipf_alias(gen_alias *a, sl_rand *r, uint32_t n, double s) {
    double *wt = malloc((size_t)n * sizeof *wt);
    if (!wt)
        return SL_ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++)
        wt[i] = pow((double)i + 1.0, -s);
    for (uint32_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        uint32_t j = (uint32_t)sl_rand_below(r, (uint64_t)i + 1);
        double t = wt[i];
        wt[i] = wt[j];
        wt[j] = t;
    }
    sl_status st = gen__alias_init(a, wt, n);
    free(wt);
    return st;
}

static sl_status build_items(gen_world *w) {
    sl_rand *r = &w->rng_world;
    uint32_t nu = w->n_users;
    static const double zipf_s[SL_SURFACE_COUNT] = {1.0, 0.9, 0.8};
    uint32_t n[SL_SURFACE_COUNT] = {
        nu / 20 > 50 ? nu / 20 : 50,
        nu / 2 > 200 ? nu / 2 : 200,
        (nu / 20 > 64 ? nu / 20 : 64 + GEN_CITIES - 1) / GEN_CITIES * GEN_CITIES,
    };
    w->n_adv = n[SL_SURFACE_ADS] / 5;
    for (int s = 0; s < SL_SURFACE_COUNT; s++) {
        gen_surf *sf = &w->surf[s];
        if (!sf->on)
            continue;
        sf->n = n[s];
        sf->items = calloc(sf->n, sizeof *sf->items);
        if (!sf->items)
            return SL_ERR_NOMEM;
        for (uint32_t i = 0; i < sf->n; i++) {
            gen_item *it = &sf->items[i];
            if (s == SL_SURFACE_EVENTS) {
                init_event(w, r, i, w->opts.start_ts);
                continue;
            }
            it->id = i;
            it->cat = (uint8_t)sl_rand_below(r, GEN_CATS);
            for (int k = 0; k < GEN_K; k++)
                it->y[k] = w->cat_vec[it->cat][k] + (float)(SD_ITEM_LATENT * sl_rand_normal(r));
            it->bias = (float)(SD_ITEM_BIAS * sl_rand_normal(r));
            if (s == SL_SURFACE_ADS) {
                it->aux = (uint32_t)sl_rand_below(r, w->n_adv);
                it->bias2 = (float)(SD_CONV_BIAS * sl_rand_normal(r));
            } else {
                it->aux = gen__alias_sample(&w->user_act, r); /* active users post more */
                it->bias2 = (float)(SD_LIKE_BIAS * sl_rand_normal(r));
                it->bias3 = (float)(SD_SHARE_BIAS * sl_rand_normal(r));
                it->trend_t = w->opts.start_ts;
            }
        }
        sl_status st = zipf_alias(&sf->pop, r, sf->n, zipf_s[s]);
        if (st)
            return st;
    }
    return SL_OK;
}

/* Watts-Strogatz: a ring where each user knows GEN_RING_K neighbours on each
 * side, each edge rewired to a random user with probability GEN_REWIRE. */
static sl_status build_friends(gen_world *w) {
    sl_rand *r = &w->rng_world;
    uint32_t nu = w->n_users;
    size_t cap = (size_t)nu * GEN_RING_K;
    uint64_t *e = malloc(cap * sizeof *e);
    if (!e)
        return SL_ERR_NOMEM;
    size_t ne = 0;
    for (uint32_t u = 0; u < nu; u++)
        for (uint32_t j = 1; j <= GEN_RING_K; j++) {
            uint32_t v = (u + j) % nu;
            if (sl_rand_bernoulli(r, GEN_REWIRE))
                do
                    v = (uint32_t)sl_rand_below(r, nu);
                while (v == u);
            uint32_t a = u < v ? u : v, b = u < v ? v : u;
            e[ne++] = (uint64_t)a << 32 | b;
        }
    qsort(e, ne, sizeof *e, cmp_u64);
    size_t m = 0;
    for (size_t i = 0; i < ne; i++)
        if (m == 0 || e[i] != e[m - 1])
            e[m++] = e[i];
    w->n_edges = m;
    w->adj_off = calloc((size_t)nu + 1, sizeof *w->adj_off);
    w->adj = malloc((2 * m + 1) * sizeof *w->adj);
    if (!w->adj_off || !w->adj) {
        free(e);
        return SL_ERR_NOMEM;
    }
    for (size_t i = 0; i < m; i++) {
        w->adj_off[(e[i] >> 32) + 1]++;
        w->adj_off[(e[i] & 0xFFFFFFFFu) + 1]++;
    }
    for (uint32_t u = 0; u < nu; u++)
        w->adj_off[u + 1] += w->adj_off[u];
    uint32_t *fill = malloc((size_t)nu * sizeof *fill);
    if (!fill) {
        free(e);
        return SL_ERR_NOMEM;
    }
    memcpy(fill, w->adj_off, (size_t)nu * sizeof *fill);
    for (size_t i = 0; i < m; i++) {
        uint32_t a = (uint32_t)(e[i] >> 32), b = (uint32_t)(e[i] & 0xFFFFFFFFu);
        w->adj[fill[a]++] = b;
        w->adj[fill[b]++] = a;
    }
    free(fill);
    free(e);
    return SL_OK;
}

/* Posts grouped by author, for "a post by a friend". */
static sl_status build_posts_index(gen_world *w) {
    gen_surf *sf = &w->surf[SL_SURFACE_FEED];
    uint32_t nu = w->n_users;
    w->posts_off = calloc((size_t)nu + 1, sizeof *w->posts_off);
    w->posts_by = malloc(((size_t)sf->n + 1) * sizeof *w->posts_by);
    uint32_t *fill = malloc((size_t)nu * sizeof *fill);
    if (!w->posts_off || !w->posts_by || !fill) {
        free(fill);
        return SL_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < sf->n; i++)
        w->posts_off[sf->items[i].aux + 1]++;
    for (uint32_t u = 0; u < nu; u++)
        w->posts_off[u + 1] += w->posts_off[u];
    memcpy(fill, w->posts_off, (size_t)nu * sizeof *fill);
    for (uint32_t i = 0; i < sf->n; i++)
        w->posts_by[fill[sf->items[i].aux]++] = i;
    free(fill);
    return SL_OK;
}

/* ---- item choice --------------------------------------------------------- */

/* The k-th item of a user's own set on a surface: fixed per user, no storage. */
static uint32_t own_item(const gen_world *w, uint32_t user, int s, uint32_t k) {
    uint64_t h = sl_rand_hash64(w->opts.seed ^ ((uint64_t)user << 8 | (uint64_t)s << 4 | k));
    return (uint32_t)(h % w->surf[s].n);
}

/* An event to show user: one a friend registered for (*friends = true), one
 * in the user's city, a popular one or any. */
static uint32_t pick_event(gen_world *w, uint32_t user, bool *friends) {
    sl_rand *r = &w->rng_sim;
    const gen_surf *sf = &w->surf[SL_SURFACE_EVENTS];
    double u = sl_rand_double(r);
    *friends = false;
    if (u < 0.2) {
        uint32_t deg = w->adj_off[user + 1] - w->adj_off[user];
        for (int tries = 0; deg && tries < 2; tries++) {
            const gen_user *f = &w->users[w->adj[w->adj_off[user] + sl_rand_below(r, deg)]];
            unsigned k = (unsigned)sl_rand_below(r, GEN_RECENT_REGS);
            if (f->reg_id[k] && sf->items[f->reg_slot[k]].id + 1 == f->reg_id[k]) {
                *friends = true;
                return f->reg_slot[k];
            }
        }
        u = 0.2 + 0.5 * sl_rand_double(r); /* none: fall back to the city */
    }
    if (u < 0.7) { /* in the user's city: slots city, city + C, ... */
        uint32_t per_city = sf->n / GEN_CITIES;
        return w->users[user].city + GEN_CITIES * (uint32_t)sl_rand_below(r, per_city);
    }
    if (u < 0.9)
        return gen__alias_sample(&sf->pop, r);
    return (uint32_t)sl_rand_below(r, sf->n);
}

static uint32_t pick_item(gen_world *w, uint32_t user, int s, bool *friends) {
    sl_rand *r = &w->rng_sim;
    const gen_surf *sf = &w->surf[s];
    double u = sl_rand_double(r);
    switch (s) {
    case SL_SURFACE_ADS:
        if (u < 0.45)
            return gen__alias_sample(&sf->pop, r);
        if (u < 0.85) /* retargeting: the same few ads again and again */
            return own_item(w, user, s, (uint32_t)sl_rand_below(r, GEN_OWN));
        return (uint32_t)sl_rand_below(r, sf->n);
    case SL_SURFACE_FEED:
        if (u < 0.10)
            return w->hot[sl_rand_below(r, GEN_HOT)];
        if (u < 0.35) { /* a friend's post */
            uint32_t deg = w->adj_off[user + 1] - w->adj_off[user];
            if (deg) {
                uint32_t f = w->adj[w->adj_off[user] + sl_rand_below(r, deg)];
                uint32_t np = w->posts_off[f + 1] - w->posts_off[f];
                if (np)
                    return w->posts_by[w->posts_off[f] + sl_rand_below(r, np)];
            }
            return gen__alias_sample(&sf->pop, r);
        }
        if (u < 0.75)
            return gen__alias_sample(&sf->pop, r);
        if (u < 0.90)
            return own_item(w, user, s, (uint32_t)sl_rand_below(r, GEN_OWN));
        return (uint32_t)sl_rand_below(r, sf->n);
    default: return pick_event(w, user, friends);
    }
}

/* ---- the truth of a view ------------------------------------------------- */

/* Friends of user registered for event it (registrations seen so far). */
static uint32_t friends_registered(const gen_world *w, uint32_t user, const gen_item *it) {
    uint32_t n = 0, event_id = it->id;
    if (!it->n_reg)
        return 0;
    for (uint32_t i = w->adj_off[user]; i < w->adj_off[user + 1]; i++)
        if (gen__map_find(&w->regs, gen__pair_key(w->adj[i], event_id)))
            n++;
    return n;
}

/* Registration given click for (user, event) at time t; *nf and *dist_km OUT:. */
static double p_register_given_click(const gen_world *w, uint32_t user, const gen_item *it,
                                     int64_t t, double d, uint32_t *nf, double *dist_km) {
    const gen_user *us = &w->users[user];
    double dist = haversine_km(us->lat, us->lon, it->lat, it->lon);
    double hours = (double)(it->start - t) / MS_H;
    if (hours < 0)
        hours = 0;
    double rel = log((it->price + 1.0) / ((double)us->price + 1.0));
    uint32_t f = friends_registered(w, user, it);
    double z = B_REG + it->bias2 + REG_DOT * d - REG_DIST * log1p(dist / 10.0) -
               REG_TIME * fabs(log((hours + 6.0) / 54.0)) - REG_PRICE * fmax(0.0, rel) +
               REG_FRIENDS * log1p((double)f);
    *nf = f;
    *dist_km = dist;
    return sigmoid(z);
}

static double p_click_events(const gen_user *us, const gen_item *it, double d, unsigned device,
                             unsigned hour, unsigned pos, unsigned page) {
    return sigmoid(B_EV_CLICK + us->bias + it->bias + d + device_events[device] +
                   hour_effect(hour) - POS_EV * log((double)pos) + page_events[page]);
}

/* ---- scheduling ---------------------------------------------------------- */

static sl_status schedule(gen_world *w, gen_pend *e) {
    e->seq = w->seq++;
    return gen__heap_push(&w->heap, e);
}

/* A reaction to view v at time ts; its effects apply when it comes due. */
static sl_status schedule_reaction(gen_world *w, const gen_pend *v, gen_kind kind, int64_t ts,
                                   float val) {
    gen_pend e = *v;
    e.kind = (uint8_t)kind;
    e.ts = e.emit_at = ts;
    e.val = val;
    e.flags = 0;
    return schedule(w, &e);
}

/* A profile upsert written at t: of user `who` (surface NONE) or item slot
 * `who` of a surface. Formatted from the world's state when written. */
static sl_status schedule_profile(gen_world *w, int64_t t, int surface, uint32_t who) {
    gen_pend e = {.emit_at = t,
                  .ts = t,
                  .kind = GEN_KIND_PROFILE,
                  .surface = (uint8_t)surface,
                  .flags = GEN_PEND_OCCURRED};
    if (surface == SL_SURFACE_NONE)
        e.user = who;
    else
        e.slot = who;
    return schedule(w, &e);
}

/* Replaces events about to start (or started) by new ones in the same city,
 * each announced by a profile upsert. */
static sl_status sweep_events(gen_world *w, int64_t t) {
    gen_surf *sf = &w->surf[SL_SURFACE_EVENTS];
    for (uint32_t i = 0; i < sf->n; i++) {
        if (sf->items[i].start >= t + (int64_t)EV_MIN_LEAD)
            continue;
        init_event(w, &w->rng_sim, i, t);
        sl_status st = schedule_profile(w, t, SL_SURFACE_EVENTS, i);
        if (st)
            return st;
    }
    return SL_OK;
}

static void rotate_hot(gen_world *w) {
    const gen_surf *sf = &w->surf[SL_SURFACE_FEED];
    for (unsigned k = 0; k < GEN_HOT_GEN; k++)
        w->hot[w->hot_gen * GEN_HOT_GEN + k] = (uint32_t)sl_rand_below(&w->rng_sim, sf->n);
    w->hot_gen = (w->hot_gen + 1) % (GEN_HOT / GEN_HOT_GEN);
}

/* Click delay: 1 s plus a log-normal with the given median, capped. */
static int64_t click_delay(sl_rand *r) {
    double d = 1000.0 + sl_rand_lognormal(r, log(CLICK_MEDIAN_MS), 1.0);
    return (int64_t)fmin(d, CLICK_MAX_MS);
}

/* ---- primary actions ----------------------------------------------------- */

static int pick_surface(gen_world *w) {
    double u = sl_rand_double(&w->rng_sim);
    for (int s = 0; s < SL_SURFACE_COUNT - 1; s++)
        if (u < w->surf_cum[s])
            return s;
    return SL_SURFACE_COUNT - 1;
}

/* Ads: truth and reactions of view v (user, slot already set). */
static sl_status view_ads(gen_world *w, gen_pend *v, double d, bool *reacted) {
    sl_rand *r = &w->rng_sim;
    const gen_user *us = &w->users[v->user];
    const gen_item *it = &w->surf[SL_SURFACE_ADS].items[v->slot];
    int64_t t = v->ts;
    gen_map_ent *fe;
    bool created;
    sl_status st = gen__map_upsert(&w->fatigue, gen__pair_key(v->user, v->slot), t, &fe, &created);
    if (st)
        return st;
    if (created)
        fe->t = t;
    /* Fatigue: this user's decayed views of this ad *before* this one. */
    double f = decayed(fe->v, fe->t, t, HL_FATIGUE);
    decayed_add(&fe->v, &fe->t, 1.0, t, HL_FATIGUE);
    double pc = sigmoid(B_ADS + us->bias + it->bias + d + device_ads[v->device] +
                        hour_effect(v->hour) - POS_ADS * (v->position - 1) - G_FATIGUE * log1p(f));
    double pconv = sigmoid(B_CONV + it->bias2 + CONV_DOT * d);
    v->truth[0] = pc;
    v->truth[1] = pconv;
    v->truth[2] = f;
    if (!sl_rand_bernoulli(r, pc))
        return SL_OK;
    *reacted = true;
    int64_t tc = t + click_delay(r);
    st = schedule_reaction(w, v, GEN_KIND_CLICK, tc, 0);
    if (!st && sl_rand_bernoulli(r, pconv)) {
        double dc = 30 * MS_S + fmin(sl_rand_exp(r, CONV_MEAN_MS), MS_H);
        st = schedule_reaction(w, v, GEN_KIND_CONVERSION, tc + (int64_t)dc, 0);
    }
    return st;
}

/* Feed: truth and reactions of view v. */
static sl_status view_feed(gen_world *w, gen_pend *v, double d, bool *reacted) {
    sl_rand *r = &w->rng_sim;
    const gen_user *us = &w->users[v->user];
    const gen_item *it = &w->surf[SL_SURFACE_FEED].items[v->slot];
    int64_t t = v->ts;
    double trend = decayed(it->trend_v, it->trend_t, t, HL_TREND);
    double fr = is_friend(w, v->user, it->aux) ? 1.0 : 0.0;
    double pc =
        sigmoid(B_FEED + us->bias + it->bias + d + device_feed[v->device] + hour_effect(v->hour) -
                POS_FEED * log((double)v->position) + FRIEND_CLICK * fr + B_TREND * log1p(trend));
    double pl = sigmoid(B_LIKE + it->bias2 + LIKE_DOT * d + FRIEND_LIKE * fr);
    double ps = sigmoid(B_SHARE + it->bias3 + SHARE_DOT * d + FRIEND_SHARE * fr);
    double dmean = DWELL_MEAN_MS * exp(DWELL_DOT * d);
    v->truth[0] = pc;
    v->truth[1] = pc * pl;
    v->truth[2] = pc * ps;
    v->truth[3] = dmean;
    if (!sl_rand_bernoulli(r, pc))
        return SL_OK;
    *reacted = true;
    int64_t tc = t + click_delay(r);
    double dwell = sl_rand_lognormal(r, log(dmean) - DWELL_SIGMA * DWELL_SIGMA / 2, DWELL_SIGMA);
    dwell = fmax(1.0, fmin(round(dwell), DWELL_MAX_MS));
    sl_status st = schedule_reaction(w, v, GEN_KIND_CLICK, tc, 0);
    if (!st)
        st = schedule_reaction(w, v, GEN_KIND_DWELL, tc + (int64_t)dwell, (float)dwell);
    /* Likes and shares happen while reading. */
    if (!st && sl_rand_bernoulli(r, pl))
        st = schedule_reaction(w, v, GEN_KIND_LIKE,
                               tc + (int64_t)(sl_rand_uniform(r, 0.1, 1.0) * dwell), 0);
    if (!st && sl_rand_bernoulli(r, ps))
        st = schedule_reaction(w, v, GEN_KIND_SHARE,
                               tc + (int64_t)(sl_rand_uniform(r, 0.2, 1.0) * dwell), 0);
    return st;
}

/* Events: truth and reactions of view v. */
static sl_status view_events(gen_world *w, gen_pend *v, double d, bool *reacted) {
    sl_rand *r = &w->rng_sim;
    const gen_user *us = &w->users[v->user];
    const gen_item *it = &w->surf[SL_SURFACE_EVENTS].items[v->slot];
    int64_t t = v->ts;
    double pc = p_click_events(us, it, d, v->device, v->hour, v->position, v->page);
    uint32_t nf;
    double km;
    double pr = p_register_given_click(w, v->user, it, t, d, &nf, &km);
    v->truth[0] = pc;
    v->truth[1] = pc * pr;
    v->truth[2] = nf;
    v->truth[3] = km;
    if (!sl_rand_bernoulli(r, pc))
        return SL_OK;
    *reacted = true;
    int64_t tc = t + click_delay(r);
    sl_status st = schedule_reaction(w, v, GEN_KIND_CLICK, tc, 0);
    if (!st && sl_rand_bernoulli(r, pr)) {
        double dr = sl_rand_bernoulli(r, REG_FAST_SHARE)
                        ? 5 * MS_S + sl_rand_exp(r, REG_FAST_MEAN_MS)
                        : 10 * MS_MIN + sl_rand_exp(r, REG_SLOW_MEAN_MS);
        int64_t tr = tc + (int64_t)dr;
        if (tr > it->start - (int64_t)MS_MIN) /* one registers before the doors open */
            tr = it->start - (int64_t)MS_MIN;
        gen_pend e = *v;
        e.until = it->start;
        st = schedule_reaction(w, &e, GEN_KIND_REGISTER, tr, 0);
    }
    return st;
}

/* A view at time t: fills *v (OUT:) with the view entry, its truth and its
 * context, and schedules its reactions. */
static sl_status act_view(gen_world *w, int64_t t, gen_pend *v) {
    sl_rand *r = &w->rng_sim;
    uint32_t user = gen__alias_sample(&w->user_act, r);
    const gen_user *us = &w->users[user];
    int s = pick_surface(w);
    unsigned device = sl_rand_bernoulli(r, P_PREFERRED_DEVICE)
                          ? us->device
                          : (unsigned)sl_rand_below(r, GEN_DEVICES);
    unsigned pos = 1, page = 0;
    switch (s) {
    case SL_SURFACE_ADS: pos = 1 + (unsigned)sl_rand_below(r, 4); break;
    case SL_SURFACE_FEED: pos = 1 + (unsigned)fmin(29, floor(sl_rand_exp(r, 6.0))); break;
    default:
        pos = 1 + (unsigned)fmin(19, floor(sl_rand_exp(r, 4.0)));
        page = (unsigned)sl_rand_below(r, GEN_PAGES - 1);
        break;
    }
    bool friends = false;
    uint32_t slot = pick_item(w, user, s, &friends);
    if (friends)
        page = GEN_PAGE_FRIENDS;
    const gen_item *it = &w->surf[s].items[slot];
    *v = (gen_pend){.emit_at = t,
                    .ts = t,
                    .view = w->next_view++,
                    .user = user,
                    .item = it->id,
                    .slot = slot,
                    .kind = GEN_KIND_VIEW,
                    .surface = (uint8_t)s,
                    .flags = GEN_PEND_OCCURRED,
                    .device = (uint8_t)device,
                    .hour = (uint8_t)local_hour(t, gen_cities[us->city].tz_min),
                    .position = (uint8_t)pos,
                    .page = (uint8_t)page};
    double d = dot(us->x, it->y);
    bool reacted = false;
    sl_status st = s == SL_SURFACE_ADS    ? view_ads(w, v, d, &reacted)
                   : s == SL_SURFACE_FEED ? view_feed(w, v, d, &reacted)
                                          : view_events(w, v, d, &reacted);
    /* A lost view: the impression log dropped it, its reactions still come. */
    if (!st && reacted && w->opts.lost_rate > 0 &&
        sl_rand_double(&w->rng_imp) < w->opts.lost_rate) {
        v->flags |= GEN_PEND_LOST;
        w->st.lost_views++;
    }
    return st;
}

/* A profile update at t: a user moves within their city, or an event
 * changes its price. */
static sl_status act_profile_update(gen_world *w, int64_t t) {
    sl_rand *r = &w->rng_sim;
    gen_surf *ev = &w->surf[SL_SURFACE_EVENTS];
    if (ev->on && sl_rand_bernoulli(r, 0.5)) {
        uint32_t slot = (uint32_t)sl_rand_below(r, ev->n);
        gen_item *it = &ev->items[slot];
        if (it->price > 0)
            it->price = fmax(0.5, round_to(it->price * sl_rand_uniform(r, 0.8, 1.25), 0.5));
        return schedule_profile(w, t, SL_SURFACE_EVENTS, slot);
    }
    uint32_t u = (uint32_t)sl_rand_below(r, w->n_users);
    gen_user *us = &w->users[u];
    const struct gen_city *c = &gen_cities[us->city];
    us->lat = round_to(c->lat + 0.08 * sl_rand_normal(r), 1e-5);
    us->lon = round_to(c->lon + 0.08 * sl_rand_normal(r), 1e-5);
    return schedule_profile(w, t, SL_SURFACE_NONE, u);
}

/* ---- writers ------------------------------------------------------------- */

static char *put_item_id(char *o, int surface, uint32_t id) {
    *o++ = '"';
    *o++ = gen_item_prefix[surface];
    o = gen__put_u64(o, id);
    *o++ = '"';
    return o;
}

static char *put_head(char *o, const char *type, size_t n, int64_t ts) {
    GEN_PUT_LIT(o, "{\"type\":\"");
    o = gen__put_mem(o, type, n);
    GEN_PUT_LIT(o, "\",\"ts\":");
    return gen__put_i64(o, ts);
}

static const struct {
    const char *name;   /* the `type` written */
    size_t n;           /* its length */
    sl_event_type type; /* and its enum */
} kind_type[] = {
    [GEN_KIND_VIEW] = {"view", 4, SL_EVENT_VIEW},
    [GEN_KIND_CLICK] = {"click", 5, SL_EVENT_CLICK},
    [GEN_KIND_LIKE] = {"like", 4, SL_EVENT_LIKE},
    [GEN_KIND_SHARE] = {"share", 5, SL_EVENT_SHARE},
    [GEN_KIND_DWELL] = {"dwell", 5, SL_EVENT_DWELL},
    [GEN_KIND_CONVERSION] = {"conversion", 10, SL_EVENT_CONVERSION},
    [GEN_KIND_REGISTER] = {"register", 8, SL_EVENT_REGISTER},
    [GEN_KIND_PROFILE] = {"profile", 7, SL_EVENT_PROFILE},
};

static char *write_view(char *o, const gen_pend *e) {
    o = put_head(o, "view", 4, e->ts);
    GEN_PUT_LIT(o, ",\"user\":");
    o = gen__put_id(o, "u", 1, e->user);
    GEN_PUT_LIT(o, ",\"surface\":\"");
    o = gen__put_str(o, sl_surface_str((sl_surface)e->surface));
    GEN_PUT_LIT(o, "\",\"item\":");
    o = put_item_id(o, e->surface, e->item);
    GEN_PUT_LIT(o, ",\"view_id\":");
    o = gen__put_id(o, "v", 1, e->view);
    GEN_PUT_LIT(o, ",\"ctx\":{\"device\":\"");
    o = gen__put_str(o, gen_devices[e->device]);
    GEN_PUT_LIT(o, "\",\"hour\":");
    o = gen__put_u64(o, e->hour);
    GEN_PUT_LIT(o, ",\"position\":");
    o = gen__put_u64(o, e->position);
    if (e->surface == SL_SURFACE_ADS) {
        if (e->position <= 2)
            GEN_PUT_LIT(o, ",\"slot\":\"top\"");
        else
            GEN_PUT_LIT(o, ",\"slot\":\"side\"");
    } else if (e->surface == SL_SURFACE_EVENTS) {
        GEN_PUT_LIT(o, ",\"page\":\"");
        o = gen__put_str(o, gen_pages[e->page]);
        *o++ = '"';
    }
    GEN_PUT_LIT(o, "}}");
    return o;
}

static char *write_reaction(char *o, const gen_pend *e) {
    o = put_head(o, kind_type[e->kind].name, kind_type[e->kind].n, e->ts);
    GEN_PUT_LIT(o, ",\"user\":");
    o = gen__put_id(o, "u", 1, e->user);
    if (e->kind == GEN_KIND_REGISTER) {
        GEN_PUT_LIT(o, ",\"item\":");
        o = put_item_id(o, e->surface, e->item);
        GEN_PUT_LIT(o, ",\"view_id\":");
        o = gen__put_id(o, "v", 1, e->view);
    } else {
        GEN_PUT_LIT(o, ",\"view_id\":");
        o = gen__put_id(o, "v", 1, e->view);
        GEN_PUT_LIT(o, ",\"item\":");
        o = put_item_id(o, e->surface, e->item);
    }
    if (e->kind == GEN_KIND_DWELL) {
        GEN_PUT_LIT(o, ",\"dwell_ms\":");
        o = gen__put_u64(o, (uint64_t)e->val);
    }
    *o++ = '}';
    return o;
}

static char *write_user_profile(char *o, const gen_world *w, uint32_t u, int64_t ts) {
    const gen_user *us = &w->users[u];
    o = put_head(o, "profile", 7, ts);
    GEN_PUT_LIT(o, ",\"entity\":\"user\",\"id\":");
    o = gen__put_id(o, "u", 1, u);
    GEN_PUT_LIT(o, ",\"attrs\":{\"age\":");
    o = gen__put_u64(o, us->age);
    GEN_PUT_LIT(o, ",\"lat\":");
    o = gen__put_fixed(o, us->lat, 5);
    GEN_PUT_LIT(o, ",\"lon\":");
    o = gen__put_fixed(o, us->lon, 5);
    GEN_PUT_LIT(o, ",\"city\":\"");
    o = gen__put_str(o, gen_cities[us->city].name);
    GEN_PUT_LIT(o, "\",\"device\":\"");
    o = gen__put_str(o, gen_devices[us->device]);
    GEN_PUT_LIT(o, "\"}}");
    return o;
}

static char *write_item_profile(char *o, const gen_world *w, int s, uint32_t slot, int64_t ts) {
    const gen_item *it = &w->surf[s].items[slot];
    o = put_head(o, "profile", 7, ts);
    GEN_PUT_LIT(o, ",\"entity\":\"item\",\"id\":");
    o = put_item_id(o, s, it->id);
    GEN_PUT_LIT(o, ",\"attrs\":{\"surface\":\"");
    o = gen__put_str(o, sl_surface_str((sl_surface)s));
    GEN_PUT_LIT(o, "\",\"category\":\"");
    o = gen__put_str(o, gen_cats[it->cat]);
    *o++ = '"';
    switch (s) {
    case SL_SURFACE_ADS:
        GEN_PUT_LIT(o, ",\"advertiser\":");
        o = gen__put_id(o, "adv", 3, it->aux);
        break;
    case SL_SURFACE_FEED:
        GEN_PUT_LIT(o, ",\"author\":");
        o = gen__put_id(o, "u", 1, it->aux);
        break;
    default:
        GEN_PUT_LIT(o, ",\"lat\":");
        o = gen__put_fixed(o, it->lat, 5);
        GEN_PUT_LIT(o, ",\"lon\":");
        o = gen__put_fixed(o, it->lon, 5);
        GEN_PUT_LIT(o, ",\"city\":\"");
        o = gen__put_str(o, gen_cities[it->city].name);
        GEN_PUT_LIT(o, "\",\"start_ts\":");
        o = gen__put_i64(o, it->start);
        GEN_PUT_LIT(o, ",\"price\":");
        o = gen__put_fixed(o, it->price, 2);
        break;
    }
    GEN_PUT_LIT(o, "}}");
    return o;
}

static char *write_friend(char *o, uint32_t a, uint32_t b, int64_t ts) {
    o = put_head(o, "friend", 6, ts);
    GEN_PUT_LIT(o, ",\"user\":");
    o = gen__put_id(o, "u", 1, a);
    GEN_PUT_LIT(o, ",\"other\":");
    o = gen__put_id(o, "u", 1, b);
    *o++ = '}';
    return o;
}

static char *write_view_truth(char *o, const gen_pend *e) {
    GEN_PUT_LIT(o, "{\"view_id\":");
    o = gen__put_id(o, "v", 1, e->view);
    GEN_PUT_LIT(o, ",\"surface\":\"");
    o = gen__put_str(o, sl_surface_str((sl_surface)e->surface));
    GEN_PUT_LIT(o, "\",\"user\":");
    o = gen__put_id(o, "u", 1, e->user);
    GEN_PUT_LIT(o, ",\"item\":");
    o = put_item_id(o, e->surface, e->item);
    GEN_PUT_LIT(o, ",\"ts\":");
    o = gen__put_i64(o, e->ts);
    GEN_PUT_LIT(o, ",\"p_click\":");
    o = gen__put_prob(o, e->truth[0]);
    switch (e->surface) {
    case SL_SURFACE_ADS:
        GEN_PUT_LIT(o, ",\"p_conversion\":");
        o = gen__put_prob(o, e->truth[1]);
        GEN_PUT_LIT(o, ",\"exposure\":");
        o = gen__put_fixed(o, e->truth[2], 6);
        break;
    case SL_SURFACE_FEED:
        GEN_PUT_LIT(o, ",\"p_like\":");
        o = gen__put_prob(o, e->truth[1]);
        GEN_PUT_LIT(o, ",\"p_share\":");
        o = gen__put_prob(o, e->truth[2]);
        GEN_PUT_LIT(o, ",\"dwell_mean_ms\":");
        o = gen__put_fixed(o, e->truth[3], 1);
        break;
    default:
        GEN_PUT_LIT(o, ",\"p_register\":");
        o = gen__put_prob(o, e->truth[1]);
        GEN_PUT_LIT(o, ",\"friends_registered\":");
        o = gen__put_u64(o, (uint64_t)e->truth[2]);
        GEN_PUT_LIT(o, ",\"distance_km\":");
        o = gen__put_fixed(o, e->truth[3], 3);
        break;
    }
    *o++ = '}';
    return o;
}

/* Where one call writes: the event line, the truth line, the description. */
typedef struct gen_cursor {
    char *o;        /* event line cursor */
    char *t;        /* truth line cursor, NULL when truth is not wanted */
    gen_line *line; /* what was written */
} gen_cursor;

/* A rank request at t: candidates from the events the user would be shown,
 * written at once (never late or duplicated); truth per candidate is the
 * registration probability if shown now at the top of the home page. */
static void act_rank_request(gen_world *w, int64_t t, gen_cursor *c) {
    sl_rand *r = &w->rng_sim;
    uint32_t user = gen__alias_sample(&w->user_act, r);
    const gen_user *us = &w->users[user];
    unsigned device = sl_rand_bernoulli(r, P_PREFERRED_DEVICE)
                          ? us->device
                          : (unsigned)sl_rand_below(r, GEN_DEVICES);
    unsigned hour = local_hour(t, gen_cities[us->city].tz_min);
    uint32_t want = 10 + (uint32_t)sl_rand_below(r, 21), n = 0;
    uint32_t cand[30];
    for (unsigned tries = 0; n < want && tries < 8 * want; tries++) {
        bool friends;
        uint32_t slot = pick_event(w, user, &friends);
        bool seen = false;
        for (uint32_t i = 0; i < n && !seen; i++)
            seen = cand[i] == slot;
        if (!seen)
            cand[n++] = slot;
    }
    uint64_t req = w->next_request++;
    const gen_surf *sf = &w->surf[SL_SURFACE_EVENTS];

    char *o = put_head(c->o, "rank_request", 12, t);
    GEN_PUT_LIT(o, ",\"user\":");
    o = gen__put_id(o, "u", 1, user);
    GEN_PUT_LIT(o, ",\"surface\":\"events\",\"request_id\":");
    o = gen__put_id(o, "r", 1, req);
    GEN_PUT_LIT(o, ",\"candidates\":[");
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        o = put_item_id(o, SL_SURFACE_EVENTS, sf->items[cand[i]].id);
    }
    GEN_PUT_LIT(o, "],\"ctx\":{\"device\":\"");
    o = gen__put_str(o, gen_devices[device]);
    GEN_PUT_LIT(o, "\",\"hour\":");
    o = gen__put_u64(o, hour);
    GEN_PUT_LIT(o, "}}");
    c->o = o;
    c->line->type = SL_EVENT_RANK_REQUEST;
    c->line->surface = SL_SURFACE_EVENTS;
    c->line->ts = t;
    if (!c->t)
        return;

    char *q = c->t;
    GEN_PUT_LIT(q, "{\"request_id\":");
    q = gen__put_id(q, "r", 1, req);
    GEN_PUT_LIT(q, ",\"surface\":\"events\",\"user\":");
    q = gen__put_id(q, "u", 1, user);
    GEN_PUT_LIT(q, ",\"ts\":");
    q = gen__put_i64(q, t);
    GEN_PUT_LIT(q, ",\"candidates\":[");
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            *q++ = ',';
        q = put_item_id(q, SL_SURFACE_EVENTS, sf->items[cand[i]].id);
    }
    GEN_PUT_LIT(q, "],\"p_register\":[");
    for (uint32_t i = 0; i < n; i++) {
        const gen_item *it = &sf->items[cand[i]];
        double d = dot(us->x, it->y);
        uint32_t nf;
        double km;
        double p = p_click_events(us, it, d, device, hour, 1, 0) *
                   p_register_given_click(w, user, it, t, d, &nf, &km);
        if (i)
            *q++ = ',';
        q = gen__put_prob(q, p);
    }
    GEN_PUT_LIT(q, "]}");
    c->t = q;
    c->line->truth = true;
}

/* Writes entry e (a view, reaction or profile) at the cursor. */
static void write_entry(gen_world *w, const gen_pend *e, gen_cursor *c) {
    gen_line *l = c->line;
    l->ts = e->ts;
    l->dup = (e->flags & GEN_PEND_DUP) != 0;
    l->late = (e->flags & GEN_PEND_LATE) != 0;
    l->type = kind_type[e->kind].type;
    switch (e->kind) {
    case GEN_KIND_VIEW:
        l->surface = (sl_surface)e->surface;
        c->o = write_view(c->o, e);
        if (c->t && !l->dup) {
            c->t = write_view_truth(c->t, e);
            l->truth = true;
        }
        break;
    case GEN_KIND_PROFILE:
        c->o = e->surface == SL_SURFACE_NONE
                   ? write_user_profile(c->o, w, e->user, e->ts)
                   : write_item_profile(c->o, w, e->surface, e->slot, e->ts);
        break;
    default:
        l->surface = (sl_surface)e->surface;
        c->o = write_reaction(c->o, e);
        break;
    }
}

/* ---- delivery ------------------------------------------------------------ */

/* A reaction comes due: its effects on the world happen now, at its ts. */
static sl_status occur(gen_world *w, const gen_pend *e) {
    if (e->kind == GEN_KIND_CLICK && e->surface == SL_SURFACE_FEED) {
        gen_item *it = &w->surf[SL_SURFACE_FEED].items[e->slot];
        decayed_add(&it->trend_v, &it->trend_t, 1.0, e->ts, HL_TREND);
    } else if (e->kind == GEN_KIND_REGISTER) {
        gen_map_ent *re;
        bool created;
        sl_status st =
            gen__map_upsert(&w->regs, gen__pair_key(e->user, e->item), e->ts, &re, &created);
        if (st)
            return st;
        re->t = e->until;
        /* Friends see it only while the slot still holds this event. */
        gen_item *it = &w->surf[SL_SURFACE_EVENTS].items[e->slot];
        if (it->id != e->item)
            return SL_OK;
        it->n_reg++;
        gen_user *us = &w->users[e->user];
        us->reg_slot[us->reg_next] = e->slot;
        us->reg_id[us->reg_next] = e->item + 1;
        us->reg_next = (uint8_t)((us->reg_next + 1) % GEN_RECENT_REGS);
    }
    return SL_OK;
}

/* First delivery of a view or reaction: maybe hold it back (late), maybe
 * schedule a duplicate. *now (OUT:) says whether to write it now. */
static sl_status deliver(gen_world *w, gen_pend *e, bool *now) {
    sl_rand *r = &w->rng_imp;
    uint64_t x = sl_rand_u64(r);
    double u_late = (double)(x & 0xFFFFFFFFu) * 0x1p-32, u_dup = (double)(x >> 32) * 0x1p-32;
    sl_status st = SL_OK;
    if (u_late < w->opts.late_rate) {
        e->flags |= GEN_PEND_LATE;
        e->emit_at = e->ts + (int64_t)exp(sl_rand_uniform(r, log(LATE_MIN_MS), log(LATE_MAX_MS)));
    }
    if (u_dup < w->opts.dup_rate) {
        gen_pend d = *e;
        d.flags = (uint8_t)((d.flags & ~GEN_PEND_LATE) | GEN_PEND_DUP);
        d.emit_at = e->emit_at + 1 + (int64_t)sl_rand_below(r, DUP_MAX_MS);
        st = schedule(w, &d);
    }
    *now = !(e->flags & GEN_PEND_LATE);
    if (!st && !*now)
        st = schedule(w, e);
    return st;
}

/* ---- the initial burst --------------------------------------------------- */

/* Writes the next profile or friend line of the burst, or moves to GEN_PHASE_RUN
 * and returns false when the burst is over. */
static bool burst(gen_world *w, gen_cursor *c) {
    int64_t ts = w->opts.start_ts;
    for (;;) {
        switch (w->phase) {
        case GEN_PHASE_USERS:
            if (w->phase_i < w->n_users) {
                c->o = write_user_profile(c->o, w, (uint32_t)w->phase_i++, ts);
                goto profile;
            }
            break;
        case GEN_PHASE_ADS:
        case GEN_PHASE_POSTS:
        case GEN_PHASE_EVENTS: {
            int s = (int)w->phase - GEN_PHASE_ADS;
            if (w->phase_i < w->surf[s].n) {
                c->o = write_item_profile(c->o, w, s, (uint32_t)w->phase_i++, ts);
                goto profile;
            }
            break;
        }
        case GEN_PHASE_FRIENDS:
            while (w->phase_i < w->n_users) {
                uint32_t u = (uint32_t)w->phase_i;
                uint32_t j = w->adj_off[u] + w->phase_j;
                if (j >= w->adj_off[u + 1]) {
                    w->phase_i++;
                    w->phase_j = 0;
                    continue;
                }
                w->phase_j++;
                if (w->adj[j] > u) { /* each undirected edge once */
                    c->o = write_friend(c->o, u, w->adj[j], ts);
                    c->line->type = SL_EVENT_FRIEND;
                    c->line->ts = ts;
                    return true;
                }
            }
            break;
        case GEN_PHASE_RUN: return false;
        }
        w->phase++;
        w->phase_i = 0;
        w->phase_j = 0;
    }
profile:
    c->line->type = SL_EVENT_PROFILE;
    c->line->ts = ts;
    return true;
}

/* ---- the stream ---------------------------------------------------------- */

/* Produces the next good line at the cursor. */
static sl_status produce(gen_world *w, gen_cursor *c) {
    if (w->phase != GEN_PHASE_RUN && burst(w, c))
        return SL_OK;
    sl_status st;
    for (;;) {
        int64_t t_next = w->opts.start_ts + (int64_t)w->t_next;
        const gen_pend *top = gen__heap_top(&w->heap);
        if (top && top->emit_at <= t_next) {
            gen_pend e;
            gen__heap_pop(&w->heap, &e);
            if (!(e.flags & GEN_PEND_OCCURRED)) {
                e.flags |= GEN_PEND_OCCURRED;
                bool now;
                if ((st = occur(w, &e)) || (st = deliver(w, &e, &now)))
                    return st;
                if (!now)
                    continue;
            }
            write_entry(w, &e, c);
            return SL_OK;
        }

        /* The next primary action. */
        int64_t t = t_next;
        w->now = t;
        w->t_next += sl_rand_exp(&w->rng_sim, 1000.0 / w->opts.rate);
        if (t >= w->next_sweep) {
            w->next_sweep = t + (int64_t)MS_MIN;
            if (w->surf[SL_SURFACE_EVENTS].on && (st = sweep_events(w, t)))
                return st;
        }
        if (t >= w->next_hot) {
            w->next_hot = t + 15 * (int64_t)MS_MIN;
            if (w->surf[SL_SURFACE_FEED].on)
                rotate_hot(w);
        }
        double u = sl_rand_double(&w->rng_sim);
        if (u < P_PROFILE_UPDATE) {
            if ((st = act_profile_update(w, t)))
                return st;
            continue;
        }
        if (w->surf[SL_SURFACE_EVENTS].on && u < P_PROFILE_UPDATE + P_RANK_REQUEST) {
            act_rank_request(w, t, c);
            return SL_OK;
        }
        gen_pend v;
        if ((st = act_view(w, t, &v)))
            return st;
        if (v.flags & GEN_PEND_LOST)
            continue;
        bool now;
        if ((st = deliver(w, &v, &now)))
            return st;
        if (now) {
            write_entry(w, &v, c);
            return SL_OK;
        }
    }
}

/* ---- public -------------------------------------------------------------- */

void gen_opts_init(gen_opts *o) {
    *o = (gen_opts){
        .seed = 1,
        .events = 1000000,
        .users = 0,
        .surfaces = (1u << SL_SURFACE_COUNT) - 1,
        .start_ts = GEN_DEFAULT_START_TS,
        .rate = 0.0,
        .bad_rate = 0.0,
        .late_rate = 0.01,
        .dup_rate = 0.005,
        .lost_rate = 0.002,
    };
}

sl_status gen_surfaces_parse(const char *list, unsigned *mask, sl_err *err) {
    unsigned m = 0;
    const char *p = list;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        sl_surface s = sl_surface_parse(p, n);
        if (s == SL_SURFACE_NONE)
            return sl_err_set(err, SL_ERR_INVALID,
                              "surfaces: unknown surface '%.*s' (want ads, feed, events)",
                              (int)(n > 40 ? 40 : n), p);
        if (m & (1u << s))
            return sl_err_set(err, SL_ERR_INVALID, "surfaces: '%s' listed twice",
                              sl_surface_str(s));
        m |= 1u << s;
        if (!e)
            break;
        p = e + 1;
    }
    *mask = m;
    return SL_OK;
}

static sl_status check_rate(const char *name, double v, sl_err *err) {
    if (!(v >= 0.0 && v <= 1.0))
        return sl_err_set(err, SL_ERR_INVALID, "%s: must be a rate in [0, 1], got %g", name, v);
    return SL_OK;
}

#define GEN_MAX_USERS 20000000u /* ~1 GB of user tables */

static sl_status check_opts(const gen_opts *o, sl_err *err) {
    sl_status st;
    if ((st = check_rate("bad", o->bad_rate, err)) ||
        (st = check_rate("late", o->late_rate, err)) ||
        (st = check_rate("dup", o->dup_rate, err)) || (st = check_rate("lost", o->lost_rate, err)))
        return st;
    if (o->surfaces == 0 || o->surfaces >= (1u << SL_SURFACE_COUNT))
        return sl_err_set(err, SL_ERR_INVALID, "surfaces: need at least one of ads, feed, events");
    if (o->users != 0 && (o->users < 16 || o->users > GEN_MAX_USERS))
        return sl_err_set(err, SL_ERR_INVALID, "users: must be in [16, %u], got %u", GEN_MAX_USERS,
                          o->users);
    if (!(o->rate >= 0.0 && o->rate <= 1e6))
        return sl_err_set(err, SL_ERR_INVALID,
                          "rate: must be in (0, 1e6] actions per simulated second, got %g",
                          o->rate);
    /* Leave a century of simulated time before the contract's 2100 limit. */
    if (o->start_ts < SL_EVENT_TS_MIN || o->start_ts > SL_EVENT_TS_MAX - 10 * 365 * (int64_t)MS_D)
        return sl_err_set(err, SL_ERR_INVALID,
                          "start-ts: must be ms since epoch within 2000..2090, got %lld",
                          (long long)o->start_ts);
    return SL_OK;
}

sl_status gen_world_create(const gen_opts *opts, gen_world **out, sl_err *err) {
    *out = NULL;
    sl_status st = check_opts(opts, err);
    if (st)
        return st;
    gen_world *w = calloc(1, sizeof *w);
    if (!w)
        return sl_err_set(err, SL_ERR_NOMEM, "gen: out of memory");
    w->opts = *opts;
    if (!w->opts.users) {
        uint64_t u = opts->events / 100;
        w->opts.users = u < 1000 ? 1000 : u > GEN_MAX_USERS ? GEN_MAX_USERS : (uint32_t)u;
    }
    w->n_users = w->opts.users;
    if (w->opts.rate == 0.0)
        w->opts.rate = w->n_users / 100.0;

    sl_rand root;
    sl_rand_seed(&root, opts->seed);
    sl_rand_split(&root, &w->rng_world);
    sl_rand_split(&root, &w->rng_sim);
    sl_rand_split(&root, &w->rng_imp);
    sl_rand_split(&root, &w->rng_bad);

    double cum = 0, total = 0;
    for (int s = 0; s < SL_SURFACE_COUNT; s++) {
        w->surf[s].on = (opts->surfaces >> s) & 1u;
        total += w->surf[s].on ? surface_share[s] : 0.0;
    }
    for (int s = 0; s < SL_SURFACE_COUNT; s++) {
        cum += w->surf[s].on ? surface_share[s] / total : 0.0;
        w->surf_cum[s] = cum;
    }

    w->heap.limit = (size_t)1 << 28;
    gen__map_init(&w->fatigue, (size_t)1 << 31, fatigue_keep, HL_FATIGUE);
    gen__map_init(&w->regs, (size_t)1 << 30, reg_keep, 0);

    w->users = calloc(w->n_users, sizeof *w->users);
    double *act = malloc((size_t)w->n_users * sizeof *act);
    if (!w->users || !act) {
        free(act);
        st = SL_ERR_NOMEM;
        goto fail;
    }
    for (uint32_t u = 0; u < w->n_users; u++) {
        init_user(w, u);
        /* Activity: Pareto(1.5) capped at 30 (mean ~2.8): a long tail of
         * light users and heavy ones acting up to ~10x as often as average. */
        act[u] = fmin(pow(sl_rand_double_pos(&w->rng_world), -1.0 / 1.5), 30.0);
    }
    st = gen__alias_init(&w->user_act, act, w->n_users);
    free(act);
    if (st)
        goto fail;
    for (int c = 0; c < GEN_CATS; c++)
        for (int k = 0; k < GEN_K; k++)
            w->cat_vec[c][k] = (float)(SD_CAT_LATENT * sl_rand_normal(&w->rng_world));
    if ((st = build_items(w)) || (st = build_friends(w)))
        goto fail;
    if (w->surf[SL_SURFACE_FEED].on) {
        if ((st = build_posts_index(w)))
            goto fail;
        for (unsigned k = 0; k < GEN_HOT; k++)
            w->hot[k] = (uint32_t)sl_rand_below(&w->rng_world, w->surf[SL_SURFACE_FEED].n);
    }

    w->t_next = sl_rand_exp(&w->rng_sim, 1000.0 / w->opts.rate);
    w->now = opts->start_ts;
    w->next_sweep = opts->start_ts + (int64_t)MS_MIN;
    w->next_hot = opts->start_ts + 15 * (int64_t)MS_MIN;
    w->phase = GEN_PHASE_USERS;
    w->st.max_ts = INT64_MIN;
    *out = w;
    return SL_OK;
fail:
    gen_world_destroy(w);
    return sl_err_set(err, st, "gen: cannot build a world of %u users: %s", opts->users,
                      sl_status_str(st));
}

void gen_world_destroy(gen_world *w) {
    if (!w)
        return;
    free(w->users);
    gen__alias_deinit(&w->user_act);
    free(w->adj_off);
    free(w->adj);
    free(w->posts_off);
    free(w->posts_by);
    for (int s = 0; s < SL_SURFACE_COUNT; s++) {
        free(w->surf[s].items);
        gen__alias_deinit(&w->surf[s].pop);
    }
    gen__heap_deinit(&w->heap);
    gen__map_deinit(&w->fatigue);
    gen__map_deinit(&w->regs);
    free(w);
}

sl_status gen_world_next(gen_world *w, sl_buf *out, sl_buf *truth, gen_line *line, sl_err *err) {
    if (sl_buf_reserve(out, GEN_LINE_MAX))
        return sl_err_set(err, SL_ERR_LIMIT, "gen: the output buffer cannot grow by %u bytes",
                          GEN_LINE_MAX);
    if (truth && sl_buf_reserve(truth, GEN_TRUTH_MAX))
        return sl_err_set(err, SL_ERR_LIMIT, "gen: the truth buffer cannot grow by %u bytes",
                          GEN_TRUTH_MAX);
    gen_line l = {.off = out->len, .type = SL_EVENT_TYPE_COUNT, .surface = SL_SURFACE_NONE};
    gen_cursor c = {.o = out->p + out->len, .t = truth ? truth->p + truth->len : NULL, .line = &l};

    /* One draw from the bad stream per line, whatever the rate, keeps the
     * good lines identical across --bad settings. */
    double ub = sl_rand_double(&w->rng_bad);
    if (ub < w->opts.bad_rate) {
        sl_rand *r = &w->rng_bad;
        l.bad = (gen_bad)(1 + sl_rand_below(r, GEN_BAD_COUNT - 1));
        uint32_t user = (uint32_t)sl_rand_below(r, w->n_users);
        c.o = gen__bad_line(c.o, l.bad, r, user, w->next_view, w->now);
    } else {
        sl_status st = produce(w, &c);
        if (st)
            return sl_err_set(err, st, "gen: a world table cannot grow: %s", sl_status_str(st));
    }

    l.len = (size_t)(c.o - (out->p + l.off));
    *c.o++ = '\n';
    out->len = (size_t)(c.o - out->p);
    out->p[out->len] = '\0';
    if (truth && l.truth) {
        *c.t++ = '\n';
        truth->len = (size_t)(c.t - truth->p);
        truth->p[truth->len] = '\0';
    }

    gen_stats *st = &w->st;
    st->lines++;
    if (l.bad) {
        st->bad++;
        st->bad_by_kind[l.bad]++;
    } else {
        st->by_type[l.type]++;
        if (l.type == SL_EVENT_VIEW)
            st->views_by_surface[l.surface]++;
        st->dup += l.dup;
        st->late += l.late;
        st->truth_lines += l.truth;
        if (l.ts > st->max_ts)
            st->max_ts = l.ts;
    }
    if (line)
        *line = l;
    return SL_OK;
}

sl_status gen_world_fill(gen_world *w, sl_buf *out, sl_buf *truth, uint64_t max_lines,
                         size_t max_bytes, uint64_t *written, sl_err *err) {
    uint64_t n = 0;
    sl_status st = SL_OK;
    while (n < max_lines) {
        if (n > 0 && (out->len >= max_bytes || (truth && truth->len >= max_bytes)))
            break;
        if ((st = gen_world_next(w, out, truth, NULL, err)))
            break;
        n++;
    }
    *written = n;
    return st;
}

void gen_world_stats(const gen_world *w, gen_stats *st) {
    *st = w->st;
    st->pending = w->heap.n;
    st->users = w->n_users;
    for (int s = 0; s < SL_SURFACE_COUNT; s++)
        st->items[s] = w->surf[s].n;
    st->friend_edges = w->n_edges;
}
