using System.Diagnostics;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Merge.Execution;

namespace Engine.Merge.Batch;

/// <summary>Runs a <see cref="BatchPlan"/>: for each cluster, one worker per device (the executor's scheduler) claims
/// the next output tensor name and computes it for every job that has it, sharing the reads and the common steps
/// (<see cref="SharedSteps"/>); each job streams into its own staged output, which is published (fsync, one rename)
/// as soon as its last tensor is written, and recorded in the <see cref="BatchLog"/>. Each job's output is bit for bit
/// the one the job would make merged alone: every tensor is computed whole on one device by the same code, and what
/// is shared is exactly what the job would have computed itself.</summary>
public sealed class BatchExecutor
{
    private readonly IMergeKernelsFactory? _kernels;
    private readonly IReadOnlyList<IMergeKernels>? _devices;

    /// <summary>An executor running each pass on the devices of its jobs' device setting, made by <paramref name="kernels"/>.</summary>
    public BatchExecutor(IMergeKernelsFactory kernels) => _kernels = kernels;

    /// <summary>An executor running every pass on <paramref name="devices"/> (owned by the caller), whatever the jobs'
    /// device settings (benchmarks time a batch on the backend they time a merge on).</summary>
    public BatchExecutor(IReadOnlyList<IMergeKernels> devices)
    {
        ArgumentOutOfRangeException.ThrowIfZero(devices.Count);
        _devices = devices;
    }

    /// <summary>Runs the batch; <paramref name="events"/> sees each tensor and job as it finishes.</summary>
    public BatchResult Run(BatchPlan plan, IProgress<BatchEvent>? events = null, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        // Every pass's devices are opened before anything is written, so that a device this machine lacks fails the
        // batch before its first job runs, not after earlier passes have published theirs.
        var owned = _devices is null ? OpenDevices(plan) : [];
        try
        {
            return Run(plan, owned, clock, events, cancellation);
        }
        finally
        {
            foreach (var d in owned) d?.Dispose();
        }
    }

    private KernelDevices?[] OpenDevices(BatchPlan plan)
    {
        var opened = new KernelDevices?[plan.Clusters.Count];
        try
        {
            for (int c = 0; c < opened.Length; c++)
            {
                var cluster = plan.Clusters[c];
                try
                {
                    opened[c] = _kernels!.CreateDevices(cluster.Device, plan.Options.Threads);
                }
                catch (EngineException e)
                {
                    var job = plan.Jobs[cluster.Jobs[0]].Job;
                    throw new EngineException($"{job.Origin}: job '{job.Name}': {e.Message}", e);
                }
            }
            return opened;
        }
        catch
        {
            foreach (var d in opened) d?.Dispose();
            throw;
        }
    }

    private BatchResult Run(BatchPlan plan, KernelDevices?[] owned, Stopwatch clock, IProgress<BatchEvent>? events, CancellationToken cancellation)
    {
        var options = plan.Options;
        using var log = OpenLog(options.Root);
        log.Append(new JsonObject { ["event"] = "batch", ["time"] = DateTimeOffset.UtcNow.ToString("O"), ["pid"] = Environment.ProcessId, ["jobs"] = plan.Jobs.Count, ["resume"] = options.Resume });
        var reports = new Execution.MergeReport?[plan.Jobs.Count];
        foreach (var job in plan.Jobs.Where(j => j.Skip))
            events?.Report(new BatchEvent("job", job.Job.Name, null, job.OutputBytes, 0, "skipped") { Output = job.Output });

        // Every output is claimed before any work, so that a second run into one of them fails at once.
        var locks = new List<OutputLock>();
        int shared = 0, steps = 0, importances = 0;
        try
        {
            // Skipped (finished) outputs are claimed too: no other run may be replacing one meanwhile, and a stale lock
            // file that a killed earlier run left beside it is removed when the claim is released.
            foreach (var job in plan.Jobs) locks.Add(OutputLock.Acquire(job.Output));
            for (int c = 0; c < plan.Clusters.Count; c++)
            {
                var cluster = plan.Clusters[c];
                var pass = new ClusterRun(plan, cluster, _devices ?? owned[c]!.Devices, log, events, reports);
                try
                {
                    pass.Execute(cancellation);
                }
                finally
                {
                    pass.Dispose();
                    shared += pass.ReadsShared;
                    steps += pass.StepsShared;
                    importances += pass.ImportancesShared;
                }
            }
        }
        catch (Exception e)
        {
            log.Append(new JsonObject { ["event"] = "batch_failed", ["error"] = e.Message.Split('\n')[0] });
            throw;
        }
        finally
        {
            foreach (var l in locks) l.Dispose();
        }
        long bytes = plan.Jobs.Where(j => !j.Skip).Sum(j => j.OutputBytes);
        events?.Report(new BatchEvent("done", null, null, bytes, Math.Round(clock.Elapsed.TotalSeconds, 3), Done: plan.Jobs.Count, Total: plan.Jobs.Count));
        return new BatchResult(plan.Jobs.Select((j, i) => (j.Job, reports[i])).ToList(), new BatchSharing(shared, steps, importances), clock.Elapsed.TotalSeconds);
    }

