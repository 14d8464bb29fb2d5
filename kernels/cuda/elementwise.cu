// elementwise.cu: the element-wise and reduction primitives of the merge methods (IElementwiseKernels):
//   linear_combination_kernel   out = sum_j c_j x_j from -0, or b + sum_j c_j (x_j - b) from b, one row of c per segment
//   gram_partials_kernel        per 32768-element block: sum_e v_i v_j (v = x, or x - b), upper triangle
//   abs_difference_kernel       magnitudes = |other - base|, bad = first index whose difference is not finite
//   abs_difference_sums_kernel  per block: (sum |other - base|, sum over kept elements)
//   random_keep_mask_kernel     bit e set when uniform(key, e) < density (SplitMix64 finaliser, as CounterHash)
//   task_arithmetic_kernel      the generalised task-arithmetic combine with optional TIES sign election
//   near_swap_kernel            w = clamp(t / max(|b - m|, 1e-6), 0, 1), out = w m + (1 - w) b
//   counted_average_kernel      out = b + sum_{|d_i| > eps} d_i / max(1, count), d_i = x_i - b
//   amplified_counted_average_kernel  RAM+: b + sum_{|d_i| > eps} (count == 1 ? d_i lambda_i : d_i / count)
//   delta_variance_kernel       variance of the deltas x_i - b across the models, first non-finite delta, nonzero count
//   delta_square_sums_kernel    per block and model: sum over kept elements of (double)(x_i - b)^2
//   sign_elected_mean_kernel    SCE: b + sum_{sign(d_i) = majority} w_i d_i / max(sum w_i, 1e-6), majority of sum d_i
//   pair_sums_runs_kernel       per run (row, or block of a whole-tensor vector): sum v0^2, v1^2, v0 v1, (v0 - v1)^2
//                               ((v0 - v1)^2 is not always exact in float64: multiplied and added with .rn, never fused)
//   pair_sums_columns_kernel    the same four sums per column of a [length, vectors] view, rows in order
//   slerp_blend_kernel          nuslerp: [b +] (lerp(v) ? v0 + t (v1 - v0) : c0 v0 + c1 v1), per-vector c and lerp bit
// Layout: several inputs travel packed in one byte buffer, input i at byte offsets[i] (a multiple of 16) in
// dtype dtypes[i] (F32 | BF16 | F16); a base, where one takes part, is the input after the models. Outputs in
// their stored dtype; masks are u64 words, element e at bit e & 63 of word e >> 6. Reductions take one block
// per 32768-element block and write its partial; the host adds them in block order (float64).
// Element math is float32 in the reference's order. clang contracts a * b + c into an FMA for CUDA
// (-ffp-contract=fast, which ignores #pragma clang fp contract) and ptxas may fuse plain mul/add: products and
// the sums they feed go through mul.rn / add.rn (never fused), so the combines are bit-identical to the CPU
// reference. Products in the reductions are exact in float64; only the
// order of the block's additions differs (a tree here).
// Tested against: ElementwiseCpu (Engine.Kernels/Cpu), through ElementwiseSelfTest; the ILGPU twin is
// IlgpuElementwiseKernels.cs.
#include "engine_math.cuh"

#define BLOCK 256
#define REDUCTION_BLOCK 32768

DEVICE float load_input(const unsigned char* packed, const i64* offsets, const int* dtypes, int i, i64 e)
{
    return load_as_float(packed + offsets[i], dtypes[i], e);
}

// The sum of v over the block (BLOCK threads), as a tree.
DEVICE double block_sum(double v, volatile double* scratch)
{
    unsigned t = threadIdx.x;
    scratch[t] = v;
    block_barrier();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1)
    {
        if (t < s) scratch[t] += scratch[t + s];
        block_barrier();
    }
    double total = scratch[0];
    block_barrier();
    return total;
}

// coefficients (segments, k) from the segment holding the tensor's element first_element (the call's element 0).
KERNEL void linear_combination_kernel(void* output, const unsigned char* packed, const i64* offsets, const int* dtypes, const float* coefficients,
    int output_dtype, int k, int has_base, i64 segment_length, i64 first_element, i64 n)
{
    i64 stride = (i64)blockDim.x * gridDim.x;
    i64 first_segment = first_element / segment_length;
    for (i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += stride)
    {
        i64 row = ((first_element + e) / segment_length - first_segment) * k;
        float b = has_base ? load_input(packed, offsets, dtypes, k, e) : 0.0f;
        float acc = has_base ? b : -0.0f;
        for (int j = 0; j < k; j++)
        {
            float x = load_input(packed, offsets, dtypes, j, e);
            if (has_base) x -= b;
            acc = add_rn(mul_rn(x, coefficients[row + j]), acc);
        }
        store_from_float(output, output_dtype, e, acc);
    }
}

