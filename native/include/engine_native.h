/*
 * engine_native.h: the C ABI of the native Qwen2 trainer.
 *
 * Rules (STYLE.md):
 * - Opaque handles, names eng_<object>_<verb>.
 * - Every function returns eng_status; nothing throws or exits across this boundary. The message of
 *   the last failure on the calling thread is copied out by eng_last_error(buf, len).
 * - Parameter order: outputs, inputs, dimensions, stream.
 * - No global state: a context owns the device and thread settings; a model belongs to a context;
 *   compute calls take an explicit stream. On the CPU a stream runs synchronously; on a CUDA device
 *   (ENG_DEVICE_CUDA) the stream wraps a CUstream and compute calls queue their work on it: calls that return
 *   host values (loss, norms, reads) wait for it; eng_stream_synchronize waits for the rest.
 * - Handles may be destroyed in any order (no destroy touches another object), but a model or stream must
 *   not be used after its context is destroyed. One model must not be used from two threads at once.
 *
 * Model: decoder-only Qwen2 (HF modeling_qwen2.py). Tensors use HF names and shapes; a model's
 * parameters and gradients are flat buffers of num_params elements of the model's compute dtype. The
 * AdamW moments cover the optimizer range: all num_params elements by default, or one contiguous shard
 * of them (ZeRO-1, eng_model_set_optimizer_range); their offsets are always those of the flat buffer.
 * Backward accumulates into the gradients with +=.
 *
 * Gradient accumulation in float64: after each micro-batch's backward, eng_model_accumulate_grads adds the
 * gradients into a float64 accumulator (and zeroes them); eng_model_flush_grads rounds it back once. Sums of a
 * few float32 terms are exact in float64, so a step's gradient does not depend on how its micro-batches are
 * split over accumulation steps and ranks, nor on the order ranks are summed in.
 *
 * Data parallelism (the caller runs the collectives, in place on the accumulator and eng_model_buffer_data):
 *   stage 0: all-reduce the accumulator, flush all of it, eng_model_adamw_step on every rank;
 *   stage 1: reduce-scatter the accumulator, flush the own shard, eng_model_grad_sqnorm of it summed over
 *   ranks gives the global norm, eng_model_adamw_update on the own shard with the clip coefficient,
 *   all-gather the parameters.
 *
 * CUDA (ENG_DEVICE_CUDA, device_ordinal = the GPU): the driver (libcuda.so.1) and cuBLASLt (libcublasLt.so.13/.12,
 * or a Python wheel's nvidia/cu13/lib or nvidia/cublas/lib, or $ENG_CUBLASLT_PATH) are opened when the context is
 * created; a machine without them gets ENG_ERROR_UNSUPPORTED with a message naming what is missing and where it
 * looked. Compute dtype ENG_DTYPE_F32 on CUDA means bf16 mixed precision: parameters (the fp32 master weights),
 * gradients, AdamW moments and activations are float32 on the device; every matrix product reads bf16 roundings of
 * its two inputs and accumulates in float32 (cuBLASLt, CUBLAS_COMPUTE_32F). ENG_DTYPE_F64 is refused on CUDA.
 * Buffers (eng_model_buffer_data) and the float64 gradient accumulator are device pointers; eng_model_read/write
 * copy through the host. The decoder is CPU-only (ENG_ERROR_UNSUPPORTED on a CUDA model). A run repeats its bits:
 * no reduction uses atomics.
 *
 * Decoding (eng_decoder): per-layer K/V caches for a batch of sequences over a model's parameters. Append the
 * prompts (any lengths, all at once), then one token per unfinished sequence per step; each append returns the
 * logits and the argmax of every grown sequence's last token. A cached step computes what a full forward over
 * the whole prefix computes (the same kernels in the same order per row), and sequences never affect each other.
 */
#ifndef ENGINE_NATIVE_H
#define ENGINE_NATIVE_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define ENG_API __declspec(dllexport)
#else
#define ENG_API __attribute__((visibility("default")))
#endif

