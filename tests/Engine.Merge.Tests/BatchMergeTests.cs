using Engine.Core;
using Engine.Core.Model;
using Engine.Kernels;
using Engine.Kernels.Cpu;
using Engine.Merge.Batch;
using Engine.Merge.Config;
using Engine.Merge.Execution;
using Engine.Testing;

namespace Engine.Merge.Tests;

/// <summary>Batches: every output bit for bit the one its config makes merged alone, for every method family, with
/// the reads, the common steps and Arcee Fusion's importance shared; sweeps; the job log and resuming.</summary>
public sealed class BatchMergeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public BatchMergeTests()
    {
        var spec = SyntheticModelSpec.Tiny;
        SyntheticCheckpoint.Write(_dir.Combine("base"), spec, 5, null);
        SyntheticCheckpoint.Write(_dir.Combine("a"), spec, 5, 1);
        SyntheticCheckpoint.Write(_dir.Combine("b"), spec, 5, 2);
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>One config per method family over the same three models (and two multi-stage plans with the same first
    /// stage under different names).</summary>
    private Dictionary<string, string> Families()
    {
        string m = _dir.Combine("base"), a = _dir.Combine("a"), b = _dir.Combine("b");
        return new Dictionary<string, string>
        {
            ["linear"] = $"merge_method: linear\nmodels:\n  - model: {a}\n    parameters: {{weight: 0.3}}\n  - model: {b}\n    parameters: {{weight: 0.7}}\ndtype: bfloat16\n",
            ["task"] = $"merge_method: task_arithmetic\nbase_model: {m}\nmodels:\n  - model: {a}\n    parameters: {{weight: 0.6}}\n  - model: {b}\n    parameters: {{weight: 0.4}}\ndtype: bfloat16\n",
            ["ties"] = $"merge_method: ties\nbase_model: {m}\nmodels:\n  - model: {a}\n    parameters: {{weight: 0.6, density: 0.5}}\n  - model: {b}\n    parameters: {{weight: 0.4, density: 0.7}}\ndtype: bfloat16\n",
            ["dare"] = $"merge_method: dare_ties\nbase_model: {m}\nmodels:\n  - model: {a}\n    parameters: {{weight: 0.5}}\n  - model: {b}\n    parameters: {{weight: 0.5}}\nparameters: {{density: 0.6}}\nseed: 7\ndtype: bfloat16\n",
            ["slerp"] = $"merge_method: slerp\nbase_model: {a}\nmodels:\n  - model: {a}\n  - model: {b}\nparameters:\n  t: [0, 0.3, 1]\ndtype: bfloat16\n",
            ["fusion"] = $"merge_method: arcee_fusion\nbase_model: {m}\nmodels:\n  - model: {a}\ndtype: bfloat16\n",
            ["slices"] = $"merge_method: passthrough\nslices:\n  - sources:\n      - model: {a}\n        layer_range: [0, 1]\n  - sources:\n      - model: {b}\n        layer_range: [1, 2]\n  - sources:\n      - model: {a}\n        layer_range: [1, 2]\ndtype: bfloat16\n",
            ["stages"] = $"name: first\nmerge_method: arcee_fusion\nbase_model: {m}\nmodels:\n  - model: {a}\ndtype: bfloat16\n---\nmerge_method: ties\nbase_model: {m}\nmodels:\n  - model: first\n    parameters: {{weight: 0.5, density: 0.5}}\n  - model: {b}\n    parameters: {{weight: 0.5, density: 0.5}}\ndtype: bfloat16\n",
            ["stages2"] = $"name: same-step\nmerge_method: arcee_fusion\nbase_model: {m}\nmodels:\n  - model: {a}\ndtype: bfloat16\n---\nmerge_method: arcee_fusion\nbase_model: {b}\nmodels:\n  - model: same-step\ndtype: bfloat16\n",
        };
    }

    private BatchJob Job(string name, string yaml, string root)
    {
        string path = _dir.Combine(name + ".yml");
        File.WriteAllText(path, yaml);
        return new BatchJob(name, MergeConfigReader.Load(path), Path.Combine(root, name));
    }

    private static BatchResult RunBatch(IReadOnlyList<BatchJob> jobs, BatchOptions options, int devices = 1)
    {
        using var plan = BatchPlan.Create(jobs, options);
        return new BatchExecutor(new CpuFactory(devices)).Run(plan);
    }

    /// <summary>The job's config merged alone, as <c>engine merge CONFIG --out</c> does.</summary>
    private string Alone(BatchJob job)
    {
        string output = _dir.Combine("alone-" + job.Name);
        using var kernels = new CpuMergeKernels(2);
        new MergeExecutor(kernels).Run(job.Config, new MergeRunOptions(output));
        return output;
    }

    private static void AssertSameFiles(string expected, string actual)
    {
        // The report holds times and paths, the model card the output's path: everything else must match byte for byte.
        var want = TestModels.Files(expected, MergeReport.FileName, "README.md");
        var got = TestModels.Files(actual, MergeReport.FileName, "README.md");
        Assert.Equal(want.Keys.Order(), got.Keys.Order());
        foreach (var (file, bytes) in want) Assert.True(bytes.AsSpan().SequenceEqual(got[file]), $"{actual}: {file} differs from the config merged alone");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void EveryMethodFamilyInOneBatchEqualsEachConfigMergedAlone(int devices)
    {
        string root = _dir.Combine("batch");
        var jobs = Families().Select(f => Job(f.Key, f.Value, root)).ToList();
        using (var plan = BatchPlan.Create(jobs, new BatchOptions(root)))
        {
            // One pass (all jobs read the same models); the slice that moves layer 1 of 'a' to layer 2 re-reads it.
            var pass = Assert.Single(plan.Clusters);
            Assert.True(pass.UniqueReads.Tensors < pass.JobReads.Tensors);
            Assert.True(pass.Rereads > 0);
            Assert.Contains("slices moving layers", plan.Render());
        }
        var result = RunBatch(jobs, new BatchOptions(root), devices);

        foreach (var job in jobs) AssertSameFiles(Alone(job), job.OutputPath);
        Assert.All(result.Jobs, j => Assert.NotNull(j.Report));
        // Every job reads the same three models: each input tensor is read once, the other jobs' reads are shared.
        Assert.True(result.Sharing.Reads > 0);
        // 'first' and 'same-step' are the same step under two names: computed once, for every tensor.
        int tensors = MergeReport.Read(jobs[0].OutputPath).Totals.Tensors;
        Assert.Equal(tensors, result.Sharing.Steps);
        // The shared step's report entries are in both jobs' reports, as if each had computed it.
        var shared = MergeReport.Read(jobs.Single(j => j.Name == "stages2").OutputPath);
        Assert.All(shared.Tensors, t => Assert.Equal(["same-step", "output"], t.Stages.Select(s => s.Stage)));
        var computed = MergeReport.Read(jobs.Single(j => j.Name == "stages").OutputPath);
        Assert.Equal(computed.Tensors.Select(t => t.Stages[0].KeptFraction), shared.Tensors.Select(t => t.Stages[0].KeptFraction));
    }

    [Fact]
    public void EveryMethodOfTheRegistryInOneBatchEqualsEachConfigMergedAlone()
    {
        // The benchmark's config of each method (0.5 for every weight, density and t; defaults otherwise).
        string root = _dir.Combine("all");
        var jobs = Engine.Merge.Methods.MergeMethodRegistry.Names.Select(m => Job(m, Engine.Merge.Benchmarks.BenchMergeConfig.Yaml(m, _dir.Combine("base"), [_dir.Combine("a"), _dir.Combine("b")]), root)).ToList();
        Assert.True(jobs.Count >= 20);
        RunBatch(jobs, new BatchOptions(root));
        foreach (var job in jobs) AssertSameFiles(Alone(job), job.OutputPath);
    }

    [Fact]
    public void LambdaSweepSharesTheImportanceAndEachOutputEqualsItsConfigMergedAlone()
    {
        string root = _dir.Combine("sweep");
        var jobs = ParameterSweep.Expand(Job("fusion", Families()["fusion"], root), [ParameterSweep.Parse("lambda=1.0,1.5,2.0")]);
        Assert.Equal(["fusion-lambda-1.0", "fusion-lambda-1.5", "fusion-lambda-2.0"], jobs.Select(j => j.Name));
        var result = RunBatch(jobs, new BatchOptions(root));

        foreach (var job in jobs) AssertSameFiles(Alone(job), job.OutputPath);
        var reports = jobs.Select(j => MergeReport.Read(j.OutputPath)).ToList();
        // Importance and quartiles once per tensor for the three lambdas: two of three served from the first.
        Assert.Equal(2 * reports[0].Totals.Tensors, result.Sharing.Importances);
        Assert.All(reports.Skip(1), r => Assert.True(r.Totals.KeptFraction < reports[0].Totals.KeptFraction, "a higher lambda keeps fewer elements"));
        Assert.Contains("lambda: 1.0", File.ReadAllText(Path.Combine(jobs[0].OutputPath, "mergekit_config.yml")));
    }

    [Fact]
    public void DensitySweepOfTiesEqualsEachConfigMergedAlone()
    {
        string root = _dir.Combine("density");
        string yaml = Families()["ties"].Replace(", density: 0.5", "").Replace(", density: 0.7", "");
        var jobs = ParameterSweep.Expand(Job("ties", yaml, root), [ParameterSweep.Parse("density=0.3,0.8")]);
        RunBatch(jobs, new BatchOptions(root));
        foreach (var job in jobs) AssertSameFiles(Alone(job), job.OutputPath);
        Assert.False(TestModels.Files(jobs[0].OutputPath, MergeReport.FileName, "README.md", "mergekit_config.yml")["model.safetensors"]
            .AsSpan().SequenceEqual(TestModels.Files(jobs[1].OutputPath)["model.safetensors"]), "the two densities made the same model");
    }

    [Fact]
    public void SweepOfAParameterAModelSetsItselfIsAnErrorNamingTheModel()
    {
        var job = Job("ties", Families()["ties"], _dir.Combine("x"));
        var e = Assert.Throws<MergeConfigException>(() => ParameterSweep.Expand(job, [ParameterSweep.Parse("density=0.3,0.8")]));
        Assert.Contains("ties.yml", e.Message);
        Assert.Contains("sets 'density' itself", e.Message);
        Assert.Contains("takes 't'", Assert.Throws<MergeConfigException>(() => ParameterSweep.Expand(job, [ParameterSweep.Parse("t=1")])).Message);
        Assert.Contains("not a finite number", Assert.Throws<MergeConfigException>(() => ParameterSweep.Parse("lambda=1,x")).Message);
        Assert.Contains("NAME=V1", Assert.Throws<MergeConfigException>(() => ParameterSweep.Parse("lambda")).Message);
    }

    [Fact]
    public void DuplicateNamesAndOutputsAndOutputsInsideInputsAreRefusedBeforeAnyWork()
    {
        string root = _dir.Combine("dup");
        var linear = Job("linear", Families()["linear"], root);
        var e = Assert.Throws<MergeConfigException>(() => BatchPlan.Create([linear, linear with { OutputPath = _dir.Combine("elsewhere") }], new BatchOptions(root)));
        Assert.Contains("job name 'linear'", e.Message);
        e = Assert.Throws<MergeConfigException>(() => BatchPlan.Create([linear, linear with { Name = "other" }], new BatchOptions(root)));
        Assert.Contains("is also the output of job 'linear'", e.Message);
        e = Assert.Throws<MergeConfigException>(() => BatchPlan.Create([linear with { OutputPath = Path.Combine(_dir.Combine("a"), "inner") }], new BatchOptions(root)));
        Assert.Contains("overlaps input model", e.Message);
        Assert.False(Directory.Exists(root));
    }

    [Fact]
    public void ResumeSkipsFinishedJobsAndRedoesAJobWhoseConfigChanged()
    {
        string root = _dir.Combine("resume");
        var jobs = new[] { Job("linear", Families()["linear"], root), Job("fusion", Families()["fusion"], root) };
        RunBatch(jobs, new BatchOptions(root));
        var first = Directory.GetLastWriteTimeUtc(jobs[0].OutputPath);

        // Without --resume (or --overwrite) a finished output is in the way.
        Assert.Throws<OutputException>(() => BatchPlan.Create(jobs, new BatchOptions(root)));
        using (var plan = BatchPlan.Create(jobs, new BatchOptions(root) { Resume = true }))
        {
            Assert.All(plan.Jobs, j => Assert.True(j.Skip));
            Assert.Empty(plan.Clusters);
        }
        var changed = jobs[1] with { Config = MergeConfigReader.Parse(jobs[1].Config.Path, jobs[1].Config.Text + "parameters: {lambda: 2.0}\n") };
        using (var plan = BatchPlan.Create([jobs[0], changed], new BatchOptions(root) { Resume = true, Overwrite = true }))
            Assert.Equal([true, false], plan.Jobs.Select(j => j.Skip));
        var result = RunBatch([jobs[0], changed], new BatchOptions(root) { Resume = true, Overwrite = true });
        Assert.Null(result.Jobs[0].Report);
        Assert.NotNull(result.Jobs[1].Report);
        Assert.Equal(first, Directory.GetLastWriteTimeUtc(jobs[0].OutputPath));
        AssertSameFiles(Alone(changed), changed.OutputPath);
        Assert.Contains("\"job_finished\"", File.ReadAllText(Path.Combine(root, BatchLog.FileName)));
    }

    [Fact]
    public void JobFileListsConfigsWithOutputsDevicesAndSweeps()
    {
        Job("fusion", Families()["fusion"], _dir.Combine("unused"));
        Job("linear", Families()["linear"], _dir.Combine("unused"));
        string file = _dir.Combine("jobs.yml");
        File.WriteAllText(file, "out_root: merged\ndevice: cpu\njobs:\n  - config: linear.yml\n    out: lin\n  - config: fusion.yml\n    device: ilgpu-cpu\n    sweep: {lambda: [1.0, 2.0]}\n");
        Assert.True(JobFile.IsJobFile(file));
        Assert.False(JobFile.IsJobFile(_dir.Combine("fusion.yml")));
        var jobs = JobFile.Load(file);
        Assert.Equal(_dir.Combine("merged"), jobs.Root);
        Assert.Equal(["lin", "fusion-lambda-1.0", "fusion-lambda-2.0"], jobs.Jobs.Select(j => j.Name));
        Assert.Equal([_dir.Combine("merged/lin"), _dir.Combine("merged/fusion-lambda-1.0"), _dir.Combine("merged/fusion-lambda-2.0")], jobs.Jobs.Select(j => j.OutputPath));
        Assert.Equal(["cpu", "ilgpu-cpu", "ilgpu-cpu"], jobs.Jobs.Select(j => j.Device));
        // Jobs of different device settings never share a pass.
        using var plan = BatchPlan.Create(jobs.Jobs, new BatchOptions(jobs.Root));
        Assert.Equal(2, plan.Clusters.Count);
    }

    [Fact]
    public void AMergeInputIsAJobFileOrAConfigAndMalformedYamlIsNeither()
    {
        Job("linear", Families()["linear"], _dir.Combine("unused"));
        string file = _dir.Combine("jobs.yml");
        File.WriteAllText(file, "jobs:\n  - config: linear.yml\n");
        var jobs = MergeInput.Load(file);
        Assert.Null(jobs.Config);
        Assert.Equal(["linear"], jobs.JobFile!.Jobs.Select(j => j.Name));

        var config = MergeInput.Load(_dir.Combine("linear.yml"));
        Assert.Null(config.JobFile);
        Assert.Equal(_dir.Combine("linear.yml"), config.Config!.Path);

        File.WriteAllText(file, "jobs:\n  - config: [linear.yml\n");
        var e = Assert.Throws<MergeConfigException>(() => MergeInput.Load(file));
        Assert.StartsWith($"{file}: invalid YAML at line 3", e.Message);
        Assert.False(JobFile.IsJobFile(file));
    }

    [Theory]
    [InlineData("jobs: []\n", "'jobs' must be a non-empty list")]
    [InlineData("jobs:\n  - out: x\n", "jobs[0]: 'config' is required")]
    [InlineData("jobs:\n  - config: missing.yml\n", "jobs[0].config:")]
    [InlineData("jobs:\n  - config: linear.yml\n    output: x\n", "jobs[0]: unknown key 'output'")]
    [InlineData("job: 1\njobs:\n  - config: linear.yml\n", "unknown key 'job'")]
    [InlineData("jobs:\n  - config: linear.yml\n    sweep: {lambda: 2}\n", "jobs[0].sweep.lambda: must be a list")]
    [InlineData("jobs:\n  - linear.yml\n", "jobs[0]: a job must be a mapping")]
    public void BadJobFilesAreOneLineErrorsNamingTheFileAndTheKey(string yaml, string expected)
    {
        Job("linear", Families()["linear"], _dir.Combine("unused"));
        string file = _dir.Combine("bad-jobs.yml");
        File.WriteAllText(file, yaml);
        var e = Assert.Throws<MergeConfigException>(() => JobFile.Load(file));
        Assert.StartsWith(file, e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void AFailingJobPublishesNothingOfItsOwnAndKeepsJobsThatFinished()
    {
        string root = _dir.Combine("fail");
        var good = Job("linear", Families()["linear"], root);
        // A second pass (other models) whose merge fails: NaN in one tensor of its input.
        var random = new Random(3);
        var values = Enumerable.Range(0, 4).Select(_ => TestModels.RandomValues(random, 64)).ToArray();
        TestModels.Write(_dir.Combine("p"), DType.F32, values.Select((v, i) => ($"t{i}", new long[] { 8, 8 }, v)));
        values[2][5] = float.NaN;
        TestModels.Write(_dir.Combine("q"), DType.F32, values.Select((v, i) => ($"t{i}", new long[] { 8, 8 }, v)));
        var bad = Job("bad", $"merge_method: linear\nmodels:\n  - model: {_dir.Combine("p")}\n  - model: {_dir.Combine("q")}\nparameters: {{weight: 1}}\n", root);

        var e = Assert.Throws<EngineException>(() => RunBatch([good, bad], new BatchOptions(root)));
        Assert.Contains("job 'bad'", e.Message);
        Assert.Contains("NaN", e.Message);
        Assert.True(Directory.Exists(good.OutputPath));
        Assert.False(Directory.Exists(bad.OutputPath));
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(root), p => Path.GetFileName(p).StartsWith(".bad.partial", StringComparison.Ordinal));
        Assert.Contains("\"batch_failed\"", File.ReadAllText(Path.Combine(root, BatchLog.FileName)));
    }

    [Theory]
    [InlineData("[1, 2]")]
    [InlineData("\"job_finished\"")]
    [InlineData("{\"event\": ")]
    public void AJobLogLineThatIsNoRecordIsAnErrorNamingTheLine(string line)
    {
        string root = _dir.Combine("bad-log");
        Directory.CreateDirectory(root);
        string log = Path.Combine(root, BatchLog.FileName);
        File.WriteAllText(log, $"{{\"event\": \"batch\"}}\n{line}\n{{\"event\": \"job_finished\", \"job\": \"a\", \"key\": \"k\"}}\n");
        var e = Assert.Throws<EngineException>(() => BatchLog.Finished(root));
        Assert.StartsWith($"{log}:2: not a job log record", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void AJobLogRecordWithFieldsOfOtherTypesIsNoFinishedJob()
    {
        string root = _dir.Combine("odd-log");
        Directory.CreateDirectory(root);
        File.WriteAllText(Path.Combine(root, BatchLog.FileName),
            "{\"event\": 7, \"job\": \"a\", \"key\": \"k\"}\n{\"event\": \"job_finished\", \"job\": [\"b\"], \"key\": \"k\"}\n{\"event\": \"job_finished\", \"job\": \"c\", \"key\": \"k\"}\n");
        Assert.Equal(["c"], BatchLog.Finished(root).Keys);
    }

    /// <summary>CPU backends standing in for GPUs: the batch's side of spreading work is the same.</summary>
    private sealed class CpuFactory(int devices) : IMergeKernelsFactory
    {
        public IMergeKernels Create(string? device = null, int? threads = null) => new CpuMergeKernels(2);

        public KernelDevices CreateDevices(string? device = null, int? threads = null) =>
            new(Enumerable.Range(0, devices).Select(_ => (IMergeKernels)new CpuMergeKernels(devices == 1 ? 2 : 1)).ToList());
    }
}
