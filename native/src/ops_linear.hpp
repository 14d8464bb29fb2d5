// Linear layers, embedding lookup: forward and backward on the CPU.
//
// Shapes: N tokens, C input channels, OC output channels. Weights are row-major (OC, C) as in PyTorch's
// nn.Linear, so out = inp @ W^T + b.
// Invariants (as in llm.c): forward writes its outputs with =, backward accumulates with += into every
// gradient buffer. Each output element is owned by one thread and summed in a fixed order, so results
// do not depend on the thread count.
#pragma once

#include <cstdint>

namespace eng {

// out (N, OC) = inp (N, C) @ W^T (OC, C) + bias (OC, nullable)
template <typename T>
void matmul_forward(T* out, const T* inp, const T* weight, const T* bias, int64_t N, int64_t C, int64_t OC, int threads) {
    // Tiles of 4 tokens x 4 outputs keep 16 accumulators in registers and reuse each loaded row 4 times.
    const int64_t NT = (N + 3) / 4, OT = (OC + 3) / 4;
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
    for (int64_t nt = 0; nt < NT; nt++) {
        for (int64_t ot = 0; ot < OT; ot++) {
            const int64_t n0 = nt * 4, o0 = ot * 4;
            if (n0 + 4 <= N && o0 + 4 <= OC) {
                T acc[4][4] = {};
                const T* x0 = inp + (n0 + 0) * C; const T* x1 = inp + (n0 + 1) * C;
                const T* x2 = inp + (n0 + 2) * C; const T* x3 = inp + (n0 + 3) * C;
                const T* w0 = weight + (o0 + 0) * C; const T* w1 = weight + (o0 + 1) * C;
                const T* w2 = weight + (o0 + 2) * C; const T* w3 = weight + (o0 + 3) * C;
                for (int64_t c = 0; c < C; c++) {
                    const T a0 = x0[c], a1 = x1[c], a2 = x2[c], a3 = x3[c];
                    const T b0 = w0[c], b1 = w1[c], b2 = w2[c], b3 = w3[c];
                    acc[0][0] += a0 * b0; acc[0][1] += a0 * b1; acc[0][2] += a0 * b2; acc[0][3] += a0 * b3;
                    acc[1][0] += a1 * b0; acc[1][1] += a1 * b1; acc[1][2] += a1 * b2; acc[1][3] += a1 * b3;
                    acc[2][0] += a2 * b0; acc[2][1] += a2 * b1; acc[2][2] += a2 * b2; acc[2][3] += a2 * b3;
                    acc[3][0] += a3 * b0; acc[3][1] += a3 * b1; acc[3][2] += a3 * b2; acc[3][3] += a3 * b3;
                }
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++)
                        out[(n0 + i) * OC + o0 + j] = acc[i][j] + (bias ? bias[o0 + j] : T(0));
            } else {
                for (int64_t n = n0; n < n0 + 4 && n < N; n++) {
                    for (int64_t o = o0; o < o0 + 4 && o < OC; o++) {
                        const T* x = inp + n * C;
                        const T* w = weight + o * C;
                        T acc = 0;
                        for (int64_t c = 0; c < C; c++) acc += x[c] * w[c];
                        out[n * OC + o] = acc + (bias ? bias[o] : T(0));
                    }
                }
            }
        }
    }
}

// dinp (N, C) += dout (N, OC) @ W (OC, C); dweight (OC, C) += dout^T @ inp; dbias (OC) += sum_n dout.
// dinp, dweight and dbias may each be null when that gradient is not wanted.
template <typename T>
void matmul_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     int64_t N, int64_t C, int64_t OC, int threads) {
    if (dinp) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t n = 0; n < N; n++) {
            T* dx = dinp + n * C;
            const T* g = dout + n * OC;
            for (int64_t o = 0; o < OC; o++) {
                const T go = g[o];
                const T* w = weight + o * C;
#pragma omp simd
                for (int64_t c = 0; c < C; c++) dx[c] += go * w[c];
            }
        }
    }
    if (dweight || dbias) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t o = 0; o < OC; o++) {
            T db = 0;
            T* dw = dweight ? dweight + o * C : nullptr;
            for (int64_t n = 0; n < N; n++) {
                const T go = dout[n * OC + o];
                db += go;
                if (dw) {
                    const T* x = inp + n * C;
#pragma omp simd
                    for (int64_t c = 0; c < C; c++) dw[c] += go * x[c];
                }
            }
            if (dbias) dbias[o] += db;
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
