// Grouped-query causal attention over packed documents, materialising each score once in shared memory
// (CPU reference: ops_attention.hpp). Shapes: q, out, dout, dq (N, H, D); k, v, dk, dv (N, KV, D); lse, delta (N, H).
// doc_start[n] / doc_end[n]: first token of n's document / one past its last. Query head h reads KV head h / (H / KV).
// Scores use scale = 1 / sqrt(D). One block of 128 threads per row; keys (or queries) in tiles of 128, one per
// thread; every thread owns the output channels d = threadIdx.x + 128 i (D <= 512). Each output row is written by
// one block, so no atomics, and the order of every sum is fixed.
#include "trainer_common.cuh"

#define TILE 128
#define MAX_D 512
#define PER_THREAD (MAX_D / TILE)

DEVICE float dot(const float* a, const float* b, int D) {
    float s = 0;
    for (int d = 0; d < D; d++) s += a[d] * b[d];
    return s;
}

// Block (n * H + h): online softmax over the tiles of keys doc_start[n]..n. Writes out and lse = m + log(l).
KERNEL void attention_forward_kernel(float* out, float* lse, const float* q, const float* k, const float* v,
                                     const int* doc_start, int N, int H, int KV, int D, float scale) {
    SHARED float scratch[33];
    SHARED float qs[MAX_D];
    SHARED float ps[TILE];
    const i64 row = blockIdx.x;
    if (row >= (i64)N * H) return;
    const i64 n = row / H;
    const int h = (int)(row % H), g = h / (H / KV), t = threadIdx.x;
    for (int d = t; d < D; d += TILE) qs[d] = q[row * D + d];
    block_barrier();
    float acc[PER_THREAD] = {0, 0, 0, 0};
    float m = -__builtin_inff(), l = 0;
    for (i64 j0 = doc_start[n]; j0 <= n; j0 += TILE) {
        const i64 j = j0 + t;
        const float s = j <= n ? dot(qs, k + (j * KV + g) * D, D) * scale : -__builtin_inff();
        const float tile_max = block_max(s, scratch);
        const float m_new = tile_max > m ? tile_max : m;
        const float correction = eng::op_exp(m - m_new);
        const float p = j <= n ? eng::op_exp(s - m_new) : 0.0f;
        const float tile_sum = block_sum(p, scratch);
        ps[t] = p;
        block_barrier();
        const int count = (int)(n - j0 + 1 < TILE ? n - j0 + 1 : TILE);
        for (int i = 0; i < PER_THREAD; i++) {
            const int d = t + i * TILE;
            if (d >= D) break;
            float a = acc[i] * correction;
            for (int jj = 0; jj < count; jj++) a += ps[jj] * v[((j0 + jj) * KV + g) * D + d];
            acc[i] = a;
        }
        block_barrier();
        l = l * correction + tile_sum;
        m = m_new;
    }
    for (int i = 0; i < PER_THREAD; i++) {
        const int d = t + i * TILE;
        if (d < D) out[row * D + d] = acc[i] / l;
    }
    if (t == 0) lse[row] = m + eng::op_log(l);
}

// delta (N, H) = sum_d dout * out: one thread per row.
KERNEL void attention_delta_kernel(float* delta, const float* dout, const float* out, int rows, int D) {
    const i64 r = global_index();
    if (r < rows) delta[r] = dot(dout + r * D, out + r * D, D);
}

