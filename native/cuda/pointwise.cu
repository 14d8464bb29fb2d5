// Elementwise and gather/scatter kernels of the CUDA trainer. CPU references: ops_linear.hpp (embedding, bias),
// ops_pointwise.hpp (SwiGLU, RoPE), ops_classifier.hpp (row gather/scatter of the classifier chunk).
// Shapes: N tokens, C channels, OC output channels, nh heads of D channels, V vocabulary.
// Forward kernels write with =, backward kernels accumulate with += (the CPU's invariant).
#include "trainer_common.cuh"

// out (N, C) = wte[tokens[n]]; one thread per element.
KERNEL void embedding_forward_kernel(float* out, const int* tokens, const float* wte, int N, int C) {
    const i64 i = global_index();
    if (i >= (i64)N * C) return;
    const i64 n = i / C, c = i % C;
    out[i] = wte[(i64)tokens[n] * C + c];
}

// dwte (V, C) += scatter of dout (N, C) by token: one thread per channel walking the tokens in order, so repeated
// tokens never race and the sum's order is fixed.
KERNEL void embedding_backward_kernel(float* dwte, const float* dout, const int* tokens, int N, int C) {
    const i64 c = global_index();
    if (c >= C) return;
    for (i64 n = 0; n < N; n++) dwte[(i64)tokens[n] * C + c] += dout[n * C + c];
}

// dst += src
KERNEL void add_kernel(float* dst, const float* src, i64 count) {
    const i64 i = global_index();
    if (i < count) dst[i] += src[i];
}

// out (N, OC) += bias (OC)
KERNEL void bias_add_kernel(float* out, const float* bias, int N, int OC) {
    const i64 i = global_index();
    if (i < (i64)N * OC) out[i] += bias[i % OC];
}

// dbias (OC) += sum over tokens of dout (N, OC): one thread per channel, tokens in order.
KERNEL void bias_backward_kernel(float* dbias, const float* dout, int N, int OC) {
    const i64 o = global_index();
    if (o >= OC) return;
    float s = 0;
    for (i64 n = 0; n < N; n++) s += dout[n * OC + o];
    dbias[o] += s;
}

// dst = bf16(src), round to nearest even: the GEMMs' inputs.
KERNEL void to_bf16_kernel(u16* dst, const float* src, i64 count) {
    const i64 i = global_index();
    if (i < count) dst[i] = eng::bf16_bits(src[i]);
}

// out = silu(gate) * up
KERNEL void swiglu_forward_kernel(float* out, const float* gate, const float* up, i64 count) {
    const i64 i = global_index();
    if (i < count) out[i] = eng::swiglu(gate[i], up[i]);
}

// dgate += dout * up * silu'(gate); dup += dout * silu(gate)
KERNEL void swiglu_backward_kernel(float* dgate, float* dup, const float* dout, const float* gate, const float* up, i64 count) {
    const i64 i = global_index();
    if (i >= count) return;
    float dg, du;
    eng::swiglu_grads(&dg, &du, dout[i], gate[i], up[i]);
    dgate[i] += dg;
    dup[i] += du;
}

// In place on x (N, nh, D), one thread per rotated pair (n, h, i < D/2); cos/sin (N, D/2). backward != 0 applies
// the transpose (the gradient's rotation).
KERNEL void rope_kernel(float* x, const float* cosv, const float* sinv, int N, int nh, int D, int backward) {
    const i64 half = D / 2;
    const i64 p = global_index();
    if (p >= (i64)N * nh * half) return;
    const i64 i = p % half, nhp = p / half, n = nhp / nh;
    float* v = x + nhp * D;
    const float c = cosv[n * half + i], s = sinv[n * half + i];
    if (backward) eng::rope_rotate_back(&v[i], &v[i + half], c, s);
    else eng::rope_rotate(&v[i], &v[i + half], c, s);
}

// dst (count, C) = bf16(x[rows[t]]): the scored tokens of one classifier chunk.
KERNEL void gather_rows_bf16_kernel(u16* dst, const float* x, const int* rows, int count, int C) {
    const i64 i = global_index();
    if (i >= (i64)count * C) return;
    const i64 t = i / C, c = i % C;
    dst[i] = eng::bf16_bits(x[(i64)rows[t] * C + c]);
}

// dx[rows[t]] += src[t] for the chunk's rows (distinct tokens, so no two threads write one element).
KERNEL void scatter_add_rows_kernel(float* dx, const float* src, const int* rows, int count, int C) {
    const i64 i = global_index();
    if (i >= (i64)count * C) return;
    const i64 t = i / C, c = i % C;
    dx[(i64)rows[t] * C + c] += src[i];
}
