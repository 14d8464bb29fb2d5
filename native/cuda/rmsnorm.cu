// RMSNorm forward and backward (CPU reference: ops_pointwise.hpp rmsnorm_forward / rmsnorm_backward).
// Shapes: x, out, dout, dx (N, C); weight, dweight (C); rstd (N). Statistics in fp32, as HF computes them.
#include "trainer_common.cuh"

// One block per token: out = x * rstd * weight, rstd = 1 / sqrt(mean(x^2) + eps).
KERNEL void rmsnorm_forward_kernel(float* out, float* rstd, const float* x, const float* weight, int N, int C, float eps) {
    SHARED float scratch[33];
    const i64 n = blockIdx.x;
    if (n >= N) return;
    const float* xn = x + n * C;
    float ss = 0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) ss += xn[c] * xn[c];
    ss = block_sum(ss, scratch);
    const float r = eng::rmsnorm_rstd(ss, C, eps);
    if (threadIdx.x == 0) rstd[n] = r;
    float* on = out + n * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) on[c] = xn[c] * r * weight[c];
}

// One block per token: dx += rstd * (dout * w - xhat * mean(dout * w * xhat)), xhat = x * rstd.
KERNEL void rmsnorm_backward_dx_kernel(float* dx, const float* dout, const float* x, const float* weight, const float* rstd,
                                       int N, int C) {
    SHARED float scratch[33];
    const i64 n = blockIdx.x;
    if (n >= N) return;
    const float* xn = x + n * C;
    const float* gn = dout + n * C;
    const float r = rstd[n];
    float dot = 0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) dot += gn[c] * weight[c] * xn[c] * r;
    dot = block_sum(dot, scratch) / (float)C;
    float* dxn = dx + n * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) dxn[c] += r * (gn[c] * weight[c] - xn[c] * r * dot);
}

// dweight += sum_n dout * x * rstd: one thread per channel, tokens in order (no atomics, fixed order).
KERNEL void rmsnorm_backward_dweight_kernel(float* dweight, const float* dout, const float* x, const float* rstd, int N, int C) {
    const i64 c = global_index();
    if (c >= C) return;
    float acc = 0;
    for (i64 n = 0; n < N; n++) acc += dout[n * C + c] * x[n * C + c] * rstd[n];
    dweight[c] += acc;
}
