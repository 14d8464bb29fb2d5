// Classifier and cross-entropy, fused and chunked: the (tokens x vocab) logits never exist at once.
//
// Shapes: N tokens, C channels, V vocabulary, M scored tokens (those with a label), chunk Tc <= M.
// Only the scored tokens are gathered and multiplied, so prompt tokens (label -100) cost nothing here.
// Per chunk: logits (Tc, V) = x_chunk @ W^T; loss_t = logsumexp(logits_t) - logits_t[target_t];
// with backward, dlogits = scale * (softmax - onehot) overwrites the logits, then
// dx += dlogits @ W and dW += dlogits^T @ x_chunk (accumulated, as every backward here).
#pragma once

#include <cmath>
#include <cstdint>

#include "ops_linear.hpp"

namespace eng {

// losses (M): the loss of each scored token, in the order of rows. Scratch: xbuf (Tc, C), dxbuf (Tc, C),
// logits (Tc, V). dx and dW may be null when backward is off.
template <typename T>
void classifier_forward_backward(T* losses, T* dx, T* dW, const T* x, const T* W, const int64_t* rows,
                                 const int32_t* targets, T* xbuf, T* dxbuf, T* logits, T scale, bool backward,
                                 int64_t M, int64_t C, int64_t V, int64_t Tc, int threads) {
    for (int64_t c0 = 0; c0 < M; c0 += Tc) {
        const int64_t tc = (M - c0 < Tc) ? M - c0 : Tc;
        for (int64_t t = 0; t < tc; t++)
            for (int64_t c = 0; c < C; c++) xbuf[t * C + c] = x[rows[c0 + t] * C + c];
        matmul_forward(logits, xbuf, W, (const T*)nullptr, tc, C, V, threads);
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t t = 0; t < tc; t++) {
            T* lt = logits + t * V;
            T m = -INFINITY;
            for (int64_t i = 0; i < V; i++) m = lt[i] > m ? lt[i] : m;
            T sum = 0;
            for (int64_t i = 0; i < V; i++) sum += std::exp(lt[i] - m);
            const int32_t y = targets[c0 + t];
            losses[c0 + t] = m + std::log(sum) - lt[y];
            if (backward) {
                for (int64_t i = 0; i < V; i++) lt[i] = scale * std::exp(lt[i] - m) / sum;
                lt[y] -= scale;
            }
        }
        if (!backward) continue;
        for (int64_t i = 0; i < tc * C; i++) dxbuf[i] = 0;
        matmul_backward(dxbuf, dW, (T*)nullptr, logits, xbuf, W, tc, C, V, threads);
        for (int64_t t = 0; t < tc; t++)
            for (int64_t c = 0; c < C; c++) dx[rows[c0 + t] * C + c] += dxbuf[t * C + c];
    }
}

}  // namespace eng
