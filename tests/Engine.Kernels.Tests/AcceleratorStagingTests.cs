using Engine.Kernels.Ilgpu;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace Engine.Kernels.Tests;

/// <summary>The ILGPU backend's page-locked double-buffered transfers, on the CPU accelerator with chunks small
/// enough that every path (several chunks, a short last one, a single partial one, none) is taken.</summary>
public sealed unsafe class AcceleratorStagingTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(999)]
    [InlineData(1000)]
    [InlineData(4099)]
    public void BytesGoUpAndComeBackUnchanged(int bytes)
    {
        using var context = Context.Create(b => b.CPU());
        using var accelerator = context.CreateCPUAccelerator(0);
        using var staging = new AcceleratorStaging(accelerator, threads: 2, chunk: 1000);
        var source = new byte[bytes];
        new Random(bytes).NextBytes(source);
        using var device = accelerator.Allocate1D<byte>(Math.Max(1, bytes));
        var view = device.View.SubView(0, bytes);
        fixed (byte* s = source) staging.Upload(view, s);
        staging.Flush();
        // A kernel-side change between the two copies proves the download reads the device, not the staging buffer.
        if (bytes > 0) device.View.SubView(0, 1).MemSet(accelerator.DefaultStream, 0x5A);
        var back = new byte[bytes];
        fixed (byte* d = back) staging.Download(d, view);
        if (bytes > 0) source[0] = 0x5A;
        Assert.Equal(source, back);
    }

    [Fact]
    public void FloatsUseTheSameStaging()
    {
        using var context = Context.Create(b => b.CPU());
        using var accelerator = context.CreateCPUAccelerator(0);
        using var staging = new AcceleratorStaging(accelerator, threads: 2, chunk: 64);
        var source = Enumerable.Range(0, 1001).Select(i => i * 0.5f - 3f).ToArray();
        using var device = accelerator.Allocate1D<float>(source.Length);
        fixed (float* s = source) staging.Upload(device.View, s);
        staging.Flush();
        var back = new float[source.Length];
        fixed (float* d = back) staging.Download(d, device.View);
        Assert.Equal(source, back);
    }
}
