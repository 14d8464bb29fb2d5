using System.Buffers;
using BenchmarkDotNet.Attributes;
using Engine.Core;
using Engine.Core.Numerics;
using Engine.Kernels.Cpu;

namespace Engine.Benchmarks;

/// <summary>RAM's and RAM+'s CPU combines on three bf16 models near one base (4.2M elements, all cores, each model
/// leaving a quarter of the elements unchanged, so single and shared changes both occur): RAM's counted average,
/// RAM+'s combine on the kernel contract (<c>AmplifiedCountedAverage</c>), and, for comparison, RAM+'s combine as
/// the method computed it before it moved onto the contract (a per-element loop over float32 blocks of every delta).</summary>
[MemoryDiagnoser]
public class ElementwiseKernelBenchmarks
{
    private const long Elements = BenchmarkInputs.Elements / 4;
    private const float Epsilon = 1e-5f;
    private readonly float[] _lambda = [1.02f, 1.05f, 1.1f];
    private NativeArray<ushort> _base = null!;
    private NativeArray<ushort>[] _models = [];
    private NativeArray<ushort> _output = null!;
    private CpuMergeKernels _kernels = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(11);
        _base = new NativeArray<ushort>(Elements);
        _models = [new NativeArray<ushort>(Elements), new NativeArray<ushort>(Elements), new NativeArray<ushort>(Elements)];
        _output = new NativeArray<ushort>(Elements);
        for (long e = 0; e < Elements; e++)
        {
            float b = (float)(random.NextDouble() * 2 - 1) * 0.05f;
            _base.Span[(int)e] = DTypeConversion.SingleToBFloat16(b);
            foreach (var m in _models)
                m.Span[(int)e] = DTypeConversion.SingleToBFloat16(random.Next(4) == 0 ? b : b + (float)(random.NextDouble() * 2 - 1) * 0.002f);
        }
        _kernels = new CpuMergeKernels();
    }

    private RawTensor[] Models => _models.Select(m => m.AsRaw(DType.BF16)).ToArray();

    [Benchmark]
    public void CountedAverage() => _kernels.CountedAverage(_output.AsRaw(DType.BF16), Models, _base.AsRaw(DType.BF16), Epsilon);

    [Benchmark]
    public void AmplifiedCountedAverage() => _kernels.AmplifiedCountedAverage(_output.AsRaw(DType.BF16), Models, _base.AsRaw(DType.BF16), _lambda, Epsilon);

    /// <summary>ramplus_tl's combine before it was on the kernel contract (RamPlusTensorLocal.Combine at 61b70b3, driven
    /// block-parallel by ElementwiseOps.Fill): every delta of a block in float32, then a per-element loop.</summary>
    [Benchmark]
    public void AmplifiedCountedAverageAsTheMethodLoopedBefore()
    {
        var models = Models;
        var b = _base.AsRaw(DType.BF16);
        var output = _output.AsRaw(DType.BF16);
        const int block = 1 << 15;
        Parallel.For(0L, (Elements + block - 1) / block, blockIndex =>
        {
            long start = blockIndex * block;
            int count = (int)Math.Min(block, Elements - start);
            var baseValues = ArrayPool<float>.Shared.Rent(count);
            var deltas = ArrayPool<float>.Shared.Rent(count * models.Length);
            var result = ArrayPool<float>.Shared.Rent(count);
            b.ReadSingles(start, baseValues.AsSpan(0, count));
            for (int i = 0; i < models.Length; i++)
            {
                var d = deltas.AsSpan(i * count, count);
                models[i].ReadSingles(start, d);
                for (int e = 0; e < count; e++) d[e] -= baseValues[e];
            }
            for (int e = 0; e < count; e++)
            {
                int changed = 0;
                for (int i = 0; i < models.Length; i++) changed += MathF.Abs(deltas[i * count + e]) > Epsilon ? 1 : 0;
                float sum = 0f;
                for (int i = 0; i < models.Length; i++)
                {
                    float d = deltas[i * count + e];
                    if (MathF.Abs(d) > Epsilon) sum += changed == 1 ? d * _lambda[i] : d / changed;
                }
                result[e] = baseValues[e] + sum;
            }
            output.WriteSingles(start, result.AsSpan(0, count));
            ArrayPool<float>.Shared.Return(baseValues);
            ArrayPool<float>.Shared.Return(deltas);
            ArrayPool<float>.Shared.Return(result);
        });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _kernels.Dispose();
        _base.Dispose();
        foreach (var m in _models) m.Dispose();
        _output.Dispose();
    }
}
