namespace Engine.Kernels;

/// <summary>One device-resident measurement: the median over repeats, and the bytes the kernel must move
/// (reads + writes), so GB/s can be set against a device-to-device copy measured in the same run.</summary>
public sealed record DeviceTiming(string Kernel, double MedianMilliseconds, long Bytes)
{
    /// <summary><c>Bytes / (MedianMilliseconds * 1e-3) / 1e9</c>: decimal GB/s.</summary>
    public double GigabytesPerSecond => Bytes / (MedianMilliseconds * 1e-3) / 1e9;

    /// <summary>The median of <paramref name="repeat"/> samples (at least one).</summary>
    public static double Median(int repeat, Func<double> sample)
    {
        var samples = Enumerable.Range(0, Math.Max(1, repeat)).Select(_ => sample()).Order().ToArray();
        return samples[samples.Length / 2];
    }
}
