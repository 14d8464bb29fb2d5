using Engine.Core;
using Engine.Core.Numerics;
using Engine.Kernels.Cpu;

namespace Engine.Kernels.Parity;

/// <summary>One kernel case of a self-test: the largest deviation from the CPU reference and whether it is
/// within <see cref="KernelTolerances"/> (float32 importance) or exactly equal (everything else, the bf16-emulated
/// importance included).</summary>
public sealed record SelfTestResult(string Device, string Kernel, string Case, double MaxRelativeError, bool Passed, string Detail);

/// <summary>Runs every kernel of a backend against the CPU reference on fresh random inputs: bf16/f16/f32
/// inputs including edge values (signed zeros, subnormals, the largest finite values), rows of length 1,
/// odd sizes, ties; the element-wise primitives' cases are <see cref="ElementwiseSelfTest"/>. <c>engine selftest</c> and the parity tests share it.</summary>
public sealed unsafe class KernelSelfTest
{
    private readonly int _seed;
    private readonly bool _small;

    /// <param name="seed">the random inputs' seed (printed with every failure).</param>
    /// <param name="small">small inputs (for ILGPU's CPU simulator); else GPU-sized ones (millions of elements).</param>
    public KernelSelfTest(int seed, bool small)
    {
        _seed = seed;
        _small = small;
    }

    /// <summary>Every case on <paramref name="backend"/>, compared with a fresh <see cref="CpuMergeKernels"/>.</summary>
    public IReadOnlyList<SelfTestResult> Run(IMergeKernels backend, int threads = 0)
    {
        using var cpu = new CpuMergeKernels(threads);
        var results = new List<SelfTestResult>();
        var shapes = _small
            ? new[] { (Rows: 1L, Length: 1), (3, 1), (2, 7), (3, 37), (2, 130) }
            : new[] { (Rows: 1L, Length: 1), (1000, 1), (3, 7), (257, 1031), (1024, 5120), (1, 1 << 20) };
        foreach (var dtype in new[] { DType.BF16, DType.F16, DType.F32 })
        {
            foreach (var (rows, length) in shapes)
            {
                foreach (var kind in new[] { InputKind.NearlyEqual, InputKind.Edge })
                {
                    results.Add(RowImportanceCase(backend, cpu, dtype, rows, length, kind, ComputePrecision.Float32));
                    results.Add(RowImportanceCase(backend, cpu, dtype, rows, length, kind, ComputePrecision.BFloat16));
                }
            }
        }
        results.Add(Bf16OverflowCase(backend, cpu));
        results.Add(NonFiniteCase(backend, cpu));
        foreach (long n in _small ? new long[] { 1, 7, 1000, 4099 } : new long[] { 1, 7, 100_003, 16_777_259 })
            results.Add(SelectRanksCase(backend, cpu, n));
        foreach (var (output, other, @base) in new[] { (DType.BF16, DType.BF16, DType.BF16), (DType.BF16, DType.F32, DType.BF16), (DType.F16, DType.F16, DType.BF16), (DType.F32, DType.F16, DType.F32), (DType.F16, DType.F32, DType.F32) })
            results.Add(MaskedSelectCase(backend, cpu, _small ? 1003 : 3_000_017, output, other, @base));
        foreach (var (other, @base, output) in new[] { (DType.BF16, DType.BF16, DType.BF16), (DType.F32, DType.F16, DType.F32) })
            results.Add(KeptImportanceCase(backend, cpu, other, @base, output, _small ? 5 : 1024, _small ? 37 : 5120));
        results.AddRange(new ElementwiseSelfTest(_seed, _small).Run(backend, cpu));
        return results;
    }

    private enum InputKind { NearlyEqual, Edge }

    private static readonly float[] EdgeValues =
    [
        0f, -0f, 1f, -1f, float.Epsilon, -float.Epsilon, 1e-40f, 1.17549435e-38f, 0.5f, 2f, 100f, -100f, 65504f, -65504f, 6.1e-5f, 3e-8f,
    ];

