/*
 * model_mtl_internal.h — test and benchmark hooks of the multi-task feed
 * model (model_mtl.h). Not a public API: only models/, tests/models/ and
 * bench/ include it.
 *
 * Legend as in model_mtl.h (B, I, K, L, R, T). The hooks are the code paths
 * learn uses, exported so the finite-difference checks and the naive
 * reference in the tests test what actually runs.
 */
#ifndef MODEL_MTL_INTERNAL_H
#define MODEL_MTL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "model_mtl.h"

/* C = A·B (+ beta·C), row-major; ta / tb: use Aᵀ / Bᵀ. A is (M, Kd) after
 * the transpose, B (Kd, N), C (M, N); lda, ldb, ldc are row strides. */
typedef void (*model_mtl__gemm_fn)(void *ctx, bool ta, bool tb, int M, int N, int Kd,
                                   const float *A, int lda, const float *B, int ldb, float beta,
                                   float *C, int ldc);

/* Routes the model's matrix products through fn (NULL: back to
 * cblas_sgemm) — how the benchmark times them and how a test runs the
 * naive product. */
void model_mtl__set_gemm(model_mtl *m, model_mtl__gemm_fn fn, void *ctx);
/* The optimizer step in its AVX form (on, when the CPU has AVX: the
 * default) or its SSE2 one (off); returns whether AVX is now used. The two
 * are bitwise the same: a test trains both and compares. */
bool model_mtl__set_avx(model_mtl *m, bool on);
/* The naive triple loop (float accumulation, no BLAS). */
void model_mtl__gemm_naive(void *ctx, bool ta, bool tb, int M, int N, int Kd, const float *A,
                           int lda, const float *B, int ldb, float beta, float *C, int ldc);

/*
 * Forward and backward of n ≤ mini_batch examples with the current
 * parameters and normalizer (neither changes): returns the batch loss
 * (1/n) Σ_i c_i Σ_t w_t·mask_it·ℓ_it, OUT: head_loss (T, may be NULL) the
 * same per head. The gradients stay in the model until the next call
 * (model_mtl__grad, model_mtl__emb_grad). Non-finite values pass through.
 */
double model_mtl__loss_grad(model_mtl *m, const model_example *exs, uint32_t n,
                            double head_loss[MODEL_MTL_HEADS]);
/* Gradient of layer l (0..L-1 hidden, L the heads): (H_out, H_in + 1), the
 * shape of the layer's array. */
const float *model_mtl__grad(const model_mtl *m, uint32_t l);
/* Gradient of embedding row r (K), or NULL when the last batch did not use
 * the row. */
const float *model_mtl__emb_grad(const model_mtl *m, uint32_t r);
/* The head margins of example i of the last loss_grad (T). */
const float *model_mtl__margins(const model_mtl *m, uint32_t i);
/* The embedding row of a feature index. */
uint32_t model_mtl__row(const model_mtl *m, uint32_t idx);
/* Floating-point operations of the dense part (every sgemm) of one batch
 * of n examples in training (forward + backward) or prediction. */
double model_mtl__flops(const model_mtl *m, uint32_t n, bool train);

#endif
