using BenchmarkDotNet.Attributes;
using Engine.Core;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Kernels.Cpu;

namespace Engine.Benchmarks;

/// <summary>Arcee Fusion's CPU kernels on 16.8M bf16 elements (all cores): the importance in float32 and in
/// mergekit's bf16 rounding, the exact quartiles, the selection into bf16, and the whole tensor through the kept
/// importance as the merge runs it. `engine bench kernels` times the same calls against a memory copy in one run;
/// this gives BenchmarkDotNet's statistics and allocation counts.</summary>
[MemoryDiagnoser]
public class ArceeFusionKernelBenchmarks
{
    private BenchmarkInputs _inputs = null!;
    private CpuMergeKernels _kernels = null!;
    private NativeArray<float> _importance = null!;
    private NativeArray<ushort> _output = null!;
    private double[] _rowKl = [];
    private long[] _ranks = [];
    private readonly float[] _quartiles = new float[3];

    [Params(896, 5120)]
    public int RowLength { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        long n = BenchmarkInputs.Elements;
        _inputs = new BenchmarkInputs(n, seed: 7);
        _kernels = new CpuMergeKernels();
        _importance = new NativeArray<float>(n);
        _output = new NativeArray<ushort>(n);
        _rowKl = new double[n / RowLength];
        _ranks = [(n - 1) / 4, (n - 1) / 2, 3 * (n - 1) / 4];
        _kernels.RowImportance(_importance, _rowKl, _inputs.OtherTensor, _inputs.BaseTensor, RowLength, ComputePrecision.Float32);
    }

    [Benchmark]
    public void RowImportance() => _kernels.RowImportance(_importance, _rowKl, _inputs.OtherTensor, _inputs.BaseTensor, RowLength, ComputePrecision.Float32);

    [Benchmark]
    public void RowImportanceBf16Emulation() => _kernels.RowImportance(_importance, _rowKl, _inputs.OtherTensor, _inputs.BaseTensor, RowLength, ComputePrecision.BFloat16);

    [Benchmark]
    public void SelectQuartiles() => _kernels.SelectRanks(_quartiles, _importance, _ranks);

    [Benchmark]
    public long MaskedSelect() => _kernels.MaskedSelect(_output.AsRaw(DType.BF16), _inputs.OtherTensor, _inputs.BaseTensor, _importance, 0, _quartiles[1]);

    [Benchmark]
    public long WholeTensorThroughKeptImportance()
    {
        using var kept = ((IMergeKernels)_kernels).ComputeImportance(_importance, _rowKl, _inputs.OtherTensor, _inputs.BaseTensor, RowLength, ComputePrecision.Float32);
        kept.SelectRanks(_quartiles, _ranks);
        return kept.MaskedSelect(_output.AsRaw(DType.BF16), 0, _quartiles[1] + 1.5f * (_quartiles[2] - _quartiles[0]));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _kernels.Dispose();
        _importance.Dispose();
        _output.Dispose();
        _inputs.Dispose();
    }
}
