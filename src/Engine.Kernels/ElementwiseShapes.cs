using Engine.Core.Numerics;

namespace Engine.Kernels;

/// <summary>Argument and shape checks shared by every <see cref="IElementwiseKernels"/> backend, and the windows of
/// masks and coefficients a device call reads.</summary>
internal static class ElementwiseShapes
{
    /// <summary>The shapes of a <see cref="IElementwiseKernels.Gram"/> call: its segments and the reduction blocks
    /// per segment (no segments for empty inputs).</summary>
    public static (long Segments, long PerSegment) CheckGram(Span<double> gram, ReadOnlySpan<RawTensor> inputs, RawTensor? @base, long segmentLength)
    {
        long n = inputs.IsEmpty ? 0 : inputs[0].Length;
        Check(n, inputs, @base);
        long segments = Segments(n, segmentLength, inputs.Length, gram.Length);
        return (segments, (segmentLength + IElementwiseKernels.ReductionBlock - 1) / IElementwiseKernels.ReductionBlock);
    }

    /// <summary>The shapes of a <see cref="IElementwiseKernels.LinearCombination"/> call.</summary>
    public static void CheckCombination(RawTensor output, ReadOnlySpan<RawTensor> inputs, ReadOnlySpan<float> coefficients, RawTensor? @base)
    {
        Check(output.Length, inputs, @base);
        if (coefficients.Length != inputs.Length) throw new ArgumentException($"{inputs.Length} inputs, {coefficients.Length} coefficients");
    }

    /// <summary>The shapes of a <see cref="IElementwiseKernels.SegmentedLinearCombination"/> call.</summary>
    public static void CheckSegmentedCombination(RawTensor output, ReadOnlySpan<RawTensor> inputs, ReadOnlySpan<float> coefficients, RawTensor? @base,
        long segmentLength, long firstElement)
    {
        Check(output.Length, inputs, @base);
        if (segmentLength <= 0 || firstElement < 0) throw new ArgumentException($"segment length {segmentLength}, first element {firstElement}");
        long segments = output.Length == 0 ? 0 : (firstElement + output.Length - 1) / segmentLength + 1;
        if (inputs.IsEmpty ? !coefficients.IsEmpty : coefficients.Length % inputs.Length != 0 || coefficients.Length / inputs.Length < segments)
            throw new ArgumentException($"{coefficients.Length} coefficients for {inputs.Length} inputs over {segments} segments");
    }

    /// <summary>The shapes of a <see cref="IElementwiseKernels.AmplifiedCountedAverage"/> call.</summary>
    public static void CheckAmplified(long n, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> amplification)
    {
        Check(n, models, @base);
        if (amplification.Length != models.Length) throw new ArgumentException($"{models.Length} models, {amplification.Length} amplification factors");
    }

    /// <summary>The coefficient rows a device call of <see cref="IElementwiseKernels.SegmentedLinearCombination"/> over
    /// the tensor's elements [firstElement, firstElement + n) reads: from the row of firstElement's segment.</summary>
    public static Range SegmentRows(int k, long segmentLength, long firstElement, long n) =>
        new((int)(firstElement / segmentLength * k), (int)(((firstElement + n - 1) / segmentLength + 1) * k));

    /// <summary>The shapes of a <see cref="IElementwiseKernels.DeltaSquareSums"/> call; returns the reduction blocks.</summary>
    public static long CheckSquareSums(Span<double> sums, ReadOnlySpan<RawTensor> models, RawTensor @base, ulong[]? keep)
    {
        long n = @base.Length;
        Check(n, models, @base);
        if (sums.Length != models.Length || keep is not null && keep.LongLength < (n + 63) / 64)
            throw new ArgumentException($"{models.Length} models, {sums.Length} sums, keep {keep?.Length} words for {n} elements");
        return (n + IElementwiseKernels.ReductionBlock - 1) / IElementwiseKernels.ReductionBlock;
    }

