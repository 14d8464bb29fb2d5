// Opening the CUDA driver and cuBLASLt at run time (see cuda_api.hpp).
#include "cuda_api.hpp"

#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>
#include <mutex>
#include <sys/stat.h>

#include "qwen2.hpp"

namespace eng::cuda {
namespace {

bool is_directory(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Every path matching pattern, in glob's sorted order.
std::vector<std::string> expand(const std::string& pattern) {
    std::vector<std::string> out;
    glob_t g{};
    if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; i++) out.emplace_back(g.gl_pathv[i]);
    globfree(&g);
    return out;
}

template <typename F>
void bind(F& slot, void* library, const char* symbol, const std::string& path) {
    void* p = dlsym(library, symbol);
    if (!p) throw Error(ENG_ERROR_UNSUPPORTED, path + " has no symbol " + symbol + " (too old a version?)");
    slot = reinterpret_cast<F>(p);
}

void* open_driver(std::string& opened) {
    const char* name = "libcuda.so.1";
    void* lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char* why = dlerror();
        throw Error(ENG_ERROR_UNSUPPORTED, std::string("no CUDA driver: dlopen(libcuda.so.1) failed (") + (why ? why : "not found") +
                    "); searched the loader path (LD_LIBRARY_PATH, /etc/ld.so.cache, /lib, /usr/lib); install the NVIDIA driver");
    }
    opened = name;
    return lib;
}

std::vector<std::string> wheel_patterns();

void* open_blaslt(std::string& opened) {
    std::string tried;
    for (const std::string& candidate : cublaslt_candidates(std::getenv("ENG_CUBLASLT_PATH"))) {
        void* lib = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (lib) {
            opened = candidate;
            return lib;
        }
        tried += (tried.empty() ? "" : ", ") + candidate;
    }
    std::string patterns;
    for (const std::string& p : wheel_patterns()) patterns += (patterns.empty() ? "" : ", ") + p;
    throw Error(ENG_ERROR_UNSUPPORTED, "no cuBLASLt: tried " + tried + ", /usr/local/cuda*/lib64 and the wheel folders " + patterns +
                "; install the CUDA toolkit's libcublasLt or the nvidia-cublas Python wheel, or set ENG_CUBLASLT_PATH");
}

void load(Api& a) {
    void* d = open_driver(a.driver_path);
    const std::string& dp = a.driver_path;
    bind(a.cu.cuInit, d, "cuInit", dp);
    bind(a.cu.cuDeviceGetCount, d, "cuDeviceGetCount", dp);
    bind(a.cu.cuDeviceGet, d, "cuDeviceGet", dp);
    bind(a.cu.cuDeviceGetName, d, "cuDeviceGetName", dp);
    bind(a.cu.cuDevicePrimaryCtxRetain, d, "cuDevicePrimaryCtxRetain", dp);
    bind(a.cu.cuDevicePrimaryCtxRelease, d, "cuDevicePrimaryCtxRelease_v2", dp);
    bind(a.cu.cuCtxSetCurrent, d, "cuCtxSetCurrent", dp);
    bind(a.cu.cuStreamCreate, d, "cuStreamCreate", dp);
    bind(a.cu.cuStreamDestroy, d, "cuStreamDestroy_v2", dp);
    bind(a.cu.cuStreamSynchronize, d, "cuStreamSynchronize", dp);
    bind(a.cu.cuMemAlloc, d, "cuMemAlloc_v2", dp);
    bind(a.cu.cuMemFree, d, "cuMemFree_v2", dp);
    bind(a.cu.cuMemcpyHtoDAsync, d, "cuMemcpyHtoDAsync_v2", dp);
    bind(a.cu.cuMemcpyDtoHAsync, d, "cuMemcpyDtoHAsync_v2", dp);
    bind(a.cu.cuMemcpyDtoDAsync, d, "cuMemcpyDtoDAsync_v2", dp);
    bind(a.cu.cuMemsetD8Async, d, "cuMemsetD8Async", dp);
    bind(a.cu.cuModuleLoadData, d, "cuModuleLoadData", dp);
    bind(a.cu.cuModuleUnload, d, "cuModuleUnload", dp);
    bind(a.cu.cuModuleGetFunction, d, "cuModuleGetFunction", dp);
    bind(a.cu.cuLaunchKernel, d, "cuLaunchKernel", dp);
    bind(a.cu.cuGetErrorString, d, "cuGetErrorString", dp);
    bind(a.cu.cuEventCreate, d, "cuEventCreate", dp);
    bind(a.cu.cuEventRecord, d, "cuEventRecord", dp);
    bind(a.cu.cuEventSynchronize, d, "cuEventSynchronize", dp);
    bind(a.cu.cuEventElapsedTime, d, "cuEventElapsedTime", dp);
    bind(a.cu.cuEventDestroy, d, "cuEventDestroy_v2", dp);

    void* l = open_blaslt(a.blaslt_path);
    const std::string& lp = a.blaslt_path;
    bind(a.lt.cublasLtCreate, l, "cublasLtCreate", lp);
    bind(a.lt.cublasLtDestroy, l, "cublasLtDestroy", lp);
    bind(a.lt.cublasLtMatmulDescCreate, l, "cublasLtMatmulDescCreate", lp);
    bind(a.lt.cublasLtMatmulDescDestroy, l, "cublasLtMatmulDescDestroy", lp);
    bind(a.lt.cublasLtMatmulDescSetAttribute, l, "cublasLtMatmulDescSetAttribute", lp);
    bind(a.lt.cublasLtMatrixLayoutCreate, l, "cublasLtMatrixLayoutCreate", lp);
    bind(a.lt.cublasLtMatrixLayoutDestroy, l, "cublasLtMatrixLayoutDestroy", lp);
    bind(a.lt.cublasLtMatmulPreferenceCreate, l, "cublasLtMatmulPreferenceCreate", lp);
    bind(a.lt.cublasLtMatmulPreferenceDestroy, l, "cublasLtMatmulPreferenceDestroy", lp);
    bind(a.lt.cublasLtMatmulPreferenceSetAttribute, l, "cublasLtMatmulPreferenceSetAttribute", lp);
    bind(a.lt.cublasLtMatmulAlgoGetHeuristic, l, "cublasLtMatmulAlgoGetHeuristic", lp);
    bind(a.lt.cublasLtMatmul, l, "cublasLtMatmul", lp);
}

// Where pip puts cuBLASLt: the CUDA 13 wheel (nvidia/cu13/lib) and the CUDA 12 one (nvidia/cublas/lib).
std::vector<std::string> wheel_patterns() {
    std::vector<std::string> out;
    std::vector<std::string> roots = {"/usr/lib/python3*/site-packages", "/usr/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages",
                             "/usr/local/lib/python3*/dist-packages", "/opt/*/.venv/lib/python3*/site-packages"};
    // pip install --user puts wheels under the home folder.
    if (const char* home = std::getenv("HOME")) roots.push_back(std::string(home) + "/.local/lib/python3*/site-packages");
    for (const std::string& root : roots)
        for (const char* wheel : {"/nvidia/cu13/lib/libcublasLt.so.*", "/nvidia/cublas/lib/libcublasLt.so.*"})
            out.push_back(root + wheel);
    return out;
}

}  // namespace