KERNEL void gram_partials_kernel(double* partials, const unsigned char* packed, const i64* offsets, const int* dtypes,
    int k, int has_base, i64 segment_length, i64 per_segment, i64 items)
{
    SHARED volatile double scratch[BLOCK];
    for (i64 item = blockIdx.x; item < items; item += gridDim.x)
    {
        i64 s = item / per_segment, b = item % per_segment;
        i64 start = s * segment_length + b * REDUCTION_BLOCK;
        i64 rest = segment_length - b * REDUCTION_BLOCK;
        i64 end = start + (rest < REDUCTION_BLOCK ? rest : REDUCTION_BLOCK);
        for (int i = 0; i < k; i++)
        {
            for (int j = i; j < k; j++)
            {
                double sum = 0;
                for (i64 e = start + threadIdx.x; e < end; e += blockDim.x)
                {
                    float vi = load_input(packed, offsets, dtypes, i, e), vj = load_input(packed, offsets, dtypes, j, e);
                    if (has_base)
                    {
                        float bv = load_input(packed, offsets, dtypes, k, e);
                        vi -= bv;
                        vj -= bv;
                    }
                    sum += (double)vi * (double)vj;
                }
                sum = block_sum(sum, scratch);
                if (threadIdx.x == 0) partials[item * k * k + i * k + j] = sum;
            }
        }
    }
}

KERNEL void abs_difference_kernel(float* magnitudes, u64* bad, const void* other, const void* base, int other_dtype, int base_dtype, i64 n)
{
    i64 stride = (i64)blockDim.x * gridDim.x;
    for (i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += stride)
    {
        float d = load_as_float(other, other_dtype, e) - load_as_float(base, base_dtype, e);
        magnitudes[e] = bits_float(float_bits(d) & 0x7FFFFFFFu);
        if (!is_finite(d)) atomic_min_u64(bad, (u64)e);
    }
}

KERNEL void abs_difference_sums_kernel(double* partials, const void* other, const void* base, const u64* keep, int other_dtype, int base_dtype, i64 n)
{
    SHARED volatile double scratch[BLOCK];
    i64 blocks = (n + REDUCTION_BLOCK - 1) / REDUCTION_BLOCK;
    for (i64 block = blockIdx.x; block < blocks; block += gridDim.x)
    {
        i64 end = (block + 1) * REDUCTION_BLOCK < n ? (block + 1) * REDUCTION_BLOCK : n;
        double before = 0, after = 0;
        for (i64 e = block * REDUCTION_BLOCK + threadIdx.x; e < end; e += blockDim.x)
        {
            float d = load_as_float(other, other_dtype, e) - load_as_float(base, base_dtype, e);
            double m = (double)bits_float(float_bits(d) & 0x7FFFFFFFu);
            before += m;
            if ((keep[e >> 6] >> (e & 63)) & 1) after += m;
        }
        before = block_sum(before, scratch);
        after = block_sum(after, scratch);
        if (threadIdx.x == 0)
        {
            partials[block * 2] = before;
            partials[block * 2 + 1] = after;
        }
    }
}

