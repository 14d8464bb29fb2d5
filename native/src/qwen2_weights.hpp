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

// Per-token activations of one layer, saved by forward for backward.
template <typename T>
struct LayerActs {
    T *res, *ln1, *rstd1, *q, *k, *v, *att, *lse, *res2, *ln2, *rstd2, *gate, *up, *h;
};

// Every activation of a micro-batch of N tokens, carved from one allocation of activation_elements(s, N) elements
// (the layout both backends use): per layer the saved tensors, then the final norm, the RoPE tables (N, D/2), the
// backward scratch, the token losses and the classifier chunk (xbuf, dxbuf (Tc, C), logits (Tc, V)).
template <typename T>
struct Activations {
    std::vector<LayerActs<T>> layers;
    T *resf, *lnf, *rstdf, *cos, *sin, *dres, *dln, *dq, *datt, *dk, *dv, *delta, *dgate, *dup, *dh, *losses, *xbuf, *dxbuf, *logits;

    void carve(T* base, const ModelShape& s, int64_t N) {
        const int64_t C = s.C, I = s.I, H = s.H, D = s.D, HD = s.H * s.D, KD = s.KV * s.D, Tc = s.chunk;
        T* p = base;
        auto take = [&](int64_t n) { T* r = p; p += n; return r; };
        layers.resize((size_t)s.L);
        for (auto& a : layers) {
            a.res = take(N * C); a.ln1 = take(N * C); a.rstd1 = take(N);
            a.q = take(N * HD); a.k = take(N * KD); a.v = take(N * KD);
            a.att = take(N * HD); a.lse = take(N * H);
            a.res2 = take(N * C); a.ln2 = take(N * C); a.rstd2 = take(N);
            a.gate = take(N * I); a.up = take(N * I); a.h = take(N * I);
        }
        resf = take(N * C); lnf = take(N * C); rstdf = take(N);
        cos = take(N * D / 2); sin = take(N * D / 2);
        dres = take(N * C); dln = take(N * C);
        dq = take(N * HD); datt = take(N * HD); dk = take(N * KD); dv = take(N * KD);
        delta = take(N * H);
        dgate = take(N * I); dup = take(N * I); dh = take(N * I);
        losses = take(N);
        xbuf = take(Tc * C); dxbuf = take(Tc * C); logits = take(Tc * s.V);
    }
};

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
