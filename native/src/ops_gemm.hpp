// The two matrix-product kernels every linear layer uses, register-tiled with GCC vector extensions.
//
// gemm_nt: C (M, N)  = A (M, K) . B (N, K)^T      rows of A and B are both contiguous in k ("dot" form)
// gemm_acc: C (M, N) += A (M, K) . B (K, N)       A strided (any layout), B rows contiguous in n ("outer" form)
//
// Each output element is computed by one thread in a fixed order, so results do not depend on the thread
// count. Remainder tiles take plain scalar loops.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace eng {

#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
#else
constexpr int kVectorBytes = 32;
#endif

constexpr int64_t kRowBlock = 64;    // rows of the output per task
constexpr int64_t kDepthBlock = 128; // k per slice in gemm_acc

template <typename T>
struct Vec {
    typedef T type __attribute__((vector_size(kVectorBytes)));
    static constexpr int lanes = kVectorBytes / (int)sizeof(T);
    static type load(const T* p) { type v; std::memcpy(&v, p, sizeof v); return v; }
    static void store(T* p, type v) { std::memcpy(p, &v, sizeof v); }
    static T sum(type v) { T s = 0; for (int i = 0; i < lanes; i++) s += v[i]; return s; }
};

// C[m * ldc + n] = sum_k A[m * K + k] * B[n * K + k]. Tiles of 2 rows x 4 columns, one vector accumulator
// each, reduced horizontally at the end; the k remainder is scalar.
template <typename T>
void gemm_nt(T* C, int64_t ldc, const T* A, const T* B, int64_t M, int64_t N, int64_t K, int threads) {
    using V = Vec<T>;
    typedef typename V::type vec;
    constexpr int L = V::lanes;
    const int64_t MB = (M + kRowBlock - 1) / kRowBlock, NT = (N + 3) / 4, KV = K - K % L;
    // Tasks are (block of kRowBlock rows of A, 4 rows of B): the 4 rows of B stay in L1 across the block's
    // tiles, and the block of A stays in L2 across consecutive tasks.
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
    for (int64_t mb = 0; mb < MB; mb++) {
        for (int64_t nt = 0; nt < NT; nt++) {
          for (int64_t m0 = mb * kRowBlock; m0 < M && m0 < (mb + 1) * kRowBlock; m0 += 2) {
            const int64_t n0 = nt * 4;
            if (m0 + 2 <= M && n0 + 4 <= N) {
                const T* a0 = A + m0 * K; const T* a1 = a0 + K;
                const T* b0 = B + n0 * K; const T* b1 = b0 + K; const T* b2 = b1 + K; const T* b3 = b2 + K;
                vec c00 = {}, c01 = {}, c02 = {}, c03 = {}, c10 = {}, c11 = {}, c12 = {}, c13 = {};
                for (int64_t k = 0; k < KV; k += L) {
                    const vec x0 = V::load(a0 + k), x1 = V::load(a1 + k);
                    vec w = V::load(b0 + k); c00 += x0 * w; c10 += x1 * w;
                    w = V::load(b1 + k); c01 += x0 * w; c11 += x1 * w;
                    w = V::load(b2 + k); c02 += x0 * w; c12 += x1 * w;
                    w = V::load(b3 + k); c03 += x0 * w; c13 += x1 * w;
                }
                T s[2][4] = {{V::sum(c00), V::sum(c01), V::sum(c02), V::sum(c03)},
                             {V::sum(c10), V::sum(c11), V::sum(c12), V::sum(c13)}};
                for (int64_t k = KV; k < K; k++) {
                    s[0][0] += a0[k] * b0[k]; s[0][1] += a0[k] * b1[k]; s[0][2] += a0[k] * b2[k]; s[0][3] += a0[k] * b3[k];
                    s[1][0] += a1[k] * b0[k]; s[1][1] += a1[k] * b1[k]; s[1][2] += a1[k] * b2[k]; s[1][3] += a1[k] * b3[k];
                }
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 4; j++) C[(m0 + i) * ldc + n0 + j] = s[i][j];
            } else {
                for (int64_t m = m0; m < m0 + 2 && m < M; m++) {
                    for (int64_t n = n0; n < n0 + 4 && n < N; n++) {
                        const T* a = A + m * K;
                        const T* b = B + n * K;
                        vec acc = {};
                        for (int64_t k = 0; k < KV; k += L) acc += V::load(a + k) * V::load(b + k);
                        T s = V::sum(acc);
                        for (int64_t k = KV; k < K; k++) s += a[k] * b[k];
                        C[m * ldc + n] = s;
                    }
                }
            }
          }
        }
    }
}

