// Views of one layer's tensors (and the final ones) inside a flat buffer laid out by tensor_layout: the trainer
// reads parameters and gradients through them, the decoder parameters only.
#pragma once

#include <cstdint>
#include <vector>

#include "qwen2.hpp"

namespace eng {

constexpr int kTensorsPerLayer = 12;

template <typename T>
struct LayerView {
    T *ln1, *wq, *bq, *wk, *bk, *wv, *bv, *wo, *ln2, *wg, *wu, *wd;
};

template <typename T>
LayerView<T> layer_view(T* base, const std::vector<TensorSlot>& layout, int64_t l) {
    const TensorSlot* t = &layout[1 + (size_t)l * kTensorsPerLayer];
    LayerView<T> w;
    T** f[kTensorsPerLayer] = {&w.ln1, &w.wq, &w.bq, &w.wk, &w.bk, &w.wv, &w.bv, &w.wo, &w.ln2, &w.wg, &w.wu, &w.wd};
    for (int i = 0; i < kTensorsPerLayer; i++) *f[i] = base + t[i].offset;
    return w;
}

template <typename T>
T* final_norm_view(T* base, const std::vector<TensorSlot>& layout, const ModelShape& s) {
    return base + layout[1 + (size_t)s.L * kTensorsPerLayer].offset;
}

// The classifier's (V, C) weight: the embedding when tied, lm_head (the last tensor) otherwise.
template <typename T>
T* classifier_view(T* base, const std::vector<TensorSlot>& layout, const ModelShape& s) {
    return s.tied ? base : base + layout.back().offset;
}

// dst[offset, offset + count) = src converted to dtype (ENG_DTYPE_F32 or F64): how logits leave the model.
template <typename T>
void store_as(void* dst, int dtype, int64_t offset, const T* src, int64_t count) {
    if (dtype == ENG_DTYPE_F32) {
        float* f = static_cast<float*>(dst) + offset;
        for (int64_t i = 0; i < count; i++) f[i] = (float)src[i];
    } else {
        double* f = static_cast<double*>(dst) + offset;
        for (int64_t i = 0; i < count; i++) f[i] = (double)src[i];
    }
}

}  // namespace eng
