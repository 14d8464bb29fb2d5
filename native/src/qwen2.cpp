// Qwen2 forward/backward and AdamW on the CPU (see qwen2.hpp for the legend).
// Matches HF modeling_qwen2.py; DESIGN.md §3 lists the details this file promises.
#include "qwen2.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "decoder.hpp"
#include "ops_attention.hpp"
#include "ops_classifier.hpp"
#include "ops_linear.hpp"
#include "op_math.hpp"
#include "ops_pointwise.hpp"
#include "qwen2_weights.hpp"

namespace eng {

ModelShape model_shape_from(const eng_model_config& c) {
    auto need = [](bool ok, const std::string& what) {
        if (!ok) throw Error(ENG_ERROR_INVALID_ARGUMENT, "invalid model config: " + what);
    };
    need(c.vocab_size > 0, "vocab_size must be positive, got " + std::to_string(c.vocab_size));
    need(c.hidden_size > 0, "hidden_size must be positive, got " + std::to_string(c.hidden_size));
    need(c.intermediate_size > 0, "intermediate_size must be positive, got " + std::to_string(c.intermediate_size));
    need(c.num_layers > 0, "num_layers must be positive, got " + std::to_string(c.num_layers));
    need(c.num_heads > 0, "num_heads must be positive, got " + std::to_string(c.num_heads));
    need(c.num_kv_heads > 0 && c.num_heads % c.num_kv_heads == 0,
         "num_kv_heads (" + std::to_string(c.num_kv_heads) + ") must divide num_heads (" + std::to_string(c.num_heads) + ")");
    ModelShape s{};
    s.V = c.vocab_size; s.C = c.hidden_size; s.I = c.intermediate_size; s.L = c.num_layers;
    s.H = c.num_heads; s.KV = c.num_kv_heads;
    if (c.head_dim > 0) {
        s.D = c.head_dim;
    } else {
        need(c.hidden_size % c.num_heads == 0, "hidden_size (" + std::to_string(c.hidden_size) +
             ") is not a multiple of num_heads (" + std::to_string(c.num_heads) + ") and head_dim is not given");
        s.D = c.hidden_size / c.num_heads;
    }
    need(s.D % 2 == 0 && s.D <= kMaxHeadDim, "head_dim must be even and at most " + std::to_string(kMaxHeadDim) +
         ", got " + std::to_string(s.D));
    need(c.rms_norm_eps > 0 && std::isfinite(c.rms_norm_eps), "rms_norm_eps must be positive");
    need(c.rope_theta > 0 && std::isfinite(c.rope_theta), "rope_theta must be positive");
    s.tied = c.tie_word_embeddings != 0;
    s.eps = c.rms_norm_eps;
    s.theta = c.rope_theta;
    s.chunk = c.loss_chunk_tokens > 0 ? c.loss_chunk_tokens : 64;
    return s;
}

std::vector<TensorSlot> tensor_layout(const ModelShape& s) {
    std::vector<TensorSlot> t;
    int64_t offset = 0;
    auto add = [&](const std::string& name, int64_t rows, int64_t cols) {
        TensorSlot slot{name, offset, rows * (cols > 0 ? cols : 1), cols > 0 ? 2 : 1, {(int)rows, (int)cols}, cols > 0};
        if (cols <= 0) slot.shape[1] = 0;
        offset += slot.numel;
        t.push_back(slot);
    };
    add("model.embed_tokens.weight", s.V, s.C);
    for (int64_t l = 0; l < s.L; l++) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        add(p + "input_layernorm.weight", s.C, 0);
        add(p + "self_attn.q_proj.weight", s.H * s.D, s.C);
        add(p + "self_attn.q_proj.bias", s.H * s.D, 0);
        add(p + "self_attn.k_proj.weight", s.KV * s.D, s.C);
        add(p + "self_attn.k_proj.bias", s.KV * s.D, 0);
        add(p + "self_attn.v_proj.weight", s.KV * s.D, s.C);
        add(p + "self_attn.v_proj.bias", s.KV * s.D, 0);
        add(p + "self_attn.o_proj.weight", s.C, s.H * s.D);
        add(p + "post_attention_layernorm.weight", s.C, 0);
        add(p + "mlp.gate_proj.weight", s.I, s.C);
        add(p + "mlp.up_proj.weight", s.I, s.C);
        add(p + "mlp.down_proj.weight", s.C, s.I);
    }
    add("model.norm.weight", s.C, 0);
    if (!s.tied) add("lm_head.weight", s.V, s.C);
    return t;
}

