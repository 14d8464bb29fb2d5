// Qwen2 forward/backward and AdamW on one GPU: the CUDA backend of eng::Model (see qwen2.hpp for the legend and
// cuda_ops.hpp for the ops). The ABI's compute dtype ENG_DTYPE_F32 means bf16 mixed precision here: fp32 master
// weights, gradients, AdamW moments and activations; every GEMM reads bf16 copies of its inputs (weights rounded
// once per forward) and accumulates in fp32 (cuBLASLt, CUBLAS_COMPUTE_32F). The order of operations is the CPU
// model's (qwen2.cpp), op for op, and no kernel uses atomics, so a run repeats its bits.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "cuda_ops.hpp"
#include "ops_pointwise.hpp"
#include "qwen2.hpp"
#include "qwen2_weights.hpp"

namespace eng {
namespace {

using cuda::Device;
using cuda::DeviceArray;

// The bf16 scratch of a micro-batch of N tokens: one GEMM input (the widest activation row) and one output
// gradient or classifier chunk of logits.
int64_t half_elements(const ModelShape& s, int64_t N) {
    const int64_t widest = std::max(std::max(s.C, s.H * s.D), s.I);
    return N * widest + std::max(N * widest, s.chunk * s.V);
}

// The batch's int32 arrays on the device: tokens, document start and end, scored rows and their targets.
constexpr int64_t kBatchIntsPerToken = 5;

class CudaQwen2 final : public Model {
public:
    CudaQwen2(const ModelShape& s, std::shared_ptr<const Device> device)
        : device_(std::move(device)), d_(*device_), s_(s), layout_(tensor_layout(s)) {
        P_ = layout_.back().offset + layout_.back().numel;
        d_.bind();
        params_.resize(d_, P_);
        grads_.resize(d_, P_);
        params_bf16_.resize(d_, P_);
        cuda::zero_async(d_, params_.get(), (size_t)P_ * sizeof(float), stream_);
        cuda::zero_async(d_, grads_.get(), (size_t)P_ * sizeof(float), stream_);
        cuda::synchronize(d_, stream_);
        set_optimizer_range(0, P_);
        profiler_.set_clock(cuda::make_event_clock(d_, &stream_));
    }

    // The device memory below is freed with the context current; the profile's events go first, while the device
    // (which the clock refers to) is certainly alive.
    ~CudaQwen2() override {
        if (d_.profiler() == &profiler_) d_.set_profiler(nullptr);
        profiler_.set_clock(nullptr);
        try {
            d_.bind();
        } catch (...) {
            // Nothing to do: the frees that follow fail quietly without a context.
        }
    }

    // Times every kernel launch and GEMM of this model's device (cuda_kernels.hpp) while on.
    void set_profiling(bool on) override {
        d_.bind();
        profiler_.enable(on);
        d_.set_profiler(profiler_.on() ? &profiler_ : nullptr);
    }

    // The events are read (after waiting for the last) with the context current.
    int64_t read_profile(eng_profile_record* out, int64_t capacity) override {
        d_.bind();
        return profiler_.read(out, capacity);
    }

    void use_stream(void* native_stream) override { stream_ = static_cast<cuda::CUstream>(native_stream); }

    const std::vector<TensorSlot>& tensors() const override { return layout_; }
    int64_t num_params() const override { return P_; }

    void set_optimizer_range(int64_t offset, int64_t count) override {
        check_flat_range("optimizer range", offset, count, P_);
        d_.bind();
        moments_.reset();
        opt_offset_ = offset;
        opt_count_ = count;
    }

    void optimizer_range(int64_t* offset, int64_t* count) const override {
        *offset = opt_offset_;
        *count = opt_count_;
    }

    void* buffer_data(int buffer) override {
        d_.bind();
        return buffer_ptr(buffer, buffer >= ENG_BUFFER_ADAM_M ? opt_offset_ : 0, 0);
    }