// C[m * ldc + n] += sum_k A[m * a_m + k * a_k] * B[k * ldb + n]. Tiles of 4 rows x 2 vectors: per k, four
// broadcasts of A and two vector loads of B feed eight accumulators. Column remainders are scalar.
template <typename T>
void gemm_acc(T* C, int64_t ldc, const T* A, int64_t a_m, int64_t a_k, const T* B, int64_t ldb,
              int64_t M, int64_t N, int64_t K, int threads) {
    using V = Vec<T>;
    typedef typename V::type vec;
    constexpr int L = V::lanes;
    constexpr int64_t NW = 2 * L;
    const int64_t MB = (M + kRowBlock - 1) / kRowBlock, NT = (N + NW - 1) / NW;
    // Tasks are (block of kRowBlock rows, one column tile); k runs in slices of kDepthBlock so that the slice
    // of B (kDepthBlock x NW) stays in L1 while every row tile of the block uses it.
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
    for (int64_t mb = 0; mb < MB; mb++) {
        for (int64_t nt = 0; nt < NT; nt++) {
          const int64_t n0 = nt * NW, m_end = std::min(M, (mb + 1) * kRowBlock);
          for (int64_t k0 = 0; k0 < K; k0 += kDepthBlock) {
            const int64_t k1 = std::min(K, k0 + kDepthBlock);
            for (int64_t m0 = mb * kRowBlock; m0 < m_end; m0 += 4) {
            if (m0 + 4 <= M && n0 + NW <= N) {
                vec c00 = V::load(C + (m0 + 0) * ldc + n0), c01 = V::load(C + (m0 + 0) * ldc + n0 + L);
                vec c10 = V::load(C + (m0 + 1) * ldc + n0), c11 = V::load(C + (m0 + 1) * ldc + n0 + L);
                vec c20 = V::load(C + (m0 + 2) * ldc + n0), c21 = V::load(C + (m0 + 2) * ldc + n0 + L);
                vec c30 = V::load(C + (m0 + 3) * ldc + n0), c31 = V::load(C + (m0 + 3) * ldc + n0 + L);
                const T* a = A + m0 * a_m;
                for (int64_t k = k0; k < k1; k++) {
                    const vec b0 = V::load(B + k * ldb + n0), b1 = V::load(B + k * ldb + n0 + L);
                    const T* ak = a + k * a_k;
                    // scalar * vector broadcasts the scalar (GCC vector extensions): one vbroadcastss each.
                    const T x0 = ak[0], x1 = ak[a_m], x2 = ak[2 * a_m], x3 = ak[3 * a_m];
                    c00 += x0 * b0; c01 += x0 * b1;
                    c10 += x1 * b0; c11 += x1 * b1;
                    c20 += x2 * b0; c21 += x2 * b1;
                    c30 += x3 * b0; c31 += x3 * b1;
                }
                V::store(C + (m0 + 0) * ldc + n0, c00); V::store(C + (m0 + 0) * ldc + n0 + L, c01);
                V::store(C + (m0 + 1) * ldc + n0, c10); V::store(C + (m0 + 1) * ldc + n0 + L, c11);
                V::store(C + (m0 + 2) * ldc + n0, c20); V::store(C + (m0 + 2) * ldc + n0 + L, c21);
                V::store(C + (m0 + 3) * ldc + n0, c30); V::store(C + (m0 + 3) * ldc + n0 + L, c31);
            } else {
                for (int64_t m = m0; m < m0 + 4 && m < M; m++) {
                    for (int64_t n = n0; n < n0 + NW && n < N; n++) {
                        T s = C[m * ldc + n];
                        for (int64_t k = k0; k < k1; k++) s += A[m * a_m + k * a_k] * B[k * ldb + n];
                        C[m * ldc + n] = s;
                    }
                }
            }
            }
          }
        }
    }
}

}  // namespace eng
