// row_importance.cu: Arcee Fusion importance, fused: one pass over the inputs computes, per row,
//   p = softmax(other_row) + 1e-8, q = softmax(base_row) + 1e-8, KL_row = sum_j p_j ln(p_j / q_j),
//   importance_j = |other_j - base_j| * KL_row,
// in the cancellation-free form of the CPU reference (RowImportanceCpu.Float32):
//   cx = max x + ln sum exp(x - max x), cy likewise (sums in float64), q0 = exp(y - cy),
//   u = q0 expm1((x - y) - (cx - cy)) / (q0 + eps), KL = sum (q0 + eps) f(u) in float64.
// Layout: other, base: (rows, row_length) row-major in their stored dtype (F32 | BF16 | F16), importance:
// (rows, row_length) float32, row_kl: (rows) float64. One block per row; block reductions in a fixed order,
// so results repeat bit for bit; they agree with the CPU reference within float32 rounding of KL (the
// element math is float32 and the float64 sums are taken in a different order).
// bad[0] / bad[1]: the smallest element index holding NaN or an infinity in other / base (initialised to
// ~0 by the host); the row is then skipped.
// Tested against: RowImportanceCpu.Float32 (tests/Engine.Kernels.Tests, `engine selftest`).
#include "engine_math.cuh"

#define BLOCK 256

DEVICE double block_sum(double v, double* scratch)
{
    unsigned t = threadIdx.x;
    scratch[t] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1)
    {
        if (t < s) scratch[t] += scratch[t + s];
        __syncthreads();
    }
    double total = scratch[0];
    __syncthreads();
    return total;
}

DEVICE float block_max(float v, float* scratch)
{
    unsigned t = threadIdx.x;
    scratch[t] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1)
    {
        if (t < s) scratch[t] = __builtin_fmaxf(scratch[t], scratch[t + s]);
        __syncthreads();
    }
    float m = scratch[0];
    __syncthreads();
    return m;
}

// blockDim.x: a power of two <= BLOCK. Grid: (rows) blocks, or gridDim.x * gridDim.y >= rows.
KERNEL void row_importance_kernel(float* importance, double* row_kl, u64* bad,
    const void* other, const void* base, int other_dtype, int base_dtype, i64 rows, int row_length)
{
    SHARED double dscratch[BLOCK];
    SHARED float fscratch[BLOCK];
    SHARED int row_bad;
    i64 row = (i64)blockIdx.y * gridDim.x + blockIdx.x;
    if (row >= rows) return;
    i64 start = row * row_length;
    unsigned t = threadIdx.x;
    if (t == 0) row_bad = 0;
    __syncthreads();

    float mx = bits_float(0xFF800000u), my = mx;
    for (int j = t; j < row_length; j += blockDim.x)
    {
        float x = load_as_float(other, other_dtype, start + j), y = load_as_float(base, base_dtype, start + j);
        if (!is_finite(x)) { atomic_min_u64(&bad[0], (u64)(start + j)); row_bad = 1; }
        if (!is_finite(y)) { atomic_min_u64(&bad[1], (u64)(start + j)); row_bad = 1; }
        mx = __builtin_fmaxf(mx, x);
        my = __builtin_fmaxf(my, y);
    }
    mx = block_max(mx, fscratch);
    my = block_max(my, fscratch);
    if (row_bad) return;  // uniform across the block: row_bad was read after the barriers above

    double sx = 0, sy = 0;
    for (int j = t; j < row_length; j += blockDim.x)
    {
        sx += exp_f32(load_as_float(other, other_dtype, start + j) - mx);
        sy += exp_f32(load_as_float(base, base_dtype, start + j) - my);
    }
    sx = block_sum(sx, dscratch);
    sy = block_sum(sy, dscratch);
    double cx = mx + log_f64(sx), cy = my + log_f64(sy);
    float shift = (float)(cx - cy), cyf = (float)cy;

    double kl = 0;
    for (int j = t; j < row_length; j += blockDim.x)
    {
        float x = load_as_float(other, other_dtype, start + j), y = load_as_float(base, base_dtype, start + j);
        float q0 = exp_f32(y - cyf);
        float q = q0 + 1e-8f;
        float u = q0 * expm1_f32((x - y) - shift) / q;
        kl += (double)(q * kl_term(u));
    }
    kl = block_sum(kl, dscratch);
    if (t == 0) row_kl[row] = kl;

    float k = (float)kl;
    for (int j = t; j < row_length; j += blockDim.x)
    {
        float x = load_as_float(other, other_dtype, start + j), y = load_as_float(base, base_dtype, start + j);
        importance[start + j] = __builtin_fabsf(x - y) * k;
    }
}