    void write(int buffer, const void* src, int src_dtype, int64_t offset, int64_t count) override {
        d_.bind();
        float* dst = buffer_ptr(buffer, offset, count);
        staging_.resize((size_t)count);
        if (src_dtype == ENG_DTYPE_F32) {
            std::memcpy(staging_.data(), src, (size_t)count * sizeof(float));
        } else if (src_dtype == ENG_DTYPE_F64) {
            const double* f = static_cast<const double*>(src);
            for (int64_t i = 0; i < count; i++) staging_[(size_t)i] = (float)f[i];
        } else if (src_dtype == ENG_DTYPE_BF16) {
            const uint16_t* b = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < count; i++) staging_[(size_t)i] = bf16_to_float(b[i]);
        } else {
            throw Error(ENG_ERROR_INVALID_ARGUMENT, "write: unknown source dtype " + std::to_string(src_dtype));
        }
        cuda::upload(d_, dst, staging_.data(), (size_t)count * sizeof(float), stream_);
        cuda::synchronize(d_, stream_);
    }

    void read(void* dst, int dst_dtype, int buffer, int64_t offset, int64_t count) const override {
        if (dst_dtype != ENG_DTYPE_F32 && dst_dtype != ENG_DTYPE_F64)
            throw Error(ENG_ERROR_INVALID_ARGUMENT, "read: destination dtype must be F32 or F64, got " + std::to_string(dst_dtype));
        d_.bind();
        CudaQwen2* self = const_cast<CudaQwen2*>(this);
        const float* src = self->buffer_ptr(buffer, offset, count);
        self->staging_.resize((size_t)count);
        cuda::download(d_, self->staging_.data(), src, (size_t)count * sizeof(float), stream_);
        cuda::synchronize(d_, stream_);
        store_as(dst, dst_dtype, 0, staging_.data(), count);
    }

    void zero_grads() override {
        d_.bind();
        cuda::zero_async(d_, grads_.get(), (size_t)P_ * sizeof(float), stream_);
    }

    void forward_backward(double* loss_sum, int64_t* valid, float* token_losses, const eng_batch& b, double loss_scale,
                          bool backward) override {
        d_.bind();
        const int64_t N = b.num_tokens;
        layout_batch(batch_, b, s_.V);
        ensure_activations(N);
        forward(b.tokens, N);
        const int64_t M = (int64_t)batch_.rows.size();
        profiler_.at(-1, ENG_PROFILE_LOSS);
        zero(act_.dln, N * s_.C);
        const uint16_t* wcls = classifier_view(params_bf16_.get(), layout_, s_);
        float* dwcls = classifier_view(grads_.get(), layout_, s_);
        for (int64_t c0 = 0; c0 < M; c0 += s_.chunk) {
            const int64_t count = std::min(s_.chunk, M - c0);
            cuda::ops::classifier_chunk(d_, stream_, act_.losses + c0, act_.dln, dwcls, act_.lnf, wcls, rows_d_ + c0, targets_d_ + c0, count,
                                        s_.C, s_.V, (float)loss_scale, backward, act_.logits, xb_, gb_, act_.dxbuf);
        }
        if (backward) this->backward(N);
        host_losses_.resize((size_t)M);
        cuda::download(d_, host_losses_.data(), act_.losses, (size_t)M * sizeof(float), stream_);
        cuda::synchronize(d_, stream_);
        double sum = 0;
        for (int64_t m = 0; m < M; m++) sum += (double)host_losses_[(size_t)m];
        *loss_sum = sum;
        *valid = M;
        if (token_losses) {
            std::fill(token_losses, token_losses + N, 0.0f);
            for (int64_t m = 0; m < M; m++) token_losses[batch_.rows[(size_t)m]] = host_losses_[(size_t)m];
        }
    }

    void logits(void* out, int dtype, const eng_batch& b) override {
        if (dtype != ENG_DTYPE_F32 && dtype != ENG_DTYPE_F64)
            throw Error(ENG_ERROR_INVALID_ARGUMENT, "logits: dtype must be F32 or F64, got " + std::to_string(dtype));
        d_.bind();
        const int64_t N = b.num_tokens;
        layout_batch(batch_, b, s_.V);
        ensure_activations(N);
        forward(b.tokens, N);
        const uint16_t* wcls = classifier_view(params_bf16_.get(), layout_, s_);
        std::vector<float> chunk((size_t)(s_.chunk * s_.V));
        // Through the classifier's chunk buffer and GEMM, as the loss computes them.
        for (int64_t c0 = 0; c0 < N; c0 += s_.chunk) {
            const int64_t tc = std::min(s_.chunk, N - c0);
            cuda::ops::to_bf16(d_, stream_, xb_, act_.lnf + c0 * s_.C, tc * s_.C);
            d_.gemm(act_.logits, wcls, xb_, cuda::CUBLAS_OP_T, cuda::CUBLAS_OP_N, s_.V, tc, s_.C, s_.C, s_.C, s_.V, 0.0f, stream_);
            cuda::download(d_, chunk.data(), act_.logits, (size_t)(tc * s_.V) * sizeof(float), stream_);
            cuda::synchronize(d_, stream_);
            store_as(out, dtype, c0 * s_.V, chunk.data(), tc * s_.V);
        }
    }

