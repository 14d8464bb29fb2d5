// radix_select.cu: one histogram pass of exact multi-rank selection (MSD radix select) over float32 values.
// Keys are the order-preserving uint images of the floats (ordered_key). Digits are 11/11/10 bits:
//   pass 1: bits 31..21 of every key (shift 21, no prefix filter);
//   pass 2: bits 20..10 of the keys whose bits 31..21 equal one of up to 4 prefixes (prefix_shift 21);
//   pass 3: bits 9..0 of the keys whose bits 31..10 equal one of up to 4 prefixes (prefix_shift 10).
// The host scans each histogram (integer counts, so the selected value is exact and bit-identical to the
// CPU reference) to find the bin holding each rank, and passes the extended prefixes to the next pass.
// Layout: values (n) float32; prefixes (prefix_count); histogram (max(1, prefix_count), 2048) u64, zeroed
// by the host; per-block counts live in shared memory (prefix_count * 2048 uint32 = 32 KB at most).
// Tested against: RadixSelect.Select (CPU), i.e. sorting by ordered key.
#include "engine_math.cuh"

#define BINS 2048
#define MAX_PREFIXES 4

KERNEL void radix_histogram_kernel(u64* histogram, const float* values, const unsigned* prefixes,
    i64 n, int shift, int digit_bits, int prefix_shift, int prefix_count)
{
    SHARED unsigned counts[MAX_PREFIXES * BINS];
    int groups = prefix_count > 0 ? prefix_count : 1;
    for (int b = threadIdx.x; b < groups * BINS; b += blockDim.x) ((volatile unsigned*)counts)[b] = 0;
    unsigned p0 = prefix_count > 0 ? prefixes[0] : 0, p1 = prefix_count > 1 ? prefixes[1] : 0;
    unsigned p2 = prefix_count > 2 ? prefixes[2] : 0, p3 = prefix_count > 3 ? prefixes[3] : 0;
    block_barrier();

    unsigned mask = (1u << digit_bits) - 1u;
    i64 stride = (i64)blockDim.x * gridDim.x;
    i64 first = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    i64 quads = n / 4;
    const float4_t* v4 = (const float4_t*)values;  // cuMemAlloc is 256-byte aligned
    for (i64 i = first; i < quads + (n & 3); i += stride)
    {
        float e[4];
        int count;
        if (i < quads) { float4_t q = v4[i]; e[0] = q.x; e[1] = q.y; e[2] = q.z; e[3] = q.w; count = 4; }
        else { e[0] = values[quads * 4 + (i - quads)]; count = 1; }
        for (int k = 0; k < count; k++)
        {
            unsigned key = ordered_key(e[k]);
            unsigned digit = (key >> shift) & mask;
            if (prefix_count == 0) { atomic_add_u32(&counts[digit], 1u); continue; }
            unsigned prefix = key >> prefix_shift;
            if (prefix == p0) atomic_add_u32(&counts[digit], 1u);
            else if (prefix_count > 1 && prefix == p1) atomic_add_u32(&counts[BINS + digit], 1u);
            else if (prefix_count > 2 && prefix == p2) atomic_add_u32(&counts[2 * BINS + digit], 1u);
            else if (prefix_count > 3 && prefix == p3) atomic_add_u32(&counts[3 * BINS + digit], 1u);
        }
    }
    block_barrier();
    for (int b = threadIdx.x; b < groups * BINS; b += blockDim.x)
    {
        unsigned c = ((volatile unsigned*)counts)[b];
        if (c != 0) atomic_add_u64(&histogram[b], (u64)c);
    }
}
