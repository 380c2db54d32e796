/*
 * model_mtl.h — the multi-task feed model (DESIGN.md §6, issue 6 item 1):
 * hashed embeddings pooled per field and online-normalized dense features →
 * shared ReLU layers → four heads: click, like, share (sigmoid, binary
 * cross-entropy) and dwell (Huber on log1p(dwell_ms), only for clicked
 * views). Learned online in mini-batches; dense layers through OpenBLAS
 * cblas_sgemm, embeddings updated sparsely (only the rows a batch used).
 *
 * Legend (docs/MODELS.md has the math):
 *   R  = 2^emb_bits embedding rows        K  = embed_dim floats per row
 *   F  = n_fields pooled fields           Dn = n_dense dense inputs
 *   I  = F·K + Dn input width             L  = hidden layers, widths H_1..H_L
 *   B  = examples in a batch (≤ mini_batch)
 *   s  = optimizer state floats per parameter (momentum 1, AdaGrad 1, Adam 2)
 *   T  = 4 heads (click, like, share, dwell)
 *
 * An example's sparse feature j goes to field ex->field[j] mod F and to
 * embedding row r = top emb_bits bits of (idx · 0x9E3779B1) (Fibonacci
 * hashing, as model_fm does). A field's vector is the mean (or sum) of
 * x_j·E[r_j] over the example's features of that field; a field without
 * features is zeros.
 *
 * State: every parameter, optimizer-state and normalizer array, and the
 * examples waiting in the mini-batch buffer, are named float arrays
 * (model_mtl_arrays), each with its own model_dirty tracker that the model
 * marks as rows change: embedding rows one by one, the dense layers, their
 * optimizer state and the normalizer whole after each trained batch, the
 * buffer row by row. Restoring the arrays (and the counters) and calling
 * model_mtl_restored resumes a model bitwise identical to the one saved.
 *
 * The guard: a batch whose loss or any gradient is not finite, or any
 * gradient larger than max_grad, or an example with a negative or
 * non-finite weight, is refused: nothing is written (the normalizer is
 * restored), `refused` counts it, the call returns SL_ERR_INVALID. The step
 * from finite gradients bounded by max_grad is finite for every optimizer.
 *
 * Deterministic for a seed and a stream: fixed-seed init (sl_rand), no
 * clock, fixed accumulation order, and create sets OpenBLAS to one thread
 * (openblas_set_num_threads(1): a process-wide setting, which the engine's
 * one-thread-per-operator design wants anyway). Not thread-safe: one
 * caller at a time per model (predict uses the model's scratch too).
 */
#ifndef MODEL_MTL_H
#define MODEL_MTL_H

#include <stdbool.h>
#include <stdint.h>

#include "model_dirty.h"
#include "model_example.h"
#include "model_snapshot.h"
#include "sl_config.h"
#include "sl_status.h"

#define MODEL_MTL_HEADS      4                    /* T: click, like, share, dwell */
#define MODEL_MTL_MAX_LAYERS SL_CONFIG_MAX_LAYERS /* hidden layers */
#define MODEL_MTL_MAX_FIELDS 64                   /* F */
#define MODEL_MTL_MAX_WIDTH  4096                 /* a hidden layer's width */
#define MODEL_MTL_MIN_BITS   4                    /* emb_bits range */
#define MODEL_MTL_MAX_BITS   24
#define MODEL_MTL_MAX_BATCH  65536 /* mini_batch (the config's bound) */
#define MODEL_MTL_MAX_ARRAYS (2 * MODEL_MTL_MAX_LAYERS + 6)
#define MODEL_MTL_NAME_MAX   24 /* array names, NUL included */

enum { MODEL_MTL_CLICK, MODEL_MTL_LIKE, MODEL_MTL_SHARE, MODEL_MTL_DWELL };

typedef enum model_mtl_opt {
    MODEL_MTL_OPT_ADAM,     /* Adam (Kingma & Ba), lazy on embedding rows */
    MODEL_MTL_OPT_ADAGRAD,  /* AdaGrad */
    MODEL_MTL_OPT_MOMENTUM, /* SGD with (heavy-ball) momentum */
    MODEL_MTL_OPT_COUNT
} model_mtl_opt;

typedef enum model_mtl_pool {
    MODEL_MTL_POOL_MEAN, /* a field's vector: mean of its features' x·E[r] */
    MODEL_MTL_POOL_SUM   /* ... their sum */
} model_mtl_pool;