    Decoder* create_decoder(int64_t, int64_t) override {
        throw Error(ENG_ERROR_UNSUPPORTED, "the decoder (generation, engine eval) runs on the CPU only; create the model in a CPU context");
    }

    void* grad_accumulator() override {
        d_.bind();
        return accumulator();
    }

    void accumulate_grads() override {
        d_.bind();
        profiler_.at(-1, ENG_PROFILE_OPTIMIZER);
        cuda::ops::accumulate_grads(d_, stream_, accumulator(), grads_.get(), P_);
    }

    void flush_grads(int64_t offset, int64_t count) override {
        check_flat_range("flush range", offset, count, P_);
        d_.bind();
        profiler_.at(-1, ENG_PROFILE_OPTIMIZER);
        double* acc = accumulator();
        cuda::ops::flush_grads(d_, stream_, grads_.get() + offset, acc + offset, count);
        cuda::zero_async(d_, acc, (size_t)P_ * sizeof(double), stream_);
    }

    double grad_sqnorm(int64_t offset, int64_t count) const override {
        check_flat_range("gradient range", offset, count, P_);
        d_.bind();
        CudaQwen2* self = const_cast<CudaQwen2*>(this);
        self->profiler_.at(-1, ENG_PROFILE_OPTIMIZER);
        const int64_t nblocks = cuda::ops::sqnorm_blocks(offset, count);
        if (self->partials_.size() < nblocks) self->partials_.resize(d_, nblocks);
        cuda::ops::sqnorm_partials(d_, stream_, self->partials_.get(), grads_.get(), offset, count);
        std::vector<double> partial((size_t)nblocks);
        cuda::download(d_, partial.data(), self->partials_.get(), (size_t)nblocks * sizeof(double), stream_);
        cuda::synchronize(d_, stream_);
        // In block order, as the CPU adds them.
        double sq = 0;
        for (double x : partial) sq += x;
        return sq;
    }

    void adamw_update(const eng_adamw_options& o, double grad_scale, int64_t offset, int64_t count) override {
        check_adamw_update(o, grad_scale, offset, count, P_, opt_offset_, opt_count_);
        d_.bind();
        profiler_.at(-1, ENG_PROFILE_OPTIMIZER);
        float* m = moments();
        float* v = m + opt_count_;
        const AdamWScalars k = adamw_scalars(o);
        const int64_t end = offset + count;
        for (const TensorSlot& t : layout_) {
            const int64_t lo = std::max(offset, t.offset), hi = std::min(end, t.offset + t.numel);
            if (lo >= hi) continue;
            const float decay = (float)(t.decay ? 1.0 - o.lr * o.weight_decay : 1.0);
            cuda::ops::adamw(d_, stream_, params_.get(), grads_.get(), m, v, lo, hi - lo, opt_offset_, (float)grad_scale, (float)o.beta1,
                             (float)o.beta2, decay, (float)k.step_size, (float)k.bc2_sqrt, (float)o.eps);
        }
    }

private:
    float* buffer_ptr(int buffer, int64_t offset, int64_t count) {
        if (buffer < ENG_BUFFER_PARAMS || buffer > ENG_BUFFER_ADAM_V)
            throw Error(ENG_ERROR_INVALID_ARGUMENT, "unknown buffer " + std::to_string(buffer));
        if (buffer <= ENG_BUFFER_GRADS) {
            check_flat_range("range", offset, count, P_);
            return (buffer == ENG_BUFFER_PARAMS ? params_.get() : grads_.get()) + offset;
        }
        check_moment_range(offset, count, opt_offset_, opt_count_);
        return moments() + (buffer == ENG_BUFFER_ADAM_V ? opt_count_ : 0) + (offset - opt_offset_);
    }

    // Allocated (zeroed) on first use, as on the CPU: a ZeRO-1 rank narrowing its range never holds the full state.
    float* moments() {
        if (moments_.size() == 0 && opt_count_ > 0) {
            moments_.resize(d_, 2 * opt_count_);
            cuda::zero_async(d_, moments_.get(), (size_t)(2 * opt_count_) * sizeof(float), stream_);
        }
        return moments_.get();
    }

