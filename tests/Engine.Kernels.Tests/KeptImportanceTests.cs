using System.Text.Json;
using Engine.Core;
using Engine.Core.Diagnostics;
using Engine.Core.Numerics;
using Engine.Kernels.Cpu;
using Engine.Kernels.Ilgpu;
using Engine.Kernels.Parity;
using Engine.Testing;

namespace Engine.Kernels.Tests;

/// <summary>The importance a backend keeps between Arcee Fusion's steps (<see cref="IMergeKernels.ComputeImportance"/>):
/// what it holds and when it lets go. Its numbers are checked by the kept_importance cases of <see cref="KernelSelfTest"/>.</summary>
public sealed class KeptImportanceTests
{
    private const int Rows = 4, Length = 9;

    private static (KernelSelfTest.StoredTensor Other, KernelSelfTest.StoredTensor Base) Pair(float bad = 0f)
    {
        var random = new Random(5);
        var b = Enumerable.Range(0, Rows * Length).Select(_ => (float)random.NextDouble() * 0.1f).ToArray();
        var p = b.Select((v, i) => i % 3 == 0 ? v : v + 0.01f * (float)random.NextDouble()).ToArray();
        if (bad != 0f) p[2 * Length + 4] = bad;
        return (KernelSelfTest.Store(p, DType.BF16), KernelSelfTest.Store(b, DType.BF16));
    }

    [Fact]
    public void TheCpuBackendRecomputesItAndFillsTheGivenArrayOnRequest()
    {
        var (other, @base) = Pair();
        using (other)
        using (@base)
        using (var cpu = new CpuMergeKernels(2))
        using (var host = new NativeArray<float>(Rows * Length))
        using (var expected = new NativeArray<float>(Rows * Length))
        {
            cpu.RowImportance(expected, new double[Rows], other.Raw, @base.Raw, Length, ComputePrecision.Float32);
            using var importance = ((IMergeKernels)cpu).ComputeImportance(host, new double[Rows], other.Raw, @base.Raw, Length, ComputePrecision.Float32);
            // Float32 importances are recomputed, not stored (CpuFusedImportance): the array is filled on request.
            Assert.IsType<CpuFusedImportance>(importance);
            Assert.Same(host, importance.ToHost());
            Assert.Equal(expected.Span.ToArray(), host.Span.ToArray());
            Assert.Throws<ArgumentOutOfRangeException>(() => importance.MaskedSelect(new NativeArray<float>(4).AsRaw(DType.F32), Rows * Length - 3, 0f));
        }
    }

    [Fact]
    public void AnIlgpuBackendIsHeldUntilItsImportanceIsDisposed()
    {
        var (other, @base) = Pair();
        using var _ = other;
        using var __ = @base;
        using var ilgpu = IlgpuMergeKernels.CreateCpuAccelerator(2);
        using var host = new NativeArray<float>(Rows * Length);
        using var values = new NativeArray<float>(3);
        Task waiting;
        using (var importance = ilgpu.ComputeImportance(host, new double[Rows], other.Raw, @base.Raw, Length, ComputePrecision.Float32))
        {
            // At most one open importance per backend (IImportance).
            Assert.Throws<InvalidOperationException>(() => ilgpu.ComputeImportance(new NativeArray<float>(Rows * Length), new double[Rows], other.Raw, @base.Raw, Length, ComputePrecision.Float32));
            // One-call kernels on the owning thread still run (they use buffers of their own) ...
            var rank = new float[1];
            ilgpu.SelectRanks(rank, values, [0]);
            // ... while another thread's call waits for the importance to be disposed.
            waiting = Task.Run(() => ilgpu.SelectRanks(new float[1], values, [1]));
            Thread.Sleep(300);
            Assert.False(waiting.IsCompleted);
            var quartile = new float[1];
            importance.SelectRanks(quartile, [Rows * Length / 2]);
        }
        Assert.True(SpinWait.SpinUntil(() => waiting.IsCompleted, 30_000));
        Assert.True(waiting.IsCompletedSuccessfully);
        using var again = ilgpu.ComputeImportance(host, new double[Rows], other.Raw, @base.Raw, Length, ComputePrecision.Float32);
        Assert.Equal(Rows * Length, again.Length);
    }

    [Fact]
    public void ANonFiniteInputThrowsAndLetsGoOfTheBackend()
    {
        var (other, @base) = Pair(float.PositiveInfinity);
        using var _ = other;
        using var __ = @base;
        using var ilgpu = IlgpuMergeKernels.CreateCpuAccelerator(2);
        using var host = new NativeArray<float>(Rows * Length);
        var e = Assert.Throws<NonFiniteValueException>(() => ilgpu.ComputeImportance(host, new double[Rows], other.Raw, @base.Raw, Length, ComputePrecision.Float32));
        Assert.Equal(("other", 2L * Length + 4), (e.Which, e.Element));
        // The lock was released: another thread gets the backend at once.
        using var values = new NativeArray<float>(2);
        var elsewhere = Task.Run(() => ilgpu.SelectRanks(new float[1], values, [0]));
        Assert.True(SpinWait.SpinUntil(() => elsewhere.IsCompleted, 30_000));
        Assert.True(elsewhere.IsCompletedSuccessfully);
    }