#define ENG_ABI_VERSION 5

typedef enum eng_status {
    ENG_OK = 0,
    ENG_ERROR_INVALID_ARGUMENT = 1, /* a null pointer, a bad dimension, a token id outside the vocabulary */
    ENG_ERROR_OUT_OF_MEMORY = 2,    /* an allocation failed */
    ENG_ERROR_UNSUPPORTED = 3,      /* a device or dtype this build does not have */
    ENG_ERROR_INTERNAL = 4          /* anything else; the message says what */
} eng_status;

typedef enum eng_device_kind {
    ENG_DEVICE_CPU = 0,
    ENG_DEVICE_CUDA = 1
} eng_device_kind;

/* Element types, of the compute path and of buffers crossing the ABI. */
typedef enum eng_dtype {
    ENG_DTYPE_F32 = 0,
    ENG_DTYPE_F64 = 1, /* compute dtype for verification (finite differences, tight parity) */
    ENG_DTYPE_BF16 = 2 /* only for buffers crossing the ABI (weights on disk) */
} eng_dtype;

/* Which of a model's flat buffers a read or write addresses. */
typedef enum eng_buffer {
    ENG_BUFFER_PARAMS = 0,
    ENG_BUFFER_GRADS = 1,
    ENG_BUFFER_ADAM_M = 2,
    ENG_BUFFER_ADAM_V = 3
} eng_buffer;

typedef struct eng_context eng_context;
typedef struct eng_stream eng_stream;
typedef struct eng_model eng_model;
typedef struct eng_decoder eng_decoder;

typedef struct eng_context_options {
    int32_t device_kind;    /* eng_device_kind */
    int32_t device_ordinal; /* GPU index; 0 on the CPU */
    int32_t num_threads;    /* CPU threads for every call in this context; <= 0 = OpenMP's default */
} eng_context_options;

typedef struct eng_model_config {
    int32_t vocab_size;
    int32_t hidden_size;
    int32_t intermediate_size;
    int32_t num_layers;
    int32_t num_heads;
    int32_t num_kv_heads;       /* divides num_heads */
    int32_t head_dim;           /* <= 0: hidden_size / num_heads; must be even */
    int32_t tie_word_embeddings;/* nonzero: lm_head is the embedding */
    double rms_norm_eps;
    double rope_theta;
    int32_t compute_dtype;      /* ENG_DTYPE_F32 (training; bf16 mixed precision on CUDA) or ENG_DTYPE_F64 (verification, CPU only) */
    int32_t loss_chunk_tokens;  /* tokens per classifier chunk; <= 0: 64. Bounds the logits buffer to chunk x vocab */
} eng_model_config;

/* One packed micro-batch: documents laid end to end in one row. Each document attends only to itself
 * (block-diagonal causal mask) and its positions start at 0. Token t of a document is scored against
 * labels[t + 1] of the same document (labels shifted left); -100 means no loss. */
typedef struct eng_batch {
    const int32_t* tokens;    /* (num_tokens) */
    const int32_t* labels;    /* (num_tokens), aligned with tokens, -100 = ignored */
    const int32_t* doc_lengths; /* (num_docs), positive, summing to num_tokens */
    int32_t num_tokens;
    int32_t num_docs;
} eng_batch;

typedef struct eng_adamw_options {
    double lr;
    double beta1;
    double beta2;
    double eps;
    double weight_decay;  /* decoupled; applied to matrices only, not to biases and norm weights (HF Trainer's rule) */
    double max_grad_norm; /* <= 0: no clipping */
    int64_t step;         /* 1-based step number, for bias correction */
} eng_adamw_options;

typedef struct eng_tensor_info {
    char name[96];      /* HF name, NUL-terminated */
    int64_t offset;     /* element offset in each flat buffer */
    int64_t numel;
    int32_t ndim;
    int32_t shape[2];
    int32_t weight_decay; /* nonzero when AdamW decays it */
} eng_tensor_info;

