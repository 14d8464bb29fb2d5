// Per-op parity checks behind eng_context_check_op: each op of the trainer, forward and backward, on small random
// inputs from a seed, on the context's device against a reference. A CUDA context is checked against the CPU
// fp32 ops (ops_*.hpp) within a bf16 tolerance; a CPU context checks its fp32 ops against the same code in
// float64, so the plumbing runs (and must pass) on machines without a GPU.
#pragma once

#include <cstdint>

#include "engine_native.h"

namespace eng {

namespace cuda {
class Device;
}

// The ops, in index order: embedding, rmsnorm, rope, attention, swiglu, linear, classifier_ce, adamw.
int32_t op_check_count();

// Runs op index with inputs from seed on device (null: the CPU) and fills out. Throws Error on a bad index.
void check_op(eng_op_check* out, int32_t index, uint64_t seed, const cuda::Device* device);

}  // namespace eng