    double* accumulator() {
        if (acc_.size() == 0) {
            acc_.resize(d_, P_);
            cuda::zero_async(d_, acc_.get(), (size_t)P_ * sizeof(double), stream_);
        }
        return acc_.get();
    }

    void zero(float* p, int64_t n) { cuda::zero_async(d_, p, (size_t)n * sizeof(float), stream_); }

    void ensure_activations(int64_t N) {
        if (N <= capacity_) return;
        const int64_t widest = std::max(std::max(s_.C, s_.H * s_.D), s_.I);
        acts_.reset();
        acts_.resize(d_, activation_elements(s_, N));
        act_.carve(acts_.get(), s_, N);
        halves_.reset();
        halves_.resize(d_, half_elements(s_, N));
        xb_ = halves_.get();
        gb_ = halves_.get() + N * widest;
        ints_.reset();
        ints_.resize(d_, kBatchIntsPerToken * N);
        tokens_d_ = ints_.get(); doc_start_d_ = tokens_d_ + N; doc_end_d_ = doc_start_d_ + N;
        rows_d_ = doc_end_d_ + N; targets_d_ = rows_d_ + N;
        capacity_ = N;
    }

    // Uploads the batch (tokens, document bounds, scored rows, RoPE tables) and refreshes the bf16 weights.
    void upload_batch(const int32_t* tokens, int64_t N) {
        const int64_t half = s_.D / 2, M = (int64_t)batch_.rows.size();
        host_ints_.assign((size_t)(3 * N + 2 * M), 0);
        std::memcpy(host_ints_.data(), tokens, (size_t)N * sizeof(int32_t));
        std::memcpy(host_ints_.data() + N, batch_.doc_start.data(), (size_t)N * sizeof(int32_t));
        std::memcpy(host_ints_.data() + 2 * N, batch_.doc_end.data(), (size_t)N * sizeof(int32_t));
        for (int64_t m = 0; m < M; m++) {
            host_ints_[(size_t)(3 * N + m)] = (int32_t)batch_.rows[(size_t)m];
            host_ints_[(size_t)(3 * N + M + m)] = batch_.targets[(size_t)m];
        }
        // Each array has room for the largest batch seen (capacity_ tokens), so they are uploaded one by one.
        cuda::upload(d_, tokens_d_, host_ints_.data(), (size_t)N * sizeof(int32_t), stream_);
        cuda::upload(d_, doc_start_d_, host_ints_.data() + N, (size_t)N * sizeof(int32_t), stream_);
        cuda::upload(d_, doc_end_d_, host_ints_.data() + 2 * N, (size_t)N * sizeof(int32_t), stream_);
        cuda::upload(d_, rows_d_, host_ints_.data() + 3 * N, (size_t)M * sizeof(int32_t), stream_);
        cuda::upload(d_, targets_d_, host_ints_.data() + 3 * N + M, (size_t)M * sizeof(int32_t), stream_);
        host_rope_.resize((size_t)(2 * N * half));
        rope_tables(host_rope_.data(), host_rope_.data() + N * half, batch_.positions.data(), N, s_.D, s_.theta, 1);
        cuda::upload(d_, act_.cos, host_rope_.data(), (size_t)(N * half) * sizeof(float), stream_);
        cuda::upload(d_, act_.sin, host_rope_.data() + N * half, (size_t)(N * half) * sizeof(float), stream_);
        cuda::ops::to_bf16(d_, stream_, params_bf16_.get(), params_.get(), P_);
        // The host staging above must outlive the copies.
        cuda::synchronize(d_, stream_);
    }