ENG_API int32_t eng_abi_version(void);

/* Copies the calling thread's last error message (NUL-terminated, truncated to len) into buf.
 * Returns the full message length in bytes (without the NUL). */
ENG_API int32_t eng_last_error(char* buf, int32_t len);

ENG_API eng_status eng_context_create(eng_context** out, const eng_context_options* options);
ENG_API void eng_context_destroy(eng_context* ctx);

ENG_API eng_status eng_stream_create(eng_stream** out, eng_context* ctx);
ENG_API eng_status eng_stream_synchronize(eng_stream* stream);
ENG_API void eng_stream_destroy(eng_stream* stream);
/* The CUstream of a stream (NULL on the CPU), so that NCCL can queue collectives on it. */
ENG_API eng_status eng_stream_native_handle(void** out, eng_stream* stream);

/* Makes the context's GPU (its primary context, which the CUDA runtime and NCCL share) current on the calling
 * thread, as a library that binds to the current device needs before it is called (ncclCommInitRank); nothing on
 * the CPU. (ABI 5) */
ENG_API eng_status eng_context_make_current(eng_context* ctx);

/* One op's parity check (eng_context_check_op). */
typedef struct eng_op_check {
    char op[32];             /* embedding, rmsnorm, rope, attention, swiglu, linear, classifier_ce, adamw */
    double forward_max_abs_error, forward_max_rel_error;   /* device vs the CPU fp32 reference */
    double backward_max_abs_error, backward_max_rel_error;
    double tolerance;        /* the bf16 tolerance the op is judged by */
    int32_t passed;
} eng_op_check;
ENG_API int32_t eng_op_check_count(void);
/* Runs op `index` forward and backward on random inputs from seed on ctx's device and on the CPU fp32 path.
 * Relative errors are the largest absolute error over the largest |reference| of the op's outputs (forward) or
 * gradients (backward); passed = both within tolerance. On a CPU context the fp32 ops are compared with the same
 * code in float64 (so the check runs, and must pass, without a GPU). */
ENG_API eng_status eng_context_check_op(eng_op_check* out, eng_context* ctx, int32_t index, uint64_t seed);

/* Allocates parameters (zero), gradients (zero) and AdamW state (zero). */
ENG_API eng_status eng_model_create(eng_model** out, eng_context* ctx, const eng_model_config* config);
ENG_API void eng_model_destroy(eng_model* model);

ENG_API eng_status eng_model_num_params(int64_t* out, const eng_model* model);
ENG_API eng_status eng_model_tensor_count(int32_t* out, const eng_model* model);
ENG_API eng_status eng_model_tensor_info(eng_tensor_info* out, const eng_model* model, int32_t index);

/* Writes count elements of src (of src_dtype: F32, F64 or BF16) into a flat buffer at offset. */
ENG_API eng_status eng_model_write(eng_model* model, int32_t buffer, const void* src, int32_t src_dtype,
                                   int64_t offset, int64_t count, eng_stream* stream);
/* Reads count elements at offset of a flat buffer into dst, converted to dst_dtype (F32 or F64). */
ENG_API eng_status eng_model_read(void* dst, int32_t dst_dtype, const eng_model* model, int32_t buffer,
                                  int64_t offset, int64_t count, eng_stream* stream);

ENG_API eng_status eng_model_zero_grads(eng_model* model, eng_stream* stream);

/* Forward over one packed micro-batch, then (when backward != 0) backward, adding
 * loss_scale * d(sum of token losses)/d(params) into the gradients. For a step of several micro-batches
 * pass loss_scale = 1 / (valid tokens of the whole step), so the gradient is that of the step's mean loss.
 * Outputs: loss_sum = sum of the token losses (float64), valid_tokens = tokens with a label;
 * token_losses (nullable, num_tokens floats): the loss of each token against its shifted label, 0 where none. */
