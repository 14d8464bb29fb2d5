using Engine.Kernels.Device;
using ILGPU;
using static Engine.Kernels.Ilgpu.IlgpuMath;

namespace Engine.Kernels.Ilgpu;

/// <summary>The <see cref="IElementwiseKernels"/> primitives written once in C# for ILGPU (PTX on NVIDIA GPUs, the
/// CPU accelerator in tests); <c>kernels/cuda/elementwise.cu</c> mirrors them line for line. Reference:
/// <c>Cpu/ElementwiseCpu.cs</c>. Several inputs travel packed in one byte buffer: input i starts at byte
/// <c>offsets[i]</c> (a multiple of 16) and is stored as <c>dtypes[i]</c>; where a base takes part it is the
/// input after the models. Element-wise kernels stride over the grid; reduction kernels take one group per
/// <see cref="IElementwiseKernels.ReductionBlock"/>-element block and write that block's partial, which the host
/// adds in block order.</summary>
public static class IlgpuElementwiseKernels
{
    private const int Block = IElementwiseKernels.ReductionBlock;

    /// <summary>Input <paramref name="i"/>'s element <paramref name="e"/> as float32.</summary>
    private static float Load(ArrayView<byte> packed, ArrayView<long> offsets, ArrayView<int> dtypes, int i, long e)
    {
        long offset = offsets[i];
        return IlgpuMath.Load(packed.SubView(offset, packed.Length - offset), dtypes[i], e);
    }

    /// <summary>output = Σ_j c_j x_j from -0, or b + Σ_j c_j (x_j - b) from b, c_j from the coefficient row of
    /// element e's segment; coefficients (segments, k) from the segment holding the tensor's element firstElement,
    /// the call's element 0 (reference: ElementwiseCpu.SegmentedLinearCombination).</summary>
    public static void LinearCombination(ArrayView<byte> output, ArrayView<byte> packed, ArrayView<long> offsets, ArrayView<int> dtypes, ArrayView<float> coefficients,
        int outputDType, int k, int hasBase, long segmentLength, long firstElement, long n)
    {
        long stride = (long)Group.DimX * Grid.DimX;
        long firstSegment = firstElement / segmentLength;
        for (long e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            long row = ((firstElement + e) / segmentLength - firstSegment) * k;
            float b = hasBase != 0 ? Load(packed, offsets, dtypes, k, e) : 0f;
            float acc = hasBase != 0 ? b : -0f;
            for (int j = 0; j < k; j++)
            {
                float x = Load(packed, offsets, dtypes, j, e);
                if (hasBase != 0) x -= b;
                acc = AddRn(MulRn(x, coefficients[row + j]), acc);
            }
            IlgpuMath.Store(output, outputDType, e, acc);
        }
    }

    /// <summary>Per block item (segment item / perSegment, block item % perSegment of it): partials[item, i, j] =
    /// Σ v_i v_j over the block, v = x or x - b, upper triangle only (reference: ElementwiseCpu.Gram).</summary>
    public static void GramPartials(ArrayView<double> partials, ArrayView<byte> packed, ArrayView<long> offsets, ArrayView<int> dtypes,
        int k, int hasBase, long segmentLength, long perSegment, long items)
    {
        var scratch = SharedMemory.Allocate<double>(IlgpuKernels.MaxGroup);
        for (long item = Grid.IdxX; item < items; item += Grid.DimX)
        {
            long s = item / perSegment, b = item % perSegment;
            long start = s * segmentLength + b * Block;
            long count = IntrinsicMath.Min(Block, segmentLength - b * Block);
            for (int i = 0; i < k; i++)
            {
                for (int j = i; j < k; j++)
                {
                    double sum = 0;
                    for (long e = start + Group.IdxX; e < start + count; e += Group.DimX)
                    {
                        float vi = Load(packed, offsets, dtypes, i, e), vj = Load(packed, offsets, dtypes, j, e);
                        if (hasBase != 0)
                        {
                            float bv = Load(packed, offsets, dtypes, k, e);
                            vi -= bv;
                            vj -= bv;
                        }
                        sum += (double)vi * vj;
                    }
                    sum = IlgpuKernels.BlockSum(sum, scratch);
                    if (Group.IdxX == 0) partials[item * k * k + i * k + j] = sum;
                }
            }
        }
    }

