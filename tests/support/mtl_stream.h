/*
 * mtl_stream.h — a seeded synthetic multi-task feed stream for the tests and
 * the benchmark of the feed model (model_mtl): views of items by users with
 * click, like, share and dwell labels drawn from a known model. Header-only;
 * test and bench code only.
 *
 * The world: U users and N items, each with a latent vector of MS_D
 * numbers (an item's lies near its category's centre, so a user's taste
 * for a category is most of the affinity); items have a category
 * (MS_CATS), a quality and a popularity that falls off as a power law. A view has a device, an hour and a position.
 * With affinity a = ⟨u, v⟩/√MS_D:
 *   click  ~ σ(−2.6 + 1.4·a + 0.8·quality − 0.15·position + device_bias)
 *   like   ~ clicked · σ(−1.6 + 1.2·a + 0.5·quality + user_like_bias)
 *   share  ~ clicked · σ(−2.2 + 0.9·a + 1.0·virality)
 *   dwell  = clicked · exp(9.5 + 0.5·a + 0.3·quality + N(0, 0.5²)) ms
 * so the four tasks share the affinity (what a shared representation can
 * learn once) and each has its own signal. Base rates: click ≈ 11 %,
 * like ≈ 3 %, share ≈ 2 %.
 *
 * Sparse fields (value 1): 0 user, 1 item, 2 category, 3 device, 4 hour,
 * 5 position, 6 user × category. Dense (8): the item's quality seen with
 * noise, the user's like bias seen with noise (× 100, + 50: normalization
 * matters), virality seen with noise, position, item age, three noise
 * columns of scale 3.
 */
#ifndef MTL_STREAM_H
#define MTL_STREAM_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "model_example.h"
#include "sl_rand.h"

#define MS_D       4  /* latent dimension */
#define MS_CATS    16 /* item categories */
#define MS_FIELDS  7  /* sparse fields */
#define MS_DENSE   8  /* dense values */

typedef struct mtl_stream {
    sl_rand rng;      /* the stream's draws */
    uint32_t users;   /* U */
    uint32_t items;   /* N */
    float *u;         /* (U, MS_D) user vectors */
    float *ulike;     /* (U) like bias */
    float *v;         /* (N, MS_D) item vectors */
    float *quality;   /* (N) */
    float *virality;  /* (N) */
    uint8_t *cat;     /* (N) */
    uint64_t n;       /* views drawn */
} mtl_stream;

static inline float ms_sig(double x) { return (float)(1.0 / (1.0 + exp(-x))); }

static inline uint32_t ms_idx(uint32_t field, uint64_t value) {
    return (uint32_t)sl_rand_hash64(((uint64_t)field << 48) ^ value ^ UINT64_C(0x5eed));
}

/* false on out of memory. */
static inline bool mtl_stream_init(mtl_stream *s, uint64_t seed, uint32_t users, uint32_t items) {
    sl_rand_seed(&s->rng, seed);
    s->users = users;
    s->items = items;
    s->n = 0;
    s->u = malloc((size_t)users * MS_D * sizeof(float));
    s->ulike = malloc((size_t)users * sizeof(float));
    s->v = malloc((size_t)items * MS_D * sizeof(float));
    s->quality = malloc((size_t)items * sizeof(float));
    s->virality = malloc((size_t)items * sizeof(float));
    s->cat = malloc(items);
    if (!s->u || !s->ulike || !s->v || !s->quality || !s->virality || !s->cat)
        return false;
    for (size_t i = 0; i < (size_t)users * MS_D; i++)
        s->u[i] = (float)sl_rand_normal(&s->rng);
    for (uint32_t i = 0; i < users; i++)
        s->ulike[i] = (float)(0.7 * sl_rand_normal(&s->rng));
    float centre[MS_CATS][MS_D]; /* an item is near its category's centre */
    for (int c = 0; c < MS_CATS; c++)
        for (int k = 0; k < MS_D; k++)
            centre[c][k] = (float)sl_rand_normal(&s->rng);
    for (uint32_t i = 0; i < items; i++) {
        s->cat[i] = (uint8_t)sl_rand_below(&s->rng, MS_CATS);
        for (int k = 0; k < MS_D; k++)
            s->v[(size_t)i * MS_D + k] =
                (float)(0.8 * centre[s->cat[i]][k] + 0.6 * sl_rand_normal(&s->rng));
        s->quality[i] = (float)(0.8 * sl_rand_normal(&s->rng));
        s->virality[i] = (float)sl_rand_normal(&s->rng);
    }
    return true;
}