int64_t activation_elements(const ModelShape& s, int64_t N) {
    const int64_t HD = s.H * s.D, KD = s.KV * s.D;
    const int64_t per_layer = 5 * s.C + 2 + 2 * HD + 2 * KD + s.H + 3 * s.I;
    const int64_t scratch = 2 * s.C + 2 * HD + 2 * KD + s.H + 3 * s.I;
    return N * (per_layer * s.L + 2 * s.C + 1 + s.D + scratch + 1) + 2 * s.chunk * s.C + s.chunk * s.V;
}

void check_flat_range(const char* what, int64_t offset, int64_t count, int64_t P) {
    if (offset < 0 || count < 0 || offset > P || count > P - offset)
        throw Error(ENG_ERROR_INVALID_ARGUMENT, std::string(what) + " [" + std::to_string(offset) + ", +" + std::to_string(count) +
                    ") is outside the " + std::to_string(P) + " parameters");
}

void check_adamw(const eng_adamw_options& o) {
    if (o.step < 1) throw Error(ENG_ERROR_INVALID_ARGUMENT, "adamw: step must be >= 1, got " + std::to_string(o.step));
    if (!(o.lr >= 0) || !(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1) || !(o.eps > 0) || !(o.weight_decay >= 0))
        throw Error(ENG_ERROR_INVALID_ARGUMENT, "adamw: need lr >= 0, 0 <= beta1, beta2 < 1, eps > 0, weight_decay >= 0");
}

void check_adamw_update(const eng_adamw_options& o, double grad_scale, int64_t offset, int64_t count, int64_t P,
                        int64_t opt_offset, int64_t opt_count) {
    check_adamw(o);
    check_flat_range("update range", offset, count, P);
    if (offset < opt_offset || offset + count > opt_offset + opt_count)
        throw Error(ENG_ERROR_INVALID_ARGUMENT, "adamw: update range [" + std::to_string(offset) + ", +" + std::to_string(count) +
                    ") is outside the optimizer range [" + std::to_string(opt_offset) + ", +" + std::to_string(opt_count) + ")");
    if (!(grad_scale >= 0) || !std::isfinite(grad_scale))
        throw Error(ENG_ERROR_INVALID_ARGUMENT, "adamw: grad_scale must be finite and >= 0");
}

void check_whole_optimizer_range(int64_t opt_offset, int64_t opt_count, int64_t P) {
    if (opt_offset != 0 || opt_count != P)
        throw Error(ENG_ERROR_INVALID_ARGUMENT, "adamw: the optimizer state covers only a range; use eng_model_adamw_update");
}

void check_moment_range(int64_t offset, int64_t count, int64_t opt_offset, int64_t opt_count) {
    if (offset < opt_offset || count < 0 || offset > opt_offset + opt_count || count > opt_offset + opt_count - offset)
        throw Error(ENG_ERROR_INVALID_ARGUMENT, "range [" + std::to_string(offset) + ", +" + std::to_string(count) +
                    ") is outside the optimizer range [" + std::to_string(opt_offset) + ", +" + std::to_string(opt_count) + ")");
}

AdamWScalars adamw_scalars(const eng_adamw_options& o) {
    // torch.optim.AdamW: p *= 1 - lr*wd; m, v updated; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps).
    const double bc1 = 1.0 - std::pow(o.beta1, (double)o.step);
    return AdamWScalars{o.lr / bc1, std::sqrt(1.0 - std::pow(o.beta2, (double)o.step))};
}

double Model::adamw_step(const eng_adamw_options& o) {
    check_adamw(o);
    int64_t offset = 0, count = 0;
    optimizer_range(&offset, &count);
    check_whole_optimizer_range(offset, count, num_params());
    const double norm = std::sqrt(grad_sqnorm(0, num_params()));
    adamw_update(o, clip_coefficient(norm, o.max_grad_norm), 0, num_params());
    return norm;
}

double clip_coefficient(double norm, double max_grad_norm) {
    // torch.nn.utils.clip_grad_norm_: coef = max_norm / (norm + 1e-6), applied only when below 1.
    return max_grad_norm > 0 ? std::min(1.0, max_grad_norm / (norm + 1e-6)) : 1.0;
}