    /// <summary>magnitudes = |other - base|; bad[0] = the smallest index whose difference is not finite
    /// (reference: ElementwiseCpu.AbsDifference).</summary>
    public static void AbsDifference(ArrayView<float> magnitudes, ArrayView<ulong> bad, ArrayView<byte> other, ArrayView<byte> @base, int otherDType, int baseDType, long n)
    {
        long stride = (long)Group.DimX * Grid.DimX;
        for (long e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            float d = IlgpuMath.Load(other, otherDType, e) - IlgpuMath.Load(@base, baseDType, e);
            magnitudes[e] = IlgpuMath.Abs(d);
            if (!IlgpuMath.IsFinite(d)) Atomic.Min(ref bad[0], (ulong)e);
        }
    }

    /// <summary>Per block: partials[block] = (Σ|other - base|, Σ over kept elements) (reference: ElementwiseCpu.AbsDifferenceSums).</summary>
    public static void AbsDifferenceSums(ArrayView<double> partials, ArrayView<byte> other, ArrayView<byte> @base, ArrayView<ulong> keep, int otherDType, int baseDType, long n)
    {
        var scratch = SharedMemory.Allocate<double>(IlgpuKernels.MaxGroup);
        long blocks = (n + Block - 1) / Block;
        for (long block = Grid.IdxX; block < blocks; block += Grid.DimX)
        {
            long end = IntrinsicMath.Min(n, (block + 1) * Block);
            double before = 0, after = 0;
            for (long e = block * Block + Group.IdxX; e < end; e += Group.DimX)
            {
                double d = IlgpuMath.Abs(IlgpuMath.Load(other, otherDType, e) - IlgpuMath.Load(@base, baseDType, e));
                before += d;
                if ((keep[e >> 6] & (1UL << (int)(e & 63))) != 0) after += d;
            }
            before = IlgpuKernels.BlockSum(before, scratch);
            after = IlgpuKernels.BlockSum(after, scratch);
            if (Group.IdxX == 0)
            {
                partials[block * 2] = before;
                partials[block * 2 + 1] = after;
            }
        }
    }

    /// <summary>One thread per mask word: bit e set when CounterHash.Uniform(key, e) &lt; density (reference: ElementwiseCpu.RandomKeepMask).</summary>
    public static void RandomKeepMask(ArrayView<ulong> keep, ulong key, double density, long length)
    {
        long words = (length + 63) / 64;
        long stride = (long)Group.DimX * Grid.DimX;
        for (long w = Grid.GlobalIndex.X; w < words; w += stride)
        {
            ulong bits = 0;
            for (int b = 0; b < 64; b++)
            {
                long e = w * 64 + b;
                if (e < length && CounterHash.Uniform(key, e) < density) bits |= 1UL << b;
            }
            keep[w] = bits;
        }
    }

    /// <summary>The task-arithmetic combine (reference: ElementwiseCpu.TaskArithmetic). masks (k, wordsPerModel):
    /// model i's words from the one holding element <c>maskStart</c>; bitOffset = maskStart &amp; 63.</summary>
    public static void TaskArithmetic(ArrayView<byte> output, ArrayView<byte> packed, ArrayView<long> offsets, ArrayView<int> dtypes,
        ArrayView<float> weights, ArrayView<float> scales, ArrayView<ulong> masks, ArrayView<int> hasMask, TaskArithmeticScalars p)
    {
        int k = p.K, bitOffset = p.BitOffset;
        long n = p.N, wordsPerModel = p.WordsPerModel;
        long stride = (long)Group.DimX * Grid.DimX;
        for (long e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            float b = Load(packed, offsets, dtypes, k, e);
            float mixed = 0, divisor;
            if (p.Consensus != 0)
            {
                float sum = 0;
                for (int i = 0; i < k; i++) sum = AddRn(sum, Delta(packed, offsets, dtypes, weights, scales, masks, hasMask, wordsPerModel, bitOffset, i, e, b));
                float majority = sum >= 0 ? 1f : -1f;
                divisor = 0;
                for (int i = 0; i < k; i++)
                {
                    float wd = Delta(packed, offsets, dtypes, weights, scales, masks, hasMask, wordsPerModel, bitOffset, i, e, b);
                    float sign = wd > 0 ? 1f : wd < 0 ? -1f : 0f;
                    if (sign == majority)
                    {
                        mixed = AddRn(mixed, wd);
                        divisor = AddRn(divisor, weights[i]);
                    }
                }
                if (divisor == 0) divisor = 1;
            }
            else
            {
                for (int i = 0; i < k; i++) mixed = AddRn(mixed, Delta(packed, offsets, dtypes, weights, scales, masks, hasMask, wordsPerModel, bitOffset, i, e, b));
                divisor = p.LinearDivisor;
            }
            if (p.Normalize != 0) mixed /= divisor;
            if (p.Lambda != 1f) mixed = MulRn(mixed, p.Lambda);
            IlgpuMath.Store(output, p.OutputDType, e, AddRn(b, mixed));
        }
    }

