// row_importance.cu: Arcee Fusion importance, fused into one kernel (the inputs are read from global memory once
// when a row fits in shared memory). Per row:
//   p = softmax(other_row) + 1e-8, q = softmax(base_row) + 1e-8, KL_row = sum_j p_j ln(p_j / q_j),
//   importance_j = |other_j - base_j| * KL_row,
// in the cancellation-free form of the CPU reference (RowImportanceCpu.Float32):
//   cx = max x + ln sum exp(x - max x), cy likewise (sums in float64), q0 = exp(y - max y) / sum exp(y - max y),
//   u = q0 expm1((x - y) - (cx - cy)) / (q0 + eps), KL = sum (q0 + eps) f(u) in float64.
// Layout: other, base: (rows, row_length) row-major in their stored dtype (F32 | BF16 | F16), importance:
// (rows, row_length) float32, row_kl: (rows) float64. One block per row (the row cached in shared memory
// when it fits); warp-shuffle block reductions in a fixed order,
// so results repeat bit for bit; they agree with the CPU reference within float32 rounding of KL (the
// element math is float32 and the float64 sums are taken in a different order).
// bad[0] / bad[1]: the smallest element index holding NaN or an infinity in other / base (initialised to
// ~0 by the host); the row is then skipped.
// Tested against: RowImportanceCpu.Float32 (tests/Engine.Kernels.Tests, `engine selftest`).
#include "engine_math.cuh"

#define BLOCK 256
#define WARPS (BLOCK / 32)
#define FULL_MASK 0xFFFFFFFFu

// Rows up to this length are cached in dynamic shared memory as float32 (x then y: 47.5 KB, under the 48 KB
// a block may use without opting in), so the inputs
// are read from global memory once; longer rows are re-read (from L2) in each of the four passes.
#define CACHED_ROW_LENGTH 6080

extern SHARED float row_cache[];

DEVICE double shfl_down_f64(double v, int offset)
{
    u64 b = double_bits(v);
    int lo = __nvvm_shfl_sync_down_i32(FULL_MASK, (int)(unsigned)b, offset, 0x1F);
    int hi = __nvvm_shfl_sync_down_i32(FULL_MASK, (int)(unsigned)(b >> 32), offset, 0x1F);
    return bits_double(((u64)(unsigned)hi << 32) | (u64)(unsigned)lo);
}

// Block-wide sums of two doubles: a warp-shuffle tree, then the warps' partials in warp 0. Fixed order, so
// the result repeats bit for bit. blockDim.x is a multiple of 32.
DEVICE void block_sum2(double* a, double* b, volatile double* scratch)
{
    double va = *a, vb = *b;
    for (int o = 16; o > 0; o >>= 1) { va += shfl_down_f64(va, o); vb += shfl_down_f64(vb, o); }
    unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    if (lane == 0) { scratch[warp] = va; scratch[WARPS + warp] = vb; }
    block_barrier();
    if (warp == 0)
    {
        va = lane < warps ? scratch[lane] : 0.0;
        vb = lane < warps ? scratch[WARPS + lane] : 0.0;
        for (int o = 4; o > 0; o >>= 1) { va += shfl_down_f64(va, o); vb += shfl_down_f64(vb, o); }
        if (lane == 0) { scratch[0] = va; scratch[WARPS] = vb; }
    }
    block_barrier();
    *a = scratch[0];
    *b = scratch[WARPS];
    block_barrier();
}

DEVICE void block_max2(float* a, float* b, volatile float* scratch)
{
    float va = *a, vb = *b;
    for (int o = 16; o > 0; o >>= 1)
    {
        va = __builtin_fmaxf(va, __nvvm_shfl_sync_down_f32(FULL_MASK, va, o, 0x1F));
        vb = __builtin_fmaxf(vb, __nvvm_shfl_sync_down_f32(FULL_MASK, vb, o, 0x1F));
    }
    unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    if (lane == 0) { scratch[warp] = va; scratch[WARPS + warp] = vb; }
    block_barrier();
    if (threadIdx.x == 0)
    {
        for (unsigned w = 1; w < warps; w++) { va = __builtin_fmaxf(va, scratch[w]); vb = __builtin_fmaxf(vb, scratch[WARPS + w]); }
        scratch[0] = va;
        scratch[WARPS] = vb;
    }
    block_barrier();
    *a = scratch[0];
    *b = scratch[WARPS];
    block_barrier();
}

