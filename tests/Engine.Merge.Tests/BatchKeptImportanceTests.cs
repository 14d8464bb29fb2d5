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
    private sealed class KeptImportanceKernels() : DelegatingMergeKernels(2)
    {
        private bool _held;

        public int Computed { get; private set; }

        public override string Device => "kept-importance stand-in";

        protected override IMergeKernels Target => _held ? throw new InvalidOperationException("a kernel ran while an importance was kept on the backend") : Cpu;

        public override IImportance ComputeImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
        {
            if (_held) throw new InvalidOperationException("an importance is already kept on this backend");
            Cpu.RowImportance(importance, rowKl, other, @base, rowLength, precision);
            _held = true;
            Computed++;
            return new Kept(this, importance, other, @base);
        }

        private sealed class Kept(KeptImportanceKernels owner, NativeArray<float> importance, RawTensor other, RawTensor @base) : IImportance
        {
            public long Length => importance.Length;

            public void SelectRanks(Span<float> results, ReadOnlySpan<long> ranks) => owner.Cpu.SelectRanks(results, importance, ranks);

            public long MaskedSelect(RawTensor output, long start, float threshold) =>
                owner.Cpu.MaskedSelect(output, other.Slice(start, output.Length), @base.Slice(start, output.Length), importance, start, threshold);

            public NativeArray<float> ToHost() => importance;

            public void Dispose() => owner._held = false;
        }
    }
}