    /// <summary>NearSwap: input 0 the model M, input 1 the base B; <c>w = clamp(t / max(|B - M|, 1e-6), 0, 1)</c>,
    /// NaN kept, <c>out = w M + (1 - w) B</c> (reference: ElementwiseCpu.NearSwap).</summary>
    public static void NearSwap(ArrayView<byte> output, ArrayView<byte> packed, ArrayView<long> offsets, ArrayView<int> dtypes, int outputDType, float t, long n)
    {
        long stride = (long)Group.DimX * Grid.DimX;
        for (long e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            float m = Load(packed, offsets, dtypes, 0, e), b = Load(packed, offsets, dtypes, 1, e);
            float distance = IlgpuMath.Abs(b - m);
            // MathF.Max and Math.Clamp as the reference calls them: a NaN stays NaN.
            float w = t / (!(distance <= 1e-6f) ? distance : 1e-6f);
            w = w < 0f ? 0f : w > 1f ? 1f : w;
            IlgpuMath.Store(output, outputDType, e, AddRn(MulRn(w, m), MulRn(1 - w, b)));
        }
    }

    /// <summary>RAM's counted average over the k models, the base input k: <c>B + Σ_{|d_i| &gt; eps} d_i / max(1, count)</c>
    /// (reference: ElementwiseCpu.CountedAverage).</summary>
    public static void CountedAverage(ArrayView<byte> output, ArrayView<byte> packed, ArrayView<long> offsets, ArrayView<int> dtypes, int outputDType, int k, float epsilon, long n)
    {
        long stride = (long)Group.DimX * Grid.DimX;
        for (long e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            float b = Load(packed, offsets, dtypes, k, e);
            float sum = 0, count = 0;
            for (int i = 0; i < k; i++)
            {
                float d = Load(packed, offsets, dtypes, i, e) - b;
                if (IlgpuMath.Abs(d) > epsilon)
                {
                    sum = AddRn(sum, d);
                    count = AddRn(count, 1f);
                }
            }
            IlgpuMath.Store(output, outputDType, e, AddRn(b, sum / (count > 1f ? count : 1f)));
        }
    }

    /// <summary>RAM+'s combine over the k models, the base input k: <c>B + Σ_{|d_i| &gt; eps} (count = 1 ? d_i lambda_i : d_i / count)</c>,
    /// the count first, then the sum in model order (reference: ElementwiseCpu.AmplifiedCountedAverage).</summary>
    public static void AmplifiedCountedAverage(ArrayView<byte> output, ArrayView<byte> packed, ArrayView<long> offsets, ArrayView<int> dtypes, ArrayView<float> lambda,
        int outputDType, int k, float epsilon, long n)
    {
        long stride = (long)Group.DimX * Grid.DimX;
        for (long e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            float b = Load(packed, offsets, dtypes, k, e);
            float count = 0, sum = 0;
            for (int i = 0; i < k; i++)
            {
                if (IlgpuMath.Abs(Load(packed, offsets, dtypes, i, e) - b) > epsilon) count = AddRn(count, 1f);
            }
            for (int i = 0; i < k; i++)
            {
                float d = Load(packed, offsets, dtypes, i, e) - b;
                if (IlgpuMath.Abs(d) > epsilon) sum = AddRn(sum, count == 1f ? MulRn(d, lambda[i]) : d / count);
            }
            IlgpuMath.Store(output, outputDType, e, AddRn(b, sum));
        }
    }

    /// <summary>variance = the population variance of the k deltas (mean first, then the centred squares); bad[0] =
    /// the smallest element whose delta is not finite; nonzero[0] += the nonzero variances, one atomic per thread
    /// (reference: ElementwiseCpu.DeltaVariance).</summary>
    public static void DeltaVariance(ArrayView<float> variance, ArrayView<ulong> bad, ArrayView<long> nonzero, ArrayView<byte> packed, ArrayView<long> offsets,
        ArrayView<int> dtypes, int k, long n)
    {
        long stride = (long)Group.DimX * Grid.DimX, count = 0;
        for (long e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            float b = Load(packed, offsets, dtypes, k, e), mean = 0;
            for (int i = 0; i < k; i++)
            {
                float d = Load(packed, offsets, dtypes, i, e) - b;
                if (!IlgpuMath.IsFinite(d)) Atomic.Min(ref bad[0], (ulong)e);
                mean = AddRn(mean, d);
            }
            mean /= k;
            float square = 0;
            for (int i = 0; i < k; i++)
            {
                float c = Load(packed, offsets, dtypes, i, e) - b - mean;
                square = AddRn(square, MulRn(c, c));
            }
            float v = square / k;
            variance[e] = v;
            if (v != 0) count++;
        }
        if (count != 0) Atomic.Add(ref nonzero[0], count);
    }