// Element j of a row in stored dtype D (the dtype is a template parameter: one body per dtype pair, so the
// inner loops carry no dtype dispatch).
template <int D>
DEVICE float load_row(const void* row, int j)
{
    if (D == DTYPE_BF16) return bits_float((unsigned)((const unsigned short*)row)[j] << 16);
    if (D == DTYPE_F16) return half_to_float(((const unsigned short*)row)[j]);
    return ((const float*)row)[j];
}

// One row. CACHED: the row's float32 copy lives in dynamic shared memory after the first pass.
// The block's scratch: one set for every instantiation, so static shared memory stays at 200 bytes.
struct RowScratch
{
    volatile double* dscratch;  // 2 * WARPS
    volatile float* fscratch;   // 2 * WARPS
    volatile int* row_bad;
};

template <int DX, int DY, bool CACHED>
DEVICE void row_body(float* importance, double* row_kl, u64* bad, const void* xr, const void* yr, i64 row, i64 start, int n, RowScratch sc)
{
    volatile double* dscratch = sc.dscratch;
    volatile float* fscratch = sc.fscratch;
    volatile int& row_bad = *sc.row_bad;
    unsigned t = threadIdx.x, stride = blockDim.x;
    float* cx = row_cache;  // each thread reads back only the elements it wrote: no barrier needed
    float* cy = row_cache + n;
    if (t == 0) row_bad = 0;
    block_barrier();

    float mx = bits_float(0xFF800000u), my = mx;
    int j0 = t;
    // Pass 1, 16-bit inputs, even n, 4-byte aligned rows: two elements per 32-bit load (the block barriers
    // in block_max2 order these cache writes before the later passes, which use the element-per-thread map).
    if (CACHED && DX != DTYPE_F32 && DY != DTYPE_F32 && (n & 1) == 0 && ((((u64)xr) | ((u64)yr)) & 3) == 0)
    {
        const unsigned* xw = (const unsigned*)xr;
        const unsigned* yw = (const unsigned*)yr;
        for (int w = t; w < n / 2; w += stride)
        {
            unsigned a = xw[w], b = yw[w];
            float x0 = DX == DTYPE_BF16 ? bits_float(a << 16) : half_to_float((unsigned short)a);
            float x1 = DX == DTYPE_BF16 ? bits_float(a & 0xFFFF0000u) : half_to_float((unsigned short)(a >> 16));
            float y0 = DY == DTYPE_BF16 ? bits_float(b << 16) : half_to_float((unsigned short)b);
            float y1 = DY == DTYPE_BF16 ? bits_float(b & 0xFFFF0000u) : half_to_float((unsigned short)(b >> 16));
            int j = 2 * w;
            cx[j] = x0; cx[j + 1] = x1; cy[j] = y0; cy[j + 1] = y1;
            if (!is_finite(x0) || !is_finite(x1))
            {
                atomic_min_u64(&bad[0], (u64)(start + j + (is_finite(x0) ? 1 : 0)));
                row_bad = 1;
            }
            if (!is_finite(y0) || !is_finite(y1))
            {
                atomic_min_u64(&bad[1], (u64)(start + j + (is_finite(y0) ? 1 : 0)));
                row_bad = 1;
            }
            mx = __builtin_fmaxf(mx, __builtin_fmaxf(x0, x1));
            my = __builtin_fmaxf(my, __builtin_fmaxf(y0, y1));
        }
        j0 = n;  // nothing left for the scalar loop
    }
    for (int j = j0; j < n; j += stride)
    {
        float x = load_row<DX>(xr, j), y = load_row<DY>(yr, j);
        if (CACHED) { cx[j] = x; cy[j] = y; }
        if (!is_finite(x)) { atomic_min_u64(&bad[0], (u64)(start + j)); row_bad = 1; }
        if (!is_finite(y)) { atomic_min_u64(&bad[1], (u64)(start + j)); row_bad = 1; }
        mx = __builtin_fmaxf(mx, x);
        my = __builtin_fmaxf(my, y);
    }
    block_max2(&mx, &my, fscratch);
    if (row_bad) return;  // uniform across the block: read after the barriers in block_max2

#define X(j) (CACHED ? cx[j] : load_row<DX>(xr, j))
#define Y(j) (CACHED ? cy[j] : load_row<DY>(yr, j))
    // Pass 2: the exponential sums. Cached rows keep x - y (float32, the value both later uses round to)
    // in cx and b = exp(y - max y) in cy, so the base softmax q0 = b / sum b costs no second exponential
    // (as RowImportanceCpu.ExpSums / KlSum).
    double sx = 0, sy = 0;
    for (int j = t; j < n; j += stride)
    {
        float x = X(j), y = Y(j);
        float b = exp_f32(y - my);
        sx += exp_f32(x - mx);
        sy += b;
        if (CACHED) { cx[j] = x - y; cy[j] = b; }
    }
    block_sum2(&sx, &sy, dscratch);
    double cxs = mx + log_f64(sx), cys = my + log_f64(sy);
    float shift = (float)(cxs - cys), inverse_sum_y = (float)(1.0 / sy);

    double kl = 0, unused = 0;
    for (int j = t; j < n; j += stride)
    {
        float d, q0;
        if (CACHED) { d = cx[j]; q0 = cy[j] * inverse_sum_y; }
        else
        {
            float x = load_row<DX>(xr, j), y = load_row<DY>(yr, j);
            d = x - y;
            q0 = exp_f32(y - my) * inverse_sum_y;
        }
        float q = q0 + 1e-8f;
        float u = __nvvm_div_approx_f(q0 * expm1_f32(d - shift), q);  // 2 ulp; q >= 1e-8
        kl += (double)(q * kl_term(u));
    }
    block_sum2(&kl, &unused, dscratch);
    if (t == 0) row_kl[row] = kl;

    float k = (float)kl;
    float* out = importance + start;
    for (int j = t; j < n; j += stride) out[j] = __builtin_fabsf(CACHED ? cx[j] : X(j) - Y(j)) * k;
#undef X
#undef Y
}

