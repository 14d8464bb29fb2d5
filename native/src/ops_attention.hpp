// Grouped-query causal attention over packed documents: forward and backward on the CPU.
//
// Shapes: N tokens, H query heads, KV key/value heads (H % KV == 0), D head channels.
//   q (N, H, D), k (N, KV, D), v (N, KV, D), out (N, H, D), lse (N, H).
// doc_start[n] is the index of the first token of n's document: token n attends to tokens
// doc_start[n]..n (block-diagonal causal mask). Query head h reads KV head h / (H / KV).
// Probabilities are never stored: forward keeps the log-sum-exp of each row and backward recomputes
// them (flash-attention style), so memory is O(N) rather than O(N^2) per head.
// Forward writes with =, backward accumulates with +=.
#pragma once

#include <cmath>
#include <cstdint>

namespace eng {

constexpr int64_t kMaxHeadDim = 512;

template <typename T>
void attention_forward(T* out, T* lse, const T* q, const T* k, const T* v, const int32_t* doc_start,
                       int64_t N, int64_t H, int64_t KV, int64_t D, int threads) {
    const int64_t group = H / KV;
    const T scale = T(1) / std::sqrt(T(D));
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
    for (int64_t n = 0; n < N; n++) {
        for (int64_t h = 0; h < H; h++) {
            const T* qn = q + (n * H + h) * D;
            const int64_t g = h / group;
            // Online softmax: running max m, running sum l, running weighted sum acc.
            T m = -INFINITY, l = 0;
            T acc[kMaxHeadDim];
            for (int64_t d = 0; d < D; d++) acc[d] = 0;
            for (int64_t j = doc_start[n]; j <= n; j++) {
                const T* kj = k + (j * KV + g) * D;
                T s = 0;
#pragma omp simd reduction(+ : s)
                for (int64_t d = 0; d < D; d++) s += qn[d] * kj[d];
                s *= scale;
                const T* vj = v + (j * KV + g) * D;
                if (s > m) {
                    const T correction = std::exp(m - s);
                    l = l * correction + T(1);
#pragma omp simd
                    for (int64_t d = 0; d < D; d++) acc[d] = acc[d] * correction + vj[d];
                    m = s;
                } else {
                    const T p = std::exp(s - m);
                    l += p;
#pragma omp simd
                    for (int64_t d = 0; d < D; d++) acc[d] += p * vj[d];
                }
            }
            T* on = out + (n * H + h) * D;
            for (int64_t d = 0; d < D; d++) on[d] = acc[d] / l;
            lse[n * H + h] = m + std::log(l);
        }
    }
}

// With p_nj = exp(scale * q_n.k_j - lse_n), dp_nj = dout_n.v_j, ds_nj = p_nj * (dp_nj - dout_n.out_n):
//   dq_n += scale * sum_j ds_nj k_j,  dk_j += scale * sum_n ds_nj q_n,  dv_j += sum_n p_nj dout_n,
// where dk and dv sum over every query head of the group. Two passes (queries, then keys) so that each
// output row belongs to one thread: no atomics, and the result does not depend on the thread count.
// delta (N, H) is scratch.
template <typename T>
void attention_backward(T* dq, T* dk, T* dv, T* delta, const T* dout, const T* q, const T* k, const T* v,
                        const T* out, const T* lse, const int32_t* doc_start,
                        int64_t N, int64_t H, int64_t KV, int64_t D, int threads) {
    const int64_t group = H / KV;
    const T scale = T(1) / std::sqrt(T(D));
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < N * H; i++) {
        T s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t d = 0; d < D; d++) s += dout[i * D + d] * out[i * D + d];
        delta[i] = s;
    }
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
    for (int64_t n = 0; n < N; n++) {
        for (int64_t h = 0; h < H; h++) {
            const T* qn = q + (n * H + h) * D;
            const T* gn = dout + (n * H + h) * D;
            T* dqn = dq + (n * H + h) * D;
            const int64_t g = h / group;
            const T l = lse[n * H + h], dl = delta[n * H + h];
            for (int64_t j = doc_start[n]; j <= n; j++) {
                const T* kj = k + (j * KV + g) * D;
                const T* vj = v + (j * KV + g) * D;
                T s = 0, dp = 0;
#pragma omp simd reduction(+ : s, dp)
                for (int64_t d = 0; d < D; d++) { s += qn[d] * kj[d]; dp += gn[d] * vj[d]; }
                const T p = std::exp(s * scale - l);
                const T ds = p * (dp - dl) * scale;
#pragma omp simd
                for (int64_t d = 0; d < D; d++) dqn[d] += ds * kj[d];
            }
        }
    }
    // Keys: token j is seen by the queries n = j.. up to the end of its document.
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
    for (int64_t j = 0; j < N; j++) {
        for (int64_t g = 0; g < KV; g++) {
            const T* kj = k + (j * KV + g) * D;
            const T* vj = v + (j * KV + g) * D;
            T* dkj = dk + (j * KV + g) * D;
            T* dvj = dv + (j * KV + g) * D;
            for (int64_t n = j; n < N && doc_start[n] <= j; n++) {
                for (int64_t h = g * group; h < (g + 1) * group; h++) {
                    const T* qn = q + (n * H + h) * D;
                    const T* gn = dout + (n * H + h) * D;
                    T s = 0, dp = 0;
#pragma omp simd reduction(+ : s, dp)
                    for (int64_t d = 0; d < D; d++) { s += qn[d] * kj[d]; dp += gn[d] * vj[d]; }
                    const T p = std::exp(s * scale - lse[n * H + h]);
                    const T ds = p * (dp - delta[n * H + h]) * scale;
#pragma omp simd
                    for (int64_t d = 0; d < D; d++) {
                        dkj[d] += ds * qn[d];
                        dvj[d] += p * gn[d];
                    }
                }
            }
        }
    }
}

}  // namespace eng