    /// <summary>One element of a fine-tuned expert against its base: a small weight, unchanged a quarter of the
    /// time, else moved by a small delta.</summary>
    private static (float Base, float Other) NearlyEqualPair(Random random)
    {
        float b = (float)(random.NextDouble() * 2 - 1) * 0.05f;
        return (b, random.Next(4) == 0 ? b : b + (float)(random.NextDouble() * 2 - 1) * 0.002f);
    }

    /// <summary>Edge values for the importance: signed zeros, subnormals (they flush nowhere), the smallest
    /// normal, and magnitudes whose differences keep the KL finite (|d| &gt; 88 overflows exp on every backend).</summary>
    private static readonly float[] RowEdgeValues =
    [
        0f, -0f, 1f, -1f, float.Epsilon, -float.Epsilon, 1e-40f, 1.17549435e-38f, 0.5f, 2f, 10f, -10f, 3e-8f, 6.1e-5f, -6.1e-5f,
    ];

    /// <summary>Float32: within <see cref="KernelTolerances"/>. BFloat16 (mergekit's rounding): bit-identical, as the
    /// kernels repeat the CPU's operations in its order.</summary>
    private SelfTestResult RowImportanceCase(IMergeKernels backend, CpuMergeKernels cpu, DType dtype, long rows, int length, InputKind kind, ComputePrecision precision)
    {
        long n = rows * length;
        var random = new Random(HashCode.Combine(_seed, (int)dtype, rows, length, (int)kind));
        var baseValues = new float[n];
        var otherValues = new float[n];
        for (long i = 0; i < n; i++)
        {
            if (kind == InputKind.Edge)
            {
                baseValues[i] = RowEdgeValues[random.Next(RowEdgeValues.Length)];
                otherValues[i] = random.Next(3) == 0 ? baseValues[i] : RowEdgeValues[random.Next(RowEdgeValues.Length)];
            }
            else
            {
                (baseValues[i], otherValues[i]) = NearlyEqualPair(random);
            }
        }
        using var other = Store(otherValues, dtype);
        using var @base = Store(baseValues, dtype);
        using var expected = new NativeArray<float>(n);
        using var actual = new NativeArray<float>(n);
        var klExpected = new double[rows];
        var klActual = new double[rows];
        string name = $"{dtype} {rows}x{length} {(kind == InputKind.Edge ? "edge values" : "nearly equal rows")}";
        string kernel = precision == ComputePrecision.BFloat16 ? "row_importance (bf16 emulation)" : "row_importance";
        cpu.RowImportance(expected, klExpected, other.Raw, @base.Raw, length, precision);
        try
        {
            backend.RowImportance(actual, klActual, other.Raw, @base.Raw, length, precision);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new SelfTestResult(backend.Device, kernel, name, double.NaN, false, $"threw {e.GetType().Name}: {e.Message} (seed {_seed})");
        }
        double worst = 0;
        string detail = "";
        bool passed = true;
        for (long r = 0; r < rows; r++) Compare(klExpected[r], klActual[r], $"row_kl[{r}]");
        for (long i = 0; i < n; i++) Compare(expected.Pointer[i], actual.Pointer[i], $"importance[{i}]");
        return new SelfTestResult(backend.Device, kernel, name, worst, passed, detail);

        void Compare(double e, double a, string where)
        {
            if (precision == ComputePrecision.BFloat16)
            {
                // Importance NaNs are the one canonical NaN everywhere; a row KL NaN widened to float64 may not be.
                if (BitConverter.DoubleToInt64Bits(e) == BitConverter.DoubleToInt64Bits(a) || (where.StartsWith("row_kl") && double.IsNaN(e) && double.IsNaN(a))) return;
                if (passed) detail = $"{where}: expected {e:R}, got {a:R} (seed {_seed})";
                passed = false;
                worst = double.PositiveInfinity;
                return;
            }
            if (double.IsNaN(e) || double.IsInfinity(e) || double.IsNaN(a) || double.IsInfinity(a))
            {
                if (e.Equals(a)) return;
                if (passed) detail = $"{where}: expected {e:R}, got {a:R} (seed {_seed})";
                passed = false;
                worst = double.PositiveInfinity;
                return;
            }
            double relative = Math.Abs(a - e) / Math.Max(Math.Abs(e), 1e-30);
            if (Math.Abs(a - e) <= KernelTolerances.ImportanceAbsolute) relative = 0;
            worst = Math.Max(worst, relative);
            if (!KernelTolerances.ImportanceAgrees(e, a) && passed)
            {
                passed = false;
                detail = $"{where}: expected {e:R}, got {a:R} (seed {_seed})";
            }
        }
    }

