// Grouped-query causal attention over packed documents: forward and backward on the CPU; forward over K/V caches.
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

// One query row against keys j = 0..count-1 at k + j * stride (values likewise): out (D) = softmax(scale q.k_j) v_j
// by online softmax (running max m, running sum l, running weighted sum acc). Returns the row's log-sum-exp.
// The full forward and the cached decoder both call it, so their rows are computed in the same order.
template <typename T>
T attention_row(T* out, const T* qn, const T* k, const T* v, int64_t count, int64_t stride, int64_t D, T scale) {
    T m = -INFINITY, l = 0;
    T acc[kMaxHeadDim];
    for (int64_t d = 0; d < D; d++) acc[d] = 0;
    for (int64_t j = 0; j < count; j++) {
        const T* kj = k + j * stride;
        T s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t d = 0; d < D; d++) s += qn[d] * kj[d];
        s *= scale;
        const T* vj = v + j * stride;
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
    for (int64_t d = 0; d < D; d++) out[d] = acc[d] / l;
    return m + std::log(l);
}

template <typename T>
void attention_forward(T* out, T* lse, const T* q, const T* k, const T* v, const int32_t* doc_start,
                       int64_t N, int64_t H, int64_t KV, int64_t D, int threads) {
    const int64_t group = H / KV;
    const T scale = T(1) / std::sqrt(T(D));
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
    for (int64_t n = 0; n < N; n++) {
        for (int64_t h = 0; h < H; h++) {
            const int64_t g = h / group, first = doc_start[n];
            lse[n * H + h] = attention_row(out + (n * H + h) * D, q + (n * H + h) * D, k + (first * KV + g) * D,
                                           v + (first * KV + g) * D, n - first + 1, KV * D, D, scale);
        }
    }
}

// Attention of N new tokens against K/V caches (decoding). Caches: (sequences, Tmax, KV, D); token n belongs to
// sequence seq[n] at position pos[n], and its own key and value are already in the cache there: it attends to
// positions 0..pos[n] of its sequence.
template <typename T>
void attention_cached_forward(T* out, const T* q, const T* k_cache, const T* v_cache, const int32_t* seq, const int32_t* pos,
                              int64_t N, int64_t H, int64_t KV, int64_t D, int64_t Tmax, int threads) {
    const int64_t group = H / KV;
    const T scale = T(1) / std::sqrt(T(D));
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
    for (int64_t n = 0; n < N; n++) {
        for (int64_t h = 0; h < H; h++) {
            const int64_t base = ((int64_t)seq[n] * Tmax * KV + h / group) * D;
            attention_row(out + (n * H + h) * D, q + (n * H + h) * D, k_cache + base, v_cache + base, (int64_t)pos[n] + 1, KV * D, D, scale);
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
