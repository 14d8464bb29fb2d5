using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Kernels.Cpu;
using Engine.Merge.Batch;
using Engine.Merge.Config;
using Engine.Merge.Execution;
using Engine.Testing;

namespace Engine.Merge.Tests;

/// <summary>A batch on a backend that keeps Arcee Fusion's importance on its device, as the CUDA and ILGPU backends do
/// (no GPU here: a CPU stand-in with the same contract): one kept importance at a time, and no other kernel while one is
/// kept (they would reuse its device buffers). The batch must keep that contract while it shares the importance over a
/// lambda sweep, and still give every job the bytes its config makes alone.</summary>
public sealed class BatchKeptImportanceTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void SweepAndOtherMethodsShareOneKeptImportanceWithoutBreakingTheBackendsContract()
    {
        string m = _dir.Combine("base"), a = _dir.Combine("a"), b = _dir.Combine("b");
        SyntheticCheckpoint.Write(m, SyntheticModelSpec.Tiny, 5, null);
        SyntheticCheckpoint.Write(a, SyntheticModelSpec.Tiny, 5, 1);
        SyntheticCheckpoint.Write(b, SyntheticModelSpec.Tiny, 5, 2);
        string root = _dir.Combine("out");
        BatchJob Job(string name, string yaml)
        {
            File.WriteAllText(_dir.Combine(name + ".yml"), yaml);
            return new BatchJob(name, MergeConfigReader.Load(_dir.Combine(name + ".yml")), Path.Combine(root, name));
        }
        var fusion = Job("fusion", $"merge_method: arcee_fusion\nbase_model: {m}\nmodels:\n  - model: {a}\ndtype: bfloat16\n");
        var jobs = ParameterSweep.Expand(fusion, [ParameterSweep.Parse("lambda=1.0,1.5,2.0")]).ToList();
        // Between the sweep's jobs and after them: methods whose kernels the kept importance would block.
        jobs.Insert(1, Job("ties", $"merge_method: ties\nbase_model: {m}\nmodels:\n  - model: {a}\n    parameters: {{weight: 0.5, density: 0.5}}\n  - model: {b}\n    parameters: {{weight: 0.5, density: 0.5}}\ndtype: bfloat16\n"));
        jobs.Add(Job("stages", $"name: s1\nmerge_method: arcee_fusion\nbase_model: {m}\nmodels:\n  - model: {b}\ndtype: bfloat16\n---\nmerge_method: linear\nmodels:\n  - model: s1\n  - model: {a}\nparameters: {{weight: 0.5}}\ndtype: bfloat16\n"));

        using var kept = new KeptImportanceKernels();
        using (var plan = BatchPlan.Create(jobs, new BatchOptions(root)))
            new BatchExecutor([kept]).Run(plan);

        int tensors = 0;
        foreach (var job in jobs)
        {
            string alone = _dir.Combine("alone-" + job.Name);
            using (var cpu = new CpuMergeKernels(2)) new MergeExecutor(cpu).Run(job.Config, new MergeRunOptions(alone));
            var want = TestModels.Files(alone, MergeReport.FileName, "README.md");
            var got = TestModels.Files(job.OutputPath, MergeReport.FileName, "README.md");
            foreach (var (file, bytes) in want) Assert.True(bytes.AsSpan().SequenceEqual(got[file]), $"{job.Name}: {file} differs from the config merged alone");
            tensors = MergeReport.Read(job.OutputPath).Totals.Tensors;
        }
        // The sweep's pair once per tensor (not once per lambda), and the multi-stage job's own pair once per tensor.
        Assert.Equal(2 * tensors, kept.Computed);
    }

    /// <summary>CPU kernels that keep the importance as a device backend does, and fail any other call while it is kept.</summary>
    private sealed class KeptImportanceKernels : IMergeKernels
    {
        private readonly CpuMergeKernels _cpu = new(2);
        private bool _held;

        public int Computed { get; private set; }

        public string Device => "kept-importance stand-in";

        private CpuMergeKernels Free => _held ? throw new InvalidOperationException("a kernel ran while an importance was kept on the backend") : _cpu;

        public IImportance ComputeImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
        {
            if (_held) throw new InvalidOperationException("an importance is already kept on this backend");
            _cpu.RowImportance(importance, rowKl, other, @base, rowLength, precision);
            _held = true;
            Computed++;
            return new Kept(this, importance, other, @base);
        }

        private sealed class Kept(KeptImportanceKernels owner, NativeArray<float> importance, RawTensor other, RawTensor @base) : IImportance
        {
            public long Length => importance.Length;

            public void SelectRanks(Span<float> results, ReadOnlySpan<long> ranks) => owner._cpu.SelectRanks(results, importance, ranks);

            public long MaskedSelect(RawTensor output, long start, float threshold) =>
                owner._cpu.MaskedSelect(output, other.Slice(start, output.Length), @base.Slice(start, output.Length), importance, start, threshold);

            public NativeArray<float> ToHost() => importance;

            public void Dispose() => owner._held = false;
        }

        public void RowImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision) =>
            Free.RowImportance(importance, rowKl, other, @base, rowLength, precision);

        public void SelectRanks(Span<float> results, NativeArray<float> values, ReadOnlySpan<long> ranks) => Free.SelectRanks(results, values, ranks);

        public long MaskedSelect(RawTensor output, RawTensor other, RawTensor @base, NativeArray<float> importance, long start, float threshold) =>
            Free.MaskedSelect(output, other, @base, importance, start, threshold);

        public void SegmentedLinearCombination(RawTensor output, ReadOnlySpan<RawTensor> inputs, ReadOnlySpan<float> coefficients, RawTensor? @base,
            long segmentLength, long firstElement) => Free.SegmentedLinearCombination(output, inputs, coefficients, @base, segmentLength, firstElement);

        public void Gram(Span<double> gram, ReadOnlySpan<RawTensor> inputs, RawTensor? @base, long segmentLength) => Free.Gram(gram, inputs, @base, segmentLength);

        public void AbsDifference(NativeArray<float> magnitudes, RawTensor other, RawTensor @base) => Free.AbsDifference(magnitudes, other, @base);

        public void AbsDifferenceSums(Span<double> sums, RawTensor other, RawTensor @base, ReadOnlySpan<ulong> keep) => Free.AbsDifferenceSums(sums, other, @base, keep);

        public void RandomKeepMask(Span<ulong> keep, long length, ulong key, double density) => Free.RandomKeepMask(keep, length, key, density);

        public void TaskArithmetic(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, TaskArithmeticTerms terms, long maskStart) =>
            Free.TaskArithmetic(output, models, @base, terms, maskStart);

        public void NearSwap(RawTensor output, RawTensor model, RawTensor @base, float t) => Free.NearSwap(output, model, @base, t);

        public void CountedAverage(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, float epsilon) => Free.CountedAverage(output, models, @base, epsilon);

        public long DeltaVariance(NativeArray<float> variance, ReadOnlySpan<RawTensor> models, RawTensor @base) => Free.DeltaVariance(variance, models, @base);

        public void DeltaSquareSums(Span<double> sums, ReadOnlySpan<RawTensor> models, RawTensor @base, ulong[]? keep) => Free.DeltaSquareSums(sums, models, @base, keep);

        public void SignElectedMean(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> weights, ulong[]? keep, long keepStart) =>
            Free.SignElectedMean(output, models, @base, weights, keep, keepStart);

        public void PairSums(Span<double> sums, RawTensor x0, RawTensor x1, RawTensor? @base, long vectors, bool alongFirst) =>
            Free.PairSums(sums, x0, x1, @base, vectors, alongFirst);

        public void SlerpBlend(RawTensor output, RawTensor x0, RawTensor x1, RawTensor? @base, ReadOnlySpan<float> coefficients, ReadOnlySpan<ulong> lerp, float t,
            long length, long vectors, bool alongFirst, long firstElement) =>
            Free.SlerpBlend(output, x0, x1, @base, coefficients, lerp, t, length, vectors, alongFirst, firstElement);

        public void Dispose() => _cpu.Dispose();
    }
}
