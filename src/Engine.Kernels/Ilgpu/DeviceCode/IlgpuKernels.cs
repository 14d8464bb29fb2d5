using ILGPU;

namespace Engine.Kernels.Ilgpu;

/// <summary>The merge kernels written once in C# for ILGPU: PTX on NVIDIA GPUs, the CPU accelerator in tests.
/// They mirror <c>kernels/cuda/*.cu</c> line for line (same layouts, same block structure, same formulas);
/// the CPU reference each is tested against is named on it. Explicitly grouped: the group size is a power of
/// two of at most <see cref="MaxGroup"/>.</summary>
public static class IlgpuKernels
{
    /// <summary>The largest work-group size the kernels are written for (shared-memory arrays are sized by it).</summary>
    public const int MaxGroup = 256;
    /// <summary>Radix-select histogram bins per pass (<see cref="Device.DeviceRadixSelect.Bins"/>).</summary>
    public const int Bins = Device.DeviceRadixSelect.Bins;
    /// <summary>Most rank prefixes one radix-select pass resolves (<see cref="Device.DeviceRadixSelect.MaxPrefixes"/>).</summary>
    public const int MaxPrefixes = Device.DeviceRadixSelect.MaxPrefixes;

    /// <summary>Arcee Fusion importance, one group per row (reference: RowImportanceCpu.Float32).
    /// importance (rows, rowLength) f32; rowKl (rows) f64; bad[0]/bad[1]: smallest non-finite index in other/base.</summary>
    public static void RowImportance(ArrayView<float> importance, ArrayView<double> rowKl, ArrayView<ulong> bad,
        ArrayView<byte> other, ArrayView<byte> @base, int otherDType, int baseDType, long rows, int rowLength)
    {
        var dscratch = SharedMemory.Allocate<double>(MaxGroup);
        var fscratch = SharedMemory.Allocate<float>(MaxGroup);
        ref int rowBad = ref SharedMemory.Allocate<int>();
        long row = Grid.IdxX;
        if (row >= rows) return;
        long start = row * rowLength;
        int t = Group.IdxX;
        if (t == 0) rowBad = 0;
        Group.Barrier();

        float mx = float.NegativeInfinity, my = float.NegativeInfinity;
        for (int j = t; j < rowLength; j += Group.DimX)
        {
            float x = IlgpuMath.Load(other, otherDType, start + j), y = IlgpuMath.Load(@base, baseDType, start + j);
            if (!IlgpuMath.IsFinite(x)) { Atomic.Min(ref bad[0], (ulong)(start + j)); rowBad = 1; }
            if (!IlgpuMath.IsFinite(y)) { Atomic.Min(ref bad[1], (ulong)(start + j)); rowBad = 1; }
            mx = x > mx ? x : mx;
            my = y > my ? y : my;
        }
        mx = BlockMax(mx, fscratch);
        my = BlockMax(my, fscratch);
        if (rowBad != 0) return;

        double sx = 0, sy = 0;
        for (int j = t; j < rowLength; j += Group.DimX)
        {
            sx += IlgpuMath.Exp(IlgpuMath.Load(other, otherDType, start + j) - mx);
            sy += IlgpuMath.Exp(IlgpuMath.Load(@base, baseDType, start + j) - my);
        }
        sx = BlockSum(sx, dscratch);
        sy = BlockSum(sy, dscratch);
        double cx = mx + IlgpuMath.Log(sx), cy = my + IlgpuMath.Log(sy);
        float shift = (float)(cx - cy), cyf = (float)cy;

        double kl = 0;
        for (int j = t; j < rowLength; j += Group.DimX)
        {
            float x = IlgpuMath.Load(other, otherDType, start + j), y = IlgpuMath.Load(@base, baseDType, start + j);
            float q0 = IlgpuMath.Exp(y - cyf);
            float q = q0 + 1e-8f;
            float u = q0 * IlgpuMath.ExpM1((x - y) - shift) / q;
            kl += q * IlgpuMath.KlTerm(u);
        }
        kl = BlockSum(kl, dscratch);
        if (t == 0) rowKl[row] = kl;

        float k = (float)kl;
        for (int j = t; j < rowLength; j += Group.DimX)
        {
            float x = IlgpuMath.Load(other, otherDType, start + j), y = IlgpuMath.Load(@base, baseDType, start + j);
            importance[start + j] = IlgpuMath.Abs(x - y) * k;
        }
    }