void layout_batch(BatchLayout& out, const eng_batch& b, int64_t V) {
    if (!b.tokens || !b.labels || !b.doc_lengths) throw Error(ENG_ERROR_INVALID_ARGUMENT, "batch: null tokens, labels or doc_lengths");
    if (b.num_tokens <= 0 || b.num_docs <= 0) throw Error(ENG_ERROR_INVALID_ARGUMENT, "batch: num_tokens and num_docs must be positive");
    const int64_t N = b.num_tokens;
    out.positions.resize((size_t)N);
    out.doc_start.resize((size_t)N);
    out.doc_end.resize((size_t)N);
    out.rows.clear();
    out.targets.clear();
    int64_t n = 0;
    for (int32_t d = 0; d < b.num_docs; d++) {
        const int64_t len = b.doc_lengths[d];
        if (len <= 0 || n + len > N)
            throw Error(ENG_ERROR_INVALID_ARGUMENT, "batch: document " + std::to_string(d) + " has length " + std::to_string(len) +
                        "; lengths must be positive and sum to num_tokens (" + std::to_string(N) + ")");
        for (int64_t t = 0; t < len; t++) {
            out.positions[(size_t)(n + t)] = (int32_t)t;
            out.doc_start[(size_t)(n + t)] = (int32_t)n;
            out.doc_end[(size_t)(n + t)] = (int32_t)(n + len);
            if (t + 1 < len && b.labels[n + t + 1] != -100) {
                out.rows.push_back(n + t);
                out.targets.push_back(b.labels[n + t + 1]);
            }
        }
        n += len;
    }
    if (n != N) throw Error(ENG_ERROR_INVALID_ARGUMENT, "batch: document lengths sum to " + std::to_string(n) + ", not num_tokens " + std::to_string(N));
    for (int64_t i = 0; i < N; i++) {
        if (b.tokens[i] < 0 || b.tokens[i] >= V)
            throw Error(ENG_ERROR_INVALID_ARGUMENT, "batch: token " + std::to_string(i) + " is " + std::to_string(b.tokens[i]) +
                        ", outside the vocabulary [0, " + std::to_string(V) + ")");
        if (b.labels[i] != -100 && (b.labels[i] < 0 || b.labels[i] >= V))
            throw Error(ENG_ERROR_INVALID_ARGUMENT, "batch: label " + std::to_string(i) + " is " + std::to_string(b.labels[i]) +
                        ", neither -100 nor inside the vocabulary [0, " + std::to_string(V) + ")");
    }
}

namespace {

template <typename T>
class CpuQwen2 final : public Model {
public:
    CpuQwen2(const ModelShape& s, int threads)
        : s_(s), threads_(threads), layout_(tensor_layout(s)) {
        P_ = layout_.back().offset + layout_.back().numel;
        memory_.assign((size_t)(2 * P_), T(0));
        set_optimizer_range(0, P_);
        profiler_.set_clock(make_host_clock());
    }

    const std::vector<TensorSlot>& tensors() const override { return layout_; }
    int64_t num_params() const override { return P_; }

    // The moments are allocated on first use, so that a rank narrowing them to its shard right after creation
    // never holds the full state.
    void set_optimizer_range(int64_t offset, int64_t count) override {
        check_range("optimizer range", offset, count);
        std::vector<T>().swap(opt_);
        opt_offset_ = offset;
        opt_count_ = count;
    }

    void optimizer_range(int64_t* offset, int64_t* count) const override {
        *offset = opt_offset_;
        *count = opt_count_;
    }

    void* buffer_data(int buffer) override { return buffer_ptr(buffer, buffer >= ENG_BUFFER_ADAM_M ? opt_offset_ : 0, 0); }

    void write(int buffer, const void* src, int src_dtype, int64_t offset, int64_t count) override {
        T* dst = buffer_ptr(buffer, offset, count);
        if (src_dtype == ENG_DTYPE_F32) {
            const float* f = static_cast<const float*>(src);
            for (int64_t i = 0; i < count; i++) dst[i] = (T)f[i];
        } else if (src_dtype == ENG_DTYPE_F64) {
            const double* f = static_cast<const double*>(src);
            for (int64_t i = 0; i < count; i++) dst[i] = (T)f[i];
        } else if (src_dtype == ENG_DTYPE_BF16) {
            const uint16_t* b = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < count; i++) {
                uint32_t bits = (uint32_t)b[i] << 16;
                float f;
                std::memcpy(&f, &bits, sizeof f);
                dst[i] = (T)f;
            }
        } else {
            throw Error(ENG_ERROR_INVALID_ARGUMENT, "write: unknown source dtype " + std::to_string(src_dtype));
        }
    }