    /// <summary>bf16 emulation of float32 rows holding finite values that overflow bf16 (row 1): that row's
    /// importance is NaN, with the same bits on every backend (they rank alike in the quantiles that follow).</summary>
    private SelfTestResult Bf16OverflowCase(IMergeKernels backend, CpuMergeKernels cpu)
    {
        const int length = 7;
        const long rows = 3;
        var random = new Random(_seed + 1);
        var values = Enumerable.Range(0, (int)(rows * length)).Select(_ => (float)random.NextDouble()).ToArray();
        var otherValues = values.Select(v => v + 0.01f).ToArray();
        otherValues[length + 2] = 3.399e38f;
        values[length + 5] = -3.3999e38f;
        using var other = Store(otherValues, DType.F32);
        using var @base = Store(values, DType.F32);
        using var expected = new NativeArray<float>(rows * length);
        using var actual = new NativeArray<float>(rows * length);
        const string kernel = "row_importance (bf16 emulation)", name = "F32 values overflowing bf16: NaN rows";
        cpu.RowImportance(expected, new double[rows], other.Raw, @base.Raw, length, ComputePrecision.BFloat16);
        try
        {
            backend.RowImportance(actual, new double[rows], other.Raw, @base.Raw, length, ComputePrecision.BFloat16);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new SelfTestResult(backend.Device, kernel, name, double.NaN, false, $"threw {e.GetType().Name}: {e.Message}");
        }
        int mismatch = expected.Span.ToArray().Select(BitConverter.SingleToInt32Bits).Zip(actual.Span.ToArray().Select(BitConverter.SingleToInt32Bits)).TakeWhile(p => p.First == p.Second).Count();
        if (mismatch < expected.Length)
            return new SelfTestResult(backend.Device, kernel, name, double.PositiveInfinity, false, $"importance[{mismatch}]: expected 0x{BitConverter.SingleToInt32Bits(expected.Pointer[mismatch]):X8}, got 0x{BitConverter.SingleToInt32Bits(actual.Pointer[mismatch]):X8}");
        if (!float.IsNaN(expected.Pointer[length])) return new SelfTestResult(backend.Device, kernel, name, double.NaN, false, "the CPU reference's row 1 is not NaN: the case tests nothing");
        return new SelfTestResult(backend.Device, kernel, name, 0, true, "bit-identical, NaN included");
    }

    private SelfTestResult NonFiniteCase(IMergeKernels backend, CpuMergeKernels cpu)
    {
        const int length = 33;
        const long rows = 6;
        var values = new float[rows * length];
        var random = new Random(_seed);
        for (int i = 0; i < values.Length; i++) values[i] = (float)random.NextDouble();
        var baseValues = values.ToArray();
        var otherValues = values.ToArray();
        baseValues[2 * length + 30] = float.NaN;       // row 2: base only (the first bad row)
        otherValues[3 * length + 1] = float.PositiveInfinity;
        otherValues[4 * length + 5] = float.NaN;
        baseValues[4 * length + 3] = float.NegativeInfinity;
        using var other = Store(otherValues, DType.BF16);
        using var @base = Store(baseValues, DType.BF16);
        return SameError(backend, cpu, "row_importance", "NaN/inf inputs are reported like the CPU", k =>
        {
            using var importance = new NativeArray<float>(rows * length);
            k.RowImportance(importance, new double[rows], other.Raw, @base.Raw, length, ComputePrecision.Float32);
        });
    }

