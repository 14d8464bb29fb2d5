using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Kernels.Cpu;
using Engine.Merge.Config;
using Engine.Merge.Execution;
using Engine.Merge.Methods;

namespace Engine.Merge.Tests.Methods;

/// <summary>An output that hands the method small chunks (to exercise chunked writing) and keeps the result.</summary>
internal sealed class ChunkedOutput : ITensorOutput, IDisposable
{
    private readonly NativeArray<byte> _buffer;
    private readonly int _chunk;

    public ChunkedOutput(DType dtype, long length, int chunk)
    {
        DType = dtype;
        Length = length;
        _chunk = chunk;
        _buffer = new NativeArray<byte>(length * dtype.SizeOf());
    }

    public DType DType { get; }
    public long Length { get; }
    public int Chunks { get; private set; }

    public unsafe void Fill(Action<RawTensor, long> produce, CancellationToken cancellation)
    {
        var all = new RawTensor(_buffer.Pointer, DType, Length);
        for (long start = 0; start < Length; start += _chunk)
        {
            produce(all.Slice(start, Math.Min(_chunk, Length - start)), start);
            Chunks++;
        }
    }

    public unsafe float[] Values()
    {
        var values = new float[Length];
        new RawTensor(_buffer.Pointer, DType, Length).ReadSingles(0, values);
        return values;
    }

    public void Dispose() => _buffer.Dispose();
}

/// <summary>Runs one merge method on in-memory float32 tensors, driven through <see cref="IMergeMethod.Merge"/>
/// with a document parsed from mergekit YAML (so validation runs as for a real config).</summary>
internal static class MethodHarness
{
    public const string TensorName = "model.layers.0.mlp.up_proj.weight";

    public static MergeDocument Document(string yaml)
    {
        var config = MergeConfigReader.Parse("test.yml", yaml);
        return config.Output;
    }

    /// <summary>Merges <paramref name="tensors"/> (by model name as the YAML writes it) of shape
    /// <paramref name="shape"/>; returns the output as float32 and the method's statistics. The kernels are
    /// <paramref name="kernels"/>, or a fresh CPU backend.</summary>
    public static unsafe (float[] Values, JsonObject Stats) Run(string yaml, IReadOnlyDictionary<string, float[]> tensors, long[] shape,
        int chunk = 7, DType outDType = DType.F32, string tensorName = TensorName, double layerPosition = 0, IMergeKernels? kernels = null)
    {
        var doc = Document(yaml);
        var method = MergeMethodRegistry.Get(doc.Method);
        var owned = new List<NativeArray<float>>();
        try
        {
            RawTensor Raw(string name)
            {
                var values = tensors[name];
                var array = new NativeArray<float>(values.Length);
                values.CopyTo(array.Span);
                owned.Add(array);
                return array.AsRaw(DType.F32);
            }
            RawTensor? b = doc.BaseModel is { } bm ? Raw(bm) : null;
            var others = doc.Models.Where(m => m.Model != doc.BaseModel).Select(m => (Raw(m.Model), m.Parameters)).ToImmutableArray();
            var inputs = new TensorMergeInputs(tensorName, shape.ToImmutableArray(), b, others, doc, layerPosition);
            long n = shape.Aggregate(1L, (a, d) => a * d);
            using var output = new ChunkedOutput(outDType, n, chunk);
            using var cpu = kernels is null ? new CpuMergeKernels() : null;
            var stats = method.Merge(inputs, output, kernels ?? cpu!, CancellationToken.None);
            return (output.Values(), stats);
        }
        finally
        {
            foreach (var a in owned) a.Dispose();
        }
    }

    public static float[] Merge(string yaml, IReadOnlyDictionary<string, float[]> tensors, params long[] shape) => Run(yaml, tensors, shape).Values;

    /// <summary>Seeded normal-ish values: <c>offset + scale * N(0, 1)</c>.</summary>
    public static float[] Random(int seed, int n, double scale = 1, float[]? offset = null)
    {
        var random = new System.Random(seed);
        var values = new float[n];
        for (int i = 0; i < n; i++)
        {
            double u1 = 1 - random.NextDouble(), u2 = random.NextDouble();
            double z = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
            values[i] = (offset?[i] ?? 0) + (float)(scale * z);
        }
        return values;
    }

    /// <summary>A base and fine-tuned-like models: base ~ N(0, 0.02), each model = base + N(0, 0.002).</summary>
    public static Dictionary<string, float[]> Family(int seed, int n, params string[] models)
    {
        var b = Random(seed, n, 0.02);
        var result = new Dictionary<string, float[]> { ["base"] = b };
        for (int i = 0; i < models.Length; i++) result[models[i]] = Random(seed * 31 + i + 1, n, 0.002, b);
        return result;
    }

    /// <summary>Asserts <c>|actual - expected| &lt;= atol + |expected| * rtol</c> per element, naming the first
    /// failing index.</summary>
    public static void Close(double[] expected, float[] actual, double atol = 1e-6, double rtol = 1e-5, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double tol = atol + Math.Abs(expected[i]) * rtol;
            if (!(Math.Abs(actual[i] - expected[i]) <= tol))
                Assert.Fail($"{what} element {i}: expected {expected[i]:R}, actual {actual[i]:R}, tolerance {tol:G3}");
        }
    }

    public static void Close(float[] expected, float[] actual, double atol = 1e-6, double rtol = 1e-5, string what = "") =>
        Close(expected.Select(v => (double)v).ToArray(), actual, atol, rtol, what);

    public static void Exact(float[] expected, float[] actual, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what} element {i}: expected {expected[i]:R}, actual {actual[i]:R}");
        }
    }
}