    void read(void* dst, int dst_dtype, int buffer, int64_t offset, int64_t count) const override {
        const T* src = const_cast<CpuQwen2*>(this)->buffer_ptr(buffer, offset, count);
        if (dst_dtype == ENG_DTYPE_F32) {
            float* f = static_cast<float*>(dst);
            for (int64_t i = 0; i < count; i++) f[i] = (float)src[i];
        } else if (dst_dtype == ENG_DTYPE_F64) {
            double* f = static_cast<double*>(dst);
            for (int64_t i = 0; i < count; i++) f[i] = (double)src[i];
        } else {
            throw Error(ENG_ERROR_INVALID_ARGUMENT, "read: destination dtype must be F32 or F64, got " + std::to_string(dst_dtype));
        }
    }

    void zero_grads() override {
        profiler_.at(-1, ENG_PROFILE_BACKWARD);
        op("zero_grads", [&] { std::fill(memory_.begin() + P_, memory_.begin() + 2 * P_, T(0)); });
    }

    void forward_backward(double* loss_sum, int64_t* valid, float* token_losses, const eng_batch& b,
                          double loss_scale, bool backward) override {
        const int64_t N = b.num_tokens;
        layout_batch(batch_, b, s_.V);
        ensure_activations(N);
        forward(b.tokens, N);
        const int64_t M = (int64_t)batch_.rows.size();
        profiler_.at(-1, ENG_PROFILE_LOSS);
        op("zero", [&] { std::fill(act_.dln, act_.dln + N * s_.C, T(0)); });
        const T* wcls = classifier_view(params(), layout_, s_);
        T* dwcls = classifier_view(grads(), layout_, s_);
        op("classifier_ce", [&] {
            classifier_forward_backward(act_.losses, backward ? act_.dln : nullptr, backward ? dwcls : nullptr, act_.lnf, wcls,
                                        batch_.rows.data(), batch_.targets.data(), act_.xbuf, act_.dxbuf, act_.logits, (T)loss_scale, backward,
                                        M, s_.C, s_.V, s_.chunk, threads_);
        });
        double sum = 0;
        for (int64_t m = 0; m < M; m++) sum += (double)act_.losses[m];
        *loss_sum = sum;
        *valid = M;
        if (token_losses) {
            std::fill(token_losses, token_losses + N, 0.0f);
            for (int64_t m = 0; m < M; m++) token_losses[batch_.rows[m]] = (float)act_.losses[m];
        }
        if (backward) this->backward(b.tokens, N);
    }

    void logits(void* out, int dtype, const eng_batch& b) override {
        if (dtype != ENG_DTYPE_F32 && dtype != ENG_DTYPE_F64)
            throw Error(ENG_ERROR_INVALID_ARGUMENT, "logits: dtype must be F32 or F64, got " + std::to_string(dtype));
        const int64_t N = b.num_tokens;
        layout_batch(batch_, b, s_.V);
        ensure_activations(N);
        forward(b.tokens, N);
        // Through the classifier's chunk buffer, as the loss computes them, so both see the same logits.
        for (int64_t c0 = 0; c0 < N; c0 += s_.chunk) {
            const int64_t tc = std::min(s_.chunk, N - c0);
            matmul_forward(act_.logits, act_.lnf + c0 * s_.C, classifier_view(params(), layout_, s_), (const T*)nullptr, tc, s_.C, s_.V, threads_);
            store_as(out, dtype, c0 * s_.V, act_.logits, tc * s_.V);
        }
    }

    Decoder* create_decoder(int64_t max_sequences, int64_t max_tokens) override {
        return create_cpu_decoder<T>(s_, layout_, params(), threads_, max_sequences, max_tokens);
    }

    void* grad_accumulator() override { return accumulator(); }

    void accumulate_grads() override {
        profiler_.at(-1, ENG_PROFILE_OPTIMIZER);
        OpScope scope(&profiler_, "accumulate_grads");
        double* acc = accumulator();
        T* g = grads();
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (int64_t i = 0; i < P_; i++) {
            acc[i] += (double)g[i];
            g[i] = T(0);
        }
    }

