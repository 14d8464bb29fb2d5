using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Kernels.Cpu;
using Engine.Merge.Config;
using Engine.Merge.Execution;
using Engine.Testing;

namespace Engine.Merge.Tests;

/// <summary>Spreading tensors over several devices: no GPU here, so several CPU backends stand in for them;
/// what is tested is the executor's side (claiming, ordering, failure), which is the same for GPUs.</summary>
public sealed class MultiDeviceMergeTests
{
    private static string WriteModels(TempDirectory dir, string method)
    {
        var spec = SyntheticModelSpec.Tiny;
        SyntheticCheckpoint.Write(dir.Combine("base"), spec, 5, null);
        SyntheticCheckpoint.Write(dir.Combine("a"), spec, 5, 1);
        SyntheticCheckpoint.Write(dir.Combine("b"), spec, 5, 2);
        string config = dir.Combine($"{method}.yml");
        File.WriteAllText(config, method == "arcee_fusion"
            ? $"merge_method: arcee_fusion\nbase_model: {dir.Combine("base")}\nmodels:\n  - model: {dir.Combine("a")}\ndtype: bfloat16\n"
            : $"merge_method: {method}\nbase_model: {dir.Combine("base")}\nmodels:\n  - model: {dir.Combine("a")}\n    parameters: {{weight: 0.6, density: 0.5}}\n" +
              $"  - model: {dir.Combine("b")}\n    parameters: {{weight: 0.4, density: 0.7}}\ndtype: bfloat16\n");
        return config;
    }

    [Theory]
    [InlineData("arcee_fusion")]
    [InlineData("ties")]
    public void ThreeDevicesGiveTheSameBytesAsOne(string method)
    {
        using var dir = new TempDirectory();
        var config = MergeConfigReader.Load(WriteModels(dir, method));
        MergeResult single;
        using (var one = new CpuMergeKernels(2))
            single = new MergeExecutor(one).Run(config, new MergeRunOptions(dir.Combine("one")));
        using var devices = new KernelDevices([new CpuMergeKernels(1), new CpuMergeKernels(1), new CpuMergeKernels(1)]);
        var result = new MergeExecutor(devices.Devices).Run(config, new MergeRunOptions(dir.Combine("three")));

        var expected = TestModels.Files(dir.Combine("one"), "merge-report.json", "README.md");
        var actual = TestModels.Files(dir.Combine("three"), "merge-report.json", "README.md");
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (file, bytes) in expected) Assert.True(bytes.AsSpan().SequenceEqual(actual[file]), $"{file} differs");

        // Report entries stay in plan order, each naming the device that computed it.
        static List<string> Names(MergeResult r) => r.Report.Tensors.Select(t => t.Name).ToList();
        Assert.Equal(Names(single), Names(result));
        Assert.All(result.Report.Tensors, t => Assert.InRange(t.Device!.Value, 0, 2));
        Assert.Equal(3, result.Report.Devices.Count);
        Assert.Equal("3 devices", result.Report.Device);
    }

    [Fact]
    public void DevicesComputeConcurrently()
    {
        // Each device's first kernel call waits until every device has made one: this only completes when
        // tensors really are spread over the devices and computed at the same time.
        using var dir = new TempDirectory();
        var config = MergeConfigReader.Load(WriteModels(dir, "arcee_fusion"));
        using var all = new CountdownEvent(3);
        using var devices = new KernelDevices([new RendezvousKernels(all), new RendezvousKernels(all), new RendezvousKernels(all)]);
        var result = new MergeExecutor(devices.Devices).Run(config, new MergeRunOptions(dir.Combine("out")));
        Assert.Equal(3, result.Report.Tensors.Select(t => t.Device).Distinct().Count());
    }

    [Fact]
    public void AFailureOnOneDeviceStopsTheRunWithItsOwnMessageAndWritesNothing()
    {
        using var dir = new TempDirectory();
        var shapes = Enumerable.Range(0, 12).Select(i => ($"t{i:D2}", new long[] { 64, 32 })).ToArray();
        var random = new Random(3);
        var values = shapes.Select(_ => TestModels.RandomValues(random, 64 * 32)).ToArray();
        TestModels.Write(dir.Combine("base"), DType.F32, shapes.Select((s, i) => (s.Item1, s.Item2, values[i])));
        var poisoned = values.Select(v => v.ToArray()).ToArray();
        poisoned[7][100] = float.NaN;
        TestModels.Write(dir.Combine("a"), DType.F32, shapes.Select((s, i) => (s.Item1, s.Item2, poisoned[i])));
        string yaml = dir.Combine("c.yml");
        File.WriteAllText(yaml, $"merge_method: arcee_fusion\nbase_model: {dir.Combine("base")}\nmodels:\n  - model: {dir.Combine("a")}\n");

        using var devices = new KernelDevices([new CpuMergeKernels(1), new CpuMergeKernels(1)]);
        var e = Assert.Throws<EngineException>(() =>
            new MergeExecutor(devices.Devices).Run(MergeConfigReader.Load(yaml), new MergeRunOptions(dir.Combine("out"))));
        Assert.Contains("tensor 't07'", e.Message);
        Assert.Contains("element 100", e.Message);
        Assert.False(Directory.Exists(dir.Combine("out")));
    }

    [Fact]
    public void CancellingStopsEveryDevice()
    {
        using var dir = new TempDirectory();
        var config = MergeConfigReader.Load(WriteModels(dir, "arcee_fusion"));
        using var devices = new KernelDevices([new CpuMergeKernels(1), new CpuMergeKernels(1)]);
        using var cancel = new CancellationTokenSource();
        var progress = new SyncProgress(p =>
        {
            if (p.Done == 2) cancel.Cancel();
        });
        Assert.ThrowsAny<OperationCanceledException>(() =>
            new MergeExecutor(devices.Devices).Run(config, new MergeRunOptions(dir.Combine("out")), progress, cancel.Token));
        Assert.False(Directory.Exists(dir.Combine("out")));
    }

    [Fact]
    public void DeviceListsAreParsedAndCheckedWithoutAGpu()
    {
        using (var cpu = KernelBackends.CreateDevices("cpu", 1)) Assert.Equal(1, cpu.Count);
        Assert.Contains("listed twice", Assert.Throws<EngineException>(() => KernelBackends.CreateDevices("cuda:1,1", 1)).Message);
        Assert.Contains("one device", Assert.Throws<EngineException>(() => KernelBackends.Create("cuda:0,1", 1)).Message);
        Assert.Throws<EngineException>(() => KernelBackends.CreateDevices("cuda:0,x", 1));
        Assert.Throws<EngineException>(() => KernelBackends.CreateDevices("cpu:0,1", 1));
    }

    /// <summary>CPU kernels whose first call meets the other devices' first calls (or fails after 30 s).</summary>
    private sealed class RendezvousKernels(CountdownEvent all) : DelegatingMergeKernels(1)
    {
        private bool _met;

        public override void RowImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
        {
            if (!_met)
            {
                _met = true;
                all.Signal();
                if (!all.Wait(TimeSpan.FromSeconds(30))) throw new TimeoutException("the other devices never started a tensor");
            }
            Cpu.RowImportance(importance, rowKl, other, @base, rowLength, precision);
        }
    }

    private sealed class SyncProgress(Action<MergeProgress> report) : IProgress<MergeProgress>
    {
        public void Report(MergeProgress value) => report(value);
    }
}
