/* libengine_mpi: engine_mpi.h over the machine's MPI. Every MPI call's error code becomes a status and a
 * message; counts are checked against MPI's int before any call. */
#include "engine_mpi.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

static _Thread_local char last_error[512];
static int world_size = 0;
static int world_rank = 0;

/* When every rank shares this machine's memory, the sums and gathers go through an MPI-3 shared window instead of
 * MPI's point-to-point collectives: each rank copies its buffer into its own segment, and reads the segments of
 * the others directly (MPI's shared-memory transport moved a few hundred MB/s here). Sums run in rank order, so
 * every rank gets the same bits. ENG_MPI_SHARED_MEMORY=0 turns it off. */
static int node_shared = 0;
static MPI_Win window = MPI_WIN_NULL;
static char** segments = NULL; /* every rank's segment, as mapped in this process */
static int64_t capacity = 0;   /* bytes per segment */

static eng_mpi_status fail(eng_mpi_status status, const char* function, const char* message) {
    snprintf(last_error, sizeof last_error, "%s: %s", function, message);
    return status;
}

static eng_mpi_status check(int code, const char* function) {
    if (code == MPI_SUCCESS) return ENG_MPI_OK;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error %d", code);
    return fail(ENG_MPI_ERROR_MPI, function, text);
}

static int datatype(int32_t dtype, MPI_Datatype* out) {
    switch (dtype) {
        case ENG_MPI_F32: *out = MPI_FLOAT; return 1;
        case ENG_MPI_F64: *out = MPI_DOUBLE; return 1;
        case ENG_MPI_I64: *out = MPI_INT64_T; return 1;
        case ENG_MPI_U8: *out = MPI_UINT8_T; return 1;
        default: return 0;
    }
}

static int element_size(int32_t dtype) { return dtype == ENG_MPI_F32 ? 4 : dtype == ENG_MPI_U8 ? 1 : 8; }

/* Converts per-rank int64 counts to MPI's int counts and displacements (caller frees both). */
static eng_mpi_status blocks(const int64_t* counts, int** out_counts, int** out_displs, const char* function) {
    if (counts == NULL) return fail(ENG_MPI_ERROR_INVALID_ARGUMENT, function, "counts is null");
    int* c = malloc(sizeof(int) * (size_t)world_size);
    int* d = malloc(sizeof(int) * (size_t)world_size);
    if (c == NULL || d == NULL) {
        free(c);
        free(d);
        return fail(ENG_MPI_ERROR_INVALID_ARGUMENT, function, "out of memory");
    }
    int64_t at = 0;
    for (int r = 0; r < world_size; r++) {
        if (counts[r] < 0 || counts[r] > INT_MAX || at > INT_MAX) {
            free(c);
            free(d);
            return fail(ENG_MPI_ERROR_INVALID_ARGUMENT, function,
                        "a rank's block or offset exceeds 2^31 - 1 elements (MPI's int); use more ranks");
        }
        c[r] = (int)counts[r];
        d[r] = (int)at;
        at += counts[r];
    }
    *out_counts = c;
    *out_displs = d;
    return ENG_MPI_OK;
}

/* Grows every rank's segment to at least bytes (collective: every rank asks for the same size). */
static eng_mpi_status ensure_window(int64_t bytes, const char* function) {
    if (bytes <= capacity) return ENG_MPI_OK;
    if (window != MPI_WIN_NULL) {
        MPI_Win_unlock_all(window);
        MPI_Win_free(&window);
        capacity = 0;
    }
    char* mine = NULL;
    eng_mpi_status s = check(MPI_Win_allocate_shared((MPI_Aint)bytes, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &mine, &window), function);
    if (s != ENG_MPI_OK) return s;
    MPI_Win_lock_all(MPI_MODE_NOCHECK, window);
    for (int r = 0; r < world_size; r++) {
        MPI_Aint size = 0;
        int unit = 0;
        if ((s = check(MPI_Win_shared_query(window, r, &size, &unit, &segments[r]), function)) != ENG_MPI_OK) return s;
    }
    capacity = bytes;
    return ENG_MPI_OK;
}

/* Every rank's writes to its segment are visible to all before any rank goes on. */
static eng_mpi_status fence(const char* function) {
    MPI_Win_sync(window);
    eng_mpi_status s = check(MPI_Barrier(MPI_COMM_WORLD), function);
    MPI_Win_sync(window);
    return s;
}

