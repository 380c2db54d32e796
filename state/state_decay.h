/*
 * state_decay.h — exponentially time-decayed aggregates in event time.
 *
 * An aggregate is a sum of event contributions x_i at event times t_i, each
 * weighted by how long ago it happened: read at time t, with half-life h,
 *
 *     S_h(t) = sum_i x_i * 2^(-(t - t_i) / h).
 *
 * It is stored as (v_h, t_last), one v per half-life and one t_last (the
 * largest event time added so far), with the invariant v_h = S_h(t_last).
 * Adding x at t (DESIGN §4):
 *
 *     t >= t_last:  v = v * 2^(-(t - t_last)/h) + x,   t_last = t
 *     t <  t_last:  v = v + x * 2^(-(t_last - t)/h)            (late event)
 *
 * Both branches keep the invariant exactly (in real arithmetic), so the state
 * after a set of events does not depend on their order: a late or reordered
 * event lands where it belongs at no extra cost. In floating point each add
 * rounds a few times; for non-negative x the relative error after n events
 * is a few n ulps (docs/STATE.md). Every factor is <= 1, so |v| never exceeds
 * sum |x_i|: there is no epoch to rebase and nothing grows like 2^(t/h).
 *
 * Reads at t >= t_last decay v to t. A read at t < t_last (a view older than
 * the newest event of its key) returns the value as of t_last: the aggregate
 * cannot subtract the events that came after t, and decaying backwards,
 * v * 2^((t_last - t)/h), would inflate it without bound while still
 * counting those events. Since views arrive mostly in order, such reads are
 * rare and off by at most the events between t and t_last.
 *
 * Times are int64 ms (event time, never the wall clock). Encoded values are
 * little-endian, 8 + 8 * n bytes, so state written on one machine reads on
 * another. Pure functions over caller-owned structs: any thread, no I/O.
 */
#ifndef STATE_DECAY_H
#define STATE_DECAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_status.h"

#define STATE_DECAY_MAX_HL   4         /* half-lives per aggregate (features.half_lives_ms) */
#define STATE_DECAY_EMPTY    INT64_MIN /* t_last of an aggregate that saw nothing */
#define STATE_DECAY_BYTES(n) (8u + 8u * (unsigned)(n)) /* encoded size with n half-lives */

/* The half-lives every aggregate of a kind is kept at. */
typedef struct state_decay_spec {
    int n;                           /* half-lives in use, 1..STATE_DECAY_MAX_HL */
    double h_ms[STATE_DECAY_MAX_HL]; /* half-lives in ms, > 0 */
} state_decay_spec;

/* One aggregate: v[i] is its value at t_last for half-life spec->h_ms[i]. */
typedef struct state_decay {
    int64_t t_last;               /* newest event time added; STATE_DECAY_EMPTY if none */
    double v[STATE_DECAY_MAX_HL]; /* value as of t_last, per half-life */
} state_decay;

/*
 * Fills spec from n half-lives in ms (e.g. features.half_lives_ms).
 * Returns SL_ERR_CONFIG if n is not 1..STATE_DECAY_MAX_HL or a half-life is
 * not > 0 (the message names which).
 */
sl_status state_decay_spec_init(state_decay_spec *spec, const int64_t *half_lives_ms, int n,
                                sl_err *err);

/* An aggregate that saw nothing: reads 0 at every time. */
void state_decay_init(state_decay *d);

/*
 * Adds x at event time t. x may be negative (sums of signed values) or 0
 * (which still moves t_last forward, harmlessly: the invariant holds).
 * Returns SL_ERR_INVALID, leaving d unchanged, if x is not finite or the
 * result would not be (so one bad value cannot poison an aggregate).
 */
sl_status state_decay_add(state_decay *d, const state_decay_spec *spec, int64_t t, double x);

/* The value for half-life index i (0..spec->n-1) read at t: decayed to t if
 * t >= t_last, else as of t_last (see above). 0 for an empty aggregate. */
double state_decay_read(const state_decay *d, const state_decay_spec *spec, int i, int64_t t);

/* All spec->n values read at t, into out[0..spec->n-1]. */
void state_decay_read_all(const state_decay *d, const state_decay_spec *spec, int64_t t,
                          double *out);

/*
 * The smoothed ratio (num + a) / (den + a + b) of two aggregates read at t
 * for half-life i: e.g. a click-through rate with a Beta(a, b) prior, which
 * is a/(a+b) for a key never seen and tends to num/den as evidence grows.
 * a, b >= 0. Returns 0 if the denominator is not > 0.
 */
double state_decay_ratio(const state_decay *num, const state_decay *den,
                         const state_decay_spec *spec, int i, int64_t t, double a, double b);

/* Milliseconds from the newest event to t (0 if t <= t_last), or -1 if the
 * aggregate is empty. */
int64_t state_decay_age_ms(const state_decay *d, int64_t t);

/* True if every value read at t is below eps in magnitude (or the aggregate
 * is empty): the key has decayed to nothing and a sweep may remove it. */
bool state_decay_negligible(const state_decay *d, const state_decay_spec *spec, int64_t t,
                            double eps);

/* Writes STATE_DECAY_BYTES(n) bytes to out (OUT:), little-endian. */
void state_decay_encode(const state_decay *d, int n, unsigned char *out);
/* Reads STATE_DECAY_BYTES(n) bytes; values past n are set to 0. */
void state_decay_decode(const unsigned char *p, int n, state_decay *d);

#endif
