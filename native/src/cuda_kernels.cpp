// One GPU: context, embedded PTX modules, launches and the cuBLASLt GEMM (see cuda_kernels.hpp).
#include "cuda_kernels.hpp"

#include "qwen2.hpp"

namespace eng::cuda {
namespace {

// The largest power of two (up to 256) dividing the address: what cuBLASLt may assume about a pointer.
uint32_t alignment_of(const void* p) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    uint32_t align = 256;
    while (align > 1 && a % align != 0) align >>= 1;
    return align;
}

}  // namespace

Device::Device(int ordinal) : api_(eng::cuda::api()), ordinal_(ordinal) {
    const Driver& cu = api_.cu;
    const CUresult init = cu.cuInit(0);
    if (init != 0)
        throw Error(ENG_ERROR_UNSUPPORTED, "cuInit failed with CUDA error " + std::to_string(init) + " (" + api_.driver_path +
                    " loaded, but no usable GPU: check nvidia-smi and CUDA_VISIBLE_DEVICES)");
    int count = 0;
    check(cu.cuDeviceGetCount(&count), "cuDeviceGetCount");
    if (ordinal < 0 || ordinal >= count)
        throw Error(ENG_ERROR_UNSUPPORTED, "no GPU " + std::to_string(ordinal) + ": the driver sees " + std::to_string(count) +
                    " GPU(s) (CUDA_VISIBLE_DEVICES limits them)");
    check(cu.cuDeviceGet(&device_, ordinal), "cuDeviceGet");
    char name[256] = {0};
    check(cu.cuDeviceGetName(name, (int)sizeof name - 1, device_), "cuDeviceGetName");
    name_ = name;
    check(cu.cuDevicePrimaryCtxRetain(&context_, device_), "cuDevicePrimaryCtxRetain");
    try {
        bind();
        for (int i = 0; i < kTrainerModuleCount; i++) {
            CUmodule module = nullptr;
            const CUresult r = cu.cuModuleLoadData(&module, kTrainerModules[i].text);
            if (r != 0) throw Error(ENG_ERROR_INTERNAL, std::string("loading the trainer's PTX module ") + kTrainerModules[i].name +
                                    " failed: CUDA error " + std::to_string(r) + " (the driver may be too old for PTX ISA 7.5)");
            modules_.push_back(module);
        }
        check_blas(api_.lt.cublasLtCreate(&blaslt_), "cublasLtCreate");
        workspace_ = alloc(workspace_bytes_);
    } catch (...) {
        for (CUmodule m : modules_) cu.cuModuleUnload(m);
        if (blaslt_) api_.lt.cublasLtDestroy(blaslt_);
        cu.cuDevicePrimaryCtxRelease(device_);
        throw;
    }
}

Device::~Device() {
    if (api_.cu.cuCtxSetCurrent(context_) != 0) return;  // a broken context: leave its memory to the driver
    if (workspace_) api_.cu.cuMemFree(workspace_);
    if (blaslt_) api_.lt.cublasLtDestroy(blaslt_);
    for (CUmodule m : modules_) api_.cu.cuModuleUnload(m);
    api_.cu.cuDevicePrimaryCtxRelease(device_);
}

void Device::bind() const { check(api_.cu.cuCtxSetCurrent(context_), "cuCtxSetCurrent"); }

CUdeviceptr Device::alloc(size_t bytes) const {
    CUdeviceptr p = 0;
    const CUresult r = api_.cu.cuMemAlloc(&p, bytes);
    if (r == 2 /* CUDA_ERROR_OUT_OF_MEMORY */)
        throw Error(ENG_ERROR_OUT_OF_MEMORY, "GPU " + std::to_string(ordinal_) + " (" + name_ + ") is out of memory allocating " +
                    std::to_string(bytes) + " bytes");
    check(r, "cuMemAlloc");
    return p;
}

void Device::free(CUdeviceptr p) const { api_.cu.cuMemFree(p); }

void Device::launch_raw(const char* name, int64_t grid, int block, CUstream stream, void** params) const {
    if (grid <= 0) return;
    CUfunction& f = const_cast<std::unordered_map<std::string, CUfunction>&>(functions_)[name];
    if (!f) {
        for (CUmodule m : modules_)
            if (api_.cu.cuModuleGetFunction(&f, m, name) == 0) break;
        if (!f) throw Error(ENG_ERROR_INTERNAL, std::string("kernel ") + name + " is in none of the trainer's PTX modules");
    }
    if (grid > 0x7fffffffLL) throw Error(ENG_ERROR_INVALID_ARGUMENT, std::string(name) + ": grid of " + std::to_string(grid) + " blocks is too large");
    OpScope timed(profiler_, name);
    check(api_.cu.cuLaunchKernel(f, (unsigned)grid, 1, 1, (unsigned)block, 1, 1, 0, stream, params, nullptr), name);
}

