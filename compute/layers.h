/* Layer kernels, forward and backward. Order of arguments: outputs, inputs, dimensions.
   Backward functions add into input gradients (dinp +=) and write or add weight gradients
   according to `acc` (0: overwrite, 1: add), so the first micro-batch needs no zero-fill.
   N = B*T rows; all tensors row-major. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* out (N,C) = wte[ids] + wpe[t], t = row % T. */
void rt_embedding_forward(float *out, const int32_t *ids, const float *wte, const float *wpe, int B,
                          int T, int C);
/* dwte[ids] += dout rows, dwpe[t] (+)= sum over b of dout (acc for dwpe; dwte always adds, its
   first contribution comes from the LM head). Either of dwte/dwpe may be NULL (frozen). */
void rt_embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *ids, int B,
                           int T, int C, int acc);

/* out = (x - mean) * rstd * w + b per row; mean and rstd (N) saved for backward. */
void rt_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                          const float *b, int N, int C, float eps);
/* dinp += ...; dw, db (+)= ... (may be NULL: frozen). */
void rt_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                           const float *w, const float *mean, const float *rstd, int N, int C,
                           int acc);

/* out (N,OC) = inp (N,IC) . w (IC,OC) + b (OC)  (HF Conv1D layout; b may be NULL). */
void rt_linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int IC,
                       int OC);
/* dinp (N,IC) = dout . w^T  (overwrites; NULL skips), dw (IC,OC) (+)= inp^T . dout,
   db (+)= colsum(dout) (dw/db NULL: frozen). */
void rt_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, int N, int IC, int OC, int acc);

/* gelu_new (tanh approximation), elementwise over n. */
void rt_gelu_forward(float *out, const float *inp, size_t n);
/* dinp = dout * gelu'(inp) (overwrites; dinp may alias dout). */
void rt_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);

/* Causal self-attention. qkv (B,T,3C) holds Q|K|V, each split into NH heads of C/NH columns.
   att (B,NH,T,T) receives the softmax probabilities (before dropout; upper triangle zero).
   out (B,T,C) = merged heads of dropout(att) . V. Dropout keeps with prob 1-p, scales 1/(1-p),
   mask from (key, element index) so backward recomputes it. */
void rt_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH,
                          float p, uint64_t key, float *scratch, int scratch_threads);
/* scratch: scratch_threads * 2*T*T floats (scratch_threads >= the OpenMP team size).
   dqkv (B,T,3C) = gradient (overwrites). */
void rt_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                           int B, int T, int C, int NH, float p, uint64_t key, float *scratch,
                           int scratch_threads);

/* Inverted dropout: out = keep ? inp/(1-p) : 0 (p == 0: copy unless out == inp).
   Mask element i is a pure function of (key, i). out may alias inp. */
void rt_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t key);
/* Same mask applied to a gradient: dinp = mask * dout / (1-p). dinp may alias dout. */
void rt_dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t key);
/* out = a + dropout(b) elementwise (residual add). */
void rt_residual_dropout_forward(float *out, const float *a, const float *b, size_t n, float p,
                                 uint64_t key);

/* Fused softmax cross-entropy over logits (N,V). For rows with target != ignore (-100):
   lse[i] = logsumexp(row), losses[i] = lse - logit[target]; ignored rows: losses 0.
   Returns the sum of losses (double) and the count of counted rows in *count.
   Targets outside [0,V) other than -100 are reported through *bad (first offending row) or -1. */
double rt_crossentropy_forward(float *losses, float *lse, const float *logits,
                               const int32_t *targets, int N, int V, int *count, int *bad);
/* In place: logits (N,V) <- dlogits = (softmax - onehot) * scale for counted rows, 0 otherwise. */
void rt_crossentropy_backward(float *logits, const float *lse, const int32_t *targets, int N, int V,
                              float scale);