    /// <summary>Per block: partials[block, i] = Σ over kept elements of (double)(x_i - b)² (reference: ElementwiseCpu.DeltaSquareSums).</summary>
    public static void DeltaSquareSums(ArrayView<double> partials, ArrayView<byte> packed, ArrayView<long> offsets, ArrayView<int> dtypes, ArrayView<ulong> keep,
        int hasKeep, int k, long n)
    {
        var scratch = SharedMemory.Allocate<double>(IlgpuKernels.MaxGroup);
        long blocks = (n + Block - 1) / Block;
        for (long block = Grid.IdxX; block < blocks; block += Grid.DimX)
        {
            long end = IntrinsicMath.Min(n, (block + 1) * Block);
            for (int i = 0; i < k; i++)
            {
                double sum = 0;
                for (long e = block * Block + Group.IdxX; e < end; e += Group.DimX)
                {
                    if (hasKeep != 0 && (keep[e >> 6] & (1UL << (int)(e & 63))) == 0) continue;
                    double v = Load(packed, offsets, dtypes, i, e) - Load(packed, offsets, dtypes, k, e);
                    sum += v * v;
                }
                sum = IlgpuKernels.BlockSum(sum, scratch);
                if (Group.IdxX == 0) partials[block * k + i] = sum;
            }
        }
    }

    /// <summary>SCE's combine (reference: ElementwiseCpu.SignElectedMean). keep: the mask words from the one holding
    /// the call's first element, bitOffset = that element's bit.</summary>
    public static void SignElectedMean(ArrayView<byte> output, ArrayView<byte> packed, ArrayView<long> offsets, ArrayView<int> dtypes, ArrayView<float> weights,
        ArrayView<ulong> keep, int outputDType, int k, int hasKeep, int bitOffset, long n)
    {
        long stride = (long)Group.DimX * Grid.DimX;
        for (long e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            float b = Load(packed, offsets, dtypes, k, e);
            long bit = bitOffset + e;
            bool kept = hasKeep == 0 || (keep[bit >> 6] & (1UL << (int)(bit & 63))) != 0;
            float sum = 0;
            for (int i = 0; i < k; i++) sum = AddRn(sum, kept ? Load(packed, offsets, dtypes, i, e) - b : 0f);
            float majority = sum >= 0 ? 1f : -1f;
            float mixed = 0, divisor = 0;
            for (int i = 0; i < k; i++)
            {
                float d = kept ? Load(packed, offsets, dtypes, i, e) - b : 0f;
                float sign = d > 0 ? 1f : d < 0 ? -1f : 0f;
                if (sign != majority) continue;
                mixed = AddRn(mixed, MulRn(d, weights[i]));
                divisor = AddRn(divisor, weights[i]);
            }
            IlgpuMath.Store(output, outputDType, e, AddRn(b, mixed / (!(divisor <= 1e-6f) ? divisor : 1e-6f)));
        }
    }

    /// <summary>Per run r of <paramref name="runLength"/> consecutive elements (the last may be shorter), one group:
    /// partials[r] = (Σ v_0², Σ v_1², Σ v_0 v_1, Σ (v_0 - v_1)²), v_i = input i, or minus input 2 with a base
    /// (reference: ElementwiseCpu.PairSums; runs are rows, or reduction blocks of a whole-tensor vector).</summary>
    public static void PairSumsRuns(ArrayView<double> partials, ArrayView<byte> packed, ArrayView<long> offsets, ArrayView<int> dtypes, int hasBase, long runLength, long runs, long n)
    {
        var scratch = SharedMemory.Allocate<double>(IlgpuKernels.MaxGroup);
        for (long run = Grid.IdxX; run < runs; run += Grid.DimX)
        {
            long end = IntrinsicMath.Min(n, (run + 1) * runLength);
            double aa = 0, bb = 0, ab = 0, dd = 0;
            for (long e = run * runLength + Group.IdxX; e < end; e += Group.DimX)
            {
                PairTerms(packed, offsets, dtypes, hasBase, e, out double x, out double y);
                double d = x - y;
                aa += x * x;
                bb += y * y;
                ab += x * y;
                dd = AddRn(dd, MulRn(d, d));  // not exact in float64: never fused, as the CPU
            }
            aa = IlgpuKernels.BlockSum(aa, scratch);
            bb = IlgpuKernels.BlockSum(bb, scratch);
            ab = IlgpuKernels.BlockSum(ab, scratch);
            dd = IlgpuKernels.BlockSum(dd, scratch);
            if (Group.IdxX == 0)
            {
                partials[run * 4] = aa;
                partials[run * 4 + 1] = bb;
                partials[run * 4 + 2] = ab;
                partials[run * 4 + 3] = dd;
            }
        }
    }