    void flush_grads(int64_t offset, int64_t count) override {
        check_range("flush range", offset, count);
        profiler_.at(-1, ENG_PROFILE_OPTIMIZER);
        OpScope scope(&profiler_, "flush_grads");
        double* acc = accumulator();
        T* g = grads();
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (int64_t i = offset; i < offset + count; i++) g[i] = (T)acc[i];
        std::fill(acc, acc + P_, 0.0);
    }

    double grad_sqnorm(int64_t offset, int64_t count) const override {
        check_range("gradient range", offset, count);
        OpProfiler* profiler = const_cast<OpProfiler*>(&profiler_);
        profiler->at(-1, ENG_PROFILE_OPTIMIZER);
        OpScope scope(profiler, "grad_sqnorm");
        const T* g = memory_.data() + P_;
        // Fixed blocks at absolute positions, each summed in double by one thread, then added in block order:
        // the same bits for any thread count.
        const int64_t block = 1 << 16;
        const int64_t end = offset + count;
        const int64_t first = offset / block, nblocks = count == 0 ? 0 : (end - 1) / block - first + 1;
        std::vector<double> partial((size_t)nblocks, 0.0);
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (int64_t bi = 0; bi < nblocks; bi++) {
            double acc = 0;
            const int64_t lo = std::max(offset, (first + bi) * block), hi = std::min(end, (first + bi + 1) * block);
            for (int64_t i = lo; i < hi; i++) acc += (double)g[i] * (double)g[i];
            partial[(size_t)bi] = acc;
        }
        double sq = 0;
        for (double x : partial) sq += x;
        return sq;
    }

    void adamw_update(const eng_adamw_options& o, double grad_scale, int64_t offset, int64_t count) override {
        check_adamw_update(o, grad_scale, offset, count, P_, opt_offset_, opt_count_);
        profiler_.at(-1, ENG_PROFILE_OPTIMIZER);
        OpScope scope(&profiler_, "adamw");
        T* p = params();
        const T* g = grads();
        T* m = moments();
        T* v = m + opt_count_;
        const int64_t o0 = opt_offset_;
        // torch.optim.AdamW: p *= 1 - lr*wd; m, v updated; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps).
        const AdamWScalars k = adamw_scalars(o);
        const double bc2_sqrt = k.bc2_sqrt;
        const T step_size = (T)k.step_size;
        const T b1 = (T)o.beta1, b2 = (T)o.beta2, eps = (T)o.eps, c = (T)grad_scale;
        const int64_t end = offset + count;
        for (const TensorSlot& t : layout_) {
            const int64_t lo = std::max(offset, t.offset), hi = std::min(end, t.offset + t.numel);
            if (lo >= hi) continue;
            const T decay = (T)(t.decay ? 1.0 - o.lr * o.weight_decay : 1.0);
#pragma omp parallel for schedule(static) num_threads(threads_)
            for (int64_t i = lo; i < hi; i++) {
                adamw_element(&p[i], &m[i - o0], &v[i - o0], g[i], c, b1, b2, decay, step_size, (T)bc2_sqrt, eps);
            }
        }
    }

private:
    T* params() { return memory_.data(); }
    T* grads() { return memory_.data() + P_; }

    T* buffer_ptr(int buffer, int64_t offset, int64_t count) {
        if (buffer < ENG_BUFFER_PARAMS || buffer > ENG_BUFFER_ADAM_V)
            throw Error(ENG_ERROR_INVALID_ARGUMENT, "unknown buffer " + std::to_string(buffer));
        if (buffer <= ENG_BUFFER_GRADS) {
            check_range("range", offset, count);
            return memory_.data() + (int64_t)buffer * P_ + offset;
        }
        check_moment_range(offset, count, opt_offset_, opt_count_);
        return moments() + (buffer == ENG_BUFFER_ADAM_V ? opt_count_ : 0) + (offset - opt_offset_);
    }

    double* accumulator() {
        if (acc_.empty()) acc_.assign((size_t)P_, 0.0);
        return acc_.data();
    }

    T* moments() {
        if (opt_.empty() && opt_count_ > 0) opt_.assign((size_t)(2 * opt_count_), T(0));
        return opt_.data();
    }

    void check_range(const char* what, int64_t offset, int64_t count) const { check_flat_range(what, offset, count, P_); }

    LayerView<T> layer_view(T* base, int64_t l) const { return eng::layer_view(base, layout_, l); }

    T* final_norm(T* base) const { return final_norm_view(base, layout_, s_); }