// SplitMix64's finaliser and the uniform draw of CounterHash (Engine.Kernels/CounterHash.cs).
DEVICE u64 mix64(u64 z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

DEVICE double counter_uniform(u64 key, i64 index)
{
    return (double)(mix64(key + (u64)index * 0x9E3779B97F4A7C15ull) >> 11) * (1.0 / 9007199254740992.0);
}

KERNEL void random_keep_mask_kernel(u64* keep, u64 key, double density, i64 length)
{
    i64 words = (length + 63) / 64;
    i64 stride = (i64)blockDim.x * gridDim.x;
    for (i64 w = (i64)blockIdx.x * blockDim.x + threadIdx.x; w < words; w += stride)
    {
        u64 bits = 0;
        for (int b = 0; b < 64; b++)
        {
            i64 e = w * 64 + b;
            if (e < length && counter_uniform(key, e) < density) bits |= 1ull << b;
        }
        keep[w] = bits;
    }
}

// kept ? w_i (s_i (M_i - B)) : 0 for element e; masks (k, words_per_model) from the word holding the call's
// first element, bit_offset = that element's bit.
DEVICE float task_delta(const unsigned char* packed, const i64* offsets, const int* dtypes, const float* weights, const float* scales,
    const u64* masks, const int* has_mask, i64 words_per_model, int bit_offset, int i, i64 e, float b)
{
    float d = load_input(packed, offsets, dtypes, i, e) - b;
    i64 bit = bit_offset + e;
    bool kept = !has_mask[i] || ((masks[i * words_per_model + (bit >> 6)] >> (bit & 63)) & 1);
    return kept ? mul_rn(weights[i], mul_rn(d, scales[i])) : 0.0f;
}

KERNEL void task_arithmetic_kernel(void* output, const unsigned char* packed, const i64* offsets, const int* dtypes,
    const float* weights, const float* scales, const u64* masks, const int* has_mask,
    int output_dtype, int k, i64 words_per_model, int bit_offset, int consensus, int normalize, float lambda, float linear_divisor, i64 n)
{
    i64 stride = (i64)blockDim.x * gridDim.x;
    for (i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += stride)
    {
        float b = load_input(packed, offsets, dtypes, k, e);
        float mixed = 0.0f, divisor;
        if (consensus)
        {
            float sum = 0.0f;
            for (int i = 0; i < k; i++) sum = add_rn(sum, task_delta(packed, offsets, dtypes, weights, scales, masks, has_mask, words_per_model, bit_offset, i, e, b));
            float majority = sum >= 0.0f ? 1.0f : -1.0f;
            divisor = 0.0f;
            for (int i = 0; i < k; i++)
            {
                float wd = task_delta(packed, offsets, dtypes, weights, scales, masks, has_mask, words_per_model, bit_offset, i, e, b);
                float sign = wd > 0.0f ? 1.0f : (wd < 0.0f ? -1.0f : 0.0f);
                if (sign == majority)
                {
                    mixed = add_rn(mixed, wd);
                    divisor = add_rn(divisor, weights[i]);
                }
            }
            if (divisor == 0.0f) divisor = 1.0f;
        }
        else
        {
            for (int i = 0; i < k; i++) mixed = add_rn(mixed, task_delta(packed, offsets, dtypes, weights, scales, masks, has_mask, words_per_model, bit_offset, i, e, b));
            divisor = linear_divisor;
        }
        if (normalize) mixed /= divisor;
        if (lambda != 1.0f) mixed = mul_rn(mixed, lambda);
        store_from_float(output, output_dtype, e, add_rn(b, mixed));
    }
}

// Input 0 the model m, input 1 the base b. max and clamp as .NET's MathF.Max and Math.Clamp (a NaN stays NaN).
KERNEL void near_swap_kernel(void* output, const unsigned char* packed, const i64* offsets, const int* dtypes, int output_dtype, float t, i64 n)
{
    i64 stride = (i64)blockDim.x * gridDim.x;
    for (i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += stride)
    {
        float m = load_input(packed, offsets, dtypes, 0, e), b = load_input(packed, offsets, dtypes, 1, e);
        float distance = bits_float(float_bits(b - m) & 0x7FFFFFFFu);
        float w = t / (!(distance <= 1e-6f) ? distance : 1e-6f);
        w = w < 0.0f ? 0.0f : (w > 1.0f ? 1.0f : w);
        store_from_float(output, output_dtype, e, add_rn(mul_rn(w, m), mul_rn(1.0f - w, b)));
    }
}

// The models are inputs 0..k-1, the base input k; sums and counts in model order from +0.
KERNEL void counted_average_kernel(void* output, const unsigned char* packed, const i64* offsets, const int* dtypes, int output_dtype, int k, float epsilon, i64 n)
{
    i64 stride = (i64)blockDim.x * gridDim.x;
    for (i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += stride)
    {
        float b = load_input(packed, offsets, dtypes, k, e);
        float sum = 0.0f, count = 0.0f;
        for (int i = 0; i < k; i++)
        {
            float d = load_input(packed, offsets, dtypes, i, e) - b;
            if (bits_float(float_bits(d) & 0x7FFFFFFFu) > epsilon)
            {
                sum = add_rn(sum, d);
                count = add_rn(count, 1.0f);
            }
        }
        store_from_float(output, output_dtype, e, add_rn(b, sum / (count > 1.0f ? count : 1.0f)));
    }
}

// The models are inputs 0..k-1, the base input k; the count first, then the sum in model order from +0.
KERNEL void amplified_counted_average_kernel(void* output, const unsigned char* packed, const i64* offsets, const int* dtypes, const float* lambda,
    int output_dtype, int k, float epsilon, i64 n)
{
    i64 stride = (i64)blockDim.x * gridDim.x;
    for (i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += stride)
    {
        float b = load_input(packed, offsets, dtypes, k, e);
        float count = 0.0f, sum = 0.0f;
        for (int i = 0; i < k; i++)
            if (bits_float(float_bits(load_input(packed, offsets, dtypes, i, e) - b) & 0x7FFFFFFFu) > epsilon) count = add_rn(count, 1.0f);
        for (int i = 0; i < k; i++)
        {
            float d = load_input(packed, offsets, dtypes, i, e) - b;
            if (bits_float(float_bits(d) & 0x7FFFFFFFu) > epsilon) sum = add_rn(sum, count == 1.0f ? mul_rn(d, lambda[i]) : d / count);
        }
        store_from_float(output, output_dtype, e, add_rn(b, sum));
    }
}

// The models are inputs 0..k-1, the base input k. Each thread adds its count of nonzero variances once.
KERNEL void delta_variance_kernel(float* variance, u64* bad, u64* nonzero, const unsigned char* packed, const i64* offsets, const int* dtypes, int k, i64 n)
{
    i64 stride = (i64)blockDim.x * gridDim.x;
    u64 count = 0;
    for (i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += stride)
    {
        float b = load_input(packed, offsets, dtypes, k, e), mean = 0.0f;
        for (int i = 0; i < k; i++)
        {
            float d = load_input(packed, offsets, dtypes, i, e) - b;
            if (!is_finite(d)) atomic_min_u64(bad, (u64)e);
            mean = add_rn(mean, d);
        }
        mean /= (float)k;
        float square = 0.0f;
        for (int i = 0; i < k; i++)
        {
            float c = load_input(packed, offsets, dtypes, i, e) - b - mean;
            square = add_rn(square, mul_rn(c, c));
        }
        float v = square / (float)k;
        variance[e] = v;
        if (v != 0.0f) count++;
    }
    if (count) atomic_add_u64(nonzero, count);
}

KERNEL void delta_square_sums_kernel(double* partials, const unsigned char* packed, const i64* offsets, const int* dtypes, const u64* keep,
    int has_keep, int k, i64 n)
{
    SHARED volatile double scratch[BLOCK];
    i64 blocks = (n + REDUCTION_BLOCK - 1) / REDUCTION_BLOCK;
    for (i64 block = blockIdx.x; block < blocks; block += gridDim.x)
    {
        i64 end = (block + 1) * REDUCTION_BLOCK < n ? (block + 1) * REDUCTION_BLOCK : n;
        for (int i = 0; i < k; i++)
        {
            double sum = 0;
            for (i64 e = block * REDUCTION_BLOCK + threadIdx.x; e < end; e += blockDim.x)
            {
                if (has_keep && !((keep[e >> 6] >> (e & 63)) & 1)) continue;
                double v = (double)(load_input(packed, offsets, dtypes, i, e) - load_input(packed, offsets, dtypes, k, e));
                sum += v * v;
            }
            sum = block_sum(sum, scratch);
            if (threadIdx.x == 0) partials[block * k + i] = sum;
        }
    }
}

// keep: the mask words from the one holding the call's first element, bit_offset = that element's bit.
KERNEL void sign_elected_mean_kernel(void* output, const unsigned char* packed, const i64* offsets, const int* dtypes, const float* weights,
    const u64* keep, int output_dtype, int k, int has_keep, int bit_offset, i64 n)
{
    i64 stride = (i64)blockDim.x * gridDim.x;
    for (i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += stride)
    {
        float b = load_input(packed, offsets, dtypes, k, e);
        i64 bit = bit_offset + e;
        bool kept = !has_keep || ((keep[bit >> 6] >> (bit & 63)) & 1);
        float sum = 0.0f;
        for (int i = 0; i < k; i++) sum = add_rn(sum, kept ? load_input(packed, offsets, dtypes, i, e) - b : 0.0f);
        float majority = sum >= 0.0f ? 1.0f : -1.0f;
        float mixed = 0.0f, divisor = 0.0f;
        for (int i = 0; i < k; i++)
        {
            float d = kept ? load_input(packed, offsets, dtypes, i, e) - b : 0.0f;
            float sign = d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f);
            if (sign != majority) continue;
            mixed = add_rn(mixed, mul_rn(d, weights[i]));
            divisor = add_rn(divisor, weights[i]);
        }
        store_from_float(output, output_dtype, e, add_rn(b, mixed / (!(divisor <= 1e-6f) ? divisor : 1e-6f)));
    }
}