ENG_API eng_status eng_model_forward_backward(double* loss_sum, int64_t* valid_tokens, float* token_losses,
                                              eng_model* model, const eng_batch* batch, double loss_scale,
                                              int32_t backward, eng_stream* stream);

/* Forward only: the logits of every token of the batch, (num_tokens, vocab_size) in logits_dtype (F32 or F64),
 * into logits. The batch's labels are checked but not used. */
ENG_API eng_status eng_model_logits(void* logits, int32_t logits_dtype, eng_model* model, const eng_batch* batch,
                                    eng_stream* stream);

/* A decoder of up to max_sequences sequences of up to max_tokens tokens each (prompt and generated), all empty.
 * It reads the model's parameters as they are at each append (after changing them, reset) and must be destroyed
 * before the model; the two must not be used from two threads at once. */
ENG_API eng_status eng_decoder_create(eng_decoder** out, eng_model* model, int32_t max_sequences, int32_t max_tokens);
ENG_API void eng_decoder_destroy(eng_decoder* decoder);

/* Empties every sequence, keeping the caches' memory. */
ENG_API eng_status eng_decoder_reset(eng_decoder* decoder);

/* Appends counts[s] tokens to sequence s, for s < num_sequences (<= max_sequences): tokens holds them sequence
 * after sequence (sum of counts entries); 0 leaves a sequence as it is. For every sequence that grew, row s of
 * logits ((num_sequences, vocab_size) in logits_dtype, F32 or F64; nullable) receives the logits of its last new
 * token, and next_tokens[s] (nullable) their argmax, the lowest id on ties; next_tokens is -1 for the others and
 * their logits rows are not written. A sequence may not grow past max_tokens. */
ENG_API eng_status eng_decoder_append(void* logits, int32_t logits_dtype, int32_t* next_tokens, eng_decoder* decoder,
                                      const int32_t* tokens, const int32_t* counts, int32_t num_sequences,
                                      eng_stream* stream);

/* Tokens sequence holds so far. */
ENG_API eng_status eng_decoder_length(int32_t* out, const eng_decoder* decoder, int32_t sequence);

/* Clips by the global gradient norm (when max_grad_norm > 0) and applies one AdamW step. The gradients are
 * left unchanged (the clip coefficient is applied on the fly); grad_norm receives the norm before clipping. */
ENG_API eng_status eng_model_adamw_step(double* grad_norm, eng_model* model, const eng_adamw_options* options,
                                        eng_stream* stream);

/* Narrows (or widens) the AdamW moments to [offset, offset + count) of the flat buffer and zeroes them.
 * ZeRO-1: each rank keeps the optimizer state of its own shard only. */
ENG_API eng_status eng_model_set_optimizer_range(eng_model* model, int64_t offset, int64_t count);
ENG_API eng_status eng_model_optimizer_range(int64_t* offset, int64_t* count, const eng_model* model);

/* The address of a flat buffer's first element (for ADAM_M / ADAM_V: of the optimizer range's first
 * element), in the model's compute dtype: host memory on the CPU, device memory on a GPU. Valid until the
 * model is destroyed or its optimizer range changes; collectives read and write it in place. */
ENG_API eng_status eng_model_buffer_data(void** out, eng_model* model, int32_t buffer);

/* The float64 gradient accumulator (num_params doubles, allocated on first use): host memory on the CPU, device
 * memory on a GPU. */
ENG_API eng_status eng_model_grad_accumulator(double** out, eng_model* model);

/* accumulator += gradients; gradients = 0. */
ENG_API eng_status eng_model_accumulate_grads(eng_model* model, eng_stream* stream);

/* gradients[offset, offset + count) = accumulator rounded to the compute dtype; then the whole accumulator = 0. */
ENG_API eng_status eng_model_flush_grads(eng_model* model, int64_t offset, int64_t count, eng_stream* stream);

