// Qwen2 decoder on the CPU: parameter layout, forward/backward over a packed batch, AdamW.
//
// Legend: N tokens in the micro-batch, C hidden, I intermediate, V vocab, L layers, H query heads,
// KV key/value heads, D head dim. One flat allocation holds params | grads, each P elements of T (float
// for training, double for verification); a second holds AdamW's m | v for the optimizer range (all P
// elements unless ZeRO-1 narrows it to a rank's shard). Activations live in a third allocation that
// grows to the largest micro-batch seen.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine_native.h"
#include "profile.hpp"

namespace eng {

// A failure carried to the ABI boundary, where it becomes a status code and a message.
struct Error : std::runtime_error {
    eng_status status;
    Error(eng_status s, const std::string& message) : std::runtime_error(message), status(s) {}
};

struct ModelShape {
    int64_t V, C, I, L, H, KV, D;
    bool tied;
    double eps, theta;
    int64_t chunk;
};

// Validates an ABI config and fills in the defaults (head_dim, chunk).
ModelShape model_shape_from(const eng_model_config& config);

struct TensorSlot {
    std::string name;
    int64_t offset, numel;
    int ndim;
    int shape[2];
    bool decay;
};

// The HF tensors in flat-buffer order: embed, then per layer input_layernorm, q/k/v (weight, bias),
// o_proj, post_attention_layernorm, gate/up/down, then the final norm and (untied only) lm_head.
std::vector<TensorSlot> tensor_layout(const ModelShape& s);

// Elements of the activation allocation for a micro-batch of N tokens (forward, backward and the classifier chunk).
int64_t activation_elements(const ModelShape& s, int64_t N);

// A packed batch, checked, as the kernels read it: per token its position in its document and the document's
// first and one-past-last token; the scored tokens (rows, each followed by a label) with their targets.
struct BatchLayout {
    std::vector<int32_t> positions, doc_start, doc_end, targets;
    std::vector<int64_t> rows;
};

// Checks b against a vocabulary of V (lengths, token and label ids) and lays it out into out.
void layout_batch(BatchLayout& out, const eng_batch& b, int64_t V);

// The argument checks every backend shares (each throws Error(ENG_ERROR_INVALID_ARGUMENT) naming the values).
void check_flat_range(const char* what, int64_t offset, int64_t count, int64_t P);
void check_adamw(const eng_adamw_options& o);
void check_adamw_update(const eng_adamw_options& o, double grad_scale, int64_t offset, int64_t count, int64_t P,
                        int64_t opt_offset, int64_t opt_count);
void check_whole_optimizer_range(int64_t opt_offset, int64_t opt_count, int64_t P);
void check_moment_range(int64_t offset, int64_t count, int64_t opt_offset, int64_t opt_count);

// AdamW's bias corrections of step o.step: step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t).
struct AdamWScalars {
    double step_size, bc2_sqrt;
};
AdamWScalars adamw_scalars(const eng_adamw_options& o);

// torch.nn.utils.clip_grad_norm_'s coefficient: min(1, max_norm / (norm + 1e-6)); 1 when max_norm <= 0.
double clip_coefficient(double norm, double max_grad_norm);

class Decoder;

// The model as the ABI sees it, whatever its compute dtype.
class Model {
public:
    virtual ~Model() = default;
    virtual const std::vector<TensorSlot>& tensors() const = 0;
    virtual int64_t num_params() const = 0;
    virtual void write(int buffer, const void* src, int src_dtype, int64_t offset, int64_t count) = 0;
    virtual void read(void* dst, int dst_dtype, int buffer, int64_t offset, int64_t count) const = 0;
    virtual void zero_grads() = 0;
    virtual void forward_backward(double* loss_sum, int64_t* valid, float* token_losses, const eng_batch& batch,
                                  double loss_scale, bool backward) = 0;
    // Forward only: the logits of every token (num_tokens, V) into out, of dtype F32 or F64.
    virtual void logits(void* out, int dtype, const eng_batch& batch) = 0;
    // A decoder over this model's parameters (see decoder.hpp); the model must outlive it.
    virtual Decoder* create_decoder(int64_t max_sequences, int64_t max_tokens) = 0;
    // Clips by the global norm and runs AdamW over everything (the optimizer range must be all of it): the same
    // for every backend, through grad_sqnorm and adamw_update.
    double adamw_step(const eng_adamw_options& options);
    virtual void set_optimizer_range(int64_t offset, int64_t count) = 0;
    virtual void optimizer_range(int64_t* offset, int64_t* count) const = 0;
    virtual void* buffer_data(int buffer) = 0;
    virtual void* grad_accumulator() = 0;
    virtual void accumulate_grads() = 0;
    virtual void flush_grads(int64_t offset, int64_t count) = 0;
    virtual double grad_sqnorm(int64_t offset, int64_t count) const = 0;
    virtual void adamw_update(const eng_adamw_options& options, double grad_scale, int64_t offset, int64_t count) = 0;
    // The stream the next calls queue their work on (a CUstream on CUDA); the CPU computes at once and ignores it.
    virtual void use_stream(void* native_stream) { (void)native_stream; }
    // Op timing (profile.hpp): on or off, dropping the records so far either way.
    virtual void set_profiling(bool on) { profiler_.enable(on); }
    // Up to capacity records into out; returns how many there are (waits for a device's stamps).
    virtual int64_t read_profile(eng_profile_record* out, int64_t capacity) { return profiler_.read(out, capacity); }

protected:
    OpProfiler profiler_;
};

// Creates the CPU model for dtype ENG_DTYPE_F32 or ENG_DTYPE_F64.
Model* create_cpu_model(const ModelShape& shape, int dtype, int threads);

namespace cuda {
class Device;
}

// Device bytes a CUDA model of shape s holds for micro-batches of N tokens besides its flat buffers (parameters,
// gradients, AdamW moments, float64 accumulator): exactly what it allocates for them (cuda_model.cpp).
int64_t cuda_working_bytes(const ModelShape& s, int64_t N);

// Creates the CUDA model on device (see cuda_model.cpp): compute dtype ENG_DTYPE_F32 only (bf16 mixed precision).
Model* create_cuda_model(const ModelShape& shape, int dtype, std::shared_ptr<const cuda::Device> device);

}  // namespace eng