typedef struct model_mtl_params {
    uint32_t emb_bits;                     /* log2 R, MODEL_MTL_MIN_BITS..MAX_BITS */
    uint32_t embed_dim;                    /* K, 1..512 */
    uint32_t n_fields;                     /* F, 1..MODEL_MTL_MAX_FIELDS */
    uint32_t n_dense;                      /* Dn, 0..MODEL_MAX_DENSE */
    uint32_t hidden[MODEL_MTL_MAX_LAYERS]; /* H_1..H_L, each 1..MODEL_MTL_MAX_WIDTH */
    uint32_t n_hidden;                     /* L, 1..MODEL_MTL_MAX_LAYERS */
    uint32_t mini_batch;                   /* examples per update, 1..MODEL_MTL_MAX_BATCH */
    model_mtl_opt opt;                     /* optimizer */
    model_mtl_pool pool;                   /* per-field pooling */
    double lr;                             /* step size, > 0 */
    double momentum;                       /* SGD momentum μ, [0, 1) */
    double beta1, beta2;                   /* Adam, [0, 1) */
    double eps;                            /* Adam / AdaGrad denominator, > 0 */
    double head_weights[MODEL_MTL_HEADS];  /* loss weight per head, ≥ 0 */
    double blend[MODEL_MTL_HEADS];         /* feed score weight per head output */
    double huber_delta;                    /* Huber δ of the dwell head (log units), > 0 */
    double dwell_init_ms;                  /* dwell head bias starts at log1p of this, ≥ 0 */
    double base_rate[3];                   /* click, like, share head biases start at
                                            * their logits, each in (0, 1) */
    double init_std;                       /* embedding init N(0, init_std²), ≥ 0 */
    double max_grad;                       /* guard: largest |gradient| accepted, > 0 */
    uint64_t seed;                         /* init seed */
} model_mtl_params;

/* One named state array: rows × width floats, row-major, valid until
 * destroy. Writing data (then model_mtl_restored) is how a restore works. */
typedef struct model_mtl_array {
    const char *name;   /* ≤ 23 chars, unique within the model */
    float *data;        /* (rows, width) */
    uint64_t rows;      /* rows */
    uint32_t width;     /* floats per row */
    model_dirty *dirty; /* rows changed since the caller last cleared it */
} model_mtl_array;

typedef struct model_mtl_counters {
    uint64_t updates;  /* batches applied */
    uint64_t examples; /* examples in the batches applied */
    uint64_t refused;  /* batches the guard refused */
    uint64_t dropped;  /* examples in the refused batches */
} model_mtl_counters;

typedef struct model_mtl model_mtl;

/* Defaults: emb_bits 17, K 16, F 32, Dn MODEL_MAX_DENSE, hidden [128, 64],
 * mini_batch 64, Adam (lr 0.001, β 0.9 / 0.999, eps 1e-8), momentum 0.9,
 * mean pooling, head weights 1/1/1/0.5, blend 1/2/4/0.0001, Huber δ 1,
 * dwell_init_ms 10000, base rates 0.5, init_std 0.01, max_grad 1e6,
 * seed 1. OUT: *p. */
void model_mtl_params_default(model_mtl_params *p);
/* The config's values (embed_dim, hidden, mini_batch, lr, optimizer,
 * emb_bits, head_weights, blend, init_std, seed; the click head's base
 * rate from the surface's base_rate, like's and share's from
 * like_base_rate, share_base_rate), defaults for the rest;
 * F and Dn are the featurizer's business: set them after. OUT: *p. */
void model_mtl_params_from_config(const sl_config_model *cm, model_mtl_params *p);
/* "adam", "adagrad", "momentum"; false when s is none of them. OUT: *opt. */
bool model_mtl_opt_parse(const char *s, model_mtl_opt *opt);
const char *model_mtl_opt_str(model_mtl_opt opt);

/* Allocates a model initialized from p->seed. OUT: *out, owned by the caller
 * (model_mtl_destroy). SL_ERR_INVALID (bad params, message in err) or
 * SL_ERR_NOMEM. */
sl_status model_mtl_create(const model_mtl_params *p, model_mtl **out, sl_err *err);
void model_mtl_destroy(model_mtl *m); /* NULL is fine */

