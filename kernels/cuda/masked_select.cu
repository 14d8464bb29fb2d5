// masked_select.cu: the Arcee Fusion selection with dtype conversion:
//   output_i = importance_i >= threshold ? other_i : base_i, written in the output dtype,
// and taken += the number of elements that came from other.
// Layout: output, other, base (n) in their stored dtypes (F32 | BF16 | F16); importance (n) float32.
// Conversion goes through float32 (exact for any stored dtype), then to the output dtype: bf16 round to
// nearest even with NaN kept, f16 by cvt.rn, so a value already stored in the output dtype is copied
// exactly; results are bit-identical to the CPU reference.
// Tested against: CpuMergeKernels.MaskedSelect (MaskedSelectCpu + DTypeConversion).
#include "engine_math.cuh"

#define BLOCK 256

KERNEL void masked_select_kernel(void* output, u64* taken, const void* other, const void* base, const float* importance,
    i64 n, float threshold, int output_dtype, int other_dtype, int base_dtype)
{
    SHARED volatile unsigned counts[BLOCK];
    unsigned local = 0;
    i64 stride = (i64)blockDim.x * gridDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    {
        bool pick = importance[i] >= threshold;
        float v = pick ? load_as_float(other, other_dtype, i) : load_as_float(base, base_dtype, i);
        store_from_float(output, output_dtype, i, v);
        local += pick ? 1u : 0u;
    }
    counts[threadIdx.x] = local;
    block_barrier();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1)
    {
        if (threadIdx.x < s) counts[threadIdx.x] += counts[threadIdx.x + s];
        block_barrier();
    }
    if (threadIdx.x == 0 && counts[0] != 0) atomic_add_u64(taken, (u64)counts[0]);
}