void Device::gemm(float* D, const uint16_t* A, const uint16_t* B, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                  int64_t lda, int64_t ldb, int64_t ldd, float beta, CUstream stream) const {
    if (m <= 0 || n <= 0) return;
    const BlasLt& lt = api_.lt;
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
    cublasLtMatmulPreference_t pref = nullptr;
    auto release = [&] {
        if (pref) lt.cublasLtMatmulPreferenceDestroy(pref);
        if (ld) lt.cublasLtMatrixLayoutDestroy(ld);
        if (lb) lt.cublasLtMatrixLayoutDestroy(lb);
        if (la) lt.cublasLtMatrixLayoutDestroy(la);
        if (desc) lt.cublasLtMatmulDescDestroy(desc);
    };
    try {
        check_blas(lt.cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
        check_blas(lt.cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a), "set TRANSA");
        check_blas(lt.cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof trans_b), "set TRANSB");
        // Stored shapes (column-major): A is m x k, or k x m when transposed; B is k x n, or n x k.
        const bool ta = trans_a == CUBLAS_OP_T, tb = trans_b == CUBLAS_OP_T;
        check_blas(lt.cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, ta ? k : m, ta ? m : k, lda), "layout A");
        check_blas(lt.cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, tb ? n : k, tb ? k : n, ldb), "layout B");
        check_blas(lt.cublasLtMatrixLayoutCreate(&ld, CUDA_R_32F, m, n, ldd), "layout D");
        const uint32_t align_a = alignment_of(A), align_b = alignment_of(B), align_d = alignment_of(D);
        const auto key = std::make_tuple(trans_a, trans_b, m, n, k, lda, ldb, ldd, align_a, align_b, align_d);
        auto found = algos_.find(key);
        if (found == algos_.end()) {
            check_blas(lt.cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
            const uint64_t ws = workspace_bytes_;
            check_blas(lt.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws),
                       "set MAX_WORKSPACE_BYTES");
            const uint32_t aligns[4] = {align_a, align_b, align_d, align_d};
            for (int i = 0; i < 4; i++)
                check_blas(lt.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES + i, &aligns[i],
                                                                   sizeof aligns[i]),
                           "set MIN_ALIGNMENT");
            cublasLtMatmulHeuristicResult_t result{};
            int returned = 0;
            check_blas(lt.cublasLtMatmulAlgoGetHeuristic(blaslt_, desc, la, lb, ld, ld, pref, 1, &result, &returned),
                       "cublasLtMatmulAlgoGetHeuristic");
            if (returned < 1)
                throw Error(ENG_ERROR_INTERNAL, "cuBLASLt has no algorithm for a bf16 GEMM of m=" + std::to_string(m) + " n=" +
                            std::to_string(n) + " k=" + std::to_string(k));
            found = algos_.emplace(key, result.algo).first;
        }
        const float alpha = 1.0f;
        OpScope timed(profiler_, "gemm_bf16");
        check_blas(lt.cublasLtMatmul(blaslt_, desc, &alpha, A, la, B, lb, &beta, D, ld, D, ld, &found->second,
                                     reinterpret_cast<void*>(workspace_), workspace_bytes_, stream),
                   "cublasLtMatmul");
    } catch (...) {
        release();
        throw;
    }
    release();
}

namespace {

class EventClock final : public StampClock {
public:
    EventClock(const Device& d, const CUstream* stream) : d_(d), stream_(stream) {}

    ~EventClock() override {
        try {
            d_.bind();
        } catch (...) {
            return;  // no context: the events go with it
        }
        for (CUevent e : events_) d_.api().cu.cuEventDestroy(e);
    }

    void reset() override { used_ = 0; }

    int64_t stamp() override {
        if (used_ == events_.size()) {
            CUevent e = nullptr;
            check(d_.api().cu.cuEventCreate(&e, 0), "cuEventCreate");
            events_.push_back(e);
        }
        check(d_.api().cu.cuEventRecord(events_[used_], *stream_), "cuEventRecord");
        return (int64_t)used_++;
    }

    std::vector<double> microseconds() override {
        std::vector<double> us(used_, 0.0);
        if (used_ == 0) return us;
        check(d_.api().cu.cuEventSynchronize(events_[used_ - 1]), "cuEventSynchronize");
        for (size_t i = 1; i < used_; i++) {
            float ms = 0;
            check(d_.api().cu.cuEventElapsedTime(&ms, events_[0], events_[i]), "cuEventElapsedTime");
            us[i] = 1000.0 * (double)ms;
        }
        return us;
    }

private:
    const Device& d_;
    const CUstream* stream_;
    std::vector<CUevent> events_;
    size_t used_ = 0;
};

}  // namespace

std::unique_ptr<StampClock> make_event_clock(const Device& d, const CUstream* stream) { return std::make_unique<EventClock>(d, stream); }

void upload(const Device& d, void* dst, const void* src, size_t bytes, CUstream stream) {
    if (bytes) check(d.api().cu.cuMemcpyHtoDAsync(reinterpret_cast<CUdeviceptr>(dst), src, bytes, stream), "cuMemcpyHtoDAsync");
}

void download(const Device& d, void* dst, const void* src, size_t bytes, CUstream stream) {
    if (bytes) check(d.api().cu.cuMemcpyDtoHAsync(dst, reinterpret_cast<CUdeviceptr>(src), bytes, stream), "cuMemcpyDtoHAsync");
}

void zero_async(const Device& d, void* dst, size_t bytes, CUstream stream) {
    if (bytes) check(d.api().cu.cuMemsetD8Async(reinterpret_cast<CUdeviceptr>(dst), 0, bytes, stream), "cuMemsetD8Async");
}

void synchronize(const Device& d, CUstream stream) { check(d.api().cu.cuStreamSynchronize(stream), "cuStreamSynchronize"); }

}  // namespace eng::cuda
