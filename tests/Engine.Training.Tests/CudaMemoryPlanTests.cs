using Engine.Training.Sft;

namespace Engine.Training.Tests;

/// <summary>The memory a CUDA model needs, as the plan of a GPU run counts it, against the allocations of
/// native/src/cuda_model.cpp written out by hand: the fp32 activations of the CPU layout, bf16 scratch of the widest
/// row twice (or one classifier chunk of logits), five int32 per token, a bf16 copy of the weights, one float64
/// partial per 65,536 gradients and cuBLASLt's 32 MiB workspace.</summary>
public sealed class CudaMemoryPlanTests
{
    [Theory]
    [InlineData(40L)]
    [InlineData(4096L)]
    public void WorkingBytesOfACudaModelAreItsAllocations(long tokens)
    {
        var config = new Qwen2Config(1000, 64, 176, 2, 4, 2, tieWordEmbeddings: false, rmsNormEps: 1e-6, ropeTheta: 1e4);
        const int chunk = 64;
        long parameters = config.ParameterCount;
        long widest = Math.Max(Math.Max(config.HiddenSize, config.NumHeads * config.HeadDim), config.IntermediateSize);
        long halves = tokens * widest + Math.Max(tokens * widest, chunk * (long)config.VocabSize);
        long expected = Qwen2Model.ActivationBytes(config, tokens) + 2 * halves + 5 * 4 * tokens + 2 * parameters
            + 8 * ((parameters + 65535) / 65536) + (32L << 20);

        Assert.Equal(expected, Qwen2Model.WorkingBytes(config, tokens, cuda: true, chunk));
        Assert.Equal(Qwen2Model.ActivationBytes(config, tokens), Qwen2Model.WorkingBytes(config, tokens, cuda: false, chunk));
    }

    [Fact]
    public void AGpuPlanCountsDeviceMemoryAndNoLandingBuffer()
    {
        var config = new Qwen2Config(1000, 64, 176, 2, 4, 2, tieWordEmbeddings: true, rmsNormEps: 1e-6, ropeTheta: 1e4);
        long p = config.ParameterCount;
        var cpu = MemoryPlan.For(config, p, 512, ranks: 4, zeroStage: 1);
        var gpu = MemoryPlan.For(config, p, 512, ranks: 4, zeroStage: 1, cuda: true);
        long shard = (p + 3) / 4;
        Assert.Equal(2 * shard * 4 + shard * 8, cpu.OptimizerBytes);
        Assert.Equal(2 * shard * 4, gpu.OptimizerBytes);
        Assert.Equal(Qwen2Model.WorkingBytes(config, 512, cuda: true), gpu.ActivationBytes);
        Assert.Contains("activations, bf16 weights and scratch", gpu.Describe(p, 4));
        Assert.Contains("(GPU memory)", gpu.Describe(p, 4));
        var e = Assert.Throws<Core.EngineException>(() => gpu.CheckFits(1, 1024, 4, "GPU cuda:0 (test, 0.0 GiB)"));
        Assert.Contains("does not fit GPU cuda:0 (test, 0.0 GiB)", e.Message);
    }
}
