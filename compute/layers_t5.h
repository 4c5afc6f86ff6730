/* The kernels T5 adds to compute/layers.h: RMSNorm, bias-free nn.Linear layers stored [out, in],
   relu and gated-gelu FFN activations, and attention with an additive position bias, key padding
   and an optional causal mask (self- and cross-attention). Conventions as layers.h: outputs
   first, backward functions add into input gradients unless said otherwise, weight gradients are
   written or added according to acc, N rows, row-major. Nothing here is collective. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* T5LayerNorm: out = w * x / sqrt(mean(x^2) + eps), no mean, no bias; rstd (N) saved. */
void rt_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C,
                        float eps);
/* dinp += d(out)/d(inp)^T dout; dw (+)= sum over rows of dout * x * rstd (dw NULL: frozen). */
void rt_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp,
                         const float *w, const float *rstd, int N, int C, int acc);

/* out (N,OC) = inp (N,IC) . w^T with w (OC,IC) (nn.Linear without bias). */
void rt_linear_nt_forward(float *out, const float *inp, const float *w, int N, int IC, int OC);
/* dinp (N,IC) = dout . w, written (dinp_acc 0) or added (1); NULL skips. dw (OC,IC) (+)=
   dout^T . inp by acc; NULL: frozen. */
void rt_linear_nt_backward(float *dinp, int dinp_acc, float *dw, const float *dout,
                           const float *inp, const float *w, int N, int IC, int OC, int acc);

/* out = max(x, 0); backward dinp = dout * (x > 0) (overwrites; may alias dout). */
void rt_relu_forward(float *out, const float *inp, size_t n);
void rt_relu_backward(float *dinp, const float *inp, const float *dout, size_t n);
/* out = gelu_new(a) * b (T5 v1.1's gated FFN); backward writes da and db (either may
   alias dout). */
void rt_gated_gelu_forward(float *out, const float *a, const float *b, size_t n);
void rt_gated_gelu_backward(float *da, float *db, const float *dout, const float *a, const float *b,
                            size_t n);

/* Attention without 1/sqrt(dk) scaling, as T5Attention: for each row b and head h,
   P = softmax(Q K^T + bias[h] + mask), out = dropout(P) . V, heads merged as h*dk columns.
   Q (B,Tq,*) with row stride ldq, K and V (B,Tk,*) with row stride ldkv, head h at column h*dk;
   out (B,Tq,NH*dk). bias (NH,Tq,Tk) or NULL. kmask (B,Tk): 0 masks a key (padding), NULL none;
   causal masks keys j > i. A masked probability is exactly 0; a row with every key masked is
   uniform over all Tk keys (what adding finfo.min to every score gives). P (B,NH,Tq,Tk) is saved
   before dropout. Dropout keeps with 1-p, scales 1/(1-p), mask element a pure function of
   (key, (b*NH + h)*Tq*Tk + i*Tk + j). scratch: scratch_threads * 2*Tq*Tk floats. */
void rt_t5_attention_forward(float *out, float *P, const float *Q, int ldq, const float *K,
                             const float *V, int ldkv, const float *bias, const uint8_t *kmask,
                             int causal, int B, int Tq, int Tk, int NH, int dk, float p,
                             uint64_t key, float *scratch, int scratch_threads);
/* Gradients of the last forward: dQ (ldq), dK, dV (ldkv) written (overwrite). dS (B,NH,Tq,Tk)
   receives d(scores) (caller's buffer; may be NULL when dbias is NULL); dbias (NH,Tq,Tk), when
   not NULL, gets sum over b of dS added (+=). scratch as forward. */
void rt_t5_attention_backward(float *dQ, float *dK, float *dV, float *dS, float *dbias,
                              const float *dout, const float *Q, int ldq, const float *K,
                              const float *V, int ldkv, const float *P, int B, int Tq, int Tk,
                              int NH, int dk, float p, uint64_t key, float *scratch,
                              int scratch_threads);

/* Where an inference attention finds its rows (incremental decoding over K/V caches). */
typedef struct {
    size_t q_stride;  /* floats from one row's queries to the next row's */
    size_t kv_stride; /* floats from one key/value source to the next (a cache's row capacity) */
    int kv_group;     /* rows b share the keys, values and key-mask row of source b / kv_group
                         (the beams of one input share its encoder output); <= 1: one each */
    float scale;      /* scores are scale * Q K^T: 1 for T5, 1/sqrt(dk) for GPT-2 */
} rt_attn_layout;
/* rt_t5_attention_forward for inference (no dropout, no causal mask: a query at the last cached
   position sees keys 0..Tk-1) over strided storage: row b's Tq queries at Q + b * q_stride (row
   stride ldq), its Tk keys and values at K / V + (b / kv_group) * kv_stride (row stride ldkv),
   its key mask at kmask + (b / kv_group) * Tk (NULL: none). bias (NH, Tq, Tk) or NULL, shared
   by the rows. out (B, Tq, NH*dk) packed; P (B, NH, Tq, Tk) receives the probabilities (the
   caller's scratch). The same kernel as rt_t5_attention_forward. */
void rt_attention_cached_forward(float *out, float *P, const float *Q, int ldq, const float *K,
                                 const float *V, int ldkv, const float *bias, const uint8_t *kmask,
                                 int B, int Tq, int Tk, int NH, int dk, const rt_attn_layout *lay);
