// The trainer's ops on a GPU: typed launches of the kernels in native/cuda/*.cu, and the linear layer built from
// them and cuBLASLt. The CUDA model and the op check (op_check.cpp) both call these, so the check covers the
// launches the model runs. Shapes and semantics are those of the CPU ops (ops_*.hpp): forward writes with =,
// backward accumulates with +=. Every call queues work on stream and returns at once.
#pragma once

#include <cstdint>

#include "cuda_kernels.hpp"

namespace eng::cuda::ops {

constexpr int kThreads = 256;         // elementwise kernels and row reductions
constexpr int kAttentionThreads = 128; // attention.cu's TILE
constexpr int64_t kSqnormBlock = 1 << 16; // the CPU grad_sqnorm's blocks

using i64 = long long;

inline void to_bf16(const Device& d, CUstream s, uint16_t* dst, const float* src, int64_t count) {
    d.launch("to_bf16_kernel", Device::blocks(count, kThreads), kThreads, s, dst, src, (i64)count);
}

inline void add(const Device& d, CUstream s, float* dst, const float* src, int64_t count) {
    d.launch("add_kernel", Device::blocks(count, kThreads), kThreads, s, dst, src, (i64)count);
}

inline void embedding_forward(const Device& d, CUstream s, float* out, const int32_t* tokens, const float* wte, int64_t N, int64_t C) {
    d.launch("embedding_forward_kernel", Device::blocks(N * C, kThreads), kThreads, s, out, tokens, wte, (int)N, (int)C);
}

inline void embedding_backward(const Device& d, CUstream s, float* dwte, const float* dout, const int32_t* tokens, int64_t N, int64_t C) {
    d.launch("embedding_backward_kernel", Device::blocks(C, kThreads), kThreads, s, dwte, dout, tokens, (int)N, (int)C);
}

inline void rmsnorm_forward(const Device& d, CUstream s, float* out, float* rstd, const float* x, const float* w, int64_t N, int64_t C, double eps) {
    d.launch("rmsnorm_forward_kernel", N, kThreads, s, out, rstd, x, w, (int)N, (int)C, (float)eps);
}

inline void rmsnorm_backward(const Device& d, CUstream s, float* dx, float* dw, const float* dout, const float* x, const float* w,
                             const float* rstd, int64_t N, int64_t C) {
    d.launch("rmsnorm_backward_dx_kernel", N, kThreads, s, dx, dout, x, w, rstd, (int)N, (int)C);
    d.launch("rmsnorm_backward_dweight_kernel", Device::blocks(C, kThreads), kThreads, s, dw, dout, x, rstd, (int)N, (int)C);
}

// In place on x (N, nh, D); backward applies the transposed rotation.
inline void rope(const Device& d, CUstream s, float* x, const float* cosv, const float* sinv, int64_t N, int64_t nh, int64_t D, bool backward) {
    d.launch("rope_kernel", Device::blocks(N * nh * (D / 2), kThreads), kThreads, s, x, cosv, sinv, (int)N, (int)nh, (int)D, backward ? 1 : 0);
}

inline void swiglu_forward(const Device& d, CUstream s, float* out, const float* gate, const float* up, int64_t count) {
    d.launch("swiglu_forward_kernel", Device::blocks(count, kThreads), kThreads, s, out, gate, up, (i64)count);
}

inline void swiglu_backward(const Device& d, CUstream s, float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t count) {
    d.launch("swiglu_backward_kernel", Device::blocks(count, kThreads), kThreads, s, dgate, dup, dout, gate, up, (i64)count);
}

inline void attention_forward(const Device& d, CUstream s, float* out, float* lse, const float* q, const float* k, const float* v,
                              const int32_t* doc_start, int64_t N, int64_t H, int64_t KV, int64_t D, float scale) {
    d.launch("attention_forward_kernel", N * H, kAttentionThreads, s, out, lse, q, k, v, doc_start, (int)N, (int)H, (int)KV, (int)D, scale);
}

// delta (N * H) is scratch.
inline void attention_backward(const Device& d, CUstream s, float* dq, float* dk, float* dv, float* delta, const float* dout,
                               const float* q, const float* k, const float* v, const float* out, const float* lse,
                               const int32_t* doc_start, const int32_t* doc_end, int64_t N, int64_t H, int64_t KV, int64_t D, float scale) {
    d.launch("attention_delta_kernel", Device::blocks(N * H, kThreads), kThreads, s, delta, dout, out, (int)(N * H), (int)D);
    d.launch("attention_backward_dq_kernel", N * H, kAttentionThreads, s, dq, dout, q, k, v, lse, (const float*)delta, doc_start,
             (int)N, (int)H, (int)KV, (int)D, scale);
    d.launch("attention_backward_dkdv_kernel", N * KV, kAttentionThreads, s, dk, dv, dout, q, k, v, lse, (const float*)delta, doc_end,
             (int)N, (int)H, (int)KV, (int)D, scale);
}

// out (N, OC) = x (N, C) @ W^T + bias (nullable), with x and W in bf16 (wb: W's bf16 copy, (OC, C)) and fp32
// accumulation. xb (N * C bf16) is scratch. Row-major X (r, c) is column-major X^T (c, r) to cuBLAS, so
// out^T (OC, N) = W (OC, C) . x^T (C, N): A = W's storage transposed, B = x's storage as it is.
inline void linear_forward(const Device& d, CUstream s, float* out, const float* x, const uint16_t* wb, const float* bias,
                           int64_t N, int64_t C, int64_t OC, uint16_t* xb) {
    to_bf16(d, s, xb, x, N * C);
    d.gemm(out, wb, xb, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, C, C, OC, 0.0f, s);
    if (bias) d.launch("bias_add_kernel", Device::blocks(N * OC, kThreads), kThreads, s, out, bias, (int)N, (int)OC);
}

// dx (N, C) += dout (N, OC) @ W; dW (OC, C) += dout^T @ x; dbias (OC) += sum_n dout. dx and dbias may be null.
// xb (N * C) and gb (N * OC) are bf16 scratch. As cuBLAS sees them: dx^T (C, N) += W^T (C, OC) . dout^T (OC, N) and
// dW^T (C, OC) += x^T (C, N) . dout (N, OC).
inline void linear_backward(const Device& d, CUstream s, float* dx, float* dW, float* dbias, const float* dout, const float* x,
                            const uint16_t* wb, int64_t N, int64_t C, int64_t OC, uint16_t* xb, uint16_t* gb) {
    to_bf16(d, s, gb, dout, N * OC);
    if (dx) d.gemm(dx, wb, gb, CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, C, OC, C, 1.0f, s);
    to_bf16(d, s, xb, x, N * C);
    d.gemm(dW, xb, gb, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, C, OC, C, 1.0f, s);
    if (dbias) d.launch("bias_backward_kernel", Device::blocks(OC, kThreads), kThreads, s, dbias, dout, (int)N, (int)OC);
}

// One classifier chunk of count scored tokens (rows into x (N, C)): logits (count, V) = bf16(x rows) @ bf16(W)^T;
// losses (count) = cross-entropy against targets; with backward, dx rows += dlogits @ W and dW += dlogits^T @ x rows,
// dlogits = scale * (softmax - onehot). Scratch: xb (count * C bf16), gb (count * V bf16), dxc (count * C fp32).
inline void classifier_chunk(const Device& d, CUstream s, float* losses, float* dx, float* dW, const float* x, const uint16_t* wb,
                             const int32_t* rows, const int32_t* targets, int64_t count, int64_t C, int64_t V, float scale,
                             bool backward, float* logits, uint16_t* xb, uint16_t* gb, float* dxc) {
    d.launch("gather_rows_bf16_kernel", Device::blocks(count * C, kThreads), kThreads, s, xb, x, rows, (int)count, (int)C);
    d.gemm(logits, wb, xb, CUBLAS_OP_T, CUBLAS_OP_N, V, count, C, C, C, V, 0.0f, s);
    d.launch("cross_entropy_kernel", count, kThreads, s, losses, gb, (const float*)logits, targets, (int)count, (int)V, scale,
             backward ? 1 : 0);
    if (!backward) return;
    d.gemm(dxc, wb, gb, CUBLAS_OP_N, CUBLAS_OP_N, C, count, V, C, V, C, 0.0f, s);
    d.launch("scatter_add_rows_kernel", Device::blocks(count * C, kThreads), kThreads, s, dx, (const float*)dxc, rows, (int)count, (int)C);
    d.gemm(dW, xb, gb, CUBLAS_OP_N, CUBLAS_OP_T, C, V, count, C, V, C, 1.0f, s);
}

// AdamW on p[lo, lo + count) of one tensor; m and v hold the optimizer range starting at opt_offset.
inline void adamw(const Device& d, CUstream s, float* p, const float* g, float* m, float* v, int64_t lo, int64_t count, int64_t opt_offset,
                  float scale, float beta1, float beta2, float decay, float step_size, float bc2_sqrt, float eps) {
    d.launch("adamw_kernel", Device::blocks(count, kThreads), kThreads, s, p, g, m, v, (i64)lo, (i64)count, (i64)opt_offset, scale,
             beta1, beta2, decay, step_size, bc2_sqrt, eps);
}

inline void accumulate_grads(const Device& d, CUstream s, double* acc, float* g, int64_t count) {
    d.launch("accumulate_grads_kernel", Device::blocks(count, kThreads), kThreads, s, acc, g, (i64)count);
}

inline void flush_grads(const Device& d, CUstream s, float* g, const double* acc, int64_t count) {
    d.launch("flush_grads_kernel", Device::blocks(count, kThreads), kThreads, s, g, acc, (i64)count);
}

// The number of fixed blocks of [offset, offset + count) (the partials sqnorm_partials writes).
inline int64_t sqnorm_blocks(int64_t offset, int64_t count) {
    return count == 0 ? 0 : (offset + count - 1) / kSqnormBlock - offset / kSqnormBlock + 1;
}

inline void sqnorm_partials(const Device& d, CUstream s, double* partial, const float* g, int64_t offset, int64_t count) {
    d.launch("sqnorm_partial_kernel", sqnorm_blocks(offset, count), kThreads, s, partial, g, (i64)offset, (i64)count, (i64)kSqnormBlock);
}

}  // namespace eng::cuda::ops