// v0, v1 of element e: inputs 0 and 1, minus input 2 (float32) with a base.
DEVICE void pair_terms(const unsigned char* packed, const i64* offsets, const int* dtypes, int has_base, i64 e, double* x, double* y)
{
    float v0 = load_input(packed, offsets, dtypes, 0, e), v1 = load_input(packed, offsets, dtypes, 1, e);
    if (has_base)
    {
        float b = load_input(packed, offsets, dtypes, 2, e);
        v0 -= b;
        v1 -= b;
    }
    *x = (double)v0;
    *y = (double)v1;
}

KERNEL void pair_sums_runs_kernel(double* partials, const unsigned char* packed, const i64* offsets, const int* dtypes, int has_base, i64 run_length, i64 runs, i64 n)
{
    SHARED volatile double scratch[BLOCK];
    for (i64 run = blockIdx.x; run < runs; run += gridDim.x)
    {
        i64 end = (run + 1) * run_length < n ? (run + 1) * run_length : n;
        double aa = 0, bb = 0, ab = 0, dd = 0;
        for (i64 e = run * run_length + threadIdx.x; e < end; e += blockDim.x)
        {
            double x, y;
            pair_terms(packed, offsets, dtypes, has_base, e, &x, &y);
            double d = x - y;
            aa += x * x;
            bb += y * y;
            ab += x * y;
            dd = dadd_rn(dd, dmul_rn(d, d));  // not exact in float64: never fused, as the CPU
        }
        aa = block_sum(aa, scratch);
        bb = block_sum(bb, scratch);
        ab = block_sum(ab, scratch);
        dd = block_sum(dd, scratch);
        if (threadIdx.x == 0)
        {
            partials[run * 4] = aa;
            partials[run * 4 + 1] = bb;
            partials[run * 4 + 2] = ab;
            partials[run * 4 + 3] = dd;
        }
    }
}