static inline void mtl_stream_free(mtl_stream *s) {
    free(s->u);
    free(s->ulike);
    free(s->v);
    free(s->quality);
    free(s->virality);
    free(s->cat);
}

/* The next view: *ex (OUT:) with its features and all four labels;
 * p (OUT:, may be NULL) the true click, like, share probabilities and the
 * expected log1p(dwell) given a click. */
static inline void mtl_stream_next(mtl_stream *s, model_example *ex, double *p) {
    sl_rand *r = &s->rng;
    uint32_t user = (uint32_t)sl_rand_below(r, s->users);
    double x = sl_rand_double(r); /* popularity ~ power law */
    uint32_t item = (uint32_t)(s->items * x * x * x);
    uint32_t device = (uint32_t)sl_rand_below(r, 3);
    uint32_t hour = (uint32_t)sl_rand_below(r, 24);
    uint32_t pos = (uint32_t)sl_rand_below(r, 10);
    const float *u = s->u + (size_t)user * MS_D, *v = s->v + (size_t)item * MS_D;
    double a = 0.0;
    for (int k = 0; k < MS_D; k++)
        a += (double)u[k] * v[k];
    a /= sqrt((double)MS_D);
    double q = s->quality[item], vir = s->virality[item];
    static const double dev_bias[3] = {0.0, -0.3, 0.25};
    double pc = ms_sig(-2.6 + 1.4 * a + 0.8 * q - 0.15 * pos + dev_bias[device]);
    double pl = ms_sig(-1.6 + 1.2 * a + 0.5 * q + s->ulike[user]);
    double ps = ms_sig(-2.2 + 0.9 * a + 1.0 * vir);
    double mu = 9.5 + 0.5 * a + 0.3 * q;
    bool click = sl_rand_bernoulli(r, pc);
    bool like = click && sl_rand_bernoulli(r, pl);
    bool share = click && sl_rand_bernoulli(r, ps);
    double dwell = click ? exp(mu + 0.5 * sl_rand_normal(r)) : 0.0;

    model_example_reset(ex);
    model_example_add(ex, ms_idx(0, user), 1.0f, 0);
    model_example_add(ex, ms_idx(1, item), 1.0f, 1);
    model_example_add(ex, ms_idx(2, s->cat[item]), 1.0f, 2);
    model_example_add(ex, ms_idx(3, device), 1.0f, 3);
    model_example_add(ex, ms_idx(4, hour), 1.0f, 4);
    model_example_add(ex, ms_idx(5, pos), 1.0f, 5);
    model_example_add(ex, ms_idx(6, (uint64_t)user * MS_CATS + s->cat[item]), 1.0f, 6);
    ex->n_dense = MS_DENSE;
    ex->dense[0] = (float)(q + 0.3 * sl_rand_normal(r));
    ex->dense[1] = (float)(50.0 + 100.0 * (s->ulike[user] + 0.3 * sl_rand_normal(r)));
    ex->dense[2] = (float)(vir + 0.3 * sl_rand_normal(r));
    ex->dense[3] = (float)pos;
    ex->dense[4] = (float)sl_rand_uniform(r, 0, 48);
    for (int k = 5; k < MS_DENSE; k++)
        ex->dense[k] = (float)(3.0 * sl_rand_normal(r));
    model_example_set_label(ex, MODEL_LABEL_CLICK, click ? 1.0f : 0.0f);
    model_example_set_label(ex, MODEL_LABEL_LIKE, like ? 1.0f : 0.0f);
    model_example_set_label(ex, MODEL_LABEL_SHARE, share ? 1.0f : 0.0f);
    model_example_set_label(ex, MODEL_LABEL_DWELL, (float)dwell);
    if (p) {
        p[0] = pc;
        p[1] = pc * pl;
        p[2] = pc * ps;
        p[3] = mu;
    }
    s->n++;
}

#endif