    void forward(const int32_t* tokens, int64_t N) {
        const int64_t C = s_.C, I = s_.I, H = s_.H, KV = s_.KV, D = s_.D;
        const float scale = 1.0f / std::sqrt((float)D);
        const Device& d = d_;
        const cuda::CUstream st = stream_;
        profiler_.at(-1, ENG_PROFILE_FORWARD);
        upload_batch(tokens, N);
        cuda::ops::embedding_forward(d, st, act_.layers[0].res, tokens_d_, params_.get(), N, C);
        for (int64_t l = 0; l < s_.L; l++) {
            profiler_.at(l, ENG_PROFILE_FORWARD);
            LayerActs<float>& a = act_.layers[(size_t)l];
            const LayerView<float> w = layer_view(params_.get(), layout_, l);
            const LayerView<uint16_t> wb = layer_view(params_bf16_.get(), layout_, l);
            float* next = l + 1 < s_.L ? act_.layers[(size_t)l + 1].res : act_.resf;
            cuda::ops::rmsnorm_forward(d, st, a.ln1, a.rstd1, a.res, w.ln1, N, C, s_.eps);
            cuda::ops::linear_forward(d, st, a.q, a.ln1, wb.wq, w.bq, N, C, H * D, xb_);
            cuda::ops::linear_forward(d, st, a.k, a.ln1, wb.wk, w.bk, N, C, KV * D, xb_);
            cuda::ops::linear_forward(d, st, a.v, a.ln1, wb.wv, w.bv, N, C, KV * D, xb_);
            cuda::ops::rope(d, st, a.q, act_.cos, act_.sin, N, H, D, false);
            cuda::ops::rope(d, st, a.k, act_.cos, act_.sin, N, KV, D, false);
            cuda::ops::attention_forward(d, st, a.att, a.lse, a.q, a.k, a.v, doc_start_d_, N, H, KV, D, scale);
            cuda::ops::linear_forward(d, st, a.res2, a.att, wb.wo, nullptr, N, H * D, C, xb_);
            cuda::ops::add(d, st, a.res2, a.res, N * C);
            cuda::ops::rmsnorm_forward(d, st, a.ln2, a.rstd2, a.res2, w.ln2, N, C, s_.eps);
            cuda::ops::linear_forward(d, st, a.gate, a.ln2, wb.wg, nullptr, N, C, I, xb_);
            cuda::ops::linear_forward(d, st, a.up, a.ln2, wb.wu, nullptr, N, C, I, xb_);
            cuda::ops::swiglu_forward(d, st, a.h, a.gate, a.up, N * I);
            cuda::ops::linear_forward(d, st, next, a.h, wb.wd, nullptr, N, I, C, xb_);
            cuda::ops::add(d, st, next, a.res2, N * C);
        }
        profiler_.at(-1, ENG_PROFILE_FORWARD);
        cuda::ops::rmsnorm_forward(d, st, act_.lnf, act_.rstdf, act_.resf, final_norm_view(params_.get(), layout_, s_), N, C, s_.eps);
    }

