/*
 * engine_mpi.h: the C ABI of libengine_mpi, the engine's thin layer over MPI for data-parallel training.
 *
 * Why a library of its own: the trainer (libengine_native) must load on machines without MPI, and MPI
 * handles are not portable across implementations (Open MPI's are pointers, MPICH's integers), so the
 * binding is compiled against the machine's mpi.h here and nothing else in the engine names an MPI type.
 * It is built only where CMake finds MPI; the engine loads it only when launched by mpirun.
 *
 * Rules (as engine_native.h): every call returns ENG_MPI_OK or an error whose message
 * eng_mpi_last_error copies out; nothing exits the process except eng_mpi_abort. Collectives are over
 * MPI_COMM_WORLD, blocking, and must be called by every rank in the same order. Errors are returned
 * (MPI_ERRORS_RETURN), not fatal, so the caller can name the failing rank before aborting.
 * Counts are element counts; one rank's count must fit MPI's int (2^31 - 1 elements).
 * When every rank runs on one machine, sums and gathers go through an MPI-3 shared-memory window (each rank
 * holds a segment as large as the largest buffer summed; ENG_MPI_SHARED_MEMORY=0 turns it off); sums are
 * always taken in rank order there, so every rank gets the same bits.
 */
#ifndef ENGINE_MPI_H
#define ENGINE_MPI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define ENG_MPI_API __declspec(dllexport)
#else
#define ENG_MPI_API __attribute__((visibility("default")))
#endif

#define ENG_MPI_ABI_VERSION 1

typedef enum eng_mpi_status {
    ENG_MPI_OK = 0,
    ENG_MPI_ERROR_INVALID_ARGUMENT = 1,
    ENG_MPI_ERROR_MPI = 2 /* MPI returned an error; the message holds MPI_Error_string's text */
} eng_mpi_status;

typedef enum eng_mpi_dtype {
    ENG_MPI_F32 = 0,
    ENG_MPI_F64 = 1,
    ENG_MPI_I64 = 2,
    ENG_MPI_U8 = 3
} eng_mpi_dtype;

typedef struct eng_mpi_world {
    int32_t rank;        /* in MPI_COMM_WORLD */
    int32_t size;
    int32_t local_rank;  /* among the ranks sharing this machine's memory */
    int32_t local_size;
    int32_t thread_level;/* the MPI thread level granted (MPI_THREAD_*) */
    int32_t shared_memory;/* nonzero: all ranks share this machine and the collectives go through a shared window */
    char host[256];      /* MPI_Get_processor_name */
} eng_mpi_world;

ENG_MPI_API int32_t eng_mpi_abi_version(void);
ENG_MPI_API int32_t eng_mpi_last_error(char* buf, int32_t len);

/* MPI_Init_thread (MPI_THREAD_SERIALIZED: calls come from one thread at a time, not always the same one). */
ENG_MPI_API eng_mpi_status eng_mpi_init(eng_mpi_world* out);
ENG_MPI_API eng_mpi_status eng_mpi_finalize(void);

/* Sum over ranks, in place, of count elements. */
ENG_MPI_API eng_mpi_status eng_mpi_allreduce_sum(void* buffer, int64_t count, int32_t dtype);

/* send holds sum(counts) elements, rank r's block at offset counts[0] + ... + counts[r-1]; recv receives the
 * sum over ranks of this rank's block (counts[rank] elements). counts has one entry per rank. */
ENG_MPI_API eng_mpi_status eng_mpi_reduce_scatter_sum(void* recv, const void* send, const int64_t* counts, int32_t dtype);

/* In place: buffer holds sum(counts) elements; each rank contributes its block (laid out as above), and
 * every rank ends with all blocks. */
ENG_MPI_API eng_mpi_status eng_mpi_allgather(void* buffer, const int64_t* counts, int32_t dtype);

ENG_MPI_API eng_mpi_status eng_mpi_broadcast(void* buffer, int64_t count, int32_t dtype, int32_t root);
ENG_MPI_API eng_mpi_status eng_mpi_barrier(void);

/* MPI_Abort(MPI_COMM_WORLD, code): ends every rank of the job. Does not return. */
ENG_MPI_API void eng_mpi_abort(int32_t code);

#ifdef __cplusplus
}
#endif

#endif