/* out[i] = sum over ranks, in rank order, of element at + i of every segment. */
static void sum_segments(void* out, int64_t at, int64_t count, int32_t dtype) {
    switch (dtype) {
        case ENG_MPI_F32: {
            float* o = out;
            for (int64_t i = 0; i < count; i++) {
                float acc = ((const float*)segments[0])[at + i];
                for (int r = 1; r < world_size; r++) acc += ((const float*)segments[r])[at + i];
                o[i] = acc;
            }
            break;
        }
        case ENG_MPI_F64: {
            double* o = out;
            for (int64_t i = 0; i < count; i++) {
                double acc = ((const double*)segments[0])[at + i];
                for (int r = 1; r < world_size; r++) acc += ((const double*)segments[r])[at + i];
                o[i] = acc;
            }
            break;
        }
        case ENG_MPI_I64: {
            int64_t* o = out;
            for (int64_t i = 0; i < count; i++) {
                int64_t acc = 0;
                for (int r = 0; r < world_size; r++) acc += ((const int64_t*)segments[r])[at + i];
                o[i] = acc;
            }
            break;
        }
        default: {
            uint8_t* o = out;
            for (int64_t i = 0; i < count; i++) {
                uint8_t acc = 0;
                for (int r = 0; r < world_size; r++) acc = (uint8_t)(acc + ((const uint8_t*)segments[r])[at + i]);
                o[i] = acc;
            }
        }
    }
}

/* The shared-window reduce: copy in, fence, sum [at, at + count) into out, fence (segments are reused next call). */
static eng_mpi_status shared_sum(void* out, const void* in, int64_t total, int64_t at, int64_t count, int32_t dtype, const char* function) {
    const int64_t size = element_size(dtype);
    eng_mpi_status s = ensure_window(total * size, function);
    if (s != ENG_MPI_OK) return s;
    memcpy(segments[world_rank], in, (size_t)(total * size));
    if ((s = fence(function)) != ENG_MPI_OK) return s;
    sum_segments(out, at, count, dtype);
    return fence(function);
}

int32_t eng_mpi_abi_version(void) { return ENG_MPI_ABI_VERSION; }

int32_t eng_mpi_last_error(char* buf, int32_t len) {
    const int32_t n = (int32_t)strlen(last_error);
    if (buf != NULL && len > 0) {
        const int32_t k = n < len - 1 ? n : len - 1;
        memcpy(buf, last_error, (size_t)k);
        buf[k] = '\0';
    }
    return n;
}

eng_mpi_status eng_mpi_init(eng_mpi_world* out) {
    if (out == NULL) return fail(ENG_MPI_ERROR_INVALID_ARGUMENT, "eng_mpi_init", "out is null");
    memset(out, 0, sizeof *out);
    int provided = 0;
    eng_mpi_status s = check(MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    if (s != ENG_MPI_OK) return s;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if ((s = check(MPI_Comm_rank(MPI_COMM_WORLD, &out->rank), "MPI_Comm_rank")) != ENG_MPI_OK) return s;
    if ((s = check(MPI_Comm_size(MPI_COMM_WORLD, &out->size), "MPI_Comm_size")) != ENG_MPI_OK) return s;
    MPI_Comm local;
    if ((s = check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, out->rank, MPI_INFO_NULL, &local), "MPI_Comm_split_type")) != ENG_MPI_OK)
        return s;
    MPI_Comm_rank(local, &out->local_rank);
    MPI_Comm_size(local, &out->local_size);
    MPI_Comm_free(&local);
    int length = 0;
    char name[MPI_MAX_PROCESSOR_NAME];
    if (MPI_Get_processor_name(name, &length) == MPI_SUCCESS) snprintf(out->host, sizeof out->host, "%s", name);
    out->thread_level = provided;
    world_size = out->size;
    world_rank = out->rank;
    const char* shared = getenv("ENG_MPI_SHARED_MEMORY");
    node_shared = out->local_size == out->size && out->size > 1 && !(shared != NULL && strcmp(shared, "0") == 0);
    if (node_shared && (segments = calloc((size_t)out->size, sizeof(char*))) == NULL) node_shared = 0;
    out->shared_memory = node_shared;
    return ENG_MPI_OK;
}

eng_mpi_status eng_mpi_finalize(void) {
    if (window != MPI_WIN_NULL) {
        MPI_Win_unlock_all(window);
        MPI_Win_free(&window);
    }
    free(segments);
    segments = NULL;
    return check(MPI_Finalize(), "MPI_Finalize");
}

