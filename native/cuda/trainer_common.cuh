// Shared by the trainer's CUDA kernels (native/cuda/*.cu): the clang-14 spellings of the CUDA keywords (no CUDA
// SDK: -nocudainc -nocudalib), the block barrier of kernels/README.md, deterministic block reductions, and the
// scalar math of every op (native/src/op_math.hpp, which the CPU ops include too).
//
// Every reduction here has a fixed shape (warp shuffles in a fixed tree, then the warps' partials added by one
// thread in warp order), so a kernel gives the same bits on every run. No kernel uses atomics.
#pragma once
#include <__clang_cuda_builtin_vars.h>

#include "../src/op_math.hpp"

#define KERNEL extern "C" __attribute__((global))
#define DEVICE static __attribute__((device)) __attribute__((always_inline)) inline
#define SHARED __attribute__((shared))

typedef long long i64;
typedef unsigned short u16;

// The block barrier: an asm bar.sync with a memory clobber (not __syncthreads, which clang-14 let a shared load
// move across; kernels/README.md).
DEVICE void block_barrier() { asm volatile("bar.sync 0;" ::: "memory"); }

DEVICE i64 global_index() { return (i64)blockIdx.x * blockDim.x + threadIdx.x; }

DEVICE float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __nvvm_shfl_sync_down_f32(0xffffffffu, v, o, 0x1f);
    return v;
}

DEVICE float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        const float u = __nvvm_shfl_sync_down_f32(0xffffffffu, v, o, 0x1f);
        v = u > v ? u : v;
    }
    return v;
}

DEVICE double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) {
        const long long bits = __builtin_bit_cast(long long, v);
        const int lo = __nvvm_shfl_sync_down_i32(0xffffffffu, (int)(bits & 0xffffffffLL), o, 0x1f);
        const int hi = __nvvm_shfl_sync_down_i32(0xffffffffu, (int)(bits >> 32), o, 0x1f);
        v += __builtin_bit_cast(double, ((long long)hi << 32) | (long long)(unsigned)lo);
    }
    return v;
}

// The sum (or max) of v over the block, returned to every thread. blockDim.x is a multiple of 32, at most 1024;
// scratch holds 33 values. Starts and ends with a barrier, so calls may follow each other on the same scratch.
DEVICE float block_sum(float v, volatile float* scratch) {
    v = warp_sum(v);
    block_barrier();
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    block_barrier();
    if (threadIdx.x == 0) {
        float s = 0;
        for (unsigned w = 0; w < (blockDim.x >> 5); w++) s += scratch[w];
        scratch[32] = s;
    }
    block_barrier();
    const float r = scratch[32];
    block_barrier();
    return r;
}

DEVICE float block_max(float v, volatile float* scratch) {
    v = warp_max(v);
    block_barrier();
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    block_barrier();
    if (threadIdx.x == 0) {
        float m = scratch[0];
        for (unsigned w = 1; w < (blockDim.x >> 5); w++) m = scratch[w] > m ? scratch[w] : m;
        scratch[32] = m;
    }
    block_barrier();
    const float r = scratch[32];
    block_barrier();
    return r;
}

DEVICE double block_sum_d(double v, volatile double* scratch) {
    v = warp_sum_d(v);
    block_barrier();
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    block_barrier();
    if (threadIdx.x == 0) {
        double s = 0;
        for (unsigned w = 0; w < (blockDim.x >> 5); w++) s += scratch[w];
        scratch[32] = s;
    }
    block_barrier();
    const double r = scratch[32];
    block_barrier();
    return r;
}
