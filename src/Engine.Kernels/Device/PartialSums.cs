namespace Engine.Kernels.Device;

/// <summary>The host half of every device reduction: the kernels write one float64 partial per block, and the
/// host adds them in block order, so the sums equal the CPU reference's whatever the grid.</summary>
internal static class PartialSums
{
    /// <summary>Adds the per-block partials (segments, perSegment, width) of a reduction in block order into
    /// <paramref name="sums"/> (segments, width). With <paramref name="gram"/>, width is k*k, only the upper triangle
    /// holds partials and the lower is mirrored.</summary>
    public static void Add(Span<double> sums, double[] partials, long segments, long perSegment, int width, bool gram)
    {
        sums.Clear();
        int k = gram ? (int)Math.Round(Math.Sqrt(width)) : width;
        for (long s = 0; s < segments; s++)
        {
            var target = sums.Slice((int)(s * width), width);
            for (long b = 0; b < perSegment; b++)
            {
                for (int w = 0; w < width; w++)
                {
                    if (!gram || w % k >= w / k) target[w] += partials[(s * perSegment + b) * width + w];
                }
            }
            if (!gram) continue;
            for (int i = 0; i < k; i++)
            {
                for (int j = 0; j < i; j++) target[i * k + j] = target[j * k + i];
            }
        }
    }
}