/* The four head outputs for ex: out[0..2] = p_click, p_like, p_share,
 * out[3] = dwell_ms = expm1(the dwell head, clamped to [0, 20]). */
void model_mtl_predict(model_mtl *m, const model_example *ex, float out[MODEL_MTL_HEADS]);
/* The same for n examples at once (one sgemm per layer). OUT: out (n). */
void model_mtl_predict_batch(model_mtl *m, const model_example *exs, uint32_t n,
                             float (*out)[MODEL_MTL_HEADS]);
/* The feed score Σ_t blend_t · out[t]. */
float model_mtl_blend(const model_mtl *m, const float out[MODEL_MTL_HEADS]);

/*
 * Copies ex into the mini-batch buffer (ex is borrowed for the call); when
 * the buffer holds mini_batch examples, trains on them and empties it.
 * A head learns from an example only when the example has its label
 * (has_label); dwell only when the example also has click = 1. Returns
 * SL_OK, SL_ERR_INVALID when the batch this call completed was refused by
 * the guard (model unchanged, counted), SL_ERR_LIMIT when ex cannot be
 * encoded (n or n_dense out of range, or has_label bits past the last
 * label: nothing buffered).
 */
sl_status model_mtl_learn(model_mtl *m, const model_example *ex);
/* Trains on the examples buffered so far (a partial batch), if any. SL_OK
 * or SL_ERR_INVALID (refused, as above). */
sl_status model_mtl_flush(model_mtl *m);
uint32_t model_mtl_pending(const model_mtl *m); /* examples buffered */

/*
 * The state arrays, in a fixed order: "emb" (R, K·(1+s): a row's K floats,
 * then its optimizer state), "l0".."l{L-1}" and "head" (H_out, H_in + 1: a
 * row's weights, then its bias), "l0_opt".."head_opt" (H_out, s·(H_in+1)),
 * "norm" (Dn, 3: count, mean, variance; absent when Dn = 0), "meta" (1, 3:
 * Adam's β1^t and β2^t (1, 1 for the other optimizers), then 1 once the
 * first batch set the head biases), "pending" (mini_batch, 1 + ⌈E/3⌉: a
 * buffered example's encoded length, then its bytes three per float; E =
 * MODEL_EXAMPLE_MAX_BYTES; a zero length is an empty row). Writes at most
 * cap entries into out (OUT:) and returns how many there are.
 */
uint32_t model_mtl_arrays(model_mtl *m, model_mtl_array *out, uint32_t cap);
/* Counters since create (or as restored). OUT: *c. */
void model_mtl_counters_get(const model_mtl *m, model_mtl_counters *c);
void model_mtl_counters_set(model_mtl *m, const model_mtl_counters *c);
/*
 * After the caller wrote the arrays' data (a restore): checks that every
 * parameter is finite and the buffer rows decode (buffered rows first, then
 * empty ones) and recounts the buffered examples. SL_OK or SL_ERR_CORRUPT
 * (message in err). Marks nothing dirty.
 */
sl_status model_mtl_restored(model_mtl *m, sl_err *err);
const model_mtl_params *model_mtl_params_get(const model_mtl *m);

/*
 * Appends the model to an open snapshot writer: hyperparameters (put_hyper),
 * dimensions and counters (put_dim), every array of model_mtl_arrays
 * (put_array). The writer's sticky status reports failures (see
 * model_snapshot_finish).
 */
sl_status model_mtl_snapshot_write(model_mtl *m, model_snapshot_writer *w);
/*
 * Creates a model from p and loads snap into it (a warm start). The shape
 * must match p: kind mtl, emb_bits, embed_dim, n_fields, n_dense, hidden,
 * optimizer and pooling; otherwise SL_ERR_INVALID naming the first mismatch
 * ("mtl snapshot: embed_dim is 8 in the snapshot, 16 in the config").
 * Step sizes, loss weights and blend come from p. The buffered examples are
 * kept when they fit p's mini_batch (else SL_ERR_INVALID). A missing or
 * wrong-sized array, a non-finite parameter or a bad buffer row:
 * SL_ERR_CORRUPT. OUT: *out, owned by the caller.
 */
sl_status model_mtl_create_from_snapshot(const model_snapshot *snap, const model_mtl_params *p,
                                         model_mtl **out, sl_err *err);

#endif