    /// <summary>The shapes of a <see cref="IElementwiseKernels.SignElectedMean"/> call.</summary>
    public static void CheckSignElection(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> weights, ulong[]? keep, long keepStart)
    {
        Check(output.Length, models, @base);
        if (weights.Length != models.Length || keepStart < 0 || keep is not null && keep.LongLength * 64 < keepStart + output.Length)
            throw new ArgumentException($"{models.Length} models, {weights.Length} weights, keep {keep?.Length} words for elements [{keepStart}, {keepStart + output.Length})");
    }

    /// <summary>The words of <paramref name="keep"/> a device call over elements [start, start + n) reads, from the
    /// one holding element start (one zero word without a mask).</summary>
    public static ulong[] KeepWindow(ulong[]? keep, long start, long n) =>
        keep is null || n == 0 ? [0UL] : keep[(int)(start >> 6)..(int)(((start + n - 1) >> 6) + 1)];

    /// <summary>The shapes of a <see cref="IElementwiseKernels.PairSums"/> call; returns the vectors' length.</summary>
    public static long CheckPairSums(Span<double> sums, RawTensor x0, RawTensor x1, RawTensor? @base, long vectors)
    {
        long n = x0.Length;
        Check(n, [x1], @base);
        if (vectors <= 0 || n % vectors != 0 || sums.Length != vectors * 4) throw new ArgumentException($"{n} elements in {vectors} vectors, {sums.Length} sums");
        return n / vectors;
    }

    /// <summary>How a device backend sums <see cref="IElementwiseKernels.PairSums"/>: a whole-tensor vector (blocked) in
    /// runs of <see cref="IElementwiseKernels.ReductionBlock"/> elements whose partials the host adds in order, rows
    /// as runs of their length one group each, columns one thread each (runs = vectors).</summary>
    public static (bool Blocked, bool Columns, long RunLength, long Runs) PairSumsPlan(long n, long length, long vectors, bool alongFirst)
    {
        bool blocked = vectors == 1;
        long runLength = blocked ? IElementwiseKernels.ReductionBlock : length;
        return (blocked, !blocked && alongFirst, runLength, blocked ? (n + runLength - 1) / runLength : vectors);
    }

    /// <summary>The shapes of a <see cref="IElementwiseKernels.SlerpBlend"/> call.</summary>
    public static void CheckSlerpBlend(RawTensor output, RawTensor x0, RawTensor x1, RawTensor? @base, ReadOnlySpan<float> coefficients, ReadOnlySpan<ulong> lerp,
        long length, long vectors, long firstElement)
    {
        Check(output.Length, [x0, x1], @base);
        if (vectors <= 0 || length % vectors != 0 || firstElement < 0 || firstElement + output.Length > length || coefficients.Length != vectors * 2 || lerp.Length < (vectors + 63) / 64)
            throw new ArgumentException($"{length} elements in {vectors} vectors, range from {firstElement} of {output.Length}, {coefficients.Length} coefficients, {lerp.Length} lerp words");
    }

    /// <summary>The vector holding the tensor's element <paramref name="element"/> (<see cref="IElementwiseKernels.PairSums"/>'s split).</summary>
    public static long VectorOf(long element, long vectors, long vectorLength, bool alongFirst) =>
        vectors == 1 ? 0 : alongFirst ? element % vectors : element / vectorLength;

    /// <summary>The shapes of a <see cref="IElementwiseKernels.AbsDifference"/> call.</summary>
    public static void CheckDifference(long n, RawTensor other, RawTensor @base)
    {
        if (other.Length != n || @base.Length != n) throw new ArgumentException($"lengths disagree: magnitudes {n}, other {other.Length}, base {@base.Length}");
    }

