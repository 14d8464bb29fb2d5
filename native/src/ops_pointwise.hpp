// RMSNorm, RoPE (HF rotate_half) and SwiGLU: forward and backward on the CPU.
//
// Shapes: N tokens, C channels, H heads of D channels, I MLP channels.
// Forward writes with =, backward accumulates with += (llm.c's invariant).
#pragma once

#include <cmath>
#include <cstdint>

#include "op_math.hpp"

namespace eng {

// out (N, C) = x * rsqrt(mean(x^2) + eps) * weight; rstd (N) saved for backward. Statistics in the
// compute dtype (fp32 or fp64), as HF computes them in fp32.
template <typename T>
void rmsnorm_forward(T* out, T* rstd, const T* x, const T* weight, int64_t N, int64_t C, double eps, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t n = 0; n < N; n++) {
        const T* xn = x + n * C;
        T ss = 0;
        for (int64_t c = 0; c < C; c++) ss += xn[c] * xn[c];
        const T r = rmsnorm_rstd(ss, C, T(eps));
        rstd[n] = r;
        T* on = out + n * C;
        for (int64_t c = 0; c < C; c++) on[c] = xn[c] * r * weight[c];
    }
}

// With xhat = x * rstd: dweight += sum_n dout * xhat; dx += rstd * (dxhat - xhat * mean(dxhat * xhat)),
// dxhat = dout * weight. dweight is reduced per channel in token order, so it is thread-count independent.
template <typename T>
void rmsnorm_backward(T* dx, T* dweight, const T* dout, const T* x, const T* weight, const T* rstd,
                      int64_t N, int64_t C, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t n = 0; n < N; n++) {
        const T* xn = x + n * C;
        const T* gn = dout + n * C;
        const T r = rstd[n];
        T dot = 0;
        for (int64_t c = 0; c < C; c++) dot += gn[c] * weight[c] * xn[c] * r;
        dot /= T(C);
        T* dxn = dx + n * C;
        for (int64_t c = 0; c < C; c++) {
            const T xhat = xn[c] * r;
            dxn[c] += r * (gn[c] * weight[c] - xhat * dot);
        }
    }
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t c = 0; c < C; c++) {
        T acc = 0;
        for (int64_t n = 0; n < N; n++) acc += dout[n * C + c] * x[n * C + c] * rstd[n];
        dweight[c] += acc;
    }
}

// cos/sin tables (N, D/2) for the position of each token: angle = pos * theta^(-2i/D), computed in double.
template <typename T>
void rope_tables(T* cosv, T* sinv, const int32_t* positions, int64_t N, int64_t D, double theta, int threads) {
    const int64_t half = D / 2;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t n = 0; n < N; n++) {
        for (int64_t i = 0; i < half; i++) {
            const double inv_freq = std::pow(theta, -(double)(2 * i) / (double)D);
            const double a = (double)positions[n] * inv_freq;
            cosv[n * half + i] = (T)std::cos(a);
            sinv[n * half + i] = (T)std::sin(a);
        }
    }
}

// In place on x (N, nh, D): x' = x*cos + rotate_half(x)*sin, rotate_half(x) = cat(-x[D/2:], x[:D/2]).
template <typename T>
void rope_forward(T* x, const T* cosv, const T* sinv, int64_t N, int64_t nh, int64_t D, int threads) {
    const int64_t half = D / 2;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t n = 0; n < N; n++) {
        for (int64_t h = 0; h < nh; h++) {
            T* v = x + (n * nh + h) * D;
            for (int64_t i = 0; i < half; i++) {
                rope_rotate(&v[i], &v[i + half], cosv[n * half + i], sinv[n * half + i]);
            }
        }
    }
}

// In place on dx (N, nh, D): the transpose of the rotation, dx = R^T dx'.
template <typename T>
void rope_backward(T* dx, const T* cosv, const T* sinv, int64_t N, int64_t nh, int64_t D, int threads) {
    const int64_t half = D / 2;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t n = 0; n < N; n++) {
        for (int64_t h = 0; h < nh; h++) {
            T* v = dx + (n * nh + h) * D;
            for (int64_t i = 0; i < half; i++) {
                rope_rotate_back(&v[i], &v[i + half], cosv[n * half + i], sinv[n * half + i]);
            }
        }
    }
}

// out (N, I) = silu(gate) * up, silu(g) = g * sigmoid(g).
template <typename T>
void swiglu_forward(T* out, const T* gate, const T* up, int64_t count, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < count; i++) out[i] = swiglu(gate[i], up[i]);
}

// dgate += dout * up * silu'(gate), silu'(g) = s * (1 + g * (1 - s)); dup += dout * silu(gate).
template <typename T>
void swiglu_backward(T* dgate, T* dup, const T* dout, const T* gate, const T* up, int64_t count, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < count; i++) {
        T dg, du;
        swiglu_grads(&dg, &du, dout[i], gate[i], up[i]);
        dgate[i] += dg;
        dup[i] += du;
    }
}

}  // namespace eng
