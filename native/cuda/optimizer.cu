// AdamW, the float64 gradient accumulator and the gradient's squared norm (CPU reference: qwen2.cpp
// adamw_update, accumulate_grads, flush_grads, grad_sqnorm). The flat buffers are fp32 (master weights,
// gradients, moments); m and v hold the optimizer range, so element i of the flat buffer is m[i - opt_offset].
#include "trainer_common.cuh"

// One AdamW step on p[lo, lo + count) of one tensor (decay = 1 - lr * wd for decayed tensors, else 1).
KERNEL void adamw_kernel(float* p, const float* g, float* m, float* v, i64 lo, i64 count, i64 opt_offset, float scale,
                         float beta1, float beta2, float decay, float step_size, float bc2_sqrt, float eps) {
    const i64 i = global_index();
    if (i >= count) return;
    const i64 e = lo + i;
    eng::adamw_element(&p[e], &m[e - opt_offset], &v[e - opt_offset], g[e], scale, beta1, beta2, decay, step_size, bc2_sqrt, eps);
}

// acc += g; g = 0
KERNEL void accumulate_grads_kernel(double* acc, float* g, i64 count) {
    const i64 i = global_index();
    if (i >= count) return;
    acc[i] += (double)g[i];
    g[i] = 0.0f;
}

// g = acc rounded to fp32 (the caller offsets both pointers to the flushed range)
KERNEL void flush_grads_kernel(float* g, const double* acc, i64 count) {
    const i64 i = global_index();
    if (i < count) g[i] = (float)acc[i];
}

// partial[b] = sum of g^2 in float64 over fixed block b: elements [max(offset, (first + b) B), min(end, (first + b + 1) B)),
// first = offset / B, the CPU's blocks. One CUDA block per fixed block; the host adds the partials in block order.
KERNEL void sqnorm_partial_kernel(double* partial, const float* g, i64 offset, i64 count, i64 block) {
    SHARED double scratch[33];
    const i64 b = blockIdx.x, end = offset + count, first = offset / block;
    const i64 lo = offset > (first + b) * block ? offset : (first + b) * block;
    const i64 hi = end < (first + b + 1) * block ? end : (first + b + 1) * block;
    double acc = 0;
    for (i64 i = lo + threadIdx.x; i < hi; i += blockDim.x) acc += (double)g[i] * (double)g[i];
    acc = block_sum_d(acc, scratch);
    if (threadIdx.x == 0) partial[b] = acc;
}