    void ensure_activations(int64_t N) {
        if (N <= capacity_) return;
        acts_.assign((size_t)activation_elements(s_, N), T(0));
        capacity_ = N;
        act_.carve(acts_.data(), s_, N);
    }

    void forward(const int32_t* tokens, int64_t N) {
        const int64_t C = s_.C, I = s_.I, H = s_.H, KV = s_.KV, D = s_.D;
        const int th = threads_;
        profiler_.at(-1, ENG_PROFILE_FORWARD);
        op("rope_tables", [&] { rope_tables(act_.cos, act_.sin, batch_.positions.data(), N, D, s_.theta, th); });
        op("embedding_forward", [&] { embedding_forward(act_.layers[0].res, tokens, params(), N, C, th); });
        for (int64_t l = 0; l < s_.L; l++) {
            profiler_.at(l, ENG_PROFILE_FORWARD);
            LayerActs<T>& a = act_.layers[(size_t)l];
            const LayerView<T> w = layer_view(params(), l);
            T* next = l + 1 < s_.L ? act_.layers[(size_t)l + 1].res : act_.resf;
            op("rmsnorm_forward", [&] { rmsnorm_forward(a.ln1, a.rstd1, a.res, w.ln1, N, C, s_.eps, th); });
            op("matmul_forward", [&] { matmul_forward(a.q, a.ln1, w.wq, w.bq, N, C, H * D, th); });
            op("matmul_forward", [&] { matmul_forward(a.k, a.ln1, w.wk, w.bk, N, C, KV * D, th); });
            op("matmul_forward", [&] { matmul_forward(a.v, a.ln1, w.wv, w.bv, N, C, KV * D, th); });
            op("rope_forward", [&] { rope_forward(a.q, act_.cos, act_.sin, N, H, D, th); });
            op("rope_forward", [&] { rope_forward(a.k, act_.cos, act_.sin, N, KV, D, th); });
            op("attention_forward", [&] { attention_forward(a.att, a.lse, a.q, a.k, a.v, batch_.doc_start.data(), N, H, KV, D, th); });
            op("matmul_forward", [&] { matmul_forward(a.res2, a.att, w.wo, (const T*)nullptr, N, H * D, C, th); });
            op("add_inplace", [&] { add_inplace(a.res2, a.res, N * C); });
            op("rmsnorm_forward", [&] { rmsnorm_forward(a.ln2, a.rstd2, a.res2, w.ln2, N, C, s_.eps, th); });
            op("matmul_forward", [&] { matmul_forward(a.gate, a.ln2, w.wg, (const T*)nullptr, N, C, I, th); });
            op("matmul_forward", [&] { matmul_forward(a.up, a.ln2, w.wu, (const T*)nullptr, N, C, I, th); });
            op("swiglu_forward", [&] { swiglu_forward(a.h, a.gate, a.up, N * I, th); });
            op("matmul_forward", [&] { matmul_forward(next, a.h, w.wd, (const T*)nullptr, N, I, C, th); });
            op("add_inplace", [&] { add_inplace(next, a.res2, N * C); });
        }
        profiler_.at(-1, ENG_PROFILE_FORWARD);
        op("rmsnorm_forward", [&] { rmsnorm_forward(act_.lnf, act_.rstdf, act_.resf, final_norm(params()), N, C, s_.eps, th); });
    }

