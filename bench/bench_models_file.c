/*
 * bench_models_file.c — the click models over an examples file, in order:
 * progressive log loss (each example is predicted before it is learned) and
 * learning throughput (predict + update per example, one core, through the
 * batch learns, model_*_learn_batch, on each batch read), for the peer
 * comparison of bench/models_peers.sh (VW and River read the same examples
 * through bench/peers_convert.py).
 *
 * Input: JSON Lines as `streamlearn replay` writes DIR/examples.jsonl (one
 * object per closed view: "labels", "weight", "idx", "val", "field"), or as
 * bench/peers_data.py writes from the real data samples. Only the sparse
 * part is read; the dense vector is not used by these models.
 *
 * The file is read in batches of BATCH examples; only the learning loop is
 * timed (wall and CPU time of this thread), so the JSON scanning does not
 * count. With --truth (`streamlearn gen --truth`), the Bayes-optimal loss
 * of the same examples (the generator's true p_click, joined by view id
 * "v<N>") is printed beside the models'.
 *
 * Usage: bench_models_file EXAMPLES.jsonl [options]
 *   --model ftrl|fm|ffm|both   (both = ftrl and fm; ffm: the field-aware FM)
 *   --label NAME               label to learn (click)
 *   --bits B                   hash_bits (22)
 *   --alpha A --beta B --l1 L --l2 L          FTRL (0.05, 1, 1, 1 as the config)
 *   --fast-fields F,F,... --fast-alpha A      these field ids learn at A (0.2)
 *   --k K --factor-lr LR --factor-l2 L --init-std S --factor-bits B   FM
 *   --drop-fields F,F,...      ignore features of these field ids (ablation)
 *   --drop-fields-from F       ignore features of field ≥ F (ablation)
 *   --limit N                  stop after N examples
 *   --truth FILE               gen's truth file: print the Bayes-optimal loss
 *   --at N,N,...               also print the progressive loss of the first N
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model_example.h"
#include "model_fm.h"
#include "model_ftrl.h"

#define BATCH    8192       /* examples parsed, then learned */
#define LINE_MAX (1u << 20) /* longest line read */
#define MAX_AT   8          /* --at checkpoints */

typedef struct bench_clock {
    double wall, cpu; /* seconds */
} bench_clock;

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bench_clock bench_now(void) {
    return (bench_clock){clock_s(CLOCK_MONOTONIC), clock_s(CLOCK_THREAD_CPUTIME_ID)};
}

static double logloss(double p, double y) {
    p = p < 1e-15 ? 1e-15 : p > 1 - 1e-15 ? 1 - 1e-15 : p;
    return -(y * log(p) + (1 - y) * log(1 - p));
}

/* One learner's running figures. */
typedef struct learner {
    const char *name;                 /* "ftrl_lr", "fm" */
    model_ftrl *lr;                   /* or */
    model_fm *fm;                     /* the model */
    double loss;                      /* Σ weight·logloss, progressive */
    double loss_at[MAX_AT];           /* the same over the first at[i] examples */
    double wall, cpu;                 /* learning time, seconds */
    unsigned long refused;            /* guard refusals */
} learner;

/* ---- a scanner for the fields this tool reads ---------------------------- */

/* The text after "key": in line, or NULL. Keys are unique in an example. */
static const char *after_key(const char *line, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    return p ? p + strlen(pat) : NULL;
}

/* Reads a JSON number array at p ("[1,2]"). OUT: out (≤ cap). Returns the
 * count, or -1 when malformed or longer than cap. */
static int read_array(const char *p, double *out, int cap) {
    if (!p || *p != '[')
        return -1;
    p++;
    int n = 0;
    while (*p && *p != ']') {
        char *end;
        double v = strtod(p, &end);
        if (end == p || n >= cap)
            return -1;
        out[n++] = v;
        p = end;
        if (*p == ',')
            p++;
    }
    return *p == ']' ? n : -1;
}

/* Parses one example line. OUT: ex, *y (the label), *view (the N of a
 * "v<N>" view id, or -1). Returns 0, or -1 when the line is not an example
 * with that label. */
