// The C ABI (engine_native.h): argument checks, handles, and the boundary where C++ failures become
// status codes. Nothing thrown inside crosses extern "C".
#include <omp.h>

#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "engine_native.h"
#include "cuda_kernels.hpp"
#include "decoder.hpp"
#include "op_check.hpp"
#include "qwen2.hpp"

struct eng_context {
    eng_context_options options;
    std::shared_ptr<eng::cuda::Device> device;  // null on the CPU; shared with its streams and models, so any may go first
};

struct eng_stream {
    eng_context* ctx;
    std::shared_ptr<eng::cuda::Device> device;  // null on the CPU
    eng::cuda::CUstream native;                 // null on the CPU
};

struct eng_model {
    eng_context* ctx;
    int32_t dtype;
    std::unique_ptr<eng::Model> impl;
};

struct eng_decoder {
    eng_model* model;
    std::unique_ptr<eng::Decoder> impl;
};

namespace {

thread_local std::string last_error;

eng_status fail(eng_status status, const std::string& message) {
    last_error = message;
    return status;
}

// Runs body, turning every exception into a status and the thread's last error message.
template <typename F>
eng_status guarded(const char* function, F&& body) {
    try {
        body();
        return ENG_OK;
    } catch (const eng::Error& e) {
        return fail(e.status, std::string(function) + ": " + e.what());
    } catch (const std::bad_alloc&) {
        return fail(ENG_ERROR_OUT_OF_MEMORY, std::string(function) + ": out of memory");
    } catch (const std::exception& e) {
        return fail(ENG_ERROR_INTERNAL, std::string(function) + ": " + e.what());
    } catch (...) {
        return fail(ENG_ERROR_INTERNAL, std::string(function) + ": unknown failure");
    }
}

int default_threads() { return omp_get_max_threads(); }

void require(bool ok, const char* what) {
    if (!ok) throw eng::Error(ENG_ERROR_INVALID_ARGUMENT, what);
}

// Checks the stream and points the model's next calls at it.
void require_stream(const eng_model* model, const eng_stream* stream) {
    require(stream != nullptr, "stream is null");
    require(stream->ctx == model->ctx, "the stream belongs to another context than the model");
    model->impl->use_stream(stream->native);
}

}  // namespace