    /// <summary>Passes when <paramref name="run"/> throws the same <see cref="NonFiniteValueException"/> (which input,
    /// which element) on the backend as on the CPU.</summary>
    internal static SelfTestResult SameError(IMergeKernels backend, CpuMergeKernels cpu, string kernel, string name, Action<IMergeKernels> run)
    {
        string Outcome(IMergeKernels k)
        {
            try
            {
                run(k);
                return "no error";
            }
            catch (NonFiniteValueException e)
            {
                return $"{e.Which}@{e.Element}";
            }
        }
        string expected = Outcome(cpu), actual = Outcome(backend);
        return new SelfTestResult(backend.Device, kernel, name, 0, expected == actual && expected != "no error",
            expected == actual ? $"both: {expected}" : $"expected {expected}, got {actual}");
    }

    private SelfTestResult SelectRanksCase(IMergeKernels backend, CpuMergeKernels cpu, long n)
    {
        var random = new Random(HashCode.Combine(_seed, n));
        using var values = new NativeArray<float>(n);
        for (long i = 0; i < n; i++)
        {
            values.Pointer[i] = random.Next(8) switch
            {
                0 => 0f,
                1 => -0f,
                2 => random.Next(5),
                3 => -(float)random.NextDouble(),
                4 => float.Epsilon * random.Next(1, 4),
                5 => (float)(random.NextDouble() * 1e-3),
                6 => float.MaxValue * (random.Next(2) == 0 ? 1 : -1),
                _ => (float)random.NextDouble(),
            };
        }
        long[] ranks = [0, (n - 1) / 4, (n - 1) / 2, 3 * (n - 1) / 4, n - 1, random.NextInt64(n), random.NextInt64(n)];
        var expected = new float[ranks.Length];
        var actual = new float[ranks.Length];
        cpu.SelectRanks(expected, values, ranks);
        try
        {
            backend.SelectRanks(actual, values, ranks);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new SelfTestResult(backend.Device, "select_ranks", $"n={n}", double.NaN, false, $"threw {e.GetType().Name}: {e.Message}");
        }
        for (int r = 0; r < ranks.Length; r++)
        {
            if (BitConverter.SingleToInt32Bits(expected[r]) != BitConverter.SingleToInt32Bits(actual[r]))
                return new SelfTestResult(backend.Device, "select_ranks", $"n={n}", double.PositiveInfinity, false, $"rank {ranks[r]}: expected {expected[r]:R}, got {actual[r]:R} (seed {_seed})");
        }
        return new SelfTestResult(backend.Device, "select_ranks", $"n={n}, {ranks.Length} ranks", 0, true, "bit-identical");
    }