    // Expects act_.dln to hold d(final norm output) from the classifier.
    void backward(int64_t N) {
        const int64_t C = s_.C, I = s_.I, H = s_.H, KV = s_.KV, D = s_.D;
        const float scale = 1.0f / std::sqrt((float)D);
        const Device& d = d_;
        const cuda::CUstream st = stream_;
        float* params = params_.get();
        float* grads = grads_.get();
        profiler_.at(-1, ENG_PROFILE_BACKWARD);
        zero(act_.dres, N * C);
        cuda::ops::rmsnorm_backward(d, st, act_.dres, final_norm_view(grads, layout_, s_), act_.dln, act_.resf, final_norm_view(params, layout_, s_),
                                    act_.rstdf, N, C);
        for (int64_t l = s_.L - 1; l >= 0; l--) {
            profiler_.at(l, ENG_PROFILE_BACKWARD);
            LayerActs<float>& a = act_.layers[(size_t)l];
            const LayerView<float> w = layer_view(params, layout_, l);
            const LayerView<uint16_t> wb = layer_view(params_bf16_.get(), layout_, l);
            const LayerView<float> dw = layer_view(grads, layout_, l);
            // next = res2 + down(h): act_.dres holds d next, and is also the residual part of d res2.
            zero(act_.dh, N * I);
            cuda::ops::linear_backward(d, st, act_.dh, dw.wd, nullptr, act_.dres, a.h, wb.wd, N, I, C, xb_, gb_);
            zero(act_.dgate, N * I);
            zero(act_.dup, N * I);
            cuda::ops::swiglu_backward(d, st, act_.dgate, act_.dup, act_.dh, a.gate, a.up, N * I);
            zero(act_.dln, N * C);
            cuda::ops::linear_backward(d, st, act_.dln, dw.wg, nullptr, act_.dgate, a.ln2, wb.wg, N, C, I, xb_, gb_);
            cuda::ops::linear_backward(d, st, act_.dln, dw.wu, nullptr, act_.dup, a.ln2, wb.wu, N, C, I, xb_, gb_);
            cuda::ops::rmsnorm_backward(d, st, act_.dres, dw.ln2, act_.dln, a.res2, w.ln2, a.rstd2, N, C);
            // res2 = res + o_proj(att): act_.dres now holds d res2.
            zero(act_.datt, N * H * D);
            cuda::ops::linear_backward(d, st, act_.datt, dw.wo, nullptr, act_.dres, a.att, wb.wo, N, H * D, C, xb_, gb_);
            zero(act_.dq, N * H * D);
            zero(act_.dk, N * KV * D);
            zero(act_.dv, N * KV * D);
            cuda::ops::attention_backward(d, st, act_.dq, act_.dk, act_.dv, act_.delta, act_.datt, a.q, a.k, a.v, a.att, a.lse, doc_start_d_, doc_end_d_,
                                          N, H, KV, D, scale);
            cuda::ops::rope(d, st, act_.dq, act_.cos, act_.sin, N, H, D, true);
            cuda::ops::rope(d, st, act_.dk, act_.cos, act_.sin, N, KV, D, true);
            zero(act_.dln, N * C);
            cuda::ops::linear_backward(d, st, act_.dln, dw.wq, dw.bq, act_.dq, a.ln1, wb.wq, N, C, H * D, xb_, gb_);
            cuda::ops::linear_backward(d, st, act_.dln, dw.wk, dw.bk, act_.dk, a.ln1, wb.wk, N, C, KV * D, xb_, gb_);
            cuda::ops::linear_backward(d, st, act_.dln, dw.wv, dw.bv, act_.dv, a.ln1, wb.wv, N, C, KV * D, xb_, gb_);
            cuda::ops::rmsnorm_backward(d, st, act_.dres, dw.ln1, act_.dln, a.res, w.ln1, a.rstd1, N, C);
        }
        profiler_.at(-1, ENG_PROFILE_BACKWARD);
        cuda::ops::embedding_backward(d, st, grads, act_.dres, tokens_d_, N, C);
    }

    std::shared_ptr<const Device> device_;  // keeps the context alive while the model lives
    const Device& d_;
    ModelShape s_;
    std::vector<TensorSlot> layout_;
    int64_t P_ = 0;
    cuda::CUstream stream_ = nullptr;
    DeviceArray<float> params_, grads_, moments_, acts_;
    DeviceArray<uint16_t> params_bf16_, halves_;
    DeviceArray<double> acc_, partials_;
    DeviceArray<int32_t> ints_;
    int64_t opt_offset_ = 0, opt_count_ = 0, capacity_ = 0;
    Activations<float> act_;  // fp32, in the CPU layout (the classifier chunk uses logits and dxbuf)
    uint16_t *xb_ = nullptr, *gb_ = nullptr;
    int32_t *tokens_d_ = nullptr, *doc_start_d_ = nullptr, *doc_end_d_ = nullptr, *rows_d_ = nullptr, *targets_d_ = nullptr;
    BatchLayout batch_;
    std::vector<float> staging_, host_losses_, host_rope_;
    std::vector<int32_t> host_ints_;
};

}  // namespace

int64_t cuda_working_bytes(const ModelShape& s, int64_t N) {
    const std::vector<TensorSlot> layout = tensor_layout(s);
    const int64_t P = layout.back().offset + layout.back().numel;
    return activation_elements(s, N) * (int64_t)sizeof(float) + half_elements(s, N) * (int64_t)sizeof(uint16_t) +
           kBatchIntsPerToken * N * (int64_t)sizeof(int32_t) + P * (int64_t)sizeof(uint16_t) /* params_bf16_ */ +
           cuda::ops::sqnorm_blocks(0, P) * (int64_t)sizeof(double) /* partials_ over the whole buffer */ +
           (int64_t)Device::kWorkspaceBytes;
}

Model* create_cuda_model(const ModelShape& shape, int dtype, std::shared_ptr<const cuda::Device> device) {
    if (dtype != ENG_DTYPE_F32)
        throw Error(ENG_ERROR_UNSUPPORTED, "a CUDA model computes in ENG_DTYPE_F32 (bf16 GEMMs, fp32 master weights) only; F64 is the CPU's "
                    "verification dtype, got " + std::to_string(dtype));
    return new CudaQwen2(shape, std::move(device));
}

}  // namespace eng
