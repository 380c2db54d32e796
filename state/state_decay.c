/* state_decay.c — decayed aggregates (see state_decay.h for the math). */
#include "sl_bytes.h"
#include "state_decay.h"

#include <math.h>
#include <string.h>

sl_status state_decay_spec_init(state_decay_spec *spec, const int64_t *half_lives_ms, int n,
                                sl_err *err) {
    if (n < 1 || n > STATE_DECAY_MAX_HL)
        return sl_err_set(err, SL_ERR_CONFIG,
                          "features.half_lives_ms: need 1..%d half-lives, got %d",
                          STATE_DECAY_MAX_HL, n);
    for (int i = 0; i < n; i++)
        if (half_lives_ms[i] <= 0)
            return sl_err_set(err, SL_ERR_CONFIG,
                              "features.half_lives_ms[%d]: must be > 0 ms, got %lld", i,
                              (long long)half_lives_ms[i]);
    memset(spec, 0, sizeof *spec);
    spec->n = n;
    for (int i = 0; i < n; i++)
        spec->h_ms[i] = (double)half_lives_ms[i];
    return SL_OK;
}

void state_decay_init(state_decay *d) {
    memset(d, 0, sizeof *d);
    d->t_last = STATE_DECAY_EMPTY;
}

/*
 * 2^(-dt/h) for dt >= 0. The difference of two int64 times is taken in
 * double: both convert exactly below 2^53 ms (285 000 years), so dt is exact
 * for any real timestamps and the subtraction cannot overflow as int64 would
 * at the extremes. exp2 of a large negative argument underflows to 0, which
 * is the right answer (the contribution is gone), never a NaN.
 */
static double decay_factor(int64_t later, int64_t earlier, double h) {
    double dt = (double)later - (double)earlier;
    return exp2(-dt / h);
}

sl_status state_decay_add(state_decay *d, const state_decay_spec *spec, int64_t t, double x) {
    if (!isfinite(x))
        return SL_ERR_INVALID;
    double v[STATE_DECAY_MAX_HL];
    int64_t t_last = d->t_last;
    if (t_last == STATE_DECAY_EMPTY) {
        for (int i = 0; i < spec->n; i++)
            v[i] = x;
        t_last = t;
    } else if (t >= t_last) {
        for (int i = 0; i < spec->n; i++)
            v[i] = d->v[i] * decay_factor(t, t_last, spec->h_ms[i]) + x;
        t_last = t;
    } else {
        for (int i = 0; i < spec->n; i++)
            v[i] = d->v[i] + x * decay_factor(t_last, t, spec->h_ms[i]);
    }
    for (int i = 0; i < spec->n; i++)
        if (!isfinite(v[i]))
            return SL_ERR_INVALID;
    memcpy(d->v, v, (size_t)spec->n * sizeof v[0]);
    d->t_last = t_last;
    return SL_OK;
}

double state_decay_read(const state_decay *d, const state_decay_spec *spec, int i, int64_t t) {
    if (d->t_last == STATE_DECAY_EMPTY)
        return 0.0;
    if (t <= d->t_last)
        return d->v[i];
    return d->v[i] * decay_factor(t, d->t_last, spec->h_ms[i]);
}

void state_decay_read_all(const state_decay *d, const state_decay_spec *spec, int64_t t,
                          double *out) {
    for (int i = 0; i < spec->n; i++)
        out[i] = state_decay_read(d, spec, i, t);
}

double state_decay_ratio(const state_decay *num, const state_decay *den,
                         const state_decay_spec *spec, int i, int64_t t, double a, double b) {
    double denom = state_decay_read(den, spec, i, t) + a + b;
    if (!(denom > 0.0))
        return 0.0;
    return (state_decay_read(num, spec, i, t) + a) / denom;
}

int64_t state_decay_age_ms(const state_decay *d, int64_t t) {
    if (d->t_last == STATE_DECAY_EMPTY)
        return -1;
    return t > d->t_last ? t - d->t_last : 0;
}

bool state_decay_negligible(const state_decay *d, const state_decay_spec *spec, int64_t t,
                            double eps) {
    for (int i = 0; i < spec->n; i++)
        if (fabs(state_decay_read(d, spec, i, t)) >= eps)
            return false;
    return true;
}

void state_decay_encode(const state_decay *d, int n, unsigned char *out) {
    sl_put_u64(out, (uint64_t)d->t_last);
    for (int i = 0; i < n; i++) {
        uint64_t w;
        memcpy(&w, &d->v[i], sizeof w);
        sl_put_u64(out + 8 + 8 * i, w);
    }
}

void state_decay_decode(const unsigned char *p, int n, state_decay *d) {
    memset(d, 0, sizeof *d);
    d->t_last = (int64_t)sl_get_u64(p);
    for (int i = 0; i < n; i++) {
        uint64_t w = sl_get_u64(p + 8 + 8 * i);
        memcpy(&d->v[i], &w, sizeof w);
    }
}
