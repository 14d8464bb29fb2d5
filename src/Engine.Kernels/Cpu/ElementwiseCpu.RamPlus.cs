using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Engine.Core.Numerics;

namespace Engine.Kernels.Cpu;

/// <summary>RAM+'s combine (<see cref="IElementwiseKernels.AmplifiedCountedAverage"/>): per block, every model's
/// float32 delta once, the per-element count of changes, then the sum in model order, vectorised (each product and
/// quotient rounded on its own, as the scalar formula; an unchanged model adds +0, which leaves the sum as it is:
/// a sum from +0 is never -0).</summary>
internal sealed unsafe partial class ElementwiseCpu
{
    public void AmplifiedCountedAverage(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> amplification, float epsilon)
    {
        ElementwiseShapes.CheckAmplified(output.Length, models, @base, amplification);
        var xs = models.ToArray();
        var lambda = amplification.ToArray();
        ForEachBlock(output.Length, (start, count) =>
        {
            using var scratch = new BlockScratch(count);
            var baseValues = scratch.Read(@base, start);
            var deltas = new float[xs.Length][];
            var changes = scratch.Take();
            var sum = scratch.Take();
            changes.Clear();
            sum.Clear();
            for (int i = 0; i < xs.Length; i++)
            {
                deltas[i] = scratch.ReadArray(xs[i], start);
                CountChanges(changes, deltas[i].AsSpan(0, count), baseValues, epsilon);
            }
            for (int i = 0; i < xs.Length; i++) AddAmplified(sum, changes, deltas[i].AsSpan(0, count), lambda[i], epsilon);
            for (int e = 0; e < count; e++) sum[e] = baseValues[e] + sum[e];
            output.WriteSingles(start, sum);
        });
    }

    /// <summary><c>x -= b</c> (x becomes the delta), and <c>changes += 1</c> where <c>|x - b| &gt; epsilon</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void CountChanges(Span<float> changes, Span<float> x, ReadOnlySpan<float> b, float epsilon)
    {
        int e = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float c = ref MemoryMarshal.GetReference(changes);
            ref float d = ref MemoryMarshal.GetReference(x);
            ref float r = ref MemoryMarshal.GetReference(b);
            var eps = Vector256.Create(epsilon);
            for (; e <= x.Length - Vector256<float>.Count; e += Vector256<float>.Count)
            {
                var delta = Vector256.LoadUnsafe(ref d, (nuint)e) - Vector256.LoadUnsafe(ref r, (nuint)e);
                delta.StoreUnsafe(ref d, (nuint)e);
                var changed = Vector256.GreaterThan(Vector256.Abs(delta), eps);
                (Vector256.LoadUnsafe(ref c, (nuint)e) + (changed & Vector256<float>.One)).StoreUnsafe(ref c, (nuint)e);
            }
        }
        for (; e < x.Length; e++)
        {
            x[e] -= b[e];
            if (MathF.Abs(x[e]) > epsilon) changes[e] += 1;
        }
    }

    /// <summary>Where <c>|d| &gt; epsilon</c>: <c>sum += changes == 1 ? d lambda : d / changes</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddAmplified(Span<float> sum, ReadOnlySpan<float> changes, ReadOnlySpan<float> d, float lambda, float epsilon)
    {
        int e = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float s = ref MemoryMarshal.GetReference(sum);
            ref float c = ref MemoryMarshal.GetReference(changes);
            ref float x = ref MemoryMarshal.GetReference(d);
            var eps = Vector256.Create(epsilon);
            var l = Vector256.Create(lambda);
            for (; e <= d.Length - Vector256<float>.Count; e += Vector256<float>.Count)
            {
                var delta = Vector256.LoadUnsafe(ref x, (nuint)e);
                var count = Vector256.LoadUnsafe(ref c, (nuint)e);
                // count is 0 only where delta is unchanged, so the quotient there (NaN) is masked out.
                var term = Vector256.ConditionalSelect(Vector256.Equals(count, Vector256<float>.One), delta * l, delta / count);
                var changed = Vector256.GreaterThan(Vector256.Abs(delta), eps);
                (Vector256.LoadUnsafe(ref s, (nuint)e) + (term & changed)).StoreUnsafe(ref s, (nuint)e);
            }
        }
        for (; e < d.Length; e++)
        {
            if (MathF.Abs(d[e]) > epsilon) sum[e] += changes[e] == 1 ? d[e] * lambda : d[e] / changes[e];
        }
    }
}