/* Sum of squared gradients over [offset, offset + count), in float64 (fixed blocks, thread-count independent). */
ENG_API eng_status eng_model_grad_sqnorm(double* out, const eng_model* model, int64_t offset, int64_t count,
                                         eng_stream* stream);

/* One AdamW step on [offset, offset + count), which must lie inside the optimizer range, with every gradient
 * multiplied by grad_scale (the clip coefficient the caller derived from the global norm; 1 = none).
 * max_grad_norm of options is ignored here. */
ENG_API eng_status eng_model_adamw_update(eng_model* model, const eng_adamw_options* options, double grad_scale,
                                          int64_t offset, int64_t count, eng_stream* stream);

/* Bytes of activations (saved for backward, scratch, the classifier chunk) a CPU model of this config allocates for
 * a micro-batch of num_tokens tokens: for planning memory before creating the model. For a CUDA model see
 * eng_config_working_bytes. */
ENG_API eng_status eng_config_activation_bytes(int64_t* out, const eng_model_config* config, int64_t num_tokens);

/* Bytes a model of this config on device_kind (eng_device_kind) allocates for micro-batches of up to num_tokens
 * tokens besides its flat buffers (parameters, gradients, AdamW moments, the float64 accumulator): on the CPU its
 * activations (as eng_config_activation_bytes); on CUDA, in device memory, the fp32 activations (the CPU layout),
 * the bf16 scratch of one GEMM input and one output gradient or logits chunk, the batch's int32 arrays, the bf16
 * copy of the weights, the gradient norm's partial sums and the context's cuBLASLt workspace. (ABI 5) */
ENG_API eng_status eng_config_working_bytes(int64_t* out, const eng_model_config* config, int64_t num_tokens, int32_t device_kind);

/* Op profiling (ABI 5). While on, a model records every op it runs: its name, decoder layer (-1 outside the
 * layers), pass, start (microseconds after the first record's start) and duration. On the CPU each op of
 * forward, backward, the classifier chunks and the optimizer is timed with the host's steady clock; on CUDA each
 * kernel launch and cuBLASLt GEMM is timed by a pair of CUDA events recorded on the model's stream (the records
 * are read after the stream's work has run), so the durations are GPU time. Off (the default), nothing is
 * recorded and no event is created: a normal run is unchanged. */
typedef enum eng_profile_pass {
    ENG_PROFILE_FORWARD = 0,
    ENG_PROFILE_BACKWARD = 1,
    ENG_PROFILE_LOSS = 2,      /* the classifier and cross-entropy, forward and backward per chunk */
    ENG_PROFILE_OPTIMIZER = 3  /* gradient accumulation, flush, norm, AdamW */
} eng_profile_pass;

typedef struct eng_profile_record {
    char op[32];          /* the op (CPU) or kernel (CUDA: the kernel's name, or "gemm_bf16"), NUL-terminated */
    int32_t layer;
    int32_t pass;         /* eng_profile_pass */
    double start_microseconds;
    double duration_microseconds;
} eng_profile_record;

/* Turns profiling on (enabled != 0) or off; either way the records so far are dropped. */
ENG_API eng_status eng_model_set_profiling(eng_model* model, int32_t enabled, eng_stream* stream);

/* Copies up to capacity records (in the order the ops ran) into records (nullable when capacity is 0) and sets
 * count to the number recorded since profiling was turned on. Waits for the stream's queued work. */
ENG_API eng_status eng_model_profile_read(eng_profile_record* records, int32_t* count, eng_model* model, int32_t capacity,
                                          eng_stream* stream);

/* sizeof of each ABI struct, so a binding can check its layouts against this build's. */
typedef struct eng_abi_sizes {
    int32_t context_options;
    int32_t model_config;
    int32_t batch;
    int32_t adamw_options;
    int32_t tensor_info;
    int32_t op_check;
    int32_t profile_record; /* ABI 5 */
} eng_abi_sizes;
ENG_API void eng_abi_struct_sizes(eng_abi_sizes* out);

#ifdef __cplusplus
}
#endif

#endif