    /// <summary>The shapes of a <see cref="IElementwiseKernels.AbsDifferenceSums"/> call; returns the reduction blocks.</summary>
    public static long CheckSums(Span<double> sums, RawTensor other, RawTensor @base, ReadOnlySpan<ulong> keep)
    {
        long n = other.Length;
        if (@base.Length != n || keep.Length < (n + 63) / 64 || sums.Length != 2)
            throw new ArgumentException($"shapes disagree: other {other.Length}, base {@base.Length}, keep {keep.Length} words, sums {sums.Length}");
        return (n + IElementwiseKernels.ReductionBlock - 1) / IElementwiseKernels.ReductionBlock;
    }

    /// <summary>The shapes of a <see cref="IElementwiseKernels.RandomKeepMask"/> call; returns the words it writes.</summary>
    public static long CheckMask(Span<ulong> keep, long length)
    {
        long words = (length + 63) / 64;
        if (keep.Length < words) throw new ArgumentException($"{keep.Length} words hold fewer than {length} bits");
        return words;
    }

    /// <summary>The shapes of a <see cref="IElementwiseKernels.TaskArithmetic"/> call.</summary>
    public static void CheckTaskArithmetic(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, TaskArithmeticTerms terms, long maskStart)
    {
        Check(output.Length, models, @base);
        CheckTerms(terms, models.Length, maskStart + output.Length);
    }

    /// <summary>Every input and the base hold <paramref name="n"/> elements.</summary>
    public static void Check(long n, ReadOnlySpan<RawTensor> inputs, RawTensor? @base)
    {
        foreach (var x in inputs)
        {
            if (x.Length != n) throw new ArgumentException($"an input holds {x.Length} elements, the output {n}");
        }
        if (@base is { } b && b.Length != n) throw new ArgumentException($"the base holds {b.Length} elements, the output {n}");
    }

    /// <summary>The number of segments of a Gram call, checking the shapes.</summary>
    private static long Segments(long n, long segmentLength, int k, int gramLength)
    {
        if (n == 0) return 0;
        if (segmentLength <= 0 || n % segmentLength != 0) throw new ArgumentException($"segment length {segmentLength} does not divide {n} elements");
        long segments = n / segmentLength;
        if (gramLength != segments * k * k) throw new ArgumentException($"gram holds {gramLength} values, {segments} segments of {k} x {k} need {segments * k * k}");
        return segments;
    }

    /// <summary>The mask words a device call over elements [maskStart, maskStart + n) needs, model-major:
    /// (k, wordsPerModel) from the word holding maskStart, zeros for models without a mask; hasMask (k) says which have one.</summary>
    public static (ulong[] Words, int[] HasMask, long WordsPerModel) MaskWindow(TaskArithmeticTerms terms, long maskStart, long n)
    {
        int k = terms.Masks.Length;
        long first = maskStart >> 6, wordsPerModel = ((maskStart + n - 1) >> 6) - first + 1;
        var words = new ulong[checked(k * wordsPerModel)];
        var hasMask = new int[k];
        for (int i = 0; i < k; i++)
        {
            if (terms.Masks[i] is not { } m) continue;
            hasMask[i] = 1;
            Array.Copy(m, first, words, i * wordsPerModel, wordsPerModel);
        }
        return (words, hasMask, wordsPerModel);
    }

    /// <summary>The task-arithmetic terms name one weight, scale and mask per model, each mask reaching element
    /// <paramref name="maskEnd"/> - 1.</summary>
    public static void CheckTerms(TaskArithmeticTerms terms, int k, long maskEnd)
    {
        if (terms.Weights.Length != k || terms.Scales.Length != k || terms.Masks.Length != k)
            throw new ArgumentException($"{k} models, {terms.Weights.Length} weights, {terms.Scales.Length} scales, {terms.Masks.Length} masks");
        foreach (var m in terms.Masks)
        {
            if (m is not null && m.LongLength * 64 < maskEnd) throw new ArgumentException($"a mask of {m.Length} words does not reach element {maskEnd - 1}");
        }
    }
}