KERNEL void pair_sums_columns_kernel(double* sums, const unsigned char* packed, const i64* offsets, const int* dtypes, int has_base, i64 vectors, i64 length)
{
    i64 stride = (i64)blockDim.x * gridDim.x;
    for (i64 j = (i64)blockIdx.x * blockDim.x + threadIdx.x; j < vectors; j += stride)
    {
        double aa = 0, bb = 0, ab = 0, dd = 0;
        for (i64 i = 0; i < length; i++)
        {
            double x, y;
            pair_terms(packed, offsets, dtypes, has_base, i * vectors + j, &x, &y);
            double d = x - y;
            aa += x * x;
            bb += y * y;
            ab += x * y;
            dd = dadd_rn(dd, dmul_rn(d, d));  // not exact in float64: never fused, as the CPU
        }
        sums[j * 4] = aa;
        sums[j * 4 + 1] = bb;
        sums[j * 4 + 2] = ab;
        sums[j * 4 + 3] = dd;
    }
}

// coefficients (vectors, 2); lerp one bit per vector; element e of the call is the tensor's element first_element + e.
KERNEL void slerp_blend_kernel(void* output, const unsigned char* packed, const i64* offsets, const int* dtypes, const float* coefficients, const u64* lerp,
    int output_dtype, int has_base, float t, i64 vectors, i64 vector_length, int along_first, i64 first_element, i64 n)
{
    i64 stride = (i64)blockDim.x * gridDim.x;
    for (i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += stride)
    {
        i64 element = first_element + e;
        i64 v = vectors == 1 ? 0 : (along_first ? element % vectors : element / vector_length);
        float v0 = load_input(packed, offsets, dtypes, 0, e), v1 = load_input(packed, offsets, dtypes, 1, e), b = 0.0f;
        if (has_base)
        {
            b = load_input(packed, offsets, dtypes, 2, e);
            v0 -= b;
            v1 -= b;
        }
        float r = ((lerp[v >> 6] >> (v & 63)) & 1) ? add_rn(v0, mul_rn(t, v1 - v0)) : add_rn(mul_rn(coefficients[v * 2], v0), mul_rn(coefficients[v * 2 + 1], v1));
        store_from_float(output, output_dtype, e, has_base ? add_rn(b, r) : r);
    }
}
