// The CPU decoder (see decoder.hpp): the trainer's forward for new tokens only, keys and values kept per layer.
#include "decoder.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "ops_attention.hpp"
#include "ops_linear.hpp"
#include "ops_pointwise.hpp"
#include "qwen2_weights.hpp"

namespace eng {

namespace {

template <typename T>
class CpuDecoder final : public Decoder {
public:
    CpuDecoder(const ModelShape& s, const std::vector<TensorSlot>& layout, const T* params, int threads, int64_t S, int64_t Tmax)
        : s_(s), layout_(layout), params_(const_cast<T*>(params)), threads_(threads), S_(S), Tmax_(Tmax) {
        if (S <= 0 || Tmax <= 0)
            throw Error(ENG_ERROR_INVALID_ARGUMENT, "decoder: max_sequences and max_tokens must be positive, got " +
                        std::to_string(S) + " and " + std::to_string(Tmax));
        const int64_t per_layer = S * Tmax * s.KV * s.D;
        k_cache_.assign((size_t)(s.L * per_layer), T(0));
        v_cache_.assign((size_t)(s.L * per_layer), T(0));
        lengths_.assign((size_t)S, 0);
    }

    void reset() override { std::fill(lengths_.begin(), lengths_.end(), 0); }

    int64_t length(int64_t sequence) const override {
        if (sequence < 0 || sequence >= S_)
            throw Error(ENG_ERROR_INVALID_ARGUMENT, "decoder: sequence " + std::to_string(sequence) + " is outside [0, " + std::to_string(S_) + ")");
        return lengths_[(size_t)sequence];
    }

    void append(void* logits, int logits_dtype, int32_t* next_tokens, const int32_t* tokens, const int32_t* counts,
                int64_t num_sequences) override {
        const int64_t N = plan(tokens, counts, num_sequences, logits_dtype, logits != nullptr);
        if (next_tokens) std::fill(next_tokens, next_tokens + num_sequences, -1);
        if (N == 0) return;
        ensure_scratch(N);
        forward(tokens, N);
        classify(logits, logits_dtype, next_tokens);
        for (int64_t q = 0; q < num_sequences; q++) lengths_[(size_t)q] += counts[q];
    }

private:
    // Checks the call and lays out the new tokens: sequence and position of each, and the row of each sequence's
    // last one. Returns the number of new tokens.
    int64_t plan(const int32_t* tokens, const int32_t* counts, int64_t num_sequences, int logits_dtype, bool want_logits) {
        if (num_sequences < 1 || num_sequences > S_)
            throw Error(ENG_ERROR_INVALID_ARGUMENT, "decoder: num_sequences " + std::to_string(num_sequences) +
                        " is outside [1, " + std::to_string(S_) + "] (max_sequences)");
        if (!counts) throw Error(ENG_ERROR_INVALID_ARGUMENT, "decoder: counts is null");
        if (want_logits && logits_dtype != ENG_DTYPE_F32 && logits_dtype != ENG_DTYPE_F64)
            throw Error(ENG_ERROR_INVALID_ARGUMENT, "decoder: logits dtype must be F32 or F64, got " + std::to_string(logits_dtype));
        seq_.clear();
        pos_.clear();
        last_.clear();
        last_seq_.clear();
        for (int64_t q = 0; q < num_sequences; q++) {
            const int64_t c = counts[q], len = lengths_[(size_t)q];
            if (c < 0 || c > Tmax_ - len)
                throw Error(ENG_ERROR_INVALID_ARGUMENT, "decoder: sequence " + std::to_string(q) + " holds " + std::to_string(len) +
                            " tokens; appending " + std::to_string(c) + " would pass max_tokens " + std::to_string(Tmax_));
            for (int64_t t = 0; t < c; t++) {
                seq_.push_back((int32_t)q);
                pos_.push_back((int32_t)(len + t));
            }
            if (c > 0) {
                last_.push_back((int64_t)seq_.size() - 1);
                last_seq_.push_back(q);
            }
        }
        const int64_t N = (int64_t)seq_.size();
        if (N > 0 && !tokens) throw Error(ENG_ERROR_INVALID_ARGUMENT, "decoder: tokens is null");
        for (int64_t i = 0; i < N; i++) {
            if (tokens[i] < 0 || tokens[i] >= s_.V)
                throw Error(ENG_ERROR_INVALID_ARGUMENT, "decoder: token " + std::to_string(i) + " is " + std::to_string(tokens[i]) +
                            ", outside the vocabulary [0, " + std::to_string(s_.V) + ")");
        }
        return N;
    }

    void ensure_scratch(int64_t N) {
        if (N <= capacity_) return;
        const int64_t C = s_.C, HD = s_.H * s_.D, KD = s_.KV * s_.D;
        scratch_.assign((size_t)(N * (3 * C + 2 * HD + 2 * KD + 3 * s_.I + 1 + s_.D)), T(0));
        T* p = scratch_.data();
        auto take = [&](int64_t n) { T* r = p; p += n; return r; };
        x_ = take(N * C); ln_ = take(N * C); res2_ = take(N * C);
        q_ = take(N * HD); att_ = take(N * HD); k_ = take(N * KD); v_ = take(N * KD);
        gate_ = take(N * s_.I); up_ = take(N * s_.I); h_ = take(N * s_.I);
        rstd_ = take(N); cos_ = take(N * s_.D / 2); sin_ = take(N * s_.D / 2);
        capacity_ = N;
    }

