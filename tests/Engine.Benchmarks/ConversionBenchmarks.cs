using BenchmarkDotNet.Attributes;
using Engine.Core.Numerics;

namespace Engine.Benchmarks;

/// <summary>bf16 to float32 and back on 16.8M elements (one thread): the conversions every merge pays on its inputs
/// and outputs (DESIGN.md section 4: widen + shift, round to nearest even).</summary>
[MemoryDiagnoser]
public class ConversionBenchmarks
{
    private BenchmarkInputs _inputs = null!;
    private float[] _floats = [];

    [GlobalSetup]
    public void Setup()
    {
        _inputs = new BenchmarkInputs(BenchmarkInputs.Elements, seed: 3);
        _floats = new float[BenchmarkInputs.Elements];
    }

    [Benchmark]
    public void BFloat16ToSingle() => DTypeConversion.BFloat16ToSingle(_inputs.Other.Span, _floats);

    [Benchmark]
    public void SingleToBFloat16() => DTypeConversion.SingleToBFloat16(_floats, _inputs.Base.Span);

    [GlobalCleanup]
    public void Cleanup() => _inputs.Dispose();
}