    [Fact]
    public void AKeptImportanceRefusesOtherThreadsAndStaysUsableOnItsOwn()
    {
        var (other, @base) = Pair();
        using var _ = other;
        using var __ = @base;
        using var ilgpu = IlgpuMergeKernels.CreateCpuAccelerator(2);
        using var host = new NativeArray<float>(Rows * Length);
        using var output = new NativeArray<ushort>(Rows * Length);
        var importance = ilgpu.ComputeImportance(host, new double[Rows], other.Raw, @base.Raw, Length, ComputePrecision.Float32);
        var elsewhere = Task.Run(() =>
        {
            Assert.Throws<InvalidOperationException>(() => importance.SelectRanks(new float[1], [0]));
            Assert.Throws<InvalidOperationException>(() => importance.Dispose());
        });
        Assert.True(SpinWait.SpinUntil(() => elsewhere.IsCompleted, 30_000));
        Assert.True(elsewhere.IsCompletedSuccessfully, elsewhere.Exception?.ToString());
        // Still whole on its own thread: an odd start (a bf16 element off a 4-byte boundary) selects like the CPU.
        var rank = new float[1];
        importance.SelectRanks(rank, [(Rows * Length - 1) / 2]);
        long taken = importance.MaskedSelect(output.AsRaw(DType.BF16).Slice(7, 11), 7, rank[0]);
        Assert.Same(host, importance.ToHost());
        importance.Dispose();
        using var cpu = new CpuMergeKernels(2);
        using var expected = new NativeArray<ushort>(Rows * Length);
        Assert.Equal(cpu.MaskedSelect(expected.AsRaw(DType.BF16).Slice(7, 11), other.Raw.Slice(7, 11), @base.Raw.Slice(7, 11), host, 7, rank[0]), taken);
        Assert.Equal(expected.Span.Slice(7, 11).ToArray(), output.Span.Slice(7, 11).ToArray());
    }

    [Fact]
    public void Bfloat16EmulationIsKeptOnTheAcceleratorAndEqualsTheCpuBitForBit()
    {
        var (other, @base) = Pair();
        using var _ = other;
        using var __ = @base;
        using var ilgpu = IlgpuMergeKernels.CreateCpuAccelerator(2);
        using var cpu = new CpuMergeKernels(2);
        using var host = new NativeArray<float>(Rows * Length);
        using var expected = new NativeArray<float>(Rows * Length);
        var klExpected = new double[Rows];
        var klActual = new double[Rows];
        cpu.RowImportance(expected, klExpected, other.Raw, @base.Raw, Length, ComputePrecision.BFloat16);
        using var importance = ilgpu.ComputeImportance(host, klActual, other.Raw, @base.Raw, Length, ComputePrecision.BFloat16);
        Assert.IsNotType<HostImportance>(importance);
        Assert.Equal(expected.Span.ToArray().Select(BitConverter.SingleToInt32Bits), importance.ToHost().Span.ToArray().Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(klExpected, klActual);
    }

    [Fact]
    public void TracingRecordsEachStepOfTheKeptImportance()
    {
        var (other, @base) = Pair();
        using var _ = other;
        using var __ = @base;
        using var dir = new TempDirectory();
        var trace = new ProfileTrace();
        using var ilgpu = IlgpuMergeKernels.CreateCpuAccelerator(2);
        var traced = new TracingMergeKernels(ilgpu, trace);
        using var host = new NativeArray<float>(Rows * Length);
        using var output = new NativeArray<ushort>(Rows * Length);
        using (var importance = traced.ComputeImportance(host, new double[Rows], other.Raw, @base.Raw, Length, ComputePrecision.Float32))
        {
            importance.SelectRanks(new float[1], [3]);
            importance.MaskedSelect(output.AsRaw(DType.BF16), 0, 0f);
        }
        trace.Write(dir.Combine("trace.json"));
        using var json = JsonDocument.Parse(File.ReadAllText(dir.Combine("trace.json")));
        var spans = json.RootElement.GetProperty("traceEvents").EnumerateArray().Where(e => e.GetProperty("ph").GetString() == "X")
            .Select(e => (Name: e.GetProperty("name").GetString(), Category: e.GetProperty("cat").GetString())).ToList();
        // The wrapper's calls, each holding the backend's own spans (recorded when they end, so inner ones first).
        Assert.Equal(["row_importance", "select_ranks", "masked_select"], spans.Where(s => s.Category == "call").Select(s => s.Name));
        Assert.Equal(["upload", "upload", "row_importance (device)", "select_ranks (device)", "masked_select (device)", "download"],
            spans.Where(s => s.Category != "call").Select(s => s.Name));
        Assert.Equal(["upload", "upload", "kernel", "kernel", "kernel", "download"], spans.Where(s => s.Category != "call").Select(s => s.Category));
    }
}