static int parse_example(const char *line, const char *label, uint32_t drop_from,
                         const uint64_t *drop, model_example *ex, float *y, long *view) {
    static double idx[MODEL_MAX_SPARSE], val[MODEL_MAX_SPARSE], fld[MODEL_MAX_SPARSE];
    const char *labels = after_key(line, "labels");
    const char *l = labels ? after_key(labels, label) : NULL;
    if (!l)
        return -1;
    *y = (float)strtod(l, NULL);
    int n = read_array(after_key(line, "idx"), idx, MODEL_MAX_SPARSE);
    if (n < 0 || read_array(after_key(line, "val"), val, MODEL_MAX_SPARSE) != n ||
        read_array(after_key(line, "field"), fld, MODEL_MAX_SPARSE) != n)
        return -1;
    model_example_reset(ex);
    const char *w = after_key(line, "weight");
    if (w)
        ex->weight = (float)strtod(w, NULL);
    for (int j = 0; j < n; j++)
        if ((uint32_t)fld[j] < drop_from &&
            !(drop[((uint32_t)fld[j] & 255) >> 6] >> ((uint32_t)fld[j] & 63) & 1))
            model_example_add(ex, (uint32_t)idx[j], (float)val[j], (uint8_t)fld[j]);
    const char *v = after_key(line, "view_id");
    *view = v && v[0] == '"' && v[1] == 'v' ? strtol(v + 2, NULL, 10) : -1;
    return 0;
}

/* OUT: *p (n) the true p_click of view v<i> from gen's truth file, NaN where
 * unknown. Returns the array size, or 0 when the file cannot be read. */
static long read_truth(const char *path, float **p) {
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long cap = 1 << 20, max = 0;
    float *t = malloc((size_t)cap * sizeof *t);
    char *line = malloc(LINE_MAX);
    for (long i = 0; t && i < cap; i++)
        t[i] = NAN;
    while (t && line && fgets(line, LINE_MAX, f)) {
        const char *v = after_key(line, "view_id"), *pc = after_key(line, "p_click");
        if (!v || !pc || v[0] != '"' || v[1] != 'v')
            continue;
        long i = strtol(v + 2, NULL, 10);
        if (i < 0)
            continue;
        while (i >= cap) {
            float *t2 = realloc(t, (size_t)cap * 2 * sizeof *t);
            if (!t2) {
                free(t);
                t = NULL;
                break;
            }
            t = t2;
            for (long k = cap; k < 2 * cap; k++)
                t[k] = NAN;
            cap *= 2;
        }
        if (!t)
            break;
        t[i] = (float)strtod(pc, NULL);
        max = i + 1 > max ? i + 1 : max;
    }
    fclose(f);
    free(line);
    *p = t;
    return t ? max : 0;
}

/* ---- the run ----------------------------------------------------------- */

/* Learns exs (n ≤ BATCH) in order with the model's batch learn (the next
 * examples' parameters prefetched while one is learned: bitwise the same
 * as learning them one by one). ptrs, ps: (BATCH) scratch. */
static void learn_batch(learner *l, const model_example *exs, const float *ys, long n,
                        long seen, const long *at, int n_at, const model_example **ptrs,
                        float *ps) {
    double loss = 0;
    bench_clock t0 = bench_now();
    for (long i = 0; i < n; i++)
        ptrs[i] = &exs[i];
    /* ps: each prediction made before its update (progressive) */
    l->refused += l->lr ? model_ftrl_learn_batch(l->lr, ptrs, ys, (uint32_t)n, ps, NULL)
                        : model_fm_learn_batch(l->fm, ptrs, ys, (uint32_t)n, ps, NULL);
    for (long i = 0; i < n; i++) {
        double li = exs[i].weight * logloss(ps[i], ys[i]);
        loss += li;
        for (int a = 0; a < n_at; a++)
            if (seen + i < at[a])
                l->loss_at[a] += li;
    }
    bench_clock t1 = bench_now();
    l->loss += loss;
    l->wall += t1.wall - t0.wall;
    l->cpu += t1.cpu - t0.cpu;
}

