namespace Engine.Merge.Tests;

/// <summary>Arcee Fusion in float64, straight from the formula (DESIGN.md §3): the algorithmic reference.</summary>
public static class ArceeFusionReference
{
    public static (double[] Importance, double Threshold, float[] Merged) Merge(float[] other, float[] @base, int rowLength, double lambda = 1.5)
    {
        int n = other.Length, rows = n / rowLength;
        var importance = new double[n];
        for (int r = 0; r < rows; r++)
        {
            var p = Softmax(other, r * rowLength, rowLength);
            var q = Softmax(@base, r * rowLength, rowLength);
            double kl = 0;
            for (int j = 0; j < rowLength; j++) kl += p[j] * Math.Log(p[j] / q[j]);
            for (int j = 0; j < rowLength; j++)
            {
                int i = r * rowLength + j;
                importance[i] = Math.Abs((double)other[i] - @base[i]) * kl;
            }
        }
        var sorted = importance.Order().ToArray();
        double Q(double f) => sorted[(long)Math.Floor(f * (n - 1))];
        double threshold = Q(0.5) + lambda * (Q(0.75) - Q(0.25));
        var merged = new float[n];
        for (int i = 0; i < n; i++) merged[i] = importance[i] >= threshold ? other[i] : @base[i];
        return (importance, threshold, merged);
    }

    private static double[] Softmax(float[] x, int start, int n)
    {
        double max = double.NegativeInfinity;
        for (int j = 0; j < n; j++) max = Math.Max(max, x[start + j]);
        var e = new double[n];
        double sum = 0;
        for (int j = 0; j < n; j++) sum += e[j] = Math.Exp(x[start + j] - max);
        for (int j = 0; j < n; j++) e[j] = e[j] / sum + 1e-8;
        return e;
    }
}