    private SelfTestResult MaskedSelectCase(IMergeKernels backend, CpuMergeKernels cpu, long n, DType outputType, DType otherType, DType baseType)
    {
        var random = new Random(HashCode.Combine(_seed, n, (int)outputType, (int)otherType));
        var otherValues = new float[n];
        var baseValues = new float[n];
        const long start = 5;
        using var importance = new NativeArray<float>(n + start + 3);
        for (long i = 0; i < n; i++)
        {
            otherValues[i] = random.Next(10) == 0 ? EdgeValues[random.Next(EdgeValues.Length)] : (float)(random.NextDouble() * 4 - 2);
            baseValues[i] = (float)(random.NextDouble() * 4 - 2) * (random.Next(50) == 0 ? 1e5f : 1f);
        }
        for (long i = 0; i < importance.Length; i++) importance.Pointer[i] = random.Next(20) == 0 ? 0.5f : (float)random.NextDouble();
        using var other = Store(otherValues, otherType);
        using var @base = Store(baseValues, baseType);
        using var expected = new NativeArray<byte>(n * outputType.SizeOf());
        using var actual = new NativeArray<byte>(n * outputType.SizeOf());
        string name = $"n={n} {otherType}/{baseType} -> {outputType}";
        long takenExpected = cpu.MaskedSelect(expected.AsRaw(DType.U8).Reinterpret(outputType), other.Raw, @base.Raw, importance, start, 0.5f);
        long takenActual;
        try
        {
            takenActual = backend.MaskedSelect(actual.AsRaw(DType.U8).Reinterpret(outputType), other.Raw, @base.Raw, importance, start, 0.5f);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new SelfTestResult(backend.Device, "masked_select", name, double.NaN, false, $"threw {e.GetType().Name}: {e.Message}");
        }
        if (takenExpected != takenActual)
            return new SelfTestResult(backend.Device, "masked_select", name, double.PositiveInfinity, false, $"taken: expected {takenExpected}, got {takenActual} (seed {_seed})");
        int mismatch = expected.Span.CommonPrefixLength(actual.Span);
        if (mismatch < expected.Length)
            return new SelfTestResult(backend.Device, "masked_select", name, double.PositiveInfinity, false, $"byte {mismatch} (element {mismatch / outputType.SizeOf()}) differs (seed {_seed})");
        return new SelfTestResult(backend.Device, "masked_select", name, 0, true, $"bit-identical, {takenActual} taken");
    }