static int usage(void) {
    fprintf(stderr, "usage: bench_models_file EXAMPLES.jsonl [--model ftrl|fm|ffm|both] [--label "
                    "NAME] [--bits B]\n"
                    "  [--alpha A] [--beta B] [--l1 L] [--l2 L] [--k K] [--factor-lr LR]\n"
                    "  [--factor-l2 L] [--init-std S] [--factor-bits B] [--drop-fields-from F]\n"
                    "  [--drop-fields F,F,...] [--fast-fields F,F,...] [--fast-alpha A]\n"
                    "  [--limit N] [--truth FILE] [--at N,N,...]\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-')
        return usage();
    const char *path = argv[1], *which = "both", *label = "click", *truth_path = NULL;
    uint32_t bits = 22, drop_from = UINT32_MAX;
    uint64_t drop[4] = {0, 0, 0, 0}; /* bit f: field f ignored */
    long limit = -1, at[MAX_AT];
    int n_at = 0;
    model_ftrl_params lp;
    model_fm_params fp;
    model_ftrl_params_default(&lp);
    lp.l1 = 1; /* the config's defaults (sl_config) */
    model_fm_params_default(&fp);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        i++;
        if (!strcmp(a, "--model"))
            which = v;
        else if (!strcmp(a, "--label"))
            label = v;
        else if (!strcmp(a, "--bits"))
            bits = (uint32_t)atoi(v);
        else if (!strcmp(a, "--alpha"))
            lp.alpha = atof(v);
        else if (!strcmp(a, "--beta"))
            lp.beta = atof(v);
        else if (!strcmp(a, "--l1"))
            lp.l1 = atof(v);
        else if (!strcmp(a, "--l2"))
            lp.l2 = atof(v);
        else if (!strcmp(a, "--k"))
            fp.k = (uint32_t)atoi(v);
        else if (!strcmp(a, "--factor-lr"))
            fp.factor_lr = atof(v);
        else if (!strcmp(a, "--factor-l2"))
            fp.factor_l2 = atof(v);
        else if (!strcmp(a, "--init-std"))
            fp.init_std = atof(v);
        else if (!strcmp(a, "--factor-bits"))
            fp.factor_bits = (uint32_t)atoi(v);
        else if (!strcmp(a, "--fast-fields")) { /* field ids learning at --fast-alpha */
            for (const char *p = v; p && *p; p = strchr(p, ',')) {
                p += *p == ',';
                unsigned f = (unsigned)atoi(p) & 255;
                lp.fast_fields[f >> 6] |= (uint64_t)1 << (f & 63);
            }
        } else if (!strcmp(a, "--fast-alpha"))
            lp.fast_alpha = atof(v);
        else if (!strcmp(a, "--drop-fields")) { /* field ids to ignore, "8,9" */
            for (const char *p = v; p && *p; p = strchr(p, ',')) {
                p += *p == ',';
                unsigned f = (unsigned)atoi(p) & 255;
                drop[f >> 6] |= (uint64_t)1 << (f & 63);
            }
        } else if (!strcmp(a, "--drop-fields-from"))
            drop_from = (uint32_t)atoi(v);
        else if (!strcmp(a, "--limit"))
            limit = atol(v);
        else if (!strcmp(a, "--truth"))
            truth_path = v;
        else if (!strcmp(a, "--at")) {
            for (const char *p = v; p && *p && n_at < MAX_AT; p = strchr(p, ',')) {
                p += *p == ',';
                at[n_at++] = atol(p);
            }
        } else
            return usage();
    }
    fp.lin = lp;
    learner ls[2];
    int n_l = 0;
    sl_err err = {{0}};
    if (strcmp(which, "fm") != 0 && strcmp(which, "ffm") != 0) {
        ls[n_l] = (learner){.name = "ftrl_lr"};
        if (model_ftrl_create(&lp, bits, &ls[n_l].lr, &err) != SL_OK)
            goto bad_model;
        n_l++;
    }
    if (strcmp(which, "ftrl") != 0) {
        fp.field_aware = !strcmp(which, "ffm");
        ls[n_l] = (learner){.name = fp.field_aware ? "ffm" : "fm"};
        if (model_fm_create(&fp, bits, &ls[n_l].fm, &err) != SL_OK)
            goto bad_model;
        n_l++;
    }
    float *truth = NULL;
    long n_truth = truth_path ? read_truth(truth_path, &truth) : 0;
    if (truth_path && !n_truth) {
        fprintf(stderr, "bench_models_file: cannot read the truth in %s\n", truth_path);
        return 1;
    }
    FILE *f = fopen(path, "r");
    char *line = malloc(LINE_MAX);
    model_example *exs = malloc(BATCH * sizeof *exs);
    float *ys = malloc(BATCH * sizeof *ys), *ps = malloc(BATCH * sizeof *ps);
    const model_example **ptrs = malloc(BATCH * sizeof *ptrs);
    if (!f || !line || !exs || !ys || !ps || !ptrs) {
        fprintf(stderr, "bench_models_file: cannot read %s\n", path);
        return 1;
    }
    long seen = 0, skipped = 0, positives = 0, n_bayes = 0;
    double wsum = 0, wsum_at[MAX_AT] = {0}, bayes = 0, bayes_at[MAX_AT] = {0}, features = 0;
    for (;;) {
        long n = 0;
        while (n < BATCH && (limit < 0 || seen + n < limit) && fgets(line, LINE_MAX, f)) {
            long view;
            if (parse_example(line, label, drop_from, drop, &exs[n], &ys[n], &view)) {
                skipped++;
                continue;
            }
            wsum += exs[n].weight;
            for (int a = 0; a < n_at; a++)
                if (seen + n < at[a])
                    wsum_at[a] += exs[n].weight;
            positives += ys[n] > 0.5f;
            features += exs[n].n;
            if (n_truth && view >= 0 && view < n_truth && !isnan(truth[view])) {
                double lb = exs[n].weight * logloss(truth[view], ys[n]);
                bayes += lb;
                for (int a = 0; a < n_at; a++)
                    if (seen + n < at[a])
                        bayes_at[a] += lb;
                n_bayes++;
            }
            n++;
        }
        if (n == 0)
            break;
        for (int k = 0; k < n_l; k++)
            learn_batch(&ls[k], exs, ys, n, seen, at, n_at, ptrs, ps);
        seen += n;
    }
    fclose(f);
    printf("file %s: %ld examples (label %s: %ld positive), %.1f features each, %ld lines "
           "skipped%s\n",
           path, seen, label, positives, seen ? features / seen : 0.0, skipped,
           drop_from != UINT32_MAX ? " (fields from the cut dropped)" : "");
    if (n_truth) {
        printf("bayes    progressive log loss %.5f (%ld of %ld examples have a truth)\n",
               n_bayes ? bayes / wsum : NAN, n_bayes, seen);
        if (n_bayes == seen)
            printf("RESULT learner=bayes args='' loss=%.5f n=%ld\n", bayes / wsum, seen);
    }
    for (int k = 0; k < n_l; k++) {
        learner *l = &ls[k];
        printf("%-8s progressive log loss %.5f", l->name, seen ? l->loss / wsum : NAN);
        if (n_truth && n_bayes == seen)
            printf(" (gap to Bayes %.2f %%)", 100 * (l->loss / bayes - 1));
        printf(", %.0f examples/s wall, %.0f per CPU-s, refused %lu\n", seen / l->wall,
               seen / l->cpu, l->refused);
        for (int a = 0; a < n_at; a++) {
            long m = at[a] < seen ? at[a] : seen;
            printf("    first %ld: %.5f", m, l->loss_at[a] / wsum_at[a]);
            if (n_truth && n_bayes == seen)
                printf(" (Bayes %.5f, gap %.2f %%)", bayes_at[a] / wsum_at[a],
                       100 * (l->loss_at[a] / bayes_at[a] - 1));
            printf("\n");
        }
        if (l->lr)
            printf("RESULT learner=ours_ftrl_lr args='alpha=%g beta=%g l1=%g l2=%g bits=%u "
                   "fast_alpha=%g' ",
                   lp.alpha, lp.beta, lp.l1, lp.l2, bits, lp.fast_alpha);
        else
            printf("RESULT learner=ours_%s args='k=%u alpha=%g l1=%g l2=%g factor_lr=%g "
                   "factor_l2=%g init_std=%g bits=%u' ",
                   l->name, fp.k, lp.alpha, lp.l1, lp.l2, fp.factor_lr, fp.factor_l2,
                   fp.init_std, bits);
        printf("loss=%.5f ex_per_s=%.0f cpu_ex_per_s=%.0f n=%ld\n", l->loss / wsum,
               seen / l->wall, seen / l->cpu, seen);
        model_ftrl_destroy(l->lr);
        model_fm_destroy(l->fm);
    }
    free(line);
    free(exs);
    free(ys);
    free(ps);
    free(ptrs);
    free(truth);
    return 0;
bad_model:
    fprintf(stderr, "bench_models_file: %s\n", err.msg);
    return 2;
}
