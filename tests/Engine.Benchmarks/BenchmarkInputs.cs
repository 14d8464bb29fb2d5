using Engine.Core;
using Engine.Core.Numerics;

namespace Engine.Benchmarks;

/// <summary>Two bf16 tensors shaped like a fine-tuned expert and its base (small deltas, a quarter unchanged),
/// the same on every run.</summary>
internal sealed unsafe class BenchmarkInputs : IDisposable
{
    /// <summary>16.8M elements: whole rows of 896 (Qwen2.5-0.5B) and of 5120 (Qwen2.5-32B); 35840 is their lcm.</summary>
    public const long Elements = 35840L * 468;

    public BenchmarkInputs(long elements, int seed)
    {
        Other = new NativeArray<ushort>(elements);
        Base = new NativeArray<ushort>(elements);
        var random = new Random(seed);
        for (long i = 0; i < elements; i++)
        {
            float b = (float)(random.NextDouble() * 2 - 1) * 0.05f;
            float p = random.Next(4) == 0 ? b : b + (float)(random.NextDouble() * 2 - 1) * 0.002f;
            Base.Pointer[i] = DTypeConversion.SingleToBFloat16(b);
            Other.Pointer[i] = DTypeConversion.SingleToBFloat16(p);
        }
    }

    public NativeArray<ushort> Other { get; }
    public NativeArray<ushort> Base { get; }
    public RawTensor OtherTensor => Other.AsRaw(DType.BF16);
    public RawTensor BaseTensor => Base.AsRaw(DType.BF16);

    public void Dispose()
    {
        Other.Dispose();
        Base.Dispose();
    }
}