    /// <summary>One thread per column j of the [length, vectors] view: sums[j] = the four pair sums over rows in order
    /// (reference: ElementwiseCpu.PairSums along the first dimension).</summary>
    public static void PairSumsColumns(ArrayView<double> sums, ArrayView<byte> packed, ArrayView<long> offsets, ArrayView<int> dtypes, int hasBase, long vectors, long length)
    {
        long stride = (long)Group.DimX * Grid.DimX;
        for (long j = Grid.GlobalIndex.X; j < vectors; j += stride)
        {
            double aa = 0, bb = 0, ab = 0, dd = 0;
            for (long i = 0; i < length; i++)
            {
                PairTerms(packed, offsets, dtypes, hasBase, i * vectors + j, out double x, out double y);
                double d = x - y;
                aa += x * x;
                bb += y * y;
                ab += x * y;
                dd = AddRn(dd, MulRn(d, d));  // not exact in float64: never fused, as the CPU
            }
            sums[j * 4] = aa;
            sums[j * 4 + 1] = bb;
            sums[j * 4 + 2] = ab;
            sums[j * 4 + 3] = dd;
        }
    }

    /// <summary>v_0, v_1 of element e: inputs 0 and 1, minus input 2 in float32 with a base.</summary>
    private static void PairTerms(ArrayView<byte> packed, ArrayView<long> offsets, ArrayView<int> dtypes, int hasBase, long e, out double x, out double y)
    {
        float v0 = Load(packed, offsets, dtypes, 0, e), v1 = Load(packed, offsets, dtypes, 1, e);
        if (hasBase != 0)
        {
            float b = Load(packed, offsets, dtypes, 2, e);
            v0 -= b;
            v1 -= b;
        }
        x = v0;
        y = v1;
    }

    /// <summary>NuSLERP's blend (reference: ElementwiseCpu.SlerpBlend): coefficients (vectors, 2), lerp one bit per vector.</summary>
    public static void SlerpBlend(ArrayView<byte> output, ArrayView<byte> packed, ArrayView<long> offsets, ArrayView<int> dtypes, ArrayView<float> coefficients,
        ArrayView<ulong> lerp, SlerpBlendScalars p)
    {
        long stride = (long)Group.DimX * Grid.DimX;
        for (long e = Grid.GlobalIndex.X; e < p.N; e += stride)
        {
            long element = p.FirstElement + e;
            long v = p.Vectors == 1 ? 0 : p.AlongFirst != 0 ? element % p.Vectors : element / p.VectorLength;
            float v0 = Load(packed, offsets, dtypes, 0, e), v1 = Load(packed, offsets, dtypes, 1, e), b = 0;
            if (p.HasBase != 0)
            {
                b = Load(packed, offsets, dtypes, 2, e);
                v0 -= b;
                v1 -= b;
            }
            float r = (lerp[v >> 6] & (1UL << (int)(v & 63))) != 0 ? AddRn(v0, MulRn(p.T, v1 - v0)) : AddRn(MulRn(coefficients[v * 2], v0), MulRn(coefficients[v * 2 + 1], v1));
            IlgpuMath.Store(output, p.OutputDType, e, p.HasBase != 0 ? AddRn(b, r) : r);
        }
    }

    /// <summary><c>kept ? w_i (s_i (M_i - B)) : 0</c> for element e.</summary>
    private static float Delta(ArrayView<byte> packed, ArrayView<long> offsets, ArrayView<int> dtypes, ArrayView<float> weights, ArrayView<float> scales,
        ArrayView<ulong> masks, ArrayView<int> hasMask, long wordsPerModel, int bitOffset, int i, long e, float b)
    {
        float d = Load(packed, offsets, dtypes, i, e) - b;
        long bit = bitOffset + e;
        bool kept = hasMask[i] == 0 || (masks[i * wordsPerModel + (bit >> 6)] & (1UL << (int)(bit & 63))) != 0;
        return kept ? MulRn(weights[i], MulRn(d, scales[i])) : 0f;
    }
}
