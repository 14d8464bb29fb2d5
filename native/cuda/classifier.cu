// Cross-entropy of one classifier chunk (CPU reference: ops_classifier.hpp). logits (count, V) fp32 from the
// chunk's GEMM; losses (count); dlogits (count, V) bf16 = scale * (softmax - onehot), the next GEMMs' input.
#include "trainer_common.cuh"

// One block per scored token: loss = logsumexp(logits) - logits[target]; with backward, dlogits as above.
KERNEL void cross_entropy_kernel(float* losses, u16* dlogits, const float* logits, const int* targets, int count, int V,
                                 float scale, int backward) {
    SHARED float scratch[33];
    const i64 t = blockIdx.x;
    if (t >= count) return;
    const float* lt = logits + t * V;
    float m = -__builtin_inff();
    for (int i = threadIdx.x; i < V; i += blockDim.x) m = lt[i] > m ? lt[i] : m;
    m = block_max(m, scratch);
    float sum = 0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) sum += eng::op_exp(lt[i] - m);
    sum = block_sum(sum, scratch);
    const int y = targets[t];
    if (threadIdx.x == 0) losses[t] = m + eng::op_log(sum) - lt[y];
    if (!backward) return;
    u16* dt = dlogits + t * V;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        float d = scale * eng::op_exp(lt[i] - m) / sum;
        if (i == y) d -= scale;
        dt[i] = eng::bf16_bits(d);
    }
}
