// The CUDA driver API and cuBLASLt as the CUDA trainer uses them, declared here (no CUDA SDK on the build or CI
// machines) and opened at run time with dlopen: a machine without a GPU still loads the library, and only creating
// a CUDA context asks for the driver and cuBLASLt, failing with a message that names what is missing and every
// place that was searched. Only the handful of types, constants and functions used are declared; their values are
// those of cuda.h, library_types.h, cublas_api.h and cublasLt.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace eng::cuda {

typedef int CUresult;  // CUDA_SUCCESS = 0
typedef int CUdevice;
typedef struct CUctx_st* CUcontext;
typedef struct CUstream_st* CUstream;
typedef struct CUmod_st* CUmodule;
typedef struct CUfunc_st* CUfunction;
typedef struct CUevent_st* CUevent;
typedef unsigned long long CUdeviceptr;

typedef int cublasStatus_t;  // CUBLAS_STATUS_SUCCESS = 0
typedef struct cublasLtContext* cublasLtHandle_t;
typedef struct cublasLtMatmulDescOpaque_t* cublasLtMatmulDesc_t;
typedef struct cublasLtMatrixLayoutOpaque_t* cublasLtMatrixLayout_t;
typedef struct cublasLtMatmulPreferenceOpaque_t* cublasLtMatmulPreference_t;

struct cublasLtMatmulAlgo_t {
    uint64_t data[8];
};

struct cublasLtMatmulHeuristicResult_t {
    cublasLtMatmulAlgo_t algo;
    size_t workspaceSize;
    cublasStatus_t state;
    float wavesCount;
    int reserved[4];
};

constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr int CUDA_R_32F = 0;
constexpr int CUDA_R_16BF = 14;
constexpr int CUBLAS_COMPUTE_32F = 68;
constexpr int CUBLAS_OP_N = 0;
constexpr int CUBLAS_OP_T = 1;
constexpr int CUBLASLT_MATMUL_DESC_TRANSA = 3;
constexpr int CUBLASLT_MATMUL_DESC_TRANSB = 4;
constexpr int CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1;
constexpr int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5;  // then B = 6, C = 7, D = 8; uint32_t, default 256

// The driver entry points (the _v2 exports where the driver has them).
struct Driver {
    CUresult (*cuInit)(unsigned);
    CUresult (*cuDeviceGetCount)(int*);
    CUresult (*cuDeviceGet)(CUdevice*, int);
    CUresult (*cuDeviceGetName)(char*, int, CUdevice);
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice);
    CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
    CUresult (*cuCtxSetCurrent)(CUcontext);
    CUresult (*cuStreamCreate)(CUstream*, unsigned);
    CUresult (*cuStreamDestroy)(CUstream);
    CUresult (*cuStreamSynchronize)(CUstream);
    CUresult (*cuMemAlloc)(CUdeviceptr*, size_t);
    CUresult (*cuMemFree)(CUdeviceptr);
    CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void*, size_t, CUstream);
    CUresult (*cuMemcpyDtoHAsync)(void*, CUdeviceptr, size_t, CUstream);
    CUresult (*cuMemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
    CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
    CUresult (*cuModuleLoadData)(CUmodule*, const void*);
    CUresult (*cuModuleUnload)(CUmodule);
    CUresult (*cuModuleGetFunction)(CUfunction*, CUmodule, const char*);
    CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
                               void**, void**);
    CUresult (*cuGetErrorString)(CUresult, const char**);
    // Op profiling only (profile.hpp): an event pair around each launch.
    CUresult (*cuEventCreate)(CUevent*, unsigned);
    CUresult (*cuEventRecord)(CUevent, CUstream);
    CUresult (*cuEventSynchronize)(CUevent);
    CUresult (*cuEventElapsedTime)(float*, CUevent, CUevent);
    CUresult (*cuEventDestroy)(CUevent);
};

struct BlasLt {
    cublasStatus_t (*cublasLtCreate)(cublasLtHandle_t*);
    cublasStatus_t (*cublasLtDestroy)(cublasLtHandle_t);
    cublasStatus_t (*cublasLtMatmulDescCreate)(cublasLtMatmulDesc_t*, int compute_type, int scale_type);
    cublasStatus_t (*cublasLtMatmulDescDestroy)(cublasLtMatmulDesc_t);
    cublasStatus_t (*cublasLtMatmulDescSetAttribute)(cublasLtMatmulDesc_t, int, const void*, size_t);
    cublasStatus_t (*cublasLtMatrixLayoutCreate)(cublasLtMatrixLayout_t*, int type, uint64_t rows, uint64_t cols, int64_t ld);
    cublasStatus_t (*cublasLtMatrixLayoutDestroy)(cublasLtMatrixLayout_t);
    cublasStatus_t (*cublasLtMatmulPreferenceCreate)(cublasLtMatmulPreference_t*);
    cublasStatus_t (*cublasLtMatmulPreferenceDestroy)(cublasLtMatmulPreference_t);
    cublasStatus_t (*cublasLtMatmulPreferenceSetAttribute)(cublasLtMatmulPreference_t, int, const void*, size_t);
    cublasStatus_t (*cublasLtMatmulAlgoGetHeuristic)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t,
                                                     cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                                     cublasLtMatmulPreference_t, int, cublasLtMatmulHeuristicResult_t*, int*);
    cublasStatus_t (*cublasLtMatmul)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void* alpha, const void* A,
                                     cublasLtMatrixLayout_t, const void* B, cublasLtMatrixLayout_t, const void* beta,
                                     const void* C, cublasLtMatrixLayout_t, void* D, cublasLtMatrixLayout_t,
                                     const cublasLtMatmulAlgo_t*, void* workspace, size_t workspace_bytes, CUstream);
};

// The opened libraries, loaded once per process (the handles are never closed: the driver must outlive every
// context, and unloading it while another thread uses it would crash).
struct Api {
    Driver cu;
    BlasLt lt;
    std::string driver_path, blaslt_path;
};

// The process's Api, loading it on first use. Throws eng::Error(ENG_ERROR_UNSUPPORTED) naming the missing
// library (or symbol) and every path probed; a failed load is retried on the next call.
const Api& api();

// The places cuBLASLt is looked for, in order: $ENG_CUBLASLT_PATH (a file or a folder), the sonames
// libcublasLt.so.13 and .12 (the loader's search path), then the nvidia/cu13/lib and nvidia/cublas/lib folders of
// Python wheels under /usr/lib/python3*, /usr/local/lib/python3* and /opt/*/.venv/lib/python3*/site-packages.
// Exposed for the tests of the search order.
std::vector<std::string> cublaslt_candidates(const char* env_value);

// Throws eng::Error(ENG_ERROR_INTERNAL) with what and the driver's message when r is not CUDA_SUCCESS.
void check(CUresult r, const char* what);
void check_blas(cublasStatus_t r, const char* what);

}  // namespace eng::cuda
