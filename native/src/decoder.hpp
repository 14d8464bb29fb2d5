// Incremental decoding with per-layer K/V caches (eng_decoder_* in engine_native.h).
//
// Legend as in qwen2.hpp; S sequences of up to Tmax tokens each. The caches hold, per layer, the keys (after
// RoPE) and values of every token appended so far: (L, S, Tmax, KV, D) each. An append runs only the new tokens
// through the model, attending to their sequence's cache, so a step of S sequences costs S tokens' work.
// Every op is the trainer's own (same kernels, same per-row order), so a cached step computes the same logits
// as a full forward over the whole prefix; each row is independent of the others, so batching changes nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "qwen2.hpp"

namespace eng {

class Decoder {
public:
    virtual ~Decoder() = default;
    // Empties every sequence; the caches stay allocated.
    virtual void reset() = 0;
    // Appends counts[s] tokens (from tokens, in sequence order) to each sequence s < num_sequences; for every
    // sequence that grew, writes the logits of its last token to row s of logits (num_sequences, V; nullable,
    // dtype F32 or F64) and their argmax (lowest id on ties) to next_tokens[s] (nullable; -1 for the others).
    virtual void append(void* logits, int logits_dtype, int32_t* next_tokens, const int32_t* tokens, const int32_t* counts,
                        int64_t num_sequences) = 0;
    virtual int64_t length(int64_t sequence) const = 0;
};

template <typename T>
Decoder* create_cpu_decoder(const ModelShape& s, const std::vector<TensorSlot>& layout, const T* params, int threads,
                            int64_t max_sequences, int64_t max_tokens);

}  // namespace eng