eng_mpi_status eng_mpi_allreduce_sum(void* buffer, int64_t count, int32_t dtype) {
    MPI_Datatype type;
    if (!datatype(dtype, &type)) return fail(ENG_MPI_ERROR_INVALID_ARGUMENT, "eng_mpi_allreduce_sum", "unknown dtype");
    if (count < 0 || (buffer == NULL && count > 0)) return fail(ENG_MPI_ERROR_INVALID_ARGUMENT, "eng_mpi_allreduce_sum", "bad buffer or count");
    if (node_shared) return shared_sum(buffer, buffer, count, 0, count, dtype, "eng_mpi_allreduce_sum");
    /* Pieces of at most 2^30 elements: MPI counts are int. Every rank cuts the same pieces. */
    const int64_t piece = (int64_t)1 << 30;
    char* p = buffer;
    for (int64_t at = 0; at < count; at += piece) {
        const int n = (int)(count - at < piece ? count - at : piece);
        eng_mpi_status s = check(MPI_Allreduce(MPI_IN_PLACE, p + at * element_size(dtype), n, type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
        if (s != ENG_MPI_OK) return s;
    }
    return ENG_MPI_OK;
}

eng_mpi_status eng_mpi_reduce_scatter_sum(void* recv, const void* send, const int64_t* counts, int32_t dtype) {
    MPI_Datatype type;
    if (!datatype(dtype, &type)) return fail(ENG_MPI_ERROR_INVALID_ARGUMENT, "eng_mpi_reduce_scatter_sum", "unknown dtype");
    if (recv == NULL || send == NULL) return fail(ENG_MPI_ERROR_INVALID_ARGUMENT, "eng_mpi_reduce_scatter_sum", "recv or send is null");
    int *c = NULL, *d = NULL;
    eng_mpi_status s = blocks(counts, &c, &d, "eng_mpi_reduce_scatter_sum");
    if (s != ENG_MPI_OK) return s;
    if (node_shared) {
        const int64_t total = (int64_t)d[world_size - 1] + c[world_size - 1];
        s = shared_sum(recv, send, total, d[world_rank], c[world_rank], dtype, "eng_mpi_reduce_scatter_sum");
    } else {
        s = check(MPI_Reduce_scatter(send, recv, c, type, MPI_SUM, MPI_COMM_WORLD), "MPI_Reduce_scatter");
    }
    free(c);
    free(d);
    return s;
}

eng_mpi_status eng_mpi_allgather(void* buffer, const int64_t* counts, int32_t dtype) {
    MPI_Datatype type;
    if (!datatype(dtype, &type)) return fail(ENG_MPI_ERROR_INVALID_ARGUMENT, "eng_mpi_allgather", "unknown dtype");
    if (buffer == NULL) return fail(ENG_MPI_ERROR_INVALID_ARGUMENT, "eng_mpi_allgather", "buffer is null");
    int *c = NULL, *d = NULL;
    eng_mpi_status s = blocks(counts, &c, &d, "eng_mpi_allgather");
    if (s != ENG_MPI_OK) return s;
    if (node_shared) {
        const int64_t size = element_size(dtype), total = (int64_t)d[world_size - 1] + c[world_size - 1];
        char* b = buffer;
        if ((s = ensure_window(total * size, "eng_mpi_allgather")) == ENG_MPI_OK) {
            memcpy(segments[world_rank] + d[world_rank] * size, b + d[world_rank] * size, (size_t)(c[world_rank] * size));
            if ((s = fence("eng_mpi_allgather")) == ENG_MPI_OK) {
                for (int r = 0; r < world_size; r++)
                    if (r != world_rank) memcpy(b + d[r] * size, segments[r] + d[r] * size, (size_t)(c[r] * size));
                s = fence("eng_mpi_allgather");
            }
        }
    } else {
        s = check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buffer, c, d, type, MPI_COMM_WORLD), "MPI_Allgatherv");
    }
    free(c);
    free(d);
    return s;
}

eng_mpi_status eng_mpi_broadcast(void* buffer, int64_t count, int32_t dtype, int32_t root) {
    MPI_Datatype type;
    if (!datatype(dtype, &type)) return fail(ENG_MPI_ERROR_INVALID_ARGUMENT, "eng_mpi_broadcast", "unknown dtype");
    if (count < 0 || (buffer == NULL && count > 0) || root < 0 || root >= world_size)
        return fail(ENG_MPI_ERROR_INVALID_ARGUMENT, "eng_mpi_broadcast", "bad buffer, count or root");
    const int64_t piece = (int64_t)1 << 30;
    char* p = buffer;
    for (int64_t at = 0; at < count; at += piece) {
        const int n = (int)(count - at < piece ? count - at : piece);
        eng_mpi_status s = check(MPI_Bcast(p + at * element_size(dtype), n, type, root, MPI_COMM_WORLD), "MPI_Bcast");
        if (s != ENG_MPI_OK) return s;
    }
    return ENG_MPI_OK;
}

eng_mpi_status eng_mpi_barrier(void) { return check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

void eng_mpi_abort(int32_t code) {
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}