    // Expects act_.dln to hold d(final norm output) from the classifier.
    void backward(const int32_t* tokens, int64_t N) {
        const int64_t C = s_.C, I = s_.I, H = s_.H, KV = s_.KV, D = s_.D;
        const int th = threads_;
        profiler_.at(-1, ENG_PROFILE_BACKWARD);
        op("zero", [&] { std::fill(act_.dres, act_.dres + N * C, T(0)); });
        op("rmsnorm_backward", [&] { rmsnorm_backward(act_.dres, final_norm(grads()), act_.dln, act_.resf, final_norm(params()), act_.rstdf, N, C, th); });
        for (int64_t l = s_.L - 1; l >= 0; l--) {
            profiler_.at(l, ENG_PROFILE_BACKWARD);
            LayerActs<T>& a = act_.layers[(size_t)l];
            const LayerView<T> w = layer_view(params(), l);
            const LayerView<T> dw = layer_view(grads(), l);
            // next = res2 + down(h): act_.dres holds d next, and is also the residual part of d res2.
            op("zero", [&] { zero(act_.dh, N * I); });
            op("matmul_backward", [&] { matmul_backward(act_.dh, dw.wd, (T*)nullptr, act_.dres, a.h, w.wd, N, I, C, th); });
            op("zero", [&] { zero(act_.dgate, N * I); });
            op("zero", [&] { zero(act_.dup, N * I); });
            op("swiglu_backward", [&] { swiglu_backward(act_.dgate, act_.dup, act_.dh, a.gate, a.up, N * I, th); });
            op("zero", [&] { zero(act_.dln, N * C); });
            op("matmul_backward", [&] { matmul_backward(act_.dln, dw.wg, (T*)nullptr, act_.dgate, a.ln2, w.wg, N, C, I, th); });
            op("matmul_backward", [&] { matmul_backward(act_.dln, dw.wu, (T*)nullptr, act_.dup, a.ln2, w.wu, N, C, I, th); });
            op("rmsnorm_backward", [&] { rmsnorm_backward(act_.dres, dw.ln2, act_.dln, a.res2, w.ln2, a.rstd2, N, C, th); });
            // res2 = res + o_proj(att): act_.dres now holds d res2.
            op("zero", [&] { zero(act_.datt, N * H * D); });
            op("matmul_backward", [&] { matmul_backward(act_.datt, dw.wo, (T*)nullptr, act_.dres, a.att, w.wo, N, H * D, C, th); });
            op("zero", [&] { zero(act_.dq, N * H * D); });
            op("zero", [&] { zero(act_.dk, N * KV * D); });
            op("zero", [&] { zero(act_.dv, N * KV * D); });
            op("attention_backward", [&] { attention_backward(act_.dq, act_.dk, act_.dv, act_.delta, act_.datt, a.q, a.k, a.v, a.att, a.lse, batch_.doc_start.data(), N, H, KV, D, th); });
            op("rope_backward", [&] { rope_backward(act_.dq, act_.cos, act_.sin, N, H, D, th); });
            op("rope_backward", [&] { rope_backward(act_.dk, act_.cos, act_.sin, N, KV, D, th); });
            op("zero", [&] { zero(act_.dln, N * C); });
            op("matmul_backward", [&] { matmul_backward(act_.dln, dw.wq, dw.bq, act_.dq, a.ln1, w.wq, N, C, H * D, th); });
            op("matmul_backward", [&] { matmul_backward(act_.dln, dw.wk, dw.bk, act_.dk, a.ln1, w.wk, N, C, KV * D, th); });
            op("matmul_backward", [&] { matmul_backward(act_.dln, dw.wv, dw.bv, act_.dv, a.ln1, w.wv, N, C, KV * D, th); });
            op("rmsnorm_backward", [&] { rmsnorm_backward(act_.dres, dw.ln1, act_.dln, a.res, w.ln1, a.rstd1, N, C, th); });
        }
        profiler_.at(-1, ENG_PROFILE_BACKWARD);
        op("embedding_backward", [&] { embedding_backward(grads(), act_.dres, tokens, N, C, th); });
    }

    void add_inplace(T* dst, const T* src, int64_t n) {
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (int64_t i = 0; i < n; i++) dst[i] += src[i];
    }

    static void zero(T* p, int64_t n) { std::fill(p, p + n, T(0)); }

    // Runs f as op `name` of the profile (profile.hpp): timed when profiling is on, as it is otherwise.
    template <typename F>
    void op(const char* name, F&& f) {
        OpScope scope(&profiler_, name);
        f();
    }

    ModelShape s_;
    int threads_;
    std::vector<TensorSlot> layout_;
    int64_t P_ = 0;
    std::vector<T> memory_;  // params | grads
    std::vector<T> opt_;     // m | v of [opt_offset_, opt_offset_ + opt_count_)
    int64_t opt_offset_ = 0, opt_count_ = 0;
    std::vector<double> acc_;  // float64 sum of micro-batch gradients, allocated on first use
    std::vector<T> acts_;
    int64_t capacity_ = 0;
    Activations<T> act_;
    BatchLayout batch_;
};

}  // namespace

Model* create_cpu_model(const ModelShape& shape, int dtype, int threads) {
    if (dtype == ENG_DTYPE_F32) return new CpuQwen2<float>(shape, threads);
    if (dtype == ENG_DTYPE_F64) return new CpuQwen2<double>(shape, threads);
    throw Error(ENG_ERROR_UNSUPPORTED, "compute dtype must be F32 or F64, got " + std::to_string(dtype));
}

}  // namespace eng