    /// <summary>mergekit's bf16 computation of the importance (reference: RowImportanceCpu.BFloat16, bit for bit):
    /// one thread per row, grid-stride over rows, so every float32 sum runs in element order as on the CPU; every
    /// intermediate rounded to bf16. Same layouts and bad-element rule as <see cref="RowImportance"/>.</summary>
    public static void RowImportanceBf16(ArrayView<float> importance, ArrayView<double> rowKl, ArrayView<ulong> bad,
        ArrayView<byte> other, ArrayView<byte> @base, int otherDType, int baseDType, long rows, int rowLength)
    {
        long stride = (long)Group.DimX * Grid.DimX;
        for (long row = Grid.GlobalIndex.X; row < rows; row += stride)
        {
            long start = row * rowLength;
            bool rowBad = false;
            float mx = float.NegativeInfinity, my = float.NegativeInfinity;
            for (int j = 0; j < rowLength; j++)
            {
                float x = IlgpuMath.Load(other, otherDType, start + j), y = IlgpuMath.Load(@base, baseDType, start + j);
                if (!IlgpuMath.IsFinite(x)) { Atomic.Min(ref bad[0], (ulong)(start + j)); rowBad = true; }
                if (!IlgpuMath.IsFinite(y)) { Atomic.Min(ref bad[1], (ulong)(start + j)); rowBad = true; }
                x = R(x);
                y = R(y);
                mx = x > mx ? x : mx;
                my = y > my ? y : my;
            }
            if (rowBad) continue;

            float sx = 0f, sy = 0f;
            for (int j = 0; j < rowLength; j++) sx += IlgpuMath.ExpRounded(R(IlgpuMath.Load(other, otherDType, start + j)) - mx);
            for (int j = 0; j < rowLength; j++) sy += IlgpuMath.ExpRounded(R(IlgpuMath.Load(@base, baseDType, start + j)) - my);

            float sum = 0f;
            for (int j = 0; j < rowLength; j++)
            {
                float x = R(IlgpuMath.Load(other, otherDType, start + j)), y = R(IlgpuMath.Load(@base, baseDType, start + j));
                float p = R(R(IlgpuMath.ExpRounded(x - mx) / sx) + 1e-8f);
                float q = R(R(IlgpuMath.ExpRounded(y - my) / sy) + 1e-8f);
                float ratio = R(p / q);
                sum += R(p * R(IlgpuMath.LogRounded(ratio)));
            }
            float kl = R(sum);
            rowKl[row] = kl;
            for (int j = 0; j < rowLength; j++)
            {
                float x = R(IlgpuMath.Load(other, otherDType, start + j)), y = R(IlgpuMath.Load(@base, baseDType, start + j));
                importance[start + j] = R(R(IlgpuMath.Abs(R(x - y))) * kl);
            }
        }
    }

    /// <summary>float32 rounded to the nearest bf16 value (even on ties), every NaN the positive quiet NaN:
    /// DTypeConversion.RoundToBFloat16.</summary>
    private static float R(float v) => IlgpuMath.IsNaN(v) ? ILGPU.Interop.IntAsFloat(0x7FC0_0000u) : ILGPU.Interop.IntAsFloat((uint)IlgpuMath.SingleToBFloat16(v) << 16);