    private static BatchLog OpenLog(string root)
    {
        try
        {
            return BatchLog.Open(root);
        }
        catch (OutputException e)
        {
            throw new OutputException($"{root}: another batch is running into this output root ({e.Message})", e);
        }
    }

    /// <summary>One cluster's pass: the jobs' writers, their report entries, and the workers' loop.</summary>
    private sealed class ClusterRun : IDisposable
    {
        private readonly BatchPlan _plan;
        private readonly BatchPlan.PlannedCluster _cluster;
        private readonly IReadOnlyList<IMergeKernels> _devices;
        private readonly BatchLog _log;
        private readonly IProgress<BatchEvent>? _events;
        private readonly Execution.MergeReport?[] _reports;
        private readonly Dictionary<int, JobState> _jobs = new();
        private readonly Lock _gate = new();
        private int _next;

        private sealed class JobState(BatchPlan.PlannedJob planned, ShardWriter writer)
        {
            public BatchPlan.PlannedJob Planned { get; } = planned;
            public ShardWriter Writer { get; } = writer;
            public TensorReport?[] Entries { get; } = new TensorReport?[planned.Tensors.Count];
            public Stopwatch Clock { get; } = Stopwatch.StartNew();
            public int Done { get; set; }
            public long Written { get; set; }
        }

