using System.Diagnostics;
using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Numerics;

namespace Engine.Merge.Benchmarks;

/// <summary>The result of <see cref="IoBenchmark.Measure"/>: medians of copying and of reading + converting the same
/// bytes.</summary>
public sealed record IoBenchResult(string Model, int Tensors, long Bytes, int Threads, int Repeat, double CopySeconds, double ConvertSeconds)
{
    /// <summary>Copy bandwidth: <c>Bytes / CopySeconds</c>, bytes per second.</summary>
    public double CopyBytesPerSecond => Bytes / CopySeconds;

    /// <summary>Read + convert-to-float32 bandwidth: <c>Bytes / ConvertSeconds</c>, bytes per second of stored input.</summary>
    public double ConvertBytesPerSecond => Bytes / ConvertSeconds;
}

/// <summary>The measurement of <c>engine bench io</c>: reading and converting a checkpoint's tensors to float32
/// through the merge's read path (positional reads into memory), against a plain memory copy of the bytes read,
/// both in one run.</summary>
public static class IoBenchmark
{
    /// <summary>Times reading and converting every tensor of the model at <paramref name="path"/> to float32 on
    /// <paramref name="threads"/> threads, and a plain copy of the same bytes, <paramref name="repeat"/> times each; returns the medians.</summary>
    /// <exception cref="Core.EngineException">The model cannot be opened or a tensor cannot be read.</exception>
    public static unsafe IoBenchResult Measure(string path, int threads, int repeat)
    {
        using var model = ModelDirectory.Open(path);
        var tensors = model.Tensors.Where(t => t.Info.DType.IsMathType() && t.Info.ByteLength > 0).ToList();
        long bytes = tensors.Sum(t => t.Info.ByteLength);
        const int chunk = 1 << 20;
        var copies = Enumerable.Range(0, threads).Select(_ => new byte[chunk * 4]).ToArray();
        var floats = Enumerable.Range(0, threads).Select(_ => new float[chunk]).ToArray();

        double Run(bool convert)
        {
            var clock = Stopwatch.StartNew();
            foreach (var t in tensors)
            {
                using var view = t.Read();
                var raw = new RawTensor(view.Pointer, t.Info.DType, t.Info.ElementCount);
                long chunks = (raw.Length + chunk - 1) / chunk;
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, w =>
                {
                    for (long c = w; c < chunks; c += threads)
                    {
                        int n = (int)Math.Min(chunk, raw.Length - c * chunk);
                        if (convert) raw.ReadSingles(c * chunk, floats[w].AsSpan(0, n));
                        else raw.Bytes(c * chunk, n).CopyTo(copies[w]);
                    }
                });
            }
            return clock.Elapsed.TotalSeconds;
        }

        var (copy, convert) = BenchTiming.AlternatingMedians(repeat, () => Run(false), () => Run(true));
        return new IoBenchResult(model.Path, tensors.Count, bytes, threads, repeat, copy, convert);
    }
}