template <int DX, int DY>
DEVICE void row_dispatch(float* importance, double* row_kl, u64* bad, const void* other, const void* base, i64 row, i64 start, int n, RowScratch sc)
{
    const void* xr = (const char*)other + start * (DX == DTYPE_F32 ? 4 : 2);
    const void* yr = (const char*)base + start * (DY == DTYPE_F32 ? 4 : 2);
    if (n <= CACHED_ROW_LENGTH) row_body<DX, DY, true>(importance, row_kl, bad, xr, yr, row, start, n, sc);
    else row_body<DX, DY, false>(importance, row_kl, bad, xr, yr, row, start, n, sc);
}

// blockDim.x: a power of two in [32, BLOCK]. Grid: gridDim.x * gridDim.y >= rows, one block per row.
// Dynamic shared memory: 2 * row_length * 4 bytes when row_length <= CACHED_ROW_LENGTH, else 0.
KERNEL void row_importance_kernel(float* importance, double* row_kl, u64* bad,
    const void* other, const void* base, int other_dtype, int base_dtype, i64 rows, int row_length)
{
    i64 row = (i64)blockIdx.y * gridDim.x + blockIdx.x;
    if (row >= rows) return;
    i64 start = row * row_length;
    SHARED volatile double dscratch[2 * WARPS];
    SHARED volatile float fscratch[2 * WARPS];
    SHARED volatile int row_bad;
    RowScratch sc = { dscratch, fscratch, &row_bad };
#define PAIR(DX, DY) if (other_dtype == DX && base_dtype == DY) { row_dispatch<DX, DY>(importance, row_kl, bad, other, base, row, start, row_length, sc); return; }
    PAIR(DTYPE_BF16, DTYPE_BF16) PAIR(DTYPE_F16, DTYPE_F16) PAIR(DTYPE_F32, DTYPE_F32)
    PAIR(DTYPE_BF16, DTYPE_F16) PAIR(DTYPE_BF16, DTYPE_F32) PAIR(DTYPE_F16, DTYPE_BF16)
    PAIR(DTYPE_F16, DTYPE_F32) PAIR(DTYPE_F32, DTYPE_BF16) PAIR(DTYPE_F32, DTYPE_F16)
#undef PAIR
}