std::vector<std::string> cublaslt_candidates(const char* env_value) {
    std::vector<std::string> out;
    if (env_value && *env_value) {
        const std::string v(env_value);
        out.push_back(is_directory(v) ? v + "/libcublasLt.so" : v);
        if (is_directory(v)) {
            out.push_back(v + "/libcublasLt.so.13");
            out.push_back(v + "/libcublasLt.so.12");
        }
    }
    out.emplace_back("libcublasLt.so.13");
    out.emplace_back("libcublasLt.so.12");
    // A CUDA toolkit outside the loader's path (its default install folder).
    for (const char* toolkit : {"/usr/local/cuda/lib64/libcublasLt.so.*", "/usr/local/cuda-*/lib64/libcublasLt.so.*"})
        for (const std::string& path : expand(toolkit)) out.push_back(path);
    for (const std::string& pattern : wheel_patterns())
        for (const std::string& path : expand(pattern)) out.push_back(path);
    return out;
}

const Api& api() {
    static std::mutex lock;
    static Api* loaded = nullptr;
    std::lock_guard<std::mutex> guard(lock);
    if (!loaded) {
        Api a{};
        load(a);
        loaded = new Api(a);
    }
    return *loaded;
}

void check(CUresult r, const char* what) {
    if (r == 0) return;
    const char* text = nullptr;
    if (api().cu.cuGetErrorString(r, &text) != 0 || !text) text = "unknown error";
    throw Error(ENG_ERROR_INTERNAL, std::string(what) + " failed: CUDA error " + std::to_string(r) + " (" + text + ")");
}

void check_blas(cublasStatus_t r, const char* what) {
    if (r != 0) throw Error(ENG_ERROR_INTERNAL, std::string(what) + " failed: cuBLASLt status " + std::to_string(r));
}

}  // namespace eng::cuda