    /// <summary>Arcee Fusion's three steps on an importance the backend keeps (<see cref="IMergeKernels.ComputeImportance"/>):
    /// the importance and per-row KL within tolerance of the CPU's, the quartiles and a selection written in three
    /// unequal chunks bit-identical to the CPU's over the backend's own importance (fetched last, so the steps
    /// before it ran on what the backend kept).</summary>
    private SelfTestResult KeptImportanceCase(IMergeKernels backend, CpuMergeKernels cpu, DType otherType, DType baseType, DType outputType, long rows, int length)
    {
        long n = rows * length;
        var random = new Random(HashCode.Combine(_seed, (int)otherType, (int)baseType, rows, length));
        var baseValues = new float[n];
        var otherValues = new float[n];
        for (long i = 0; i < n; i++) (baseValues[i], otherValues[i]) = NearlyEqualPair(random);
        using var other = Store(otherValues, otherType);
        using var @base = Store(baseValues, baseType);
        using var expectedImportance = new NativeArray<float>(n);
        using var host = new NativeArray<float>(n);
        using var expected = new NativeArray<byte>(n * outputType.SizeOf());
        using var actual = new NativeArray<byte>(n * outputType.SizeOf());
        var klExpected = new double[rows];
        var klActual = new double[rows];
        string name = $"{otherType}/{baseType} -> {outputType} {rows}x{length}, ranks and 3 selection chunks";
        const string kernel = "kept_importance";
        cpu.RowImportance(expectedImportance, klExpected, other.Raw, @base.Raw, length, ComputePrecision.Float32);
        long[] ranks = [(n - 1) / 4, (n - 1) / 2, 3 * (n - 1) / 4];
        var quartiles = new float[3];
        long[] cuts = [0, (n / 3) | 1, (2 * n / 3) | 1, n];  // odd starts: 16-bit elements off a 4-byte boundary
        long takenActual = 0;
        float threshold;
        RawTensor Output(NativeArray<byte> bytes, long start, long end) =>
            bytes.AsRaw(DType.U8).Reinterpret(outputType).Slice(start, end - start);
        try
        {
            using var importance = backend.ComputeImportance(host, klActual, other.Raw, @base.Raw, length, ComputePrecision.Float32);
            importance.SelectRanks(quartiles, ranks);
            threshold = quartiles[1] + 1.5f * (quartiles[2] - quartiles[0]);
            for (int c = 0; c + 1 < cuts.Length; c++) takenActual += importance.MaskedSelect(Output(actual, cuts[c], cuts[c + 1]), cuts[c], threshold);
            if (importance.ToHost() != host) return new SelfTestResult(backend.Device, kernel, name, double.NaN, false, "ToHost returned another array than the one given");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new SelfTestResult(backend.Device, kernel, name, double.NaN, false, $"threw {e.GetType().Name}: {e.Message} (seed {_seed})");
        }
        double worst = 0;
        for (long i = 0; i < n + rows; i++)
        {
            double e = i < n ? expectedImportance.Pointer[i] : klExpected[i - n], a = i < n ? host.Pointer[i] : klActual[i - n];
            if (!KernelTolerances.ImportanceAgrees(e, a))
                return new SelfTestResult(backend.Device, kernel, name, double.PositiveInfinity, false, $"{(i < n ? $"importance[{i}]" : $"row_kl[{i - n}]")}: expected {e:R}, got {a:R} (seed {_seed})");
            if (Math.Abs(a - e) > KernelTolerances.ImportanceAbsolute) worst = Math.Max(worst, Math.Abs(a - e) / Math.Max(Math.Abs(e), 1e-30));
        }
        var expectedQuartiles = new float[3];
        cpu.SelectRanks(expectedQuartiles, host, ranks);
        for (int r = 0; r < 3; r++)
        {
            if (BitConverter.SingleToInt32Bits(expectedQuartiles[r]) != BitConverter.SingleToInt32Bits(quartiles[r]))
                return new SelfTestResult(backend.Device, kernel, name, worst, false, $"rank {ranks[r]}: expected {expectedQuartiles[r]:R}, got {quartiles[r]:R} (seed {_seed})");
        }
        long takenExpected = cpu.MaskedSelect(Output(expected, 0, n), other.Raw, @base.Raw, host, 0, threshold);
        if (takenExpected != takenActual)
            return new SelfTestResult(backend.Device, kernel, name, worst, false, $"taken: expected {takenExpected}, got {takenActual} (seed {_seed})");
        int mismatch = expected.Span.CommonPrefixLength(actual.Span);
        if (mismatch < expected.Length)
            return new SelfTestResult(backend.Device, kernel, name, worst, false, $"output byte {mismatch} (element {mismatch / outputType.SizeOf()}) differs (seed {_seed})");
        return new SelfTestResult(backend.Device, kernel, name, worst, true, $"importance within tolerance, ranks and selection bit-identical, {takenActual} taken");
    }

    /// <summary>Values stored in <paramref name="dtype"/> (rounded as the CPU conversion does).</summary>
    internal static StoredTensor Store(float[] values, DType dtype)
    {
        var storage = new NativeArray<byte>(values.LongLength * dtype.SizeOf());
        var raw = storage.AsRaw(DType.U8).Reinterpret(dtype);
        const int block = 1 << 20;
        for (long i = 0; i < values.LongLength; i += block)
            raw.WriteSingles(i, values.AsSpan((int)i, (int)Math.Min(block, values.LongLength - i)));
        return new StoredTensor(storage, raw);
    }

    internal sealed record StoredTensor(NativeArray<byte> Storage, RawTensor Raw) : IDisposable
    {
        public void Dispose() => Storage.Dispose();
    }
}

/// <summary>Views of raw bytes as another dtype.</summary>
internal static class RawTensorViews
{
    /// <summary>The same bytes as elements of <paramref name="dtype"/> (the byte length must divide evenly).</summary>
    public static unsafe RawTensor Reinterpret(this RawTensor bytes, DType dtype)
    {
        if (bytes.ByteLength % dtype.SizeOf() != 0) throw new ArgumentException($"{bytes.ByteLength} bytes are not whole {dtype} elements");
        return new RawTensor(bytes.Pointer, dtype, bytes.ByteLength / dtype.SizeOf());
    }
}