// Block (n * H + h): dq_n += scale * sum_j ds_nj k_j over the keys of n's document up to n, with
// p = exp(scale q.k - lse), ds = p (dout.v - delta).
KERNEL void attention_backward_dq_kernel(float* dq, const float* dout, const float* q, const float* k, const float* v,
                                         const float* lse, const float* delta, const int* doc_start,
                                         int N, int H, int KV, int D, float scale) {
    SHARED float qs[MAX_D];
    SHARED float gs[MAX_D];
    SHARED float ds_tile[TILE];
    const i64 row = blockIdx.x;
    if (row >= (i64)N * H) return;
    const i64 n = row / H;
    const int h = (int)(row % H), g = h / (H / KV), t = threadIdx.x;
    for (int d = t; d < D; d += TILE) {
        qs[d] = q[row * D + d];
        gs[d] = dout[row * D + d];
    }
    block_barrier();
    const float l = lse[row], dl = delta[row];
    float acc[PER_THREAD] = {0, 0, 0, 0};
    for (i64 j0 = doc_start[n]; j0 <= n; j0 += TILE) {
        const i64 j = j0 + t;
        float ds = 0;
        if (j <= n) {
            const float s = dot(qs, k + (j * KV + g) * D, D);
            const float dp = dot(gs, v + (j * KV + g) * D, D);
            const float p = eng::op_exp(s * scale - l);
            ds = p * (dp - dl) * scale;
        }
        ds_tile[t] = ds;
        block_barrier();
        const int count = (int)(n - j0 + 1 < TILE ? n - j0 + 1 : TILE);
        for (int i = 0; i < PER_THREAD; i++) {
            const int d = t + i * TILE;
            if (d >= D) break;
            float a = acc[i];
            for (int jj = 0; jj < count; jj++) a += ds_tile[jj] * k[((j0 + jj) * KV + g) * D + d];
            acc[i] = a;
        }
        block_barrier();
    }
    for (int i = 0; i < PER_THREAD; i++) {
        const int d = t + i * TILE;
        if (d < D) dq[row * D + d] += acc[i];
    }
}

// Block (j * KV + g): dk_j += scale * sum ds_nj q_n and dv_j += sum p_nj dout_n over the queries n = j..doc_end[j]-1
// of every head h of group g. Items (n, h) run in the CPU's order: n outer, h inner.
KERNEL void attention_backward_dkdv_kernel(float* dk, float* dv, const float* dout, const float* q, const float* k,
                                           const float* v, const float* lse, const float* delta, const int* doc_end,
                                           int N, int H, int KV, int D, float scale) {
    SHARED float ks[MAX_D];
    SHARED float vs[MAX_D];
    SHARED float p_tile[TILE];
    SHARED float ds_tile[TILE];
    SHARED i64 row_tile[TILE];
    const i64 kv_row = blockIdx.x;
    if (kv_row >= (i64)N * KV) return;
    const i64 j = kv_row / KV;
    const int g = (int)(kv_row % KV), group = H / KV, t = threadIdx.x;
    for (int d = t; d < D; d += TILE) {
        ks[d] = k[kv_row * D + d];
        vs[d] = v[kv_row * D + d];
    }
    block_barrier();
    const i64 items = (doc_end[j] - j) * group;
    float dk_acc[PER_THREAD] = {0, 0, 0, 0};
    float dv_acc[PER_THREAD] = {0, 0, 0, 0};
    for (i64 i0 = 0; i0 < items; i0 += TILE) {
        const i64 item = i0 + t;
        float p = 0, ds = 0;
        i64 row = 0;
        if (item < items) {
            const i64 n = j + item / group;
            const int h = g * group + (int)(item % group);
            row = n * H + h;
            const float s = dot(q + row * D, ks, D);
            const float dp = dot(dout + row * D, vs, D);
            p = eng::op_exp(s * scale - lse[row]);
            ds = p * (dp - delta[row]) * scale;
        }
        p_tile[t] = p;
        ds_tile[t] = ds;
        row_tile[t] = row;
        block_barrier();
        const int count = (int)(items - i0 < TILE ? items - i0 : TILE);
        for (int i = 0; i < PER_THREAD; i++) {
            const int d = t + i * TILE;
            if (d >= D) break;
            float a = dk_acc[i], b = dv_acc[i];
            for (int ii = 0; ii < count; ii++) {
                a += ds_tile[ii] * q[row_tile[ii] * D + d];
                b += p_tile[ii] * dout[row_tile[ii] * D + d];
            }
            dk_acc[i] = a;
            dv_acc[i] = b;
        }
        block_barrier();
    }
    for (int i = 0; i < PER_THREAD; i++) {
        const int d = t + i * TILE;
        if (d < D) {
            dk[kv_row * D + d] += dk_acc[i];
            dv[kv_row * D + d] += dv_acc[i];
        }
    }
}
