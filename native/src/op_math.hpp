// The scalar math of the trainer's ops, written once for both backends: the CPU ops (ops_*.hpp, T = float or
// double) and the CUDA kernels (native/cuda/*.cu, T = float, compiled by clang-14 with no CUDA SDK) include this
// header, so the CPU tests exercise the very formulas the GPU runs. Each function keeps the CPU's evaluation order
// (the CPU results must not change by a bit). On the device, exp/sqrt come from NVVM builtins (no libdevice).
#pragma once

#include <stdint.h>

#if defined(__CUDA__)
#define ENG_HD __attribute__((host)) __attribute__((device)) inline
#else
#define ENG_HD inline
#endif

#if !defined(__CUDA_ARCH__)
#include <cmath>
#endif

namespace eng {

// e^x: std::exp on the host; on the device 2^(x log2 e) through the hardware ex2 (about 2 ulp).
template <typename T>
ENG_HD T op_exp(T x) {
#if defined(__CUDA_ARCH__)
    return (T)__nvvm_ex2_approx_f((float)x * 1.4426950408889634f);
#else
    return std::exp(x);
#endif
}

// ln x: std::log on the host; on the device log2 through the hardware lg2, times ln 2.
template <typename T>
ENG_HD T op_log(T x) {
#if defined(__CUDA_ARCH__)
    return (T)(__nvvm_lg2_approx_f((float)x) * 0.6931471805599453f);
#else
    return std::log(x);
#endif
}

// Correctly rounded square root on both sides.
template <typename T>
ENG_HD T op_sqrt(T x) {
#if defined(__CUDA_ARCH__)
    return (T)__nvvm_sqrt_rn_f((float)x);
#else
    return std::sqrt(x);
#endif
}

// RMSNorm's reciprocal root: 1 / sqrt(sum of squares / C + eps).
template <typename T>
ENG_HD T rmsnorm_rstd(T sum_squares, int64_t C, T eps) {
    return T(1) / op_sqrt(sum_squares / T(C) + eps);
}

// sigmoid(g) = 1 / (1 + e^-g), the factor silu and its derivative share.
template <typename T>
ENG_HD T sigmoid(T g) {
    return T(1) / (T(1) + op_exp(-g));
}

// SwiGLU forward: silu(gate) * up.
template <typename T>
ENG_HD T swiglu(T g, T up) {
    const T s = sigmoid(g);
    return g * s * up;
}

// SwiGLU backward: the increments of dgate (dout * up * silu'(g), silu'(g) = s (1 + g (1 - s))) and dup (dout * silu(g)).
template <typename T>
ENG_HD void swiglu_grads(T* dgate, T* dup, T dout, T g, T up) {
    const T s = sigmoid(g);
    *dgate = dout * up * s * (T(1) + g * (T(1) - s));
    *dup = dout * g * s;
}

// HF rotate_half on one pair (x_i, x_{i + D/2}): a' = a cos - b sin, b' = b cos + a sin.
template <typename T>
ENG_HD void rope_rotate(T* a, T* b, T c, T s) {
    const T x = *a, y = *b;
    *a = x * c - y * s;
    *b = y * c + x * s;
}

// Its transpose, for the gradient: ga' = ga cos + gb sin, gb' = gb cos - ga sin.
template <typename T>
ENG_HD void rope_rotate_back(T* ga, T* gb, T c, T s) {
    const T x = *ga, y = *gb;
    *ga = x * c + y * s;
    *gb = y * c - x * s;
}

// One AdamW element (torch.optim.AdamW): g scaled by the clip coefficient, moments updated, then
// p = p * decay - step_size * m / (sqrt(v) / bc2_sqrt + eps), decay = 1 - lr * wd for decayed tensors.
template <typename T>
ENG_HD void adamw_element(T* p, T* m, T* v, T g, T scale, T beta1, T beta2, T decay, T step_size, T bc2_sqrt, T eps) {
    const T gi = g * scale;
    *m = beta1 * *m + (T(1) - beta1) * gi;
    *v = beta2 * *v + (T(1) - beta2) * gi * gi;
    *p = *p * decay - step_size * *m / (op_sqrt(*v) / bc2_sqrt + eps);
}

// float to bf16 bits, round to nearest even, NaN kept NaN (DESIGN.md §4).
ENG_HD uint16_t bf16_bits(float f) {
    uint32_t u = __builtin_bit_cast(uint32_t, f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x0040u);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

ENG_HD float bf16_to_float(uint16_t b) { return __builtin_bit_cast(float, (uint32_t)b << 16); }

}  // namespace eng
