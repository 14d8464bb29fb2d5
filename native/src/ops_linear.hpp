// Linear layers, embedding lookup: forward and backward on the CPU.
//
// Shapes: N tokens, C input channels, OC output channels. Weights are row-major (OC, C) as in PyTorch's
// nn.Linear, so out = inp @ W^T + b.
// Invariants (as in llm.c): forward writes its outputs with =, backward accumulates with += into every
// gradient buffer. Each output element is owned by one thread and summed in a fixed order, so results
// do not depend on the thread count.
#pragma once

#include <cstdint>

#include "ops_gemm.hpp"

namespace eng {

// out (N, OC) = inp (N, C) @ W^T (OC, C) + bias (OC, nullable)
template <typename T>
void matmul_forward(T* out, const T* inp, const T* weight, const T* bias, int64_t N, int64_t C, int64_t OC, int threads) {
    gemm_nt(out, OC, inp, weight, N, OC, C, threads);
    if (!bias) return;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < OC; o++) out[n * OC + o] += bias[o];
}

// dinp (N, C) += dout (N, OC) @ W (OC, C); dweight (OC, C) += dout^T @ inp; dbias (OC) += sum_n dout.
// dinp, dweight and dbias may each be null when that gradient is not wanted.
template <typename T>
void matmul_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     int64_t N, int64_t C, int64_t OC, int threads) {
    if (dinp) gemm_acc(dinp, C, dout, OC, 1, weight, C, N, C, OC, threads);
    if (dweight) gemm_acc(dweight, C, dout, 1, OC, inp, C, OC, C, N, threads);
    if (dbias) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t o = 0; o < OC; o++) {
            T db = 0;
            for (int64_t n = 0; n < N; n++) db += dout[n * OC + o];
            dbias[o] += db;
        }
    }
}

// out (N, C) = wte[tokens[n]]
template <typename T>
void embedding_forward(T* out, const int32_t* tokens, const T* wte, int64_t N, int64_t C, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t n = 0; n < N; n++) {
        const T* row = wte + (int64_t)tokens[n] * C;
        for (int64_t c = 0; c < C; c++) out[n * C + c] = row[c];
    }
}

// dwte (V, C) += scatter of dout (N, C) by token. Parallel over channels so repeated tokens never race
// and the summation order is the token order.
template <typename T>
void embedding_backward(T* dwte, const T* dout, const int32_t* tokens, int64_t N, int64_t C, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t c = 0; c < C; c++)
        for (int64_t n = 0; n < N; n++) dwte[(int64_t)tokens[n] * C + c] += dout[n * C + c];
}

}  // namespace eng