        public ClusterRun(BatchPlan plan, BatchPlan.PlannedCluster cluster, IReadOnlyList<IMergeKernels> devices, BatchLog log,
            IProgress<BatchEvent>? events, Execution.MergeReport?[] reports)
        {
            (_plan, _cluster, _devices, _log, _events, _reports) = (plan, cluster, devices, log, events, reports);
            var shardOptions = new ShardWriterOptions(plan.Options.MaxShardBytes, plan.Options.Overwrite);
            try
            {
                foreach (int j in cluster.Jobs)
                {
                    var job = plan.Jobs[j];
                    _jobs[j] = new JobState(job, ShardWriter.Create(job.Output, job.Tensors.Select(t => t.Spec).ToList(), shardOptions));
                    log.Append(new JsonObject { ["event"] = "job_started", ["job"] = job.Job.Name, ["key"] = job.Key, ["output"] = job.Output });
                }
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        private int _readsShared, _stepsShared, _importancesShared;

        public int ReadsShared => _readsShared;
        public int StepsShared => _stepsShared;
        public int ImportancesShared => _importancesShared;

        public void Execute(CancellationToken cancellation) => DeviceWorkers.Run(_devices, Work, cancellation);

        private void Work(IMergeKernels kernels, int device, int stride, CancellationToken cancellation)
        {
            var groups = _cluster.Groups;
            Task prefetch = Task.CompletedTask;
            using var scratch = new ScratchArena();
            try
            {
                for (int g = Interlocked.Increment(ref _next) - 1; g < groups.Count; g = Interlocked.Increment(ref _next) - 1)
                {
                    cancellation.ThrowIfCancellationRequested();
                    prefetch.Wait(cancellation);
                    if (g + stride < groups.Count)
                    {
                        var upcoming = groups[g + stride];
                        prefetch = Task.Run(() => InputPrefetcher.Touch(Reads(upcoming), cancellation));
                    }
                    Compute(groups[g], kernels, device, scratch, cancellation);
                }
            }
            finally
            {
                // The prefetcher reads through the plans' file handles: let it finish before they close.
                try { prefetch.Wait(); } catch (AggregateException) { }
            }
        }

        /// <summary>Every input tensor the group's jobs read, each once.</summary>
        private IEnumerable<(ModelDirectory Model, string Tensor)> Reads(BatchPlan.TensorGroup group) => group.Members
            .SelectMany(m => _plan.Jobs[m.Job].Plan.Reads(_plan.Jobs[m.Job].Plan.Output, group.Name))
            .DistinctBy(r => (_plan.Signatures.ModelKey(r.Model), r.Tensor));

        private void Compute(BatchPlan.TensorGroup group, IMergeKernels kernels, int device, ScratchArena scratch, CancellationToken cancellation)
        {
            using var shared = new SharedSteps(_plan.Signatures);
            try
            {
                foreach (var (j, t) in group.Members)
                {
                    var job = _jobs[j];
                    var tensor = job.Planned.Tensors[t];
                    var plan = job.Planned.Plan;
                    var tick = Stopwatch.GetTimestamp();
                    var stageReports = new List<TensorStageReport>();
                    try
                    {
                        using var scope = new TensorScope(null, scratch, shared);
                        using var output = new ShardOutput(job.Writer, tensor.Name, tensor.DType, Core.Safetensors.TensorInfo.ElementCountOf(tensor.Shape), null, scratch);
                        MergeExecutor.Evaluate(plan, plan.Output, tensor, output, scope, [], stageReports, kernels, cancellation);
                    }
                    catch (EngineException e)
                    {
                        throw new EngineException($"job '{job.Planned.Job.Name}': {e.Message}", e);
                    }
                    double seconds = Stopwatch.GetElapsedTime(tick).TotalSeconds;
                    job.Entries[t] = new TensorReport(tensor.Name, tensor.DType.SafetensorsName(), tensor.Shape.ToArray(), Math.Round(seconds * 1000, 3), stageReports)
                    {
                        Device = device >= 0 ? device : null,
                        Notes = tensor.Notes.Length > 0 ? tensor.Notes.ToArray() : null,
                    };
                    Finished(j, job, tensor, seconds, device);
                }
            }
            finally
            {
                Interlocked.Add(ref _readsShared, shared.ReadsShared);
                Interlocked.Add(ref _stepsShared, shared.StepsShared);
                Interlocked.Add(ref _importancesShared, shared.ImportancesShared);
            }
        }

        /// <summary>Records a tensor; publishes the job when it was its last.</summary>
        private void Finished(int index, JobState job, PlannedTensor tensor, double seconds, int device)
        {
            bool last;
            lock (_gate)
            {
                job.Written += tensor.Spec.ByteLength;
                last = ++job.Done == job.Entries.Length;
                _log.Append(new JsonObject { ["event"] = "tensor", ["job"] = job.Planned.Job.Name, ["key"] = job.Planned.Key, ["tensor"] = tensor.Name, ["bytes"] = tensor.Spec.ByteLength });
                _events?.Report(new BatchEvent("tensor", job.Planned.Job.Name, tensor.Name, tensor.Spec.ByteLength, Math.Round(seconds, 4), Done: job.Done, Total: job.Entries.Length)
                    { Device = device >= 0 ? device : null });
            }
            if (last) Publish(index, job);
        }

        private void Publish(int index, JobState job)
        {
            var planned = job.Planned;
            var plan = planned.Plan;
            var config = planned.Job.Config;
            var report = MergeExecutor.BuildReport(_devices, plan, config, planned.Output, planned.Tensors, job.Entries.Select(e => e!).ToArray(), job.Written, job.Clock.Elapsed);
            MergeExecutor.WriteSideFiles(job.Writer, plan, plan.Output, config, report);
            // Every input read was checked as it was read; this catches a change after the last read.
            foreach (var shard in plan.Models.SelectMany(m => m.Shards)) shard.CheckUnchanged();
            job.Writer.Commit();
            _reports[index] = report;
            double seconds = Math.Round(job.Clock.Elapsed.TotalSeconds, 3);
            _log.Append(new JsonObject { ["event"] = "job_finished", ["job"] = planned.Job.Name, ["key"] = planned.Key, ["output"] = planned.Output, ["seconds"] = seconds }, durable: true);
            _events?.Report(new BatchEvent("job", planned.Job.Name, null, job.Written, seconds, "finished") { Output = planned.Output });
        }

        /// <summary>Drops the writers of jobs not published: their staging directories go, nothing appears at their outputs.</summary>
        public void Dispose()
        {
            foreach (var job in _jobs.Values) job.Writer.Dispose();
        }
    }
}