    // The trainer's forward (qwen2.cpp), op for op, with attention over the caches; leaves the last layer's output in x_.
    void forward(const int32_t* tokens, int64_t N) {
        const int64_t C = s_.C, I = s_.I, H = s_.H, KV = s_.KV, D = s_.D, KD = KV * D;
        const int th = threads_;
        rope_tables(cos_, sin_, pos_.data(), N, D, s_.theta, th);
        embedding_forward(x_, tokens, params_, N, C, th);
        for (int64_t l = 0; l < s_.L; l++) {
            const LayerView<T> w = layer_view(params_, layout_, l);
            T* kc = k_cache_.data() + l * S_ * Tmax_ * KD;
            T* vc = v_cache_.data() + l * S_ * Tmax_ * KD;
            rmsnorm_forward(ln_, rstd_, x_, w.ln1, N, C, s_.eps, th);
            matmul_forward(q_, ln_, w.wq, w.bq, N, C, H * D, th);
            matmul_forward(k_, ln_, w.wk, w.bk, N, C, KD, th);
            matmul_forward(v_, ln_, w.wv, w.bv, N, C, KD, th);
            rope_forward(q_, cos_, sin_, N, H, D, th);
            rope_forward(k_, cos_, sin_, N, KV, D, th);
            for (int64_t n = 0; n < N; n++) {
                const int64_t at = ((int64_t)seq_[(size_t)n] * Tmax_ + pos_[(size_t)n]) * KD;
                std::memcpy(kc + at, k_ + n * KD, (size_t)KD * sizeof(T));
                std::memcpy(vc + at, v_ + n * KD, (size_t)KD * sizeof(T));
            }
            attention_cached_forward(att_, q_, kc, vc, seq_.data(), pos_.data(), N, H, KV, D, Tmax_, th);
            matmul_forward(res2_, att_, w.wo, (const T*)nullptr, N, H * D, C, th);
            add_inplace(res2_, x_, N * C);
            rmsnorm_forward(ln_, rstd_, res2_, w.ln2, N, C, s_.eps, th);
            matmul_forward(gate_, ln_, w.wg, (const T*)nullptr, N, C, I, th);
            matmul_forward(up_, ln_, w.wu, (const T*)nullptr, N, C, I, th);
            swiglu_forward(h_, gate_, up_, N * I, th);
            matmul_forward(x_, h_, w.wd, (const T*)nullptr, N, I, C, th);
            add_inplace(x_, res2_, N * C);
        }
    }

    // Final norm and classifier for each grown sequence's last token only; argmax in id order.
    void classify(void* logits, int logits_dtype, int32_t* next_tokens) {
        const int64_t A = (int64_t)last_.size(), C = s_.C, V = s_.V;
        for (int64_t a = 0; a < A; a++) std::memcpy(res2_ + a * C, x_ + last_[(size_t)a] * C, (size_t)C * sizeof(T));
        rmsnorm_forward(ln_, rstd_, res2_, final_norm_view(params_, layout_, s_), A, C, s_.eps, threads_);
        logits_.resize((size_t)(A * V));
        matmul_forward(logits_.data(), ln_, classifier_view(params_, layout_, s_), (const T*)nullptr, A, C, V, threads_);
        for (int64_t a = 0; a < A; a++) {
            const T* row = logits_.data() + a * V;
            const int64_t q = last_seq_[(size_t)a];
            if (logits) store_as(logits, logits_dtype, q * V, row, V);
            if (next_tokens) next_tokens[q] = (int32_t)(std::max_element(row, row + V) - row);
        }
    }

    void add_inplace(T* dst, const T* src, int64_t n) {
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (int64_t i = 0; i < n; i++) dst[i] += src[i];
    }

    ModelShape s_;
    const std::vector<TensorSlot>& layout_;
    T* params_;  // the model's; never written here (the views are typed for both parameters and gradients)
    int threads_;
    int64_t S_, Tmax_;
    std::vector<T> k_cache_, v_cache_;  // (L, S, Tmax, KV, D)
    std::vector<int64_t> lengths_;
    std::vector<T> scratch_, logits_;
    int64_t capacity_ = 0;
    T *x_ = nullptr, *ln_ = nullptr, *res2_ = nullptr, *q_ = nullptr, *att_ = nullptr, *k_ = nullptr, *v_ = nullptr;
    T *gate_ = nullptr, *up_ = nullptr, *h_ = nullptr, *rstd_ = nullptr, *cos_ = nullptr, *sin_ = nullptr;
    std::vector<int32_t> seq_, pos_;
    std::vector<int64_t> last_, last_seq_;
};

}  // namespace

template <typename T>
Decoder* create_cpu_decoder(const ModelShape& s, const std::vector<TensorSlot>& layout, const T* params, int threads,
                            int64_t max_sequences, int64_t max_tokens) {
    return new CpuDecoder<T>(s, layout, params, threads, max_sequences, max_tokens);
}

template Decoder* create_cpu_decoder<float>(const ModelShape&, const std::vector<TensorSlot>&, const float*, int, int64_t, int64_t);
template Decoder* create_cpu_decoder<double>(const ModelShape&, const std::vector<TensorSlot>&, const double*, int, int64_t, int64_t);

}  // namespace eng