extern "C" {

int32_t eng_abi_version(void) { return ENG_ABI_VERSION; }

int32_t eng_last_error(char* buf, int32_t len) {
    const int32_t n = (int32_t)last_error.size();
    if (buf && len > 0) {
        const int32_t k = n < len - 1 ? n : len - 1;
        std::memcpy(buf, last_error.data(), (size_t)k);
        buf[k] = '\0';
    }
    return n;
}

eng_status eng_context_create(eng_context** out, const eng_context_options* options) {
    return guarded("eng_context_create", [&] {
        require(out != nullptr && options != nullptr, "out or options is null");
        *out = nullptr;
        require(options->device_kind == ENG_DEVICE_CPU || options->device_kind == ENG_DEVICE_CUDA, "unknown device kind");
        std::unique_ptr<eng_context> ctx(new eng_context{*options, nullptr});
        if (options->device_kind == ENG_DEVICE_CUDA) ctx->device = std::make_shared<eng::cuda::Device>(options->device_ordinal);
        *out = ctx.release();
    });
}

void eng_context_destroy(eng_context* ctx) {
    try {
        delete ctx;
    } catch (...) {
        // Destroy never fails across the ABI (a device that cannot be bound any more is left to the driver).
    }
}

eng_status eng_stream_create(eng_stream** out, eng_context* ctx) {
    return guarded("eng_stream_create", [&] {
        require(out != nullptr && ctx != nullptr, "out or ctx is null");
        *out = nullptr;
        eng::cuda::CUstream native = nullptr;
        if (ctx->device) {
            ctx->device->bind();
            eng::cuda::check(ctx->device->api().cu.cuStreamCreate(&native, 0), "cuStreamCreate");
        }
        *out = new eng_stream{ctx, ctx->device, native};
    });
}

eng_status eng_stream_synchronize(eng_stream* stream) {
    return guarded("eng_stream_synchronize", [&] {
        require(stream != nullptr, "stream is null");
        if (stream->native) {
            stream->device->bind();
            eng::cuda::synchronize(*stream->device, stream->native);
        }
    });
}

eng_status eng_context_make_current(eng_context* ctx) {
    return guarded("eng_context_make_current", [&] {
        require(ctx != nullptr, "ctx is null");
        if (ctx->device) ctx->device->bind();
    });
}

eng_status eng_stream_native_handle(void** out, eng_stream* stream) {
    return guarded("eng_stream_native_handle", [&] {
        require(out != nullptr && stream != nullptr, "out or stream is null");
        *out = stream->native;
    });
}

void eng_stream_destroy(eng_stream* stream) {
    if (stream && stream->native) {
        try {
            stream->device->bind();
            stream->device->api().cu.cuStreamDestroy(stream->native);
        } catch (...) {
            // Destroy never fails across the ABI; a context that cannot be bound leaves the stream to the driver.
        }
    }
    delete stream;
}

int32_t eng_op_check_count(void) { return eng::op_check_count(); }

eng_status eng_context_check_op(eng_op_check* out, eng_context* ctx, int32_t index, uint64_t seed) {
    return guarded("eng_context_check_op", [&] {
        require(out != nullptr && ctx != nullptr, "out or ctx is null");
        eng::check_op(out, index, seed, ctx->device.get());
    });
}

eng_status eng_model_create(eng_model** out, eng_context* ctx, const eng_model_config* config) {
    return guarded("eng_model_create", [&] {
        require(out != nullptr && ctx != nullptr && config != nullptr, "out, ctx or config is null");
        *out = nullptr;
        const eng::ModelShape shape = eng::model_shape_from(*config);
        const int threads = ctx->options.num_threads > 0 ? ctx->options.num_threads : default_threads();
        std::unique_ptr<eng::Model> impl(ctx->device ? eng::create_cuda_model(shape, config->compute_dtype, ctx->device)
                                                     : eng::create_cpu_model(shape, config->compute_dtype, threads));
        *out = new eng_model{ctx, config->compute_dtype, std::move(impl)};
    });
}

void eng_model_destroy(eng_model* model) { delete model; }

eng_status eng_model_num_params(int64_t* out, const eng_model* model) {
    return guarded("eng_model_num_params", [&] {
        require(out != nullptr && model != nullptr, "out or model is null");
        *out = model->impl->num_params();
    });
}

eng_status eng_model_tensor_count(int32_t* out, const eng_model* model) {
    return guarded("eng_model_tensor_count", [&] {
        require(out != nullptr && model != nullptr, "out or model is null");
        *out = (int32_t)model->impl->tensors().size();
    });
}

eng_status eng_model_tensor_info(eng_tensor_info* out, const eng_model* model, int32_t index) {
    return guarded("eng_model_tensor_info", [&] {
        require(out != nullptr && model != nullptr, "out or model is null");
        const auto& tensors = model->impl->tensors();
        require(index >= 0 && index < (int32_t)tensors.size(), "tensor index out of range");
        const eng::TensorSlot& t = tensors[(size_t)index];
        std::memset(out, 0, sizeof *out);
        require(t.name.size() < sizeof out->name, "tensor name too long");
        std::memcpy(out->name, t.name.data(), t.name.size());
        out->offset = t.offset;
        out->numel = t.numel;
        out->ndim = t.ndim;
        out->shape[0] = t.shape[0];
        out->shape[1] = t.shape[1];
        out->weight_decay = t.decay ? 1 : 0;
    });
}

eng_status eng_model_write(eng_model* model, int32_t buffer, const void* src, int32_t src_dtype,
                           int64_t offset, int64_t count, eng_stream* stream) {
    return guarded("eng_model_write", [&] {
        require(model != nullptr && (src != nullptr || count == 0), "model or src is null");
        require_stream(model, stream);
        model->impl->write(buffer, src, src_dtype, offset, count);
    });
}

eng_status eng_model_read(void* dst, int32_t dst_dtype, const eng_model* model, int32_t buffer,
                          int64_t offset, int64_t count, eng_stream* stream) {
    return guarded("eng_model_read", [&] {
        require(model != nullptr && (dst != nullptr || count == 0), "model or dst is null");
        require_stream(model, stream);
        model->impl->read(dst, dst_dtype, buffer, offset, count);
    });
}

eng_status eng_model_zero_grads(eng_model* model, eng_stream* stream) {
    return guarded("eng_model_zero_grads", [&] {
        require(model != nullptr, "model is null");
        require_stream(model, stream);
        model->impl->zero_grads();
    });
}

eng_status eng_model_forward_backward(double* loss_sum, int64_t* valid_tokens, float* token_losses,
                                      eng_model* model, const eng_batch* batch, double loss_scale,
                                      int32_t backward, eng_stream* stream) {
    return guarded("eng_model_forward_backward", [&] {
        require(loss_sum != nullptr && valid_tokens != nullptr, "loss_sum or valid_tokens is null");
        require(model != nullptr && batch != nullptr, "model or batch is null");
        require_stream(model, stream);
        model->impl->forward_backward(loss_sum, valid_tokens, token_losses, *batch, loss_scale, backward != 0);
    });
}

eng_status eng_model_logits(void* logits, int32_t logits_dtype, eng_model* model, const eng_batch* batch, eng_stream* stream) {
    return guarded("eng_model_logits", [&] {
        require(logits != nullptr && model != nullptr && batch != nullptr, "logits, model or batch is null");
        require_stream(model, stream);
        model->impl->logits(logits, logits_dtype, *batch);
    });
}

eng_status eng_decoder_create(eng_decoder** out, eng_model* model, int32_t max_sequences, int32_t max_tokens) {
    return guarded("eng_decoder_create", [&] {
        require(out != nullptr && model != nullptr, "out or model is null");
        *out = nullptr;
        std::unique_ptr<eng::Decoder> impl(model->impl->create_decoder(max_sequences, max_tokens));
        *out = new eng_decoder{model, std::move(impl)};
    });
}

void eng_decoder_destroy(eng_decoder* decoder) { delete decoder; }

eng_status eng_decoder_reset(eng_decoder* decoder) {
    return guarded("eng_decoder_reset", [&] {
        require(decoder != nullptr, "decoder is null");
        decoder->impl->reset();
    });
}

eng_status eng_decoder_append(void* logits, int32_t logits_dtype, int32_t* next_tokens, eng_decoder* decoder,
                              const int32_t* tokens, const int32_t* counts, int32_t num_sequences, eng_stream* stream) {
    return guarded("eng_decoder_append", [&] {
        require(decoder != nullptr, "decoder is null");
        require_stream(decoder->model, stream);
        decoder->impl->append(logits, logits_dtype, next_tokens, tokens, counts, num_sequences);
    });
}

eng_status eng_decoder_length(int32_t* out, const eng_decoder* decoder, int32_t sequence) {
    return guarded("eng_decoder_length", [&] {
        require(out != nullptr && decoder != nullptr, "out or decoder is null");
        *out = (int32_t)decoder->impl->length(sequence);
    });
}

eng_status eng_model_adamw_step(double* grad_norm, eng_model* model, const eng_adamw_options* options,
                                eng_stream* stream) {
    return guarded("eng_model_adamw_step", [&] {
        require(grad_norm != nullptr && model != nullptr && options != nullptr, "grad_norm, model or options is null");
        require_stream(model, stream);
        *grad_norm = model->impl->adamw_step(*options);
    });
}

eng_status eng_model_set_optimizer_range(eng_model* model, int64_t offset, int64_t count) {
    return guarded("eng_model_set_optimizer_range", [&] {
        require(model != nullptr, "model is null");
        model->impl->set_optimizer_range(offset, count);
    });
}

eng_status eng_model_optimizer_range(int64_t* offset, int64_t* count, const eng_model* model) {
    return guarded("eng_model_optimizer_range", [&] {
        require(offset != nullptr && count != nullptr && model != nullptr, "offset, count or model is null");
        model->impl->optimizer_range(offset, count);
    });
}

eng_status eng_model_buffer_data(void** out, eng_model* model, int32_t buffer) {
    return guarded("eng_model_buffer_data", [&] {
        require(out != nullptr && model != nullptr, "out or model is null");
        *out = model->impl->buffer_data(buffer);
    });
}

eng_status eng_model_grad_accumulator(double** out, eng_model* model) {
    return guarded("eng_model_grad_accumulator", [&] {
        require(out != nullptr && model != nullptr, "out or model is null");
        *out = static_cast<double*>(model->impl->grad_accumulator());
    });
}

eng_status eng_model_accumulate_grads(eng_model* model, eng_stream* stream) {
    return guarded("eng_model_accumulate_grads", [&] {
        require(model != nullptr, "model is null");
        require_stream(model, stream);
        model->impl->accumulate_grads();
    });
}

eng_status eng_model_flush_grads(eng_model* model, int64_t offset, int64_t count, eng_stream* stream) {
    return guarded("eng_model_flush_grads", [&] {
        require(model != nullptr, "model is null");
        require_stream(model, stream);
        model->impl->flush_grads(offset, count);
    });
}

eng_status eng_model_grad_sqnorm(double* out, const eng_model* model, int64_t offset, int64_t count, eng_stream* stream) {
    return guarded("eng_model_grad_sqnorm", [&] {
        require(out != nullptr && model != nullptr, "out or model is null");
        require_stream(model, stream);
        *out = model->impl->grad_sqnorm(offset, count);
    });
}

eng_status eng_model_adamw_update(eng_model* model, const eng_adamw_options* options, double grad_scale,
                                  int64_t offset, int64_t count, eng_stream* stream) {
    return guarded("eng_model_adamw_update", [&] {
        require(model != nullptr && options != nullptr, "model or options is null");
        require_stream(model, stream);
        model->impl->adamw_update(*options, grad_scale, offset, count);
    });
}

eng_status eng_model_set_profiling(eng_model* model, int32_t enabled, eng_stream* stream) {
    return guarded("eng_model_set_profiling", [&] {
        require(model != nullptr, "model is null");
        require_stream(model, stream);
        model->impl->set_profiling(enabled != 0);
    });
}

eng_status eng_model_profile_read(eng_profile_record* records, int32_t* count, eng_model* model, int32_t capacity, eng_stream* stream) {
    return guarded("eng_model_profile_read", [&] {
        require(count != nullptr && model != nullptr, "count or model is null");
        require(capacity >= 0 && (capacity == 0 || records != nullptr), "records is null or capacity is negative");
        require_stream(model, stream);
        *count = (int32_t)model->impl->read_profile(records, capacity);
    });
}

eng_status eng_config_activation_bytes(int64_t* out, const eng_model_config* config, int64_t num_tokens) {
    return guarded("eng_config_activation_bytes", [&] {
        require(out != nullptr && config != nullptr, "out or config is null");
        require(num_tokens >= 0, "num_tokens must be >= 0");
        const eng::ModelShape shape = eng::model_shape_from(*config);
        const int64_t element = config->compute_dtype == ENG_DTYPE_F64 ? 8 : 4;
        *out = eng::activation_elements(shape, num_tokens) * element;
    });
}

eng_status eng_config_working_bytes(int64_t* out, const eng_model_config* config, int64_t num_tokens, int32_t device_kind) {
    return guarded("eng_config_working_bytes", [&] {
        require(out != nullptr && config != nullptr, "out or config is null");
        require(num_tokens >= 0, "num_tokens must be >= 0");
        require(device_kind == ENG_DEVICE_CPU || device_kind == ENG_DEVICE_CUDA, "unknown device kind");
        const eng::ModelShape shape = eng::model_shape_from(*config);
        if (device_kind == ENG_DEVICE_CUDA) {
            require(config->compute_dtype == ENG_DTYPE_F32, "a CUDA model computes in ENG_DTYPE_F32 only");
            *out = eng::cuda_working_bytes(shape, num_tokens);
        } else {
            *out = eng::activation_elements(shape, num_tokens) * (config->compute_dtype == ENG_DTYPE_F64 ? 8 : 4);
        }
    });
}

void eng_abi_struct_sizes(eng_abi_sizes* out) {
    if (!out) return;
    out->context_options = (int32_t)sizeof(eng_context_options);
    out->model_config = (int32_t)sizeof(eng_model_config);
    out->batch = (int32_t)sizeof(eng_batch);
    out->adamw_options = (int32_t)sizeof(eng_adamw_options);
    out->tensor_info = (int32_t)sizeof(eng_tensor_info);
    out->op_check = (int32_t)sizeof(eng_op_check);
    out->profile_record = (int32_t)sizeof(eng_profile_record);
}

}  // extern "C"