    /// <summary>The sum of <paramref name="v"/> over the group (a power of two of threads), as a tree.</summary>
    internal static double BlockSum(double v, ArrayView<double> scratch)
    {
        int t = Group.IdxX;
        scratch[t] = v;
        Group.Barrier();
        for (int s = Group.DimX / 2; s > 0; s >>= 1)
        {
            if (t < s) scratch[t] += scratch[t + s];
            Group.Barrier();
        }
        double total = scratch[0];
        Group.Barrier();
        return total;
    }

    private static float BlockMax(float v, ArrayView<float> scratch)
    {
        int t = Group.IdxX;
        scratch[t] = v;
        Group.Barrier();
        for (int s = Group.DimX / 2; s > 0; s >>= 1)
        {
            if (t < s && scratch[t + s] > scratch[t]) scratch[t] = scratch[t + s];
            Group.Barrier();
        }
        float m = scratch[0];
        Group.Barrier();
        return m;
    }

    /// <summary>One radix-select histogram pass (reference: RadixSelect.Select). Digit = (key &gt;&gt; shift) &amp;
    /// (2^bits - 1); with prefixCount 0 every key counts, else only keys whose <c>key &gt;&gt; prefixShift</c>
    /// equals prefix g, into histogram row g. histogram (max(1, prefixCount), Bins) u64, zeroed by the host.</summary>
    public static void RadixHistogram(ArrayView<ulong> histogram, ArrayView<float> values, long n, int shift, int bits, int prefixShift,
        int prefixCount, uint p0, uint p1, uint p2, uint p3)
    {
        var counts = SharedMemory.Allocate<uint>(MaxPrefixes * Bins);
        int groups = prefixCount > 0 ? prefixCount : 1;
        for (int b = Group.IdxX; b < groups * Bins; b += Group.DimX) counts[b] = 0;
        Group.Barrier();
        uint mask = (1u << bits) - 1u;
        long stride = (long)Group.DimX * Grid.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            uint key = IlgpuMath.OrderedKey(values[i]);
            uint digit = (key >> shift) & mask;
            if (prefixCount == 0) { Atomic.Add(ref counts[(int)digit], 1u); continue; }
            uint prefix = key >> prefixShift;
            if (prefix == p0) Atomic.Add(ref counts[(int)digit], 1u);
            else if (prefixCount > 1 && prefix == p1) Atomic.Add(ref counts[Bins + (int)digit], 1u);
            else if (prefixCount > 2 && prefix == p2) Atomic.Add(ref counts[2 * Bins + (int)digit], 1u);
            else if (prefixCount > 3 && prefix == p3) Atomic.Add(ref counts[3 * Bins + (int)digit], 1u);
        }
        Group.Barrier();
        for (int b = Group.IdxX; b < groups * Bins; b += Group.DimX)
        {
            if (counts[b] != 0) Atomic.Add(ref histogram[b], counts[b]);
        }
    }

    /// <summary><c>output_i = importance_i &gt;= threshold ? other_i : base_i</c> in the output dtype; taken[0] +=
    /// the count from other (reference: CpuMergeKernels.MaskedSelect).</summary>
    public static void MaskedSelect(ArrayView<byte> output, ArrayView<ulong> taken, ArrayView<byte> other, ArrayView<byte> @base, ArrayView<float> importance,
        long n, float threshold, int outputDType, int otherDType, int baseDType)
    {
        var counts = SharedMemory.Allocate<uint>(MaxGroup);
        uint local = 0;
        long stride = (long)Group.DimX * Grid.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            bool pick = importance[i] >= threshold;
            float v = pick ? IlgpuMath.Load(other, otherDType, i) : IlgpuMath.Load(@base, baseDType, i);
            IlgpuMath.Store(output, outputDType, i, v);
            if (pick) local++;
        }
        int t = Group.IdxX;
        counts[t] = local;
        Group.Barrier();
        for (int s = Group.DimX / 2; s > 0; s >>= 1)
        {
            if (t < s) counts[t] += counts[t + s];
            Group.Barrier();
        }
        if (t == 0 && counts[0] != 0) Atomic.Add(ref taken[0], counts[0]);
    }
}
