// row_importance_bf16.cu: Arcee Fusion importance as mergekit computes it on bf16 tensors (compute_dtype: bfloat16):
// every torch op's result rounded to bf16, softmax sums in float32:
//   x, y rounded to bf16; p = R(e_x / sum e_x) with e_x = exp(x - max x) (q likewise);
//   KL = R(sum_j R(R(p_j + 1e-8) * R(ln R(R(p_j + 1e-8) / R(q_j + 1e-8))))) (p, q + eps rounded as in mergekit);
//   importance_j = R(R(|R(x_j - y_j)|) * KL).
// One thread per row (grid-stride over rows), so each float32 sum runs in element order as on the CPU, every
// operation is rounded as written (mul_rn, add_rn, div_rn: nothing fused) and exp / ln are exp_rounded_f32 /
// log_rounded_f32: the results equal the CPU reference bit for bit.
// Layout and bad-element flags as row_importance.cu (bad[0] / bad[1]: smallest non-finite index in other / base,
// checked before rounding; such a row is skipped).
// Tested against: RowImportanceCpu.BFloat16 (tests/Engine.Kernels.Tests, `engine selftest`).
#include "engine_math.cuh"

#define EPSILON 1e-8f

KERNEL void row_importance_bf16_kernel(float* importance, double* row_kl, u64* bad,
    const void* other, const void* base, int other_dtype, int base_dtype, i64 rows, int row_length)
{
    i64 stride = (i64)blockDim.x * gridDim.x;
    for (i64 row = (i64)blockIdx.x * blockDim.x + threadIdx.x; row < rows; row += stride)
    {
        i64 start = row * row_length;
        bool row_bad = false;
        float mx = bits_float(0xFF800000u), my = mx;
        for (int j = 0; j < row_length; j++)
        {
            float x = load_as_float(other, other_dtype, start + j), y = load_as_float(base, base_dtype, start + j);
            if (!is_finite(x)) { atomic_min_u64(&bad[0], (u64)(start + j)); row_bad = true; }
            if (!is_finite(y)) { atomic_min_u64(&bad[1], (u64)(start + j)); row_bad = true; }
            x = round_bf16(x);
            y = round_bf16(y);
            mx = x > mx ? x : mx;
            my = y > my ? y : my;
        }
        if (row_bad) continue;

        float sx = 0.0f, sy = 0.0f;
        for (int j = 0; j < row_length; j++)
            sx = add_rn(sx, exp_rounded_f32(add_rn(round_bf16(load_as_float(other, other_dtype, start + j)), -mx)));
        for (int j = 0; j < row_length; j++)
            sy = add_rn(sy, exp_rounded_f32(add_rn(round_bf16(load_as_float(base, base_dtype, start + j)), -my)));

        float sum = 0.0f;
        for (int j = 0; j < row_length; j++)
        {
            float x = round_bf16(load_as_float(other, other_dtype, start + j)), y = round_bf16(load_as_float(base, base_dtype, start + j));
            float p = round_bf16(add_rn(round_bf16(div_rn(exp_rounded_f32(add_rn(x, -mx)), sx)), EPSILON));
            float q = round_bf16(add_rn(round_bf16(div_rn(exp_rounded_f32(add_rn(y, -my)), sy)), EPSILON));
            float ratio = round_bf16(div_rn(p, q));
            sum = add_rn(sum, round_bf16(mul_rn(p, round_bf16(log_rounded_f32(ratio)))));
        }
        float kl = round_bf16(sum);
        row_kl[row] = (double)kl;
        for (int j = 0; j < row_length; j++)
        {
            float x = round_bf16(load_as_float(other, other_dtype, start + j)), y = round_bf16(load_as_float(base, base_dtype, start + j));
            importance[start + j] = round_bf16(mul_rn(round_bf16(__builtin_fabsf(round_bf16(add_rn(x, -y)))), kl));
        }
    }
}
